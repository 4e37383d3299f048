#include "storage/url_parts.h"

#include "reactor/char_search.h"

namespace recgw::storage {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool isAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isSchemeChar(char c) {
  return isAsciiAlpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

}  // namespace

UrlParts splitUrl(std::string_view url) {
  UrlParts parts;
  std::string_view rest = url;
  // Only a `://` before any `/`, `?` or `#` starts a scheme: a presigned URL's query may
  // itself contain one.
  size_t sep = url.find("://");
  if (sep != std::string_view::npos && sep > 0 && reactor::findAny(url, "/?#") > sep) {
    std::string_view scheme = url.substr(0, sep);
    bool valid = isAsciiAlpha(scheme.front());
    for (char c : scheme) valid = valid && isSchemeChar(c);
    if (valid) {
      parts.scheme = scheme;
      rest = url.substr(sep + 3);
    }
  }
  size_t authorityEnd = reactor::findAny(rest, "/?#");
  parts.authority = rest.substr(0, authorityEnd);
  if (size_t at = parts.authority.rfind('@'); at != std::string_view::npos) {
    parts.authority.remove_prefix(at + 1);
  }
  if (authorityEnd != std::string_view::npos && rest[authorityEnd] == '/') {
    std::string_view path = rest.substr(authorityEnd);
    parts.path = path.substr(0, reactor::findAny(path, "?#"));
  }
  return parts;
}

std::string_view hostnameOf(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  size_t colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

std::string_view trimSpace(std::string_view text) {
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace recgw::storage
