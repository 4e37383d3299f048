// CurlMulti on a real EventLoop against a tiny blocking HTTP server on 127.0.0.1.
#include "reactor/curl_multi.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reactor/event_loop.h"
#include "tests/unit/run_loop.h"

namespace recgw::reactor {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kBodySize = 1024 * 1024;

// The transfer's id, or 0 (failing the test) when curl refused to start it.
TransferId idOf(const Expected<TransferId>& result) {
  EXPECT_TRUE(result.has_value()) << (result ? "" : result.error().message);
  return result.value_or(0);
}

std::string makeBody() {
  std::string body(kBodySize, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>((i * 7 + i / 4096) % 251);
  return body;
}

const std::string& body() {
  static const std::string b = makeBody();
  return b;
}

// Accepts connections one at a time on its own thread. kServe answers each request with
// 200 and the fixed body (Content-Length, Connection: close); kSilent reads the request
// and never answers until the server stops; kEcho reads the request body (Content-Length)
// and answers it back.
class TinyHttpServer {
 public:
  enum class Mode { kServe, kSilent, kEcho };

  explicit TinyHttpServer(Mode mode) : mode_(mode) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(listenFd_, 0);
    int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listenFd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listenFd_);
  }

  std::string url(const std::string& path = "/file") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepted() const { return accepted_; }

 private:
  // Waits for `fd` to be readable, giving up when the server stops.
  bool waitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, 20);
      if (n > 0) return true;
    }
    return false;
  }

  void serve() {
    while (waitReadable(listenFd_)) {
      int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      handle(fd);
      ::close(fd);
    }
  }

  void handle(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (!waitReadable(fd)) return;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    if (mode_ == Mode::kEcho) {
      size_t headEnd = request.find("\r\n\r\n") + 4;
      std::string lower = request.substr(0, headEnd);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      size_t at = lower.find("content-length:");
      size_t want = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 15));
      std::string got = request.substr(headEnd);
      while (got.size() < want) {
        if (!waitReadable(fd)) return;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        got.append(buf, static_cast<size_t>(n));
      }
      std::string out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(got.size()) +
                        "\r\nConnection: close\r\n\r\n" + got;
      size_t sent = 0;
      while (sent < out.size() && !stop_) {
        ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<size_t>(n);
      }
      return;
    }
    if (mode_ == Mode::kSilent) {
      // Hold the connection open without a byte of response.
      while (!stop_) std::this_thread::sleep_for(10ms);
      return;
    }
    std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body().size()) +
                       "\r\nContent-Type: Application/Octet-Stream\r\nX-Test-Header:   padded value  \r\n"
                       "Connection: close\r\n\r\n";
    std::string out = head + body();
    size_t sent = 0;
    while (sent < out.size() && !stop_) {
      ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the client went away
      sent += static_cast<size_t>(n);
    }
  }

  Mode mode_;
  int listenFd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A port with nothing listening: bound for a moment to get a free number, then closed.
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

using recgw::testing::runWithin;

// Runs the loop for `period` regardless (to see that nothing else fires).
void runFor(EventLoop& loop, std::chrono::milliseconds period) {
  Timer stop(loop, [&] { loop.stop(); });
  stop.startOnce(period);
  loop.run();
}

struct Recorder {
  int headersCalls = 0;
  int dataCalls = 0;
  int doneCalls = 0;
  UpstreamResponse response;
  std::string received;
  std::string error;
};

TEST(CurlMultiTest, FetchesTheWholeBody) {
  TinyHttpServer server(TinyHttpServer::Mode::kServe);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  UpstreamRequest req;
  req.url = server.url();
  TransferId id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse& resp) {
                                                       ++r.headersCalls;
                                                       r.response = resp;
                                                       return true;
                                                     },
                                                     [&](const char* data, size_t size) {
                                                       ++r.dataCalls;
                                                       EXPECT_EQ(r.headersCalls, 1) << "data before headers";
                                                       r.received.append(data, size);
                                                       return size;
                                                     },
                                                     [&](const std::string& error) {
                                                       ++r.doneCalls;
                                                       r.error = error;
                                                       loop.stop();
                                                     }}));
  ASSERT_NE(id, 0u);
  runWithin(loop, 10s);

  EXPECT_EQ(r.headersCalls, 1);
  EXPECT_EQ(r.response.status, 200);
  for (const auto& [name, value] : r.response.headers) {
    EXPECT_TRUE(std::none_of(name.begin(), name.end(), [](unsigned char c) { return std::isupper(c); }))
        << name;
  }
  ASSERT_NE(r.response.find("content-length"), nullptr);
  EXPECT_EQ(*r.response.find("content-length"), std::to_string(kBodySize));
  ASSERT_NE(r.response.find("x-test-header"), nullptr);
  EXPECT_EQ(*r.response.find("x-test-header"), "padded value");
  ASSERT_NE(r.response.find("content-type"), nullptr);
  EXPECT_EQ(*r.response.find("content-type"), "Application/Octet-Stream");  // values keep their case
  EXPECT_EQ(r.response.find("X-Test-Header"), nullptr);
  EXPECT_EQ(r.received.size(), kBodySize);
  EXPECT_TRUE(r.received == body()) << "body differs";
  EXPECT_GT(r.dataCalls, 1);
  EXPECT_EQ(r.doneCalls, 1);
  EXPECT_EQ(r.error, "");

  // Nothing fires after onDone, and the transfer is gone.
  runFor(loop, 200ms);
  EXPECT_EQ(r.doneCalls, 1);
  EXPECT_EQ(multi.active(), 0u);
}

