#pragma once
// Finding one of a few bytes in a short string, and telling byte classes apart by table.
//
// Finding one of a few bytes in a short string. std::string_view::find_first_of calls
// memchr on the set for every byte of the text (libstdc++ 12): ~20 instructions a byte,
// which showed in the per-request profile on URLs, header values and ETags. A set of two
// or three bytes is cheaper to test inline.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace recgw::reactor {

// The first index at or after `from` whose byte is in `set`, or npos.
constexpr size_t findAny(std::string_view text, std::string_view set, size_t from = 0) {
  if (!std::is_constant_evaluated() && text.size() > from + 64 && set.size() <= 4) {
    // A long text (a signature header): one memchr per needle scans it 32 bytes at a time.
    size_t first = std::string_view::npos;
    for (char c : set) {
      const void* at = std::memchr(text.data() + from, c, text.size() - from);
      if (at) first = std::min(first, static_cast<size_t>(static_cast<const char*>(at) - text.data()));
    }
    return first;
  }
  for (size_t i = from; i < text.size(); ++i) {
    for (char c : set) {
      if (text[i] == c) return i;
    }
  }
  return std::string_view::npos;
}

namespace detail {
struct ByteClass {
  bool member[256] = {};
};
constexpr ByteClass httpTokenBytes() {
  ByteClass table;
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    table.member[c] =
        alnum || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
  }
  return table;
}
inline constexpr ByteClass kHttpTokenBytes = httpTokenBytes();
}  // namespace detail

// RFC 9110 tchar: a byte of a header name or a media type's type and subtype. One table
// lookup, where a search through the 15 punctuation characters took ~30 instructions.
constexpr bool isHttpTokenChar(char c) {
  return detail::kHttpTokenBytes.member[static_cast<unsigned char>(c)];
}

static_assert(isHttpTokenChar('a') && isHttpTokenChar('Z') && isHttpTokenChar('7') && isHttpTokenChar('~'));
static_assert(!isHttpTokenChar(':') && !isHttpTokenChar(' ') && !isHttpTokenChar('\0') &&
              !isHttpTokenChar('\x80'));

static_assert(findAny("a/b?c", "?#") == 3);
static_assert(findAny("abc", "?#") == std::string_view::npos);
static_assert(findAny("a?b?c", "?", 2) == 3);
static_assert(findAny(std::string_view("a\0b", 3), std::string_view("\0", 1)) == 1);
static_assert(findAny(std::string_view("a\0b", 3), std::string_view("\0", 1), 2) == std::string_view::npos);

}  // namespace recgw::reactor
