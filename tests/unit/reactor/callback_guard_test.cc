// No exception leaves a C callback: an HttpServer and a CurlMulti on one EventLoop, where the
// server's routes throw from their handler, from a curl completion, or from code that comes
// back through an ExchangeRef. The client is a second curl transfer on the same loop. Each
// throwing request gets 500 (or a cut stream), and the next request is served: the worker
// survives.
#include "reactor/callback_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/exchange_ref.h"
#include "reactor/http_server.h"
#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "tests/unit/run_loop.h"

namespace recgw::reactor {
namespace {

using namespace std::chrono_literals;

struct ClientResult {
  long status = 0;
  std::string body;
  std::string error;  // the client's transport error: empty when the response was whole
};

class GuardedServerTest : public ::testing::Test {
 protected:
  GuardedServerTest() : server_(loop_, metrics_, HttpLimits{}), curl_(loop_) {
    server_.route(kGet, "/ok", "ok", [](HttpExchange& ex) { ex.reply(200, R"({"ok":true})"); });
    server_.route(kGet, "/origin", "origin",
                  [](HttpExchange& ex) { ex.reply(200, "origin body", "text/plain"); });
  }

  void listen() { server_.listen("127.0.0.1", 0); }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_.boundPort()) + path;
  }

  // One GET through curl on the loop; returns once it ended (or after 5 s, failing the test).
  ClientResult get(const std::string& path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    ClientResult result;
    bool ended = false;
    UpstreamRequest request;
    request.url = url(path);
    request.headers = std::move(headers);
    TransferCallbacks callbacks;
    callbacks.onHeaders = [&](const UpstreamResponse& response) {
      result.status = response.status;
      return true;
    };
    callbacks.onData = [&](const char* data, size_t n) {
      result.body.append(data, n);
      return n;
    };
    callbacks.onDone = [&](const std::string& error) {
      result.error = error;
      ended = true;
      loop_.stop();
    };
    auto started = curl_.start(request, std::move(callbacks));
    EXPECT_TRUE(started.has_value());
    if (!started) return result;
    EXPECT_TRUE(testing::runUntil(loop_, ended, 5000ms)) << "no response to " << path << " within 5 s";
    return result;
  }

  // The same loop's curl, for routes that ask "/origin" on behalf of their client.
  void askOrigin(HttpExchange& ex, TransferCallbacks callbacks) {
    UpstreamRequest request;
    request.url = url("/origin");
    if (!callbacks.onData) callbacks.onData = [](const char*, size_t n) { return n; };
    ASSERT_TRUE(curl_.start(request, std::move(callbacks), ExchangeRef(ex)).has_value());
  }

  void expectNextRequestServed() {
    ClientResult next = get("/ok");
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(next.body, R"({"ok":true})");
    EXPECT_EQ(next.error, "");
  }

  EventLoop loop_;
  Metrics metrics_;
  HttpServer server_;
  CurlMulti curl_;
};

TEST(GuardCallbackTest, ReportsWhetherTheBodyThrew) {
  int ran = 0;
  EXPECT_TRUE(guardCallback("plain", {}, [&] { ++ran; }));
  EXPECT_FALSE(guardCallback("std exception", "req-1", [&] {
    ++ran;
    throw std::runtime_error("boom");
  }));
  EXPECT_FALSE(guardCallback("anything else", "req-2", [&] {
    ++ran;
    throw 42;
  }));
  EXPECT_EQ(ran, 3);
}

TEST_F(GuardedServerTest, ThrowingCurlCompletionAnswers500AndTheWorkerGoesOn) {
  server_.route(kGet, "/presign", "presign", [this](HttpExchange& ex) {
    TransferCallbacks callbacks;
    callbacks.onDone = [](const std::string&) { throw std::runtime_error("a bug in the completion"); };
    askOrigin(ex, std::move(callbacks));
  });
  listen();
  ClientResult failed = get("/presign");
  EXPECT_EQ(failed.status, 500);
  EXPECT_NE(failed.body.find("internal"), std::string::npos);
  EXPECT_EQ(failed.error, "");
  expectNextRequestServed();
}