TEST(CurlMultiTest, OnlyTheHeadersAskedForAreKept) {
  TinyHttpServer server(TinyHttpServer::Mode::kServe);
  EventLoop loop;
  CurlMulti multi(loop);
  static const std::vector<std::string_view> kKeep = {"content-type", "x-test-header"};
  UpstreamRequest req;
  req.url = server.url();
  req.keepHeaders = &kKeep;
  UpstreamResponse response;
  std::string received, error = "not done";
  TransferId id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse& resp) {
                                                       response = resp;
                                                       return true;
                                                     },
                                                     [&](const char* data, size_t size) {
                                                       received.append(data, size);
                                                       return size;
                                                     },
                                                     [&](const std::string& e) {
                                                       error = e;
                                                       loop.stop();
                                                     }}));
  ASSERT_NE(id, 0u);
  runWithin(loop, 10s);
  EXPECT_EQ(error, "");
  EXPECT_EQ(response.status, 200);
  // Matched whatever the case the origin used ("Content-Type", "X-Test-Header").
  ASSERT_NE(response.find("content-type"), nullptr);
  EXPECT_EQ(*response.find("content-type"), "Application/Octet-Stream");
  ASSERT_NE(response.find("x-test-header"), nullptr);
  EXPECT_EQ(*response.find("x-test-header"), "padded value");
  EXPECT_EQ(response.find("content-length"), nullptr);
  EXPECT_EQ(response.headers.size(), 2u);
  EXPECT_EQ(received.size(), kBodySize);  // the body does not depend on the headers kept
}

// A shared body is sent from the caller's buffer, which the transfer keeps alive: the caller
// may drop its reference at once (an archive part is handed over, not copied).
TEST(CurlMultiTest, SharedBodyIsSentWholeAndKeptAliveByTheTransfer) {
  TinyHttpServer server(TinyHttpServer::Mode::kEcho);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  UpstreamRequest req;
  req.url = server.url();
  req.method = "PUT";
  req.headers = {{"Content-Type", ""}, {"Expect", ""}};
  auto shared = std::make_shared<const std::string>(body());
  std::weak_ptr<const std::string> watch = shared;
  req.sharedBody = std::move(shared);
  TransferId id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse& resp) {
                                                       r.response = resp;
                                                       return true;
                                                     },
                                                     [&](const char* data, size_t size) {
                                                       r.received.append(data, size);
                                                       return size;
                                                     },
                                                     [&](const std::string& error) {
                                                       ++r.doneCalls;
                                                       r.error = error;
                                                       loop.stop();
                                                     }}));
  ASSERT_NE(id, 0u);
  req.sharedBody.reset();
  EXPECT_FALSE(watch.expired()) << "the transfer must hold the body while it runs";
  runWithin(loop, 10s);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.received.size(), body().size());
  EXPECT_TRUE(r.received == body()) << "the server received other bytes";
  runFor(loop, 50ms);
  EXPECT_TRUE(watch.expired()) << "the body outlived its transfer";
}

