#pragma once
// A listen address: an IP literal (v4, or v6 when it holds a ':') and a port, as the sockaddr
// bind() takes. Host names are refused: resolving them would block, and a listener bound to
// one of several addresses a name resolves to is a surprise.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "reactor/status.h"

namespace recgw::reactor {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Fails with "not an IP address: <host>".
Expected<SocketAddress> parseSocketAddress(const std::string& host, uint16_t port);

}  // namespace recgw::reactor
