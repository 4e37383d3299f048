// The built-in HTTP/1.1 client, through CurlMulti as the gateway uses it, against a scripted
// origin on 127.0.0.1 that answers each request with the next reply of its script.
#include "reactor/http1_upstream.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "tests/unit/run_loop.h"

namespace recgw::reactor {
namespace {

using namespace std::chrono_literals;

struct Reply {
  std::string bytes;
  bool closeAfter = false;  // close the connection once sent (without saying so)
  bool hold = false;        // send nothing more and keep the connection until the server stops
};

class ScriptedOrigin {
 public:
  explicit ScriptedOrigin(std::vector<Reply> script) : script_(std::move(script)) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listenFd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedOrigin() {
    stop_ = true;
    thread_.join();
    ::close(listenFd_);
  }
  std::string url(const std::string& path = "/bucket/key") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }

 private:
  bool waitReadable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) return true;
    }
    return false;
  }
  void serve() {
    size_t next = 0;
    while (waitReadable(listenFd_)) {
      int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      std::string pending;
      bool open = true;
      while (open && next < script_.size()) {
        while (pending.find("\r\n\r\n") == std::string::npos) {
          char buf[4096];
          if (!waitReadable(fd)) {
            open = false;
            break;
          }
          ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) {
            open = false;
            break;
          }
          pending.append(buf, static_cast<size_t>(n));
        }
        if (!open) break;
        size_t end = pending.find("\r\n\r\n") + 4;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          requests_.push_back(pending.substr(0, end));
        }
        pending.erase(0, end);
        const Reply& reply = script_[next++];
        size_t sent = 0;
        while (sent < reply.bytes.size()) {
          ssize_t n = ::send(fd, reply.bytes.data() + sent, reply.bytes.size() - sent, MSG_NOSIGNAL);
          if (n <= 0) break;
          sent += static_cast<size_t>(n);
        }
        if (reply.hold) {
          while (!stop_) std::this_thread::sleep_for(5ms);
        }
        if (reply.closeAfter) open = false;
      }
      ::close(fd);
    }
  }

  std::vector<Reply> script_;
  int listenFd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

struct Outcome {
  long status = 0;
  UpstreamResponse response;
  std::string body;
  std::string error;
  int done = 0;
};

// Runs one GET (or HEAD) to completion on `multi`.
Outcome fetch(EventLoop& loop, CurlMulti& multi, const std::string& url, bool head = false,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
  Outcome out;
  bool finished = false;
  UpstreamRequest req;
  req.url = url;
  req.headOnly = head;
  req.headers = std::move(headers);
  req.firstByteTimeout = 3000ms;
  auto started = multi.start(req, TransferCallbacks{[&](const UpstreamResponse& r) {
                                                      out.status = r.status;
                                                      out.response = r;
                                                      return true;
                                                    },
                                                    [&](const char* data, size_t size) {
                                                      out.body.append(data, size);
                                                      return size;
                                                    },
                                                    [&](const std::string& error) {
                                                      out.error = error;
                                                      ++out.done;
                                                      finished = true;
                                                      loop.stop();
                                                    }});
  if (!started) {
    out.error = "start: " + started.error().message;
    return out;
  }
  EXPECT_TRUE(testing::runUntil(loop, finished, 10s));
  return out;
}

// The same through onBodyBuffer, as the stream relay asks.
Outcome fetchBuffered(EventLoop& loop, CurlMulti& multi, const std::string& url, bool head = false) {
  Outcome out;
  bool finished = false;
  UpstreamRequest req;
  req.url = url;
  req.headOnly = head;
  TransferCallbacks callbacks;
  callbacks.onHeaders = [&](const UpstreamResponse& r) {
    out.status = r.status;
    out.response = r;
    return true;
  };
  callbacks.onData = [&](const char* data, size_t size) {
    out.body.append(data, size);
    return size;
  };
  callbacks.onBodyBuffer = [&](evbuffer* in) {
    size_t n = evbuffer_get_length(in);
    std::string piece(n, '\0');
    evbuffer_remove(in, piece.data(), n);
    out.body += piece;
    return n;
  };
  callbacks.onDone = [&](const std::string& error) {
    out.error = error;
    ++out.done;
    finished = true;
    loop.stop();
  };
  auto started = multi.start(req, std::move(callbacks));
  if (!started) {
    out.error = "start: " + started.error().message;
    return out;
  }
  EXPECT_TRUE(testing::runUntil(loop, finished, 10s));
  return out;
}