TEST(CurlMultiTest, PausedTransferResumesFromATimerAndGetsEveryByte) {
  TinyHttpServer server(TinyHttpServer::Mode::kServe);
  EventLoop loop;
  CurlMulti multi(loop, 16 * 1024);
  Recorder r;
  TransferId id = 0;
  int pauses = 0;
  int resumes = 0;
  bool waitingForResume = false;
  Timer resumer(loop, [&] {
    EXPECT_TRUE(multi.paused(id));
    ++resumes;
    multi.resume(id);
  });
  UpstreamRequest req;
  req.url = server.url();
  id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse& resp) {
                                            r.response = resp;
                                            return true;
                                          },
                                          [&](const char* data, size_t size) -> size_t {
                                            ++r.dataCalls;
                                            EXPECT_FALSE(waitingForResume && resumes < pauses)
                                                << "offered data while paused";
                                            if (waitingForResume) {
                                              waitingForResume = false;
                                            } else if (pauses < 5 && r.dataCalls % 3 == 0) {
                                              // Take nothing now; the same bytes come again after resume().
                                              ++pauses;
                                              waitingForResume = true;
                                              resumer.startOnce(20ms);
                                              return CurlMulti::kPause;
                                            }
                                            r.received.append(data, size);
                                            return size;
                                          },
                                          [&](const std::string& error) {
                                            ++r.doneCalls;
                                            r.error = error;
                                            loop.stop();
                                          }}));
  ASSERT_NE(id, 0u);
  runWithin(loop, 15s);

  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(pauses, 5);
  EXPECT_EQ(resumes, 5);
  EXPECT_EQ(r.received.size(), kBodySize);
  EXPECT_TRUE(r.received == body()) << "body differs after pause/resume";
  EXPECT_EQ(r.doneCalls, 1);
  EXPECT_EQ(r.error, "");
}

TEST(CurlMultiTest, CancelInsideOnDataStopsEveryCallback) {
  TinyHttpServer server(TinyHttpServer::Mode::kServe);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  TransferId id = 0;
  bool cancelled = false;
  UpstreamRequest req;
  req.url = server.url();
  id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse&) {
                                            ++r.headersCalls;
                                            return true;
                                          },
                                          [&](const char*, size_t size) -> size_t {
                                            ++r.dataCalls;
                                            EXPECT_FALSE(cancelled) << "onData after cancel()";
                                            cancelled = true;
                                            // Nothing of this closure is touched after cancel(); the next
                                            // test does touch it.
                                            multi.cancel(id);
                                            return size;
                                          },
                                          [&](const std::string&) { ++r.doneCalls; }}));
  ASSERT_NE(id, 0u);
  runFor(loop, 500ms);

  EXPECT_TRUE(cancelled);
  EXPECT_EQ(r.headersCalls, 1);
  EXPECT_EQ(r.dataCalls, 1);
  EXPECT_EQ(r.doneCalls, 0);
  EXPECT_EQ(multi.active(), 0u);
}

// Regression: cancel() from inside onData/onHeaders used to run `t.callbacks = {}`,
// destroying the std::function that was executing, so a callback whose closure does not
// fit std::function's small buffer and touched a capture after cancel() read freed memory
// (SIGSEGV; heap-use-after-free under ASan).
TEST(CurlMultiTest, CancelInsideOnDataThenTouchingCaptures) {
  TinyHttpServer server(TinyHttpServer::Mode::kServe);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  TransferId id = 0;
  bool cancelled = false;
  UpstreamRequest req;
  req.url = server.url();
  id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse&) { return true; },
                                               [&](const char*, size_t size) -> size_t {
                                                 ++r.dataCalls;
                                                 multi.cancel(id);
                                                 cancelled = true;  // a capture, after cancel()
                                                 return size;
                                               },
                                               [&](const std::string&) { ++r.doneCalls; }}));
  ASSERT_NE(id, 0u);
  runFor(loop, 500ms);
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(r.dataCalls, 1);
  EXPECT_EQ(r.doneCalls, 0);
}

TEST(CurlMultiTest, CancelFromOutsideBeforeAnyResponse) {
  TinyHttpServer server(TinyHttpServer::Mode::kSilent);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  UpstreamRequest req;
  req.url = server.url();
  TransferId id = idOf(multi.start(
      req, TransferCallbacks{[&](const UpstreamResponse&) { return ++r.headersCalls, true; },
                             [&](const char*, size_t size) { return ++r.dataCalls, size; },
                             [&](const std::string&) { ++r.doneCalls; }}));
  ASSERT_NE(id, 0u);
  Timer canceller(loop, [&] { multi.cancel(id); });
  canceller.startOnce(100ms);
  runFor(loop, 400ms);
  EXPECT_EQ(r.headersCalls + r.dataCalls + r.doneCalls, 0);
  EXPECT_EQ(multi.active(), 0u);
}

