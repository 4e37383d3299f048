// Every response carries one Date header (RFC 9110 §6.6.1), formatted by HttpServer once a
// second rather than by evhttp for each response: streamed, whole and header-only answers
// alike, and evhttp must not add a second one.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "handlers/http_semantics.h"
#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "reactor/libevent_handles.h"
#include "reactor/metrics.h"
#include "tests/unit/run_loop.h"

namespace recgw::reactor {
namespace {

using namespace std::chrono_literals;

class HttpDateTest : public ::testing::Test {
 protected:
  HttpDateTest() : server_(loop_, metrics_, HttpLimits{}), curl_(loop_) {
    server_.route(kGet, "/whole", "whole", [](HttpExchange& ex) { ex.reply(200, R"({"ok":true})"); });
    server_.route(kGet | kHead, "/stream", "stream", [](HttpExchange& ex) {
      ex.addHeader("Content-Length", "4");
      ex.startStream(200);
      EvbufferPtr body(evbuffer_new());
      evbuffer_add(body.get(), "body", 4);
      ex.sendChunk(body.get(), nullptr);
      ex.endStream();
    });
    server_.route(kGet, "/empty", "empty", [](HttpExchange& ex) { ex.replyHeadersOnly(304, std::nullopt); });
    server_.listen("127.0.0.1", 0);
  }

  // The values of every Date header of one response.
  std::vector<std::string> dates(const std::string& path, bool head = false) {
    std::vector<std::string> found;
    bool ended = false;
    UpstreamRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(server_.boundPort()) + path;
    request.headOnly = head;
    TransferCallbacks callbacks;
    callbacks.onHeaders = [&](const UpstreamResponse& response) {
      for (const auto& [name, value] : response.headers)
        if (name == "date") found.push_back(value);
      return true;
    };
    callbacks.onData = [](const char*, size_t n) { return n; };
    callbacks.onDone = [&](const std::string&) {
      ended = true;
      loop_.stop();
    };
    EXPECT_TRUE(curl_.start(request, std::move(callbacks)).has_value());
    EXPECT_TRUE(testing::runUntil(loop_, ended, 5000ms)) << "no response to " << path << " within 5 s";
    return found;
  }

  EventLoop loop_;
  Metrics metrics_;
  HttpServer server_;
  CurlMulti curl_;
};

// "Sun, 06 Nov 1994 08:49:37 GMT", within a few seconds of now.
void expectCurrentImfFixdate(const std::string& value) {
  static const std::regex kImfFixdate(
      R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT)");
  ASSERT_TRUE(std::regex_match(value, kImfFixdate)) << value;
  const std::optional<std::time_t> when = handlers::parseHttpDate(value);
  ASSERT_TRUE(when.has_value()) << value;
  EXPECT_LE(std::abs(::time(nullptr) - *when), 5) << value;
  // The same text the project's own formatter gives for that second.
  EXPECT_EQ(value, handlers::formatHttpDate(*when));
}

TEST_F(HttpDateTest, EveryKindOfResponseHasExactlyOneCurrentDate) {
  for (const char* path : {"/whole", "/stream", "/empty"}) {
    std::vector<std::string> found = dates(path);
    ASSERT_EQ(found.size(), 1u) << path;
    expectCurrentImfFixdate(found[0]);
  }
  std::vector<std::string> head = dates("/stream", /*head=*/true);
  ASSERT_EQ(head.size(), 1u);
  expectCurrentImfFixdate(head[0]);
}

TEST_F(HttpDateTest, TheValueIsFormattedOnceASecond) {
  const std::string first = server_.httpDate();
  EXPECT_EQ(first, std::string(server_.httpDate()));  // formatted once, reused
  expectCurrentImfFixdate(first);
}

}  // namespace
}  // namespace recgw::reactor