std::string ok(const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

TEST(Http1OriginTest, OnlyPlainHttpToAnAddressIsServed) {
  auto v4 = http1OriginOf("http://127.0.0.1:9000/bucket/a%20b?x-id=GetObject");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->authority, "127.0.0.1:9000");
  EXPECT_EQ(v4->target, "/bucket/a%20b?x-id=GetObject");
  auto defaultPort = http1OriginOf("http://10.1.2.3:80");
  ASSERT_TRUE(defaultPort);
  EXPECT_EQ(defaultPort->authority, "10.1.2.3");  // as curl sends it, and the signer signs it
  EXPECT_EQ(defaultPort->target, "/");
  auto v6 = http1OriginOf("http://[::1]:9000/k");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->authority, "[::1]:9000");
  for (const char* url : {"https://127.0.0.1/k", "http://localhost:9000/k", "http://minio.internal/k",
                          "http://user:pw@127.0.0.1/k", "http://127.0.0.1:0/k", "http://127.0.0.1:99999/k",
                          "http://127.0.0.1/k#frag", "http://127.0.0.1/a b", "http://[fe80::1%25eth0]/k",
                          "http://127.1/k", "HTTP://127.0.0.1/k"}) {
    EXPECT_FALSE(http1OriginOf(url)) << url;
  }
}

TEST(Http1UpstreamTest, KeptAliveConnectionCarriesTheNextRequest) {
  ScriptedOrigin origin({{ok("first")}, {ok("second")}});
  EventLoop loop;
  CurlMulti multi(loop);
  Outcome a = fetch(loop, multi, origin.url(), false, {{"x-amz-date", "20261207T000000Z"}});
  Outcome b = fetch(loop, multi, origin.url("/bucket/other?x=1"));
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(a.body, "first");
  EXPECT_EQ(b.body, "second");
  EXPECT_EQ(origin.accepted(), 1);
  auto requests = origin.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0], "GET /bucket/key HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(origin.port()) +
                             "\r\nx-amz-date: 20261207T000000Z\r\n\r\n");
  EXPECT_EQ(requests[1].rfind("GET /bucket/other?x=1 HTTP/1.1\r\n", 0), 0u) << requests[1];
  EXPECT_EQ(multi.active(), 0u);
}

TEST(Http1UpstreamTest, AGivenHostHeaderReplacesTheDerivedOne) {
  ScriptedOrigin origin({{ok("x")}});
  EventLoop loop;
  CurlMulti multi(loop);
  fetch(loop, multi, origin.url(), false, {{"Host", "bucket.example"}, {"Content-Type", ""}});
  auto requests = origin.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0], "GET /bucket/key HTTP/1.1\r\nHost: bucket.example\r\n\r\n");
}

TEST(Http1UpstreamTest, AHeaderWithALineBreakIsRefusedBeforeAnythingIsSent) {
  ScriptedOrigin origin({{ok("x")}});
  EventLoop loop;
  CurlMulti multi(loop);
  UpstreamRequest req;
  req.url = origin.url();
  req.headers = {{"Range", "bytes=0-1\r\nX-Injected: 1"}};
  EXPECT_FALSE(multi.start(req, {}));
  EXPECT_EQ(multi.active(), 0u);
}

TEST(Http1UpstreamTest, AConnectionTheOriginClosedIsNotReusedAndTheRequestSucceeds) {
  // The first reply claims keep-alive but the origin closes right after it.
  ScriptedOrigin origin({{ok("first"), true}, {ok("second")}});
  EventLoop loop;
  CurlMulti multi(loop);
  EXPECT_EQ(fetch(loop, multi, origin.url()).body, "first");
  Outcome b = fetch(loop, multi, origin.url());
  EXPECT_EQ(b.error, "");
  EXPECT_EQ(b.body, "second");
  EXPECT_EQ(origin.accepted(), 2);
}