TEST_F(GuardedServerTest, NonStdExceptionFromCurlDataAnswers500) {
  server_.route(kGet, "/relay", "relay", [this](HttpExchange& ex) {
    TransferCallbacks callbacks;
    callbacks.onData = [](const char*, size_t) -> size_t { throw 7; };
    // The aborted transfer still ends; its request has been answered already.
    callbacks.onDone = [](const std::string&) {};
    askOrigin(ex, std::move(callbacks));
  });
  listen();
  EXPECT_EQ(get("/relay").status, 500);
  expectNextRequestServed();
}

TEST_F(GuardedServerTest, ThrowingCurlHeadersCallbackAnswers500) {
  server_.route(kGet, "/head", "head", [this](HttpExchange& ex) {
    TransferCallbacks callbacks;
    callbacks.onHeaders = [](const UpstreamResponse&) -> bool { throw std::logic_error("bad header logic"); };
    callbacks.onDone = [](const std::string&) {};
    askOrigin(ex, std::move(callbacks));
  });
  listen();
  EXPECT_EQ(get("/head").status, 500);
  expectNextRequestServed();
}

TEST_F(GuardedServerTest, HandlerThrowingAnythingAnswers500) {
  server_.route(kGet, "/std", "std", [](HttpExchange&) { throw std::runtime_error("handler bug"); });
  server_.route(kGet, "/int", "int", [](HttpExchange&) { throw 42; });
  listen();
  EXPECT_EQ(get("/std").status, 500);
  EXPECT_EQ(get("/int").status, 500);
  expectNextRequestServed();
}

TEST_F(GuardedServerTest, ThrowInsideExchangeRefWithAnswers500) {
  server_.route(kGet, "/later", "later", [this](HttpExchange& ex) {
    loop_.defer([request = ExchangeRef(ex)] {
      bool ran = request.with([](HttpExchange&) { throw std::runtime_error("a bug in the continuation"); });
      EXPECT_TRUE(ran);
    });
  });
  listen();
  EXPECT_EQ(get("/later").status, 500);
  expectNextRequestServed();
}

TEST_F(GuardedServerTest, ThrowAfterTheStreamStartedCutsTheConnection) {
  server_.route(kGet, "/stream", "stream", [this](HttpExchange& ex) {
    ex.startStream(200);
    EvbufferPtr chunk(evbuffer_new());
    evbuffer_add(chunk.get(), "first part", 10);
    ex.sendChunk(chunk.get(), nullptr);
    loop_.defer([request = ExchangeRef(ex)] {
      request.with([](HttpExchange&) { throw std::runtime_error("a bug mid-stream"); });
    });
  });
  listen();
  ClientResult cut = get("/stream");
  EXPECT_EQ(cut.status, 200);
  // A 500 cannot follow a 200 already sent: the client must see a truncated body instead.
  EXPECT_NE(cut.error, "");
  expectNextRequestServed();
}

// A stream ended once its client's buffer is empty makes evhttp finish the request inside
// endStream; on a `Connection: close` request it also frees the request and the connection
// there, and the close callback came back into the exchange as "client gone": the relay's
// abort then freed the request a second time (a double free, seen as a worker killed by
// SIGABRT under many parked streams). The response is whole and the client did not leave.
TEST_F(GuardedServerTest, StreamEndedOnAnEmptyBufferOfAClosingConnectionIsWhole) {
  bool clientGone = false;
  int drains = 0;
  server_.route(kGet, "/closing", "closing", [&](HttpExchange& ex) {
    ex.addHeader("Content-Length", "10");
    ex.setOnClientGone([&] {
      clientGone = true;
      ex.abortStream();
    });
    ex.startStream(200);
    EvbufferPtr chunk(evbuffer_new());
    evbuffer_add(chunk.get(), "whole body", 10);
    ex.sendChunk(chunk.get(), [&ex, &drains] {
      if (drains++ == 0) ex.endStream();
    });
  });
  listen();
  ClientResult result = get("/closing", {{"Connection", "close"}});
  EXPECT_EQ(drains, 1);
  EXPECT_FALSE(clientGone);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "whole body");
  EXPECT_EQ(result.error, "");
  EXPECT_NE(
      metrics_.render().find(R"(recgw_http_requests_total{route="closing",method="GET",status="200"} 1)"),
      std::string::npos)
      << metrics_.render();
  expectNextRequestServed();
}

