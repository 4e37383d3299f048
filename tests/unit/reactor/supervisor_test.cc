// checkPortFree: the supervisor's start-up check that the workers' port is not taken.
#include "reactor/supervisor.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

// Counts listen() calls in this test binary, then does the real one. A check that listens,
// even for a moment, lets a client's connect() succeed and the next one be refused (the
// start-up flap a load balancer's TCP probe sees): the count proves it never happens.
namespace {
std::atomic<int> listenCalls{0};
}

extern "C" int listen(int fd, int backlog) {
  using ListenFn = int (*)(int, int);
  static ListenFn real = reinterpret_cast<ListenFn>(::dlsym(RTLD_NEXT, "listen"));
  listenCalls.fetch_add(1);
  return real(fd, backlog);
}

namespace recgw::reactor {
namespace {

// A loopback TCP socket bound to an ephemeral port; listening when asked.
class HeldPort {
 public:
  HeldPort(bool listening, bool reusePort) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (reusePort) setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    socklen_t len = sizeof sin;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
    port_ = ntohs(sin.sin_port);
    if (listening) {
      EXPECT_EQ(::listen(fd_, 8), 0);
    }
  }
  ~HeldPort() { ::close(fd_); }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A port nobody holds (bound once, then released).
uint16_t unusedPort() {
  HeldPort held(false, false);
  return held.port();
}

TEST(CheckPortFree, FreePortPassesWithoutEverListening) {
  uint16_t port = unusedPort();
  int before = listenCalls.load();
  EXPECT_TRUE(checkPortFree("127.0.0.1", port));
  EXPECT_EQ(listenCalls.load(), before) << "the check listened on the port it was only to test";
}

TEST(CheckPortFree, PortWithAListenerIsRefusedNamingIt) {
  HeldPort busy(true, false);
  int before = listenCalls.load();
  auto refused = checkPortFree("127.0.0.1", busy.port());
  ASSERT_FALSE(refused);
  std::string err = refused.error().message;
  EXPECT_EQ(err.rfind("127.0.0.1:" + std::to_string(busy.port()) + ": ", 0), 0u) << err;
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
  EXPECT_EQ(listenCalls.load(), before);
}

TEST(CheckPortFree, PortAnotherReusePortServerListensOnIsRefused) {
  // Another recgw: its workers listen with SO_REUSEPORT, which ours would join silently.
  HeldPort other(true, true);
  EXPECT_FALSE(checkPortFree("127.0.0.1", other.port()));
}

TEST(CheckPortFree, WildcardListenerMakesTheLoopbackPortBusy) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  ASSERT_EQ(::listen(fd, 8), 0);
  EXPECT_FALSE(checkPortFree("127.0.0.1", ntohs(sin.sin_port)));
  ::close(fd);
}

TEST(CheckPortFree, PortZeroAndBadAddresses) {
  EXPECT_TRUE(checkPortFree("127.0.0.1", 0));
  for (const char* host : {"localhost", "::zz"}) {
    auto refused = checkPortFree(host, 8080);
    ASSERT_FALSE(refused) << host;
    EXPECT_EQ(refused.error().message, std::string("not an IP address: ") + host);
  }
}

}  // namespace
}  // namespace recgw::reactor