TEST(Http1UpstreamTest, BytesBeyondTheResponseAreNeverTakenForTheNextOne) {
  // A smuggled second response after the first: the connection must not be reused, or the
  // next request would be answered with the origin's (or an attacker's) leftovers.
  ScriptedOrigin origin({{ok("first") + ok("smuggled")}, {ok("second")}});
  EventLoop loop;
  CurlMulti multi(loop);
  EXPECT_EQ(fetch(loop, multi, origin.url()).body, "first");
  Outcome b = fetch(loop, multi, origin.url());
  EXPECT_EQ(b.body, "second");
  EXPECT_EQ(origin.accepted(), 2);
}

TEST(Http1UpstreamTest, AmbiguousFramingFailsTheTransferAndClosesTheConnection) {
  ScriptedOrigin origin(
      {{"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, {ok("clean")}});
  EventLoop loop;
  CurlMulti multi(loop);
  Outcome a = fetch(loop, multi, origin.url());
  EXPECT_NE(a.error.find("both Content-Length and Transfer-Encoding"), std::string::npos) << a.error;
  EXPECT_EQ(a.body, "");
  Outcome b = fetch(loop, multi, origin.url());
  EXPECT_EQ(b.body, "clean");
  EXPECT_EQ(origin.accepted(), 2);
}

TEST(Http1UpstreamTest, ABodyCutShortIsAnError) {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", true}});
  EventLoop loop;
  CurlMulti multi(loop);
  Outcome a = fetch(loop, multi, origin.url());
  EXPECT_EQ(a.body, "0123456789");
  EXPECT_EQ(a.error, "transfer closed with 90 bytes remaining to read");
}

TEST(Http1UpstreamTest, AnEmptyReplyIsAnError) {
  ScriptedOrigin origin({{"", true}});
  EventLoop loop;
  CurlMulti multi(loop);
  EXPECT_EQ(fetch(loop, multi, origin.url()).error, "Empty reply from server");
}

TEST(Http1UpstreamTest, HeadIgnoresTheLengthAndKeepsTheConnection) {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nETag: \"e\"\r\n\r\n"}, {ok("after")}});
  EventLoop loop;
  CurlMulti multi(loop);
  Outcome a = fetch(loop, multi, origin.url(), true);
  EXPECT_EQ(a.error, "");
  ASSERT_NE(a.response.find("content-length"), nullptr);
  EXPECT_EQ(*a.response.find("content-length"), "1048576");
  EXPECT_EQ(fetch(loop, multi, origin.url()).body, "after");
  EXPECT_EQ(origin.accepted(), 1);
  EXPECT_EQ(origin.requests()[0].rfind("HEAD /bucket/key HTTP/1.1\r\n", 0), 0u);
}

TEST(Http1UpstreamTest, ChunkedBodyPausedOnEveryPieceArrivesWhole) {
  std::string chunks;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string piece(100 + i, static_cast<char>('a' + i % 26));
    expected += piece;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", piece.size());
    chunks += std::string(size) + "\r\n" + piece + "\r\n";
  }
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + "0\r\n\r\n"}});
  EventLoop loop;
  CurlMulti multi(loop);
  std::string body;
  std::string error = "not done";
  bool finished = false;
  bool pauseNext = true;
  TransferId id = 0;
  Timer resumer(loop, [&] { multi.resume(id); });
  UpstreamRequest req;
  req.url = origin.url();
  auto started = multi.start(req, TransferCallbacks{{},
                                                    [&](const char* data, size_t size) -> size_t {
                                                      if (pauseNext) {
                                                        pauseNext = false;
                                                        resumer.startOnce(1ms);
                                                        return CurlMulti::kPause;
                                                      }
                                                      pauseNext = true;
                                                      body.append(data, size);
                                                      return size;
                                                    },
                                                    [&](const std::string& e) {
                                                      error = e;
                                                      finished = true;
                                                      loop.stop();
                                                    }});
  ASSERT_TRUE(started);
  id = *started;
  ASSERT_TRUE(testing::runUntil(loop, finished, 10s));
  EXPECT_EQ(error, "");
  EXPECT_TRUE(body == expected) << body.size() << " bytes of " << expected.size();
}

