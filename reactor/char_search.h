#pragma once
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

static_assert(findAny("a/b?c", "?#") == 3);
static_assert(findAny("abc", "?#") == std::string_view::npos);
static_assert(findAny("a?b?c", "?", 2) == 3);
static_assert(findAny(std::string_view("a\0b", 3), std::string_view("\0", 1)) == 1);
static_assert(findAny(std::string_view("a\0b", 3), std::string_view("\0", 1), 2) == std::string_view::npos);

}  // namespace recgw::reactor
