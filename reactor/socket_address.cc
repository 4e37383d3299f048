#include "reactor/socket_address.h"

#include <arpa/inet.h>

namespace recgw::reactor {

Expected<SocketAddress> parseSocketAddress(const std::string& host, uint16_t port) {
  SocketAddress out;
  if (host.find(':') != std::string::npos) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) return fail("not an IP address: " + host);
    out.length = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) return fail("not an IP address: " + host);
    out.length = sizeof(sockaddr_in);
  }
  return out;
}

}  // namespace recgw::reactor