TEST(Http1UpstreamTest, ALengthFramedBodyComesAsEvbufferChainsPausedAndResumed) {
  std::string big(3 * 1024 * 1024 + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31 + i / 1000) % 251);
  ScriptedOrigin origin({{ok(big)}, {ok("next")}});
  EventLoop loop;
  CurlMulti multi(loop);
  std::string body;
  std::string error = "not done";
  bool finished = false;
  int buffers = 0;
  int pauses = 0;
  bool pauseNext = true;
  TransferId id = 0;
  Timer resumer(loop, [&] { multi.resume(id); });
  UpstreamRequest req;
  req.url = origin.url();
  TransferCallbacks callbacks;
  callbacks.onData = [&](const char* data, size_t size) -> size_t {
    ADD_FAILURE() << "onData called although onBodyBuffer is set";
    body.append(data, size);
    return size;
  };
  callbacks.onBodyBuffer = [&](evbuffer* in) -> size_t {
    size_t n = evbuffer_get_length(in);
    EXPECT_GT(n, 0u);
    if (pauseNext && pauses < 20) {
      pauseNext = false;
      ++pauses;
      resumer.startOnce(1ms);
      return CurlMulti::kPause;
    }
    pauseNext = true;
    ++buffers;
    std::string piece(n, '\0');
    evbuffer_remove(in, piece.data(), n);
    body += piece;
    return n;
  };
  callbacks.onDone = [&](const std::string& e) {
    error = e;
    finished = true;
    loop.stop();
  };
  auto started = multi.start(req, std::move(callbacks));
  ASSERT_TRUE(started);
  id = *started;
  ASSERT_TRUE(testing::runUntil(loop, finished, 20s));
  EXPECT_EQ(error, "");
  EXPECT_EQ(pauses, 20);
  EXPECT_GT(buffers, 20);
  EXPECT_TRUE(body == big) << body.size() << " bytes of " << big.size();
  // The connection was read exactly to the end of the body, so it carries the next request.
  EXPECT_EQ(fetch(loop, multi, origin.url()).body, "next");
  EXPECT_EQ(origin.accepted(), 1);
}