// A stream cut short leaves its connection to be freed on the next pass. When the client's
// end of the stream is already waiting, evhttp sees it first in that pass (ready sockets run
// before timers) and frees the connection itself; the deferred free then freed it again (a
// double free, or the connection of whichever client was given the same address).
TEST_F(GuardedServerTest, StreamCutWhileTheClientClosesIsFreedOnce) {
  bool handled = false;
  server_.route(kGet, "/cut", "cut", [&](HttpExchange& ex) {
    ex.addHeader("Content-Length", "100");
    ex.startStream(200);
    EvbufferPtr chunk(evbuffer_new());
    evbuffer_add(chunk.get(), "ten bytes.", 10);
    ex.sendChunk(chunk.get(), nullptr);
    ex.abortStream();
    handled = true;
  });
  listen();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server_.boundPort());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  const std::string request = "GET /cut HTTP/1.1\r\nHost: test\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  ::shutdown(fd, SHUT_WR);  // the request and its end arrive together
  // Runs until the handler has cut the stream, then 200 ms more: the client's end and the
  // deferred free both come in that time.
  Timer limit(loop_, [&] { loop_.stop(); });
  limit.startOnce(2000ms);
  Timer settle(loop_, [&] { loop_.stop(); });
  while (!handled && limit.pending()) {
    settle.startOnce(20ms);
    loop_.run();
  }
  ASSERT_TRUE(handled);
  settle.startOnce(200ms);
  loop_.run();
  ::close(fd);
  EXPECT_EQ(server_.openConnections(), 0u);
  expectNextRequestServed();
}

TEST_F(GuardedServerTest, ExchangeRefDoesNothingOnceTheRequestIsGone) {
  ExchangeRef answered;
  server_.route(kGet, "/now", "now", [&](HttpExchange& ex) {
    answered = ExchangeRef(ex);
    EXPECT_TRUE(answered.alive());
    ex.reply(200, "{}");
  });
  listen();
  EXPECT_EQ(get("/now").status, 200);
  bool ran = false;
  EXPECT_FALSE(answered.with([&](HttpExchange&) { ran = true; }));
  EXPECT_FALSE(ran);
  EXPECT_FALSE(ExchangeRef().with([&](HttpExchange&) { ran = true; }));
  EXPECT_FALSE(ran);
}

TEST(EventLoopDeleteSoonTest, FreesOnTheNextPassNotInPlace) {
  EventLoop loop;
  auto alive = std::make_shared<int>(1);
  std::weak_ptr<int> watch = alive;
  auto owner = std::make_unique<std::shared_ptr<int>>(std::move(alive));
  loop.deleteSoon(std::move(owner));
  EXPECT_FALSE(watch.expired());
  Timer stop(loop, [&] { loop.stop(); });
  stop.startOnce(50ms);
  loop.run();
  EXPECT_TRUE(watch.expired());
}

TEST(LivenessTest, WatchesSeeTheOwnerDie) {
  LivenessWatch before;
  EXPECT_FALSE(before.alive());
  auto owner = std::make_unique<Liveness>();
  LivenessWatch watch = *owner;
  EXPECT_TRUE(watch.alive());
  owner->invalidate();
  EXPECT_FALSE(watch.alive());
  LivenessWatch after = *owner;
  EXPECT_TRUE(after.alive());
  owner.reset();
  EXPECT_FALSE(after.alive());
}

}  // namespace
}  // namespace recgw::reactor
