#include "storage/uri_encoding.h"

#include "reactor/request_target.h"

namespace recgw::storage {
namespace {

// RFC 3986 unreserved bytes, which SigV4 leaves as they are; by table, as the signer runs
// this over the key and the query of every request.
struct UnreservedBytes {
  bool member[256] = {};
  constexpr UnreservedBytes() {
    for (int c = 0; c < 256; ++c) {
      member[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '.' || c == '_' || c == '~';
    }
  }
};
constexpr UnreservedBytes kUnreserved;

}  // namespace

std::string uriEncode(std::string_view text, bool keepSlash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  auto kept = [keepSlash](unsigned char c) { return kUnreserved.member[c] || (keepSlash && c == '/'); };
  size_t escaped = 0;
  for (char ch : text) escaped += kept(static_cast<unsigned char>(ch)) ? 0 : 1;
  if (escaped == 0) return std::string(text);
  // Sized once and written in place: push_back per byte (a call and a capacity check each)
  // was most of this function's cost.
  std::string out(text.size() + 2 * escaped, '\0');
  char* at = out.data();
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (kept(c)) {
      *at++ = ch;
    } else {
      *at++ = '%';
      *at++ = kHex[c >> 4];
      *at++ = kHex[c & 0xF];
    }
  }
  return out;
}

std::optional<std::string> percentDecode(std::string_view text) {
  std::string out;
  if (!reactor::decodePathSegment(text, out)) return std::nullopt;
  return out;
}

}  // namespace recgw::storage