TEST(CurlMultiTest, ConnectionRefusedEndsWithAnError) {
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  UpstreamRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(closedPort()) + "/file";
  TransferId id = idOf(multi.start(
      req, TransferCallbacks{[&](const UpstreamResponse&) { return ++r.headersCalls, true; },
                             [&](const char*, size_t size) { return ++r.dataCalls, size; },
                             [&](const std::string& error) {
                               ++r.doneCalls;
                               r.error = error;
                               loop.stop();
                             }}));
  ASSERT_NE(id, 0u);
  runWithin(loop, 5s);
  EXPECT_EQ(r.doneCalls, 1);
  EXPECT_NE(r.error, "");
  EXPECT_EQ(r.headersCalls, 0);
  EXPECT_EQ(r.dataCalls, 0);
  runFor(loop, 100ms);
  EXPECT_EQ(r.doneCalls, 1);
  EXPECT_EQ(multi.active(), 0u);
}

TEST(CurlMultiTest, FirstByteTimeoutWhenTheServerNeverAnswers) {
  TinyHttpServer server(TinyHttpServer::Mode::kSilent);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  UpstreamRequest req;
  req.url = server.url();
  req.connectTimeout = 200ms;
  req.firstByteTimeout = 300ms;
  const auto budget = req.connectTimeout + req.firstByteTimeout;
  SteadyClock::time_point finished;
  const auto started = SteadyClock::now();
  TransferId id = idOf(multi.start(
      req, TransferCallbacks{[&](const UpstreamResponse&) { return ++r.headersCalls, true; },
                             [&](const char*, size_t size) { return ++r.dataCalls, size; },
                             [&](const std::string& error) {
                               finished = SteadyClock::now();
                               ++r.doneCalls;
                               r.error = error;
                               loop.stop();
                             }}));
  ASSERT_NE(id, 0u);
  runWithin(loop, 5s);
  ASSERT_EQ(r.doneCalls, 1);
  std::string lower = r.error;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  EXPECT_NE(lower.find("timeout"), std::string::npos) << r.error;
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(finished - started);
  EXPECT_GE(elapsed, req.firstByteTimeout) << elapsed.count() << " ms";
  EXPECT_LE(elapsed, budget + 250ms) << elapsed.count() << " ms";
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(r.headersCalls, 0);
  runFor(loop, 100ms);
  EXPECT_EQ(r.doneCalls, 1);
  EXPECT_EQ(multi.active(), 0u);
}

}  // namespace
}  // namespace recgw::reactor

namespace recgw::reactor {
namespace {

TEST(CurlMultiTest, UnreadableCaBundleIsReportedAsSuch) {
  // The handshake never starts: curl loads the bundle right after connecting.
  TinyHttpServer server(TinyHttpServer::Mode::kSilent);
  EventLoop loop;
  CurlMulti multi(loop);
  Recorder r;
  UpstreamRequest req;
  req.url = server.url();
  req.url.replace(0, 4, "https");
  req.caFile = "/nonexistent/recgw-ca.pem";
  req.connectTimeout = 2000ms;
  req.firstByteTimeout = 2000ms;
  TransferId id = idOf(multi.start(req, TransferCallbacks{[&](const UpstreamResponse&) { return true; },
                                                          [&](const char*, size_t size) { return size; },
                                                          [&](const std::string& error) {
                                                            ++r.doneCalls;
                                                            r.error = error;
                                                            loop.stop();
                                                          }}));
  ASSERT_NE(id, 0u);
  runWithin(loop, 5s);
  ASSERT_EQ(r.doneCalls, 1);
  EXPECT_EQ(r.error.rfind(kCaBundleUnusable, 0), 0u) << r.error;
  EXPECT_TRUE(isCertificateError(r.error));
  EXPECT_FALSE(isCertificateError("Couldn't connect to server: Failed to connect"));
}

TEST(CurlMultiTest, ProxyVariablesCurlReadsAreRecognised) {
  auto only = [](std::string name, std::string value) {
    return [name, value](const char* asked) -> const char* { return name == asked ? value.c_str() : nullptr; };
  };
  EXPECT_FALSE(environmentNamesProxy([](const char*) -> const char* { return nullptr; }));
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
    EXPECT_TRUE(environmentNamesProxy(only(name, "http://127.0.0.1:3128"))) << name;
  // Empty means unset to curl; upper-case HTTP_PROXY and no_proxy alone name no proxy.
  EXPECT_FALSE(environmentNamesProxy(only("https_proxy", "")));
  EXPECT_FALSE(environmentNamesProxy(only("HTTP_PROXY", "http://127.0.0.1:3128")));
  EXPECT_FALSE(environmentNamesProxy(only("no_proxy", "*")));
}
}  // namespace
}  // namespace recgw::reactor
