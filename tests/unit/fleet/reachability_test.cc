// Reachability on a real EventLoop and CurlMulti against a tiny blocking server on 127.0.0.1:
// one round per check (shared by concurrent callers, cached for maxAge), and transport
// failures worded with the setting that fixes them.
#include "fleet/reachability.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "reactor/event_loop.h"

namespace recgw::fleet {
namespace {

using namespace std::chrono_literals;

// Answers every request with 404 and closes; counts the requests it answered.
class NotFoundServer {
 public:
  NotFoundServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~NotFoundServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval limit{2, 0};  // a client that never sends must not hold the server thread
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      ++requests_;
      static const char kAnswer[] =
          "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found";
      ::send(c, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL);
      ::close(c);
    }
  }
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

uint16_t closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::function<SourceChain()> fleetChain(std::vector<std::string> urls, std::string caFile = "") {
  return [urls, caFile] {
    storage::StorageValues v;
    v.fleetUrls = urls;
    v.fleetCaFile = caFile;
    return SourceChain(storage::mergeSettings(v, {}), nullptr, "probe.ogg", "", {});
  };
}

// Runs `times` checks until each has answered (or fails after 10 s).
std::vector<std::vector<SourceReachability>> checkTimes(reactor::EventLoop& loop, Reachability& r,
                                                       int times) {
  std::vector<std::vector<SourceReachability>> seen;
  for (int i = 0; i < times; ++i) {
    r.check([&](const std::vector<SourceReachability>& result) {
      seen.push_back(result);
      if (static_cast<int>(seen.size()) == times) loop.stop();
    });
  }
  if (static_cast<int>(seen.size()) < times) {
    reactor::Timer guard(loop, [&] { loop.stop(); });
    guard.startOnce(10s);
    loop.run();
  }
  EXPECT_EQ(static_cast<int>(seen.size()), times);
  return seen;
}

TEST(ReachabilityTest, ConcurrentChecksShareOneRoundAndTheAnswerIsCached) {
  NotFoundServer server;
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  Reachability reach(curl, fleetChain({server.url()}), 60s);

  auto first = checkTimes(loop, reach, 3);
  ASSERT_EQ(first.size(), 3u);
  for (const auto& result : first) {
    ASSERT_EQ(result.size(), 1u);
    EXPECT_TRUE(result[0].ok) << result[0].reason;
    EXPECT_EQ(result[0].label, "fleet:0");
    EXPECT_EQ(result[0].reason, "answered HTTP 404");
  }
  EXPECT_EQ(server.requests(), 1);

  auto again = checkTimes(loop, reach, 1);  // within maxAge: answered from memory
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0][0].ok);
  EXPECT_EQ(server.requests(), 1);

  Reachability fresh(curl, fleetChain({server.url()}), 0s);
  checkTimes(loop, fresh, 1);
  checkTimes(loop, fresh, 1);
  EXPECT_EQ(server.requests(), 3);
}

TEST(ReachabilityTest, ChangedSettingsAreCheckedAgainAtOnce) {
  NotFoundServer server;
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  uint64_t version = 1;
  Reachability reach(curl, fleetChain({server.url()}), 60s, [&version] { return version; });
  checkTimes(loop, reach, 1);
  checkTimes(loop, reach, 1);
  EXPECT_EQ(server.requests(), 1);
  version = 2;  // e.g. a reload that set fleet.ca_file
  checkTimes(loop, reach, 1);
  EXPECT_EQ(server.requests(), 2);
}

TEST(ReachabilityTest, FailuresAreNamedPerSource) {
  NotFoundServer server;
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  std::string refused = "http://127.0.0.1:" + std::to_string(closedPort());
  Reachability reach(curl, fleetChain({server.url(), refused}), 60s);
  auto seen = checkTimes(loop, reach, 1);
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen[0].size(), 2u);
  EXPECT_TRUE(seen[0][0].ok);
  EXPECT_FALSE(seen[0][1].ok);
  EXPECT_EQ(seen[0][1].label, "fleet:1");
  EXPECT_NE(seen[0][1].reason.find("unreachable"), std::string::npos) << seen[0][1].reason;

  // A CA bundle that cannot be loaded is blamed on fleet.ca_file, not on the host.
  std::string https = server.url();
  https.replace(0, 4, "https");
  Reachability tls(curl, fleetChain({https}, "/nonexistent/recgw-ca.pem"), 60s);
  auto bundle = checkTimes(loop, tls, 1);
  ASSERT_EQ(bundle.size(), 1u);
  EXPECT_FALSE(bundle[0][0].ok);
  EXPECT_EQ(bundle[0][0].reason.rfind("fleet.ca_file", 0), 0u) << bundle[0][0].reason;
}

TEST(ReachabilityTest, NoSourcesAnswersAtOnce) {
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  Reachability reach(curl, fleetChain({}), 60s);
  bool called = false;
  reach.check([&](const std::vector<SourceReachability>& result) {
    called = true;
    EXPECT_TRUE(result.empty());
  });
  EXPECT_TRUE(called);
}

}  // namespace
}  // namespace recgw::fleet