// A TCP connection on loopback standing in for the gateway's client: `sink` is the
// gateway's end (non-blocking, small buffers so that it fills), a thread reads the other end,
// stalling now and then so that the sink says EAGAIN.
class LoopbackClient {
 public:
  LoopbackClient() {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    reader_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 16 * 1024;
    ::setsockopt(reader_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    EXPECT_EQ(::connect(reader_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    sink = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ::close(listener);
    ::setsockopt(sink, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    thread_ = std::thread([this] {
      char buf[8192];
      size_t sinceStall = 0;
      for (;;) {
        ssize_t n = ::recv(reader_, buf, sizeof buf, 0);
        if (n <= 0) break;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          received_.append(buf, static_cast<size_t>(n));
        }
        sinceStall += static_cast<size_t>(n);
        if (sinceStall >= 512 * 1024) {
          sinceStall = 0;
          std::this_thread::sleep_for(20ms);
        }
      }
    });
  }
  ~LoopbackClient() {
    if (sink >= 0) ::close(sink);
    thread_.join();
    ::close(reader_);
  }
  // Everything written so far, once the reader has it: closes the gateway's end.
  std::string finish() {
    ::close(sink);
    sink = -1;
    thread_.join();
    thread_ = std::thread([] {});
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  // What onBodyBuffer's bytes cost a relay: written to the socket before anything else may be.
  void writeAll(evbuffer* in) {
    while (evbuffer_get_length(in) > 0) {
      if (evbuffer_write(in, sink) > 0) continue;
      pollfd p{sink, POLLOUT, 0};
      ::poll(&p, 1, 100);
    }
  }
  int sink = -1;

 private:
  int reader_ = -1;
  std::thread thread_;
  std::mutex mutex_;
  std::string received_;
};

struct SpliceOutcome {
  std::string error = "not done";
  uint64_t spliced = 0;
  uint64_t buffered = 0;
  int splices = 0;
};

// One GET whose body may be spliced to `client.sink`, at most `budget` bytes of it.
SpliceOutcome fetchSpliced(EventLoop& loop, CurlMulti& multi, const std::string& url, LoopbackClient& client,
                           uint64_t budget) {
  SpliceOutcome out;
  bool finished = false;
  UpstreamRequest req;
  req.url = url;
  TransferCallbacks callbacks;
  callbacks.onBodyBuffer = [&](evbuffer* in) -> size_t {
    size_t n = evbuffer_get_length(in);
    out.buffered += n;
    client.writeAll(in);
    return n;
  };
  callbacks.spliceTarget = [&] {
    uint64_t sent = out.spliced + out.buffered;
    return sent < budget ? SpliceTarget{client.sink, budget - sent} : SpliceTarget{};
  };
  callbacks.onSpliced = [&](size_t n) {
    EXPECT_GT(n, 0u);
    out.spliced += n;
    ++out.splices;
  };
  callbacks.onDone = [&](const std::string& e) {
    out.error = e;
    finished = true;
    loop.stop();
  };
  EXPECT_TRUE(multi.start(req, std::move(callbacks)));
  EXPECT_TRUE(testing::runUntil(loop, finished, 20s));
  return out;
}

std::string patterned(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 31 + i / 1000) % 251);
  return bytes;
}

TEST(Http1UpstreamTest, ASplicedBodyArrivesWholeAndInOrderWhateverTheClientTakes) {
  std::string big = patterned(6 * 1024 * 1024 + 11);
  ScriptedOrigin origin({{ok(big)}, {ok("next")}});
  EventLoop loop;
  CurlMulti multi(loop);
  LoopbackClient client;
  SpliceOutcome out = fetchSpliced(loop, multi, origin.url(), client, UINT64_MAX);
  EXPECT_EQ(out.error, "");
  EXPECT_EQ(out.spliced + out.buffered, big.size());
  EXPECT_GT(out.spliced, 0u);
  // The client's socket filled (its reader stalls): what it could not take came back
  // through onBodyBuffer, in order.
  EXPECT_GT(out.buffered, 0u);
  std::string received = client.finish();
  EXPECT_TRUE(received == big) << received.size() << " bytes of " << big.size();
  // The splice read the origin's socket exactly to the end of the body.
  EXPECT_EQ(fetch(loop, multi, origin.url()).body, "next");
  EXPECT_EQ(origin.accepted(), 1);
}

TEST(Http1UpstreamTest, NoMoreIsSplicedThanTheTargetTakesAndTheRestComesAsBuffers) {
  std::string body = patterned(300 * 1000);
  ScriptedOrigin origin({{ok(body)}, {ok(body)}});
  EventLoop loop;
  CurlMulti multi(loop);
  for (uint64_t budget : {uint64_t{1000}, uint64_t{0}}) {
    LoopbackClient client;
    SpliceOutcome out = fetchSpliced(loop, multi, origin.url(), client, budget);
    EXPECT_EQ(out.error, "");
    EXPECT_LE(out.spliced, budget);
    EXPECT_EQ(out.spliced + out.buffered, body.size());
    std::string received = client.finish();
    EXPECT_TRUE(received == body) << "budget " << budget << ": " << received.size() << " bytes";
  }
}

TEST(Http1UpstreamTest, ABodyCutShortWhileSplicedIsAnError) {
  std::string body = patterned(200 * 1000);
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + body, true}});
  EventLoop loop;
  CurlMulti multi(loop);
  LoopbackClient client;
  SpliceOutcome out = fetchSpliced(loop, multi, origin.url(), client, UINT64_MAX);
  EXPECT_EQ(out.error, "transfer closed with 100000 bytes remaining to read");
  EXPECT_EQ(out.spliced + out.buffered, body.size());
  EXPECT_TRUE(client.finish() == body);
}

