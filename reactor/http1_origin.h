#pragma once
// Which upstream URLs the built-in HTTP/1.1 client (reactor/http1_upstream.h) serves, and
// where they point: plain http:// to an IPv4 or bracketed IPv6 literal. Anything else (TLS,
// a host name to resolve, user info, a fragment) is libcurl's.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace recgw::reactor {

// Where a URL this client can serve points: http:// with an IPv4 or bracketed IPv6 literal,
// no user info, no fragment.
struct Http1Origin {
  sockaddr_storage address{};
  socklen_t addressLength = 0;
  std::string authority;  // "127.0.0.1:9000": the Host header (":80" left out) and pool key
  std::string hostForErrors;
  uint16_t port = 80;
  std::string target;  // path and query, exactly as in the URL
};
std::optional<Http1Origin> http1OriginOf(std::string_view url);

}  // namespace recgw::reactor
