#include "reactor/request_framing.h"

#include <event2/http.h>
#include <event2/http_struct.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

namespace recgw::reactor {
namespace {

struct RequestFree {
  void operator()(evhttp_request* req) const { evhttp_request_free(req); }
};
using RequestPtr = std::unique_ptr<evhttp_request, RequestFree>;

RequestPtr request(std::initializer_list<std::pair<const char*, const char*>> headers, char minor = 1) {
  RequestPtr req(evhttp_request_new(nullptr, nullptr));
  req->major = 1;
  req->minor = minor;
  evkeyvalq* in = evhttp_request_get_input_headers(req.get());
  for (const auto& [name, value] : headers) evhttp_add_header(in, name, value);
  return req;
}

std::string failure(const RequestPtr& req, const HeaderWatch* watch = nullptr) {
  Status status = checkRequestFraming(req.get(), watch);
  return status ? "" : status.error().message;
}

TEST(RequestFramingTest, AWellFramedRequestPasses) {
  EXPECT_EQ(failure(request({{"Host", "a"}})), "");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Content-Length", "12"}})), "");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}})), "");
  EXPECT_EQ(failure(request({}, 0)), "");  // HTTP/1.0 needs no Host
}

TEST(RequestFramingTest, EachViolationIsNamed) {
  EXPECT_EQ(failure(request({})), "an HTTP/1.1 request needs exactly one Host header");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Host", "b"}})),
            "an HTTP/1.1 request needs exactly one Host header");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Content-Length", "1"}, {"Content-Length", "1"}})),
            "more than one Content-Length");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Content-Length", "+1"}})), "an invalid Content-Length");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Transfer-Encoding", "gzip"}})),
            "an unsupported Transfer-Encoding");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}})),
            "conflicting message framing");
  EXPECT_EQ(failure(request({{"Host", "a"}, {"Bad Name", "x"}})), "a malformed header field name");
}

TEST(RequestFramingTest, ANulInTheConsumedHeadIsRefused) {
  HeaderWatch watch;
  watch.consumed = 100;
  watch.nulAt = 40;
  EXPECT_EQ(failure(request({{"Host", "a"}}), &watch), "a NUL byte in the request");
  // A NUL further on belongs to a later (pipelined) request.
  watch.nulAt = 150;
  EXPECT_EQ(failure(request({{"Host", "a"}}), &watch), "");
}

}  // namespace
}  // namespace recgw::reactor
