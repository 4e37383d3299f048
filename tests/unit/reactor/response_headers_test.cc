// Every output header reaches the client as its own line with its own value, though
// HttpExchange joins the ones evhttp does not read into one evhttp entry before the head is
// written (HttpExchange::packOutputHeaders): whole, streamed and header-only answers,
// repeated names, and the framing headers evhttp still acts on.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "reactor/libevent_handles.h"
#include "reactor/metrics.h"
#include "tests/unit/run_loop.h"

namespace recgw::reactor {
namespace {

using namespace std::chrono_literals;

const std::string kLong(600, 'v');

void addMany(HttpExchange& ex) {
  ex.addHeader("ETag", "\"abc\"");
  ex.addHeader("Link", "</a>; rel=preload");
  ex.addHeader("Accept-Ranges", "bytes");
  ex.addHeader("Link", "</b>; rel=preload");
  ex.addHeader("X-Long", kLong);
  ex.addHeader("Content-Type", "audio/ogg");
  ex.addHeader("Cache-Control", "private, max-age=60");
}

class ResponseHeadersTest : public ::testing::Test {
 protected:
  ResponseHeadersTest() : server_(loop_, metrics_, HttpLimits{}), curl_(loop_) {
    server_.route(kGet, "/whole", "whole", [](HttpExchange& ex) {
      addMany(ex);
      ex.reply(200, "whole body", "audio/ogg");
    });
    server_.route(kGet, "/stream", "stream", [](HttpExchange& ex) {
      addMany(ex);
      ex.addHeader("Content-Length", "6");
      ex.startStream(200);
      EvbufferPtr body(evbuffer_new());
      evbuffer_add(body.get(), "stream", 6);
      ex.sendChunk(body.get(), nullptr);
      ex.endStream();
    });
    server_.route(kGet, "/chunked", "chunked", [](HttpExchange& ex) {
      addMany(ex);
      ex.startStream(200);  // no length: evhttp frames it chunked, as it decides from the headers
      EvbufferPtr body(evbuffer_new());
      evbuffer_add(body.get(), "chunked", 7);
      ex.sendChunk(body.get(), nullptr);
      ex.endStream();
    });
    server_.route(kGet, "/none", "none", [](HttpExchange& ex) {
      addMany(ex);
      ex.replyHeadersOnly(304, std::nullopt);
    });
    server_.route(kGet, "/error-after-entity", "error-after-entity", [](HttpExchange& ex) {
      addMany(ex);
      ex.addHeader("Date", "Tue, 01 Dec 2026 10:00:00 GMT");
      ex.replyError(416, "range_not_satisfiable", "outside");
    });
    server_.route(kGet, "/injected", "injected", [](HttpExchange& ex) {
      ex.addHeader("X-Evil", "a\r\nSet-Cookie: stolen=1");
      ex.addHeader("X-Evil-Too", std::string_view("b\0c", 3));
      ex.addHeader("X-Fine", "fine");
      ex.reply(200, "x");
    });
    server_.listen("127.0.0.1", 0);
  }

  struct Answer {
    long status = 0;
    std::multimap<std::string, std::string> headers;
    std::string body;
    std::string error = "not done";
  };

  Answer get(const std::string& path) {
    Answer a;
    bool ended = false;
    UpstreamRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(server_.boundPort()) + path;
    TransferCallbacks callbacks;
    callbacks.onHeaders = [&](const UpstreamResponse& response) {
      a.status = response.status;
      for (const auto& [name, value] : response.headers) a.headers.emplace(name, value);
      return true;
    };
    callbacks.onData = [&](const char* data, size_t n) {
      a.body.append(data, n);
      return n;
    };
    callbacks.onDone = [&](const std::string& error) {
      a.error = error;
      ended = true;
      loop_.stop();
    };
    EXPECT_TRUE(curl_.start(request, std::move(callbacks)).has_value());
    EXPECT_TRUE(testing::runUntil(loop_, ended, 5000ms)) << path;
    return a;
  }

