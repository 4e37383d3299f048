#include "reactor/http1_origin.h"

#include <arpa/inet.h>

#include "reactor/char_search.h"

namespace recgw::reactor {

std::optional<Http1Origin> http1OriginOf(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
  std::string_view rest = url.substr(kScheme.size());
  size_t authorityEnd = findAny(rest, "/?#");
  std::string_view authority = rest.substr(0, authorityEnd);
  std::string_view target =
      authorityEnd == std::string_view::npos ? std::string_view() : rest.substr(authorityEnd);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  if (target.find('#') != std::string_view::npos) return std::nullopt;
  for (unsigned char c : target) {
    if (c <= ' ' || c == 0x7f) return std::nullopt;  // curl would refuse or encode; leave it to curl
  }

  Http1Origin origin;
  std::string_view host;
  std::string_view portText;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      portText = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) portText = authority.substr(colon + 1);
  }
  unsigned port = 80;
  if (!portText.empty()) {
    if (portText.size() > 5) return std::nullopt;
    port = 0;
    for (char c : portText) {
      if (c < '0' || c > '9') return std::nullopt;
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) return std::nullopt;
  }
  std::string hostText(host);
  if (authority.front() == '[') {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&origin.address);
    if (inet_pton(AF_INET6, hostText.c_str(), &v6->sin6_addr) != 1) return std::nullopt;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    origin.addressLength = sizeof(sockaddr_in6);
    origin.authority = "[" + hostText + "]";
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&origin.address);
    // inet_pton takes only the dotted quad, so "localhost" or "010.1" go to curl's resolver.
    if (inet_pton(AF_INET, hostText.c_str(), &v4->sin_addr) != 1) return std::nullopt;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    origin.addressLength = sizeof(sockaddr_in);
    origin.authority = hostText;
  }
  origin.hostForErrors = hostText;
  origin.port = static_cast<uint16_t>(port);
  if (port != 80) origin.authority.append(":").append(std::to_string(port));
  origin.target = target.empty()          ? std::string("/")
                  : target.front() == '?' ? "/" + std::string(target)
                                          : std::string(target);
  return origin;
}

}  // namespace recgw::reactor