TEST(Http1UpstreamTest, BytesBeyondALongBodyAreNeverTakenForTheNextOne) {
  // The same behind a body longer than one read: the last read stops at the body's end, so
  // the smuggled bytes are still in the socket when the connection goes back to the pool.
  std::string body = patterned(300 * 1000);
  {
    ScriptedOrigin origin({{ok(body) + ok("smuggled")}, {ok("second")}});
    EventLoop loop;
    CurlMulti multi(loop);
    EXPECT_TRUE(fetchBuffered(loop, multi, origin.url()).body == body);
    EXPECT_EQ(fetchBuffered(loop, multi, origin.url()).body, "second");
    EXPECT_EQ(origin.accepted(), 2);
  }
  {
    ScriptedOrigin origin({{ok(body) + ok("smuggled")}, {ok("second")}});
    EventLoop loop;
    CurlMulti multi(loop);
    LoopbackClient client;
    SpliceOutcome spliced = fetchSpliced(loop, multi, origin.url(), client, UINT64_MAX);
    EXPECT_EQ(spliced.error, "");
    EXPECT_TRUE(client.finish() == body);
    EXPECT_EQ(fetch(loop, multi, origin.url()).body, "second");
    EXPECT_EQ(origin.accepted(), 2);
  }
}

TEST(Http1UpstreamTest, ABodyLeftInTheEvbufferIsAnError) {
  ScriptedOrigin origin({{ok("abcdef")}});
  EventLoop loop;
  CurlMulti multi(loop);
  std::string error;
  bool finished = false;
  UpstreamRequest req;
  req.url = origin.url();
  TransferCallbacks callbacks;
  callbacks.onBodyBuffer = [&](evbuffer* in) -> size_t { return evbuffer_get_length(in); };  // says taken, is not
  callbacks.onDone = [&](const std::string& e) {
    error = e;
    finished = true;
    loop.stop();
  };
  ASSERT_TRUE(multi.start(req, std::move(callbacks)));
  ASSERT_TRUE(testing::runUntil(loop, finished, 10s));
  EXPECT_EQ(error, "Failed writing received data to disk/application");
}

TEST(Http1UpstreamTest, ThroughEvbuffersEveryFramingEndsAsThroughOnData) {
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  ScriptedOrigin origin({{ok("first")},
                         {ok("second") + "HTTP/1.1 200 OK\r\n"},  // bytes beyond: not reused
                         {chunked},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", false},
                         {ok("after head")},
                         {"HTTP/1.1 204 No Content\r\n\r\n"},
                         {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true}});
  EventLoop loop;
  CurlMulti multi(loop);
  EXPECT_EQ(fetchBuffered(loop, multi, origin.url()).body, "first");
  EXPECT_EQ(fetchBuffered(loop, multi, origin.url()).body, "second");
  EXPECT_EQ(origin.accepted(), 1);
  Outcome c = fetchBuffered(loop, multi, origin.url());
  EXPECT_EQ(origin.accepted(), 2);  // the overrun connection was closed
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.body, "abcde");
  Outcome h = fetchBuffered(loop, multi, origin.url(), true);
  EXPECT_EQ(h.error, "");
  EXPECT_EQ(h.body, "");
  EXPECT_EQ(fetchBuffered(loop, multi, origin.url()).body, "after head");
  Outcome n = fetchBuffered(loop, multi, origin.url());
  EXPECT_EQ(n.status, 204);
  EXPECT_EQ(n.error, "");
  EXPECT_EQ(origin.accepted(), 2);  // chunked, HEAD and 204 left the second one reusable
  Outcome cut = fetchBuffered(loop, multi, origin.url());
  EXPECT_EQ(cut.body, "abc");
  EXPECT_EQ(cut.error, "transfer closed with 7 bytes remaining to read");
}

TEST(Http1UpstreamTest, CancelInsideOnHeadersStopsEverything) {
  ScriptedOrigin origin({{ok(std::string(100000, 'x'))}});
  EventLoop loop;
  CurlMulti multi(loop);
  int dataCalls = 0;
  int doneCalls = 0;
  TransferId id = 0;
  UpstreamRequest req;
  req.url = origin.url();
  auto started = multi.start(req, TransferCallbacks{[&](const UpstreamResponse&) {
                                                      multi.cancel(id);
                                                      loop.stop();
                                                      return true;
                                                    },
                                                    [&](const char*, size_t size) {
                                                      ++dataCalls;
                                                      return size;
                                                    },
                                                    [&](const std::string&) { ++doneCalls; }});
  ASSERT_TRUE(started);
  id = *started;
  testing::runWithin(loop, 10s);
  Timer settle(loop, [&] { loop.stop(); });
  settle.startOnce(100ms);
  loop.run();
  EXPECT_EQ(dataCalls, 0);
  EXPECT_EQ(doneCalls, 0);
  EXPECT_EQ(multi.active(), 0u);
}