  static std::vector<std::string> values(const Answer& a, const std::string& name) {
    std::vector<std::string> found;
    auto [from, to] = a.headers.equal_range(name);
    for (auto it = from; it != to; ++it) found.push_back(it->second);
    return found;
  }

  void expectEveryHeader(const Answer& a, const std::string& path) {
    EXPECT_EQ(a.error, "") << path;  // the built-in client's strict parser read the head
    EXPECT_EQ(values(a, "etag"), std::vector<std::string>{"\"abc\""}) << path;
    EXPECT_EQ(values(a, "link"), (std::vector<std::string>{"</a>; rel=preload", "</b>; rel=preload"})) << path;
    EXPECT_EQ(values(a, "accept-ranges"), std::vector<std::string>{"bytes"}) << path;
    EXPECT_EQ(values(a, "x-long"), std::vector<std::string>{kLong}) << path;
    EXPECT_EQ(values(a, "cache-control"), std::vector<std::string>{"private, max-age=60"}) << path;
    EXPECT_EQ(values(a, "x-content-type-options"), std::vector<std::string>{"nosniff"}) << path;
    EXPECT_EQ(values(a, "x-request-id").size(), 1u) << path;
    EXPECT_EQ(values(a, "date").size(), 1u) << path;
  }

  EventLoop loop_;
  Metrics metrics_;
  HttpServer server_;
  CurlMulti curl_;
};

TEST_F(ResponseHeadersTest, AWholeReplyCarriesEveryHeaderOnItsOwnLine) {
  Answer a = get("/whole");
  expectEveryHeader(a, "/whole");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(values(a, "content-type"), std::vector<std::string>{"audio/ogg"});
  EXPECT_EQ(values(a, "content-length"), std::vector<std::string>{"10"});
  EXPECT_EQ(a.body, "whole body");
}

TEST_F(ResponseHeadersTest, AStreamedReplyKeepsItsDeclaredLength) {
  Answer a = get("/stream");
  expectEveryHeader(a, "/stream");
  EXPECT_EQ(values(a, "content-length"), std::vector<std::string>{"6"});
  EXPECT_TRUE(values(a, "transfer-encoding").empty());
  EXPECT_EQ(a.body, "stream");
}

TEST_F(ResponseHeadersTest, AStreamWithoutLengthIsStillChunked) {
  Answer a = get("/chunked");
  expectEveryHeader(a, "/chunked");
  EXPECT_EQ(values(a, "transfer-encoding"), std::vector<std::string>{"chunked"});
  EXPECT_EQ(values(a, "content-type"), std::vector<std::string>{"audio/ogg"});  // not evhttp's default
  EXPECT_EQ(a.body, "chunked");
}

TEST_F(ResponseHeadersTest, AHeaderOnlyReplyCarriesThemToo) {
  Answer a = get("/none");
  expectEveryHeader(a, "/none");
  EXPECT_EQ(a.status, 304);
  EXPECT_EQ(a.body, "");
}

TEST_F(ResponseHeadersTest, AnErrorAfterTheEntityHeadersCarriesOneTypeAndOneDate) {
  Answer a = get("/error-after-entity");
  EXPECT_EQ(a.status, 416);
  EXPECT_EQ(values(a, "content-type"), std::vector<std::string>{"application/json"});
  EXPECT_EQ(values(a, "date"), std::vector<std::string>{"Tue, 01 Dec 2026 10:00:00 GMT"});
  EXPECT_EQ(values(a, "etag"), std::vector<std::string>{"\"abc\""});
  EXPECT_NE(a.body.find("range_not_satisfiable"), std::string::npos);
}

TEST_F(ResponseHeadersTest, AValueThatWouldSplitALineIsDropped) {
  Answer a = get("/injected");
  EXPECT_EQ(a.error, "");
  EXPECT_TRUE(values(a, "x-evil").empty());
  EXPECT_TRUE(values(a, "set-cookie").empty());
  EXPECT_TRUE(values(a, "x-evil-too").empty());
  EXPECT_EQ(values(a, "x-fine"), std::vector<std::string>{"fine"});
}

}  // namespace
}  // namespace recgw::reactor