TEST(Http1UpstreamTest, AnOriginThatStopsSendingIsTooSlow) {
  ScriptedOrigin origin({{"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc", false, true}});
  EventLoop loop;
  CurlMulti multi(loop);
  std::string error;
  bool finished = false;
  UpstreamRequest req;
  req.url = origin.url();
  req.lowSpeedBytes = 1000;
  req.lowSpeedTime = 1s;
  ASSERT_TRUE(multi.start(req, TransferCallbacks{{},
                                                 [](const char*, size_t size) { return size; },
                                                 [&](const std::string& e) {
                                                   error = e;
                                                   finished = true;
                                                   loop.stop();
                                                 }}));
  ASSERT_TRUE(testing::runUntil(loop, finished, 10s));
  EXPECT_NE(error.find("too slow"), std::string::npos) << error;
}

TEST(Http1UpstreamTest, TheLowSpeedWindowAlsoCountsWhileTheHeadIsAwaited) {
  // As with curl: a silent origin fails after the low-speed window when that is shorter
  // than the first-byte budget.
  ScriptedOrigin origin({{"", false, true}});
  EventLoop loop;
  CurlMulti multi(loop);
  std::string error;
  bool finished = false;
  UpstreamRequest req;
  req.url = origin.url();
  req.firstByteTimeout = 8000ms;
  req.lowSpeedBytes = 1;
  req.lowSpeedTime = 1s;
  auto begun = std::chrono::steady_clock::now();
  ASSERT_TRUE(multi.start(req, TransferCallbacks{{},
                                                 [](const char*, size_t size) { return size; },
                                                 [&](const std::string& e) {
                                                   error = e;
                                                   finished = true;
                                                   loop.stop();
                                                 }}));
  ASSERT_TRUE(testing::runUntil(loop, finished, 10s));
  EXPECT_NE(error.find("too slow"), std::string::npos) << error;
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 5s);  // the window, not the 8 s budget
}

TEST(Http1UpstreamTest, FirstByteBudgetEndsTheWaitWhenItIsShorter) {
  ScriptedOrigin origin({{"", false, true}});
  EventLoop loop;
  CurlMulti multi(loop);
  std::string error;
  bool finished = false;
  UpstreamRequest req;
  req.url = origin.url();
  req.connectTimeout = 100ms;
  req.firstByteTimeout = 300ms;
  ASSERT_TRUE(multi.start(req, TransferCallbacks{{},
                                                 [](const char*, size_t size) { return size; },
                                                 [&](const std::string& e) {
                                                   error = e;
                                                   finished = true;
                                                   loop.stop();
                                                 }}));
  ASSERT_TRUE(testing::runUntil(loop, finished, 10s));
  EXPECT_EQ(error, "no response headers within the first-byte timeout");
}

TEST(Http1UpstreamTest, RefusedConnectionIsReportedLaterNotFromStart) {
  EventLoop loop;
  CurlMulti multi(loop);
  Outcome a = fetch(loop, multi, "http://127.0.0.1:1/k");
  EXPECT_EQ(a.done, 1);
  EXPECT_EQ(a.error.rfind("Couldn't connect to server", 0), 0u) << a.error;
}

TEST(Http1UpstreamTest, CurlOnlyModeStillServesTheSameRequests) {
  ScriptedOrigin origin({{ok("via curl")}});
  EventLoop loop;
  CurlMulti multi(loop);
  multi.useCurlOnly();
  Outcome a = fetch(loop, multi, origin.url());
  EXPECT_EQ(a.body, "via curl");
  auto requests = origin.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_NE(requests[0].find("Host: 127.0.0.1:"), std::string::npos);
}

}  // namespace
}  // namespace recgw::reactor
