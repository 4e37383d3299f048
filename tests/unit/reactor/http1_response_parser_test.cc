#include "reactor/http1_response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace recgw::reactor {
namespace {

struct Parsed {
  bool headDone = false;
  bool failed = false;
  std::string error;
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool bodyDone = false;
  bool reusable = false;
  size_t leftover = 0;  // bytes after the response
};

// Feeds `wire` in pieces of `piece` bytes (0: at once), as the upstream client's buffer does.
Parsed parse(std::string_view wire, bool headRequest = false, size_t piece = 0,
             const std::vector<std::string_view>* keep = nullptr) {
  Parsed out;
  Http1ResponseParser parser(headRequest, keep);
  std::string buffered;
  size_t offered = 0;
  do {
    size_t n = piece == 0 ? wire.size() : std::min(piece, wire.size() - offered);
    buffered.append(wire.substr(offered, n));
    offered += n;
    std::string_view view(buffered);
    if (!out.headDone) {
      size_t consumed = 0;
      auto r = parser.parseHead(view, &consumed);
      if (r == Http1ResponseParser::HeadResult::kError) {
        out.failed = true;
        out.error = parser.error();
        return out;
      }
      if (r == Http1ResponseParser::HeadResult::kNeedMore) continue;
      out.headDone = true;
      out.status = parser.status();
      out.headers = parser.headers();
      view.remove_prefix(consumed);
    }
    while (!parser.bodyDone() && !view.empty()) {
      auto step = parser.parseBody(view);
      if (parser.failed()) {
        out.failed = true;
        out.error = parser.error();
        return out;
      }
      if (step.consumed == 0) break;
      out.body.append(step.payload);
      view.remove_prefix(step.consumed);
    }
    buffered = std::string(view);
  } while (offered < wire.size());
  out.bodyDone = parser.bodyDone();
  out.reusable = parser.reusable();
  out.leftover = buffered.size();
  return out;
}

const std::string* field(const Parsed& p, std::string_view name) {
  for (const auto& [n, v] : p.headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

TEST(Http1ResponseParserTest, ContentLengthBodyWholeOrByteByByte) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nETag:  \"abc\" \r\nX-Amz-Request-Id: 1\r\n\r\nhello world";
  for (size_t piece : {0, 1, 3, 17}) {
    Parsed p = parse(wire, false, piece);
    ASSERT_FALSE(p.failed) << p.error;
    EXPECT_EQ(p.status, 200);
    EXPECT_EQ(p.body, "hello world") << "piece " << piece;
    EXPECT_TRUE(p.bodyDone);
    EXPECT_TRUE(p.reusable);
    ASSERT_NE(field(p, "etag"), nullptr);
    EXPECT_EQ(*field(p, "etag"), "\"abc\"");  // trimmed, case of the value kept
    EXPECT_NE(field(p, "x-amz-request-id"), nullptr);
  }
}

TEST(Http1ResponseParserTest, BytesAfterTheBodyAreLeftUnread) {
  Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(p.body, "ok");
  EXPECT_TRUE(p.bodyDone);
  EXPECT_EQ(p.leftover, 19u);
}

TEST(Http1ResponseParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n1 ; x\r\n \r\n000A\r\n0123456789\r\n0\r\nX-Checksum: 1\r\n\r\n";
  for (size_t piece : {0, 1, 2, 5}) {
    Parsed p = parse(wire, false, piece);
    ASSERT_FALSE(p.failed) << p.error;
    EXPECT_EQ(p.body, "hello 0123456789") << "piece " << piece;
    EXPECT_TRUE(p.bodyDone);
    EXPECT_TRUE(p.reusable);
    EXPECT_EQ(p.leftover, 0u);
  }
}

TEST(Http1ResponseParserTest, BareLineFeedsAreAccepted) {
  Parsed p = parse("HTTP/1.1 200 OK\nContent-Length: 3\n\nabc");
  ASSERT_FALSE(p.failed) << p.error;
  EXPECT_EQ(p.body, "abc");
}

TEST(Http1ResponseParserTest, InterimResponsesAreSkipped) {
  Parsed p = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                   "HTTP/1.1 206 Partial Content\r\nContent-Length: 1\r\n\r\nz",
                   false, 4);
  ASSERT_FALSE(p.failed) << p.error;
  EXPECT_EQ(p.status, 206);
  EXPECT_EQ(field(p, "link"), nullptr);  // the interim head's fields are not the response's
  EXPECT_EQ(p.body, "z");
}

TEST(Http1ResponseParserTest, SwitchingProtocolsIsRefused) {
  EXPECT_TRUE(parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n").failed);
}

TEST(Http1ResponseParserTest, HeadAndBodilessStatusesHaveNoBody) {
  Parsed head = parse("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", true);
  EXPECT_TRUE(head.bodyDone);
  EXPECT_TRUE(head.reusable);
  EXPECT_EQ(*field(head, "content-length"), "500");
  for (const char* status : {"204 No Content", "304 Not Modified"}) {
    Parsed p = parse(std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 9\r\n\r\n");
    EXPECT_TRUE(p.bodyDone) << status;
    EXPECT_EQ(p.body, "");
  }
}

TEST(Http1ResponseParserTest, ZeroLengthBodyIsDoneAtTheHead) {
  Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(p.bodyDone);
  EXPECT_TRUE(p.reusable);
}

TEST(Http1ResponseParserTest, AmbiguousFramingIsAnError) {
  // Each of these could be framed two ways; a kept-alive connection would desynchronise.
  const char* cases[] = {
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n folded\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/2 200\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
  };
  for (const char* wire : cases) EXPECT_TRUE(parse(wire).failed) << wire;
}

TEST(Http1ResponseParserTest, ABareCarriageReturnFailsOnlyAValueThatIsKept) {
  static const std::vector<std::string_view> keep{"etag"};
  EXPECT_TRUE(parse("HTTP/1.1 200 OK\r\nETag: \"a\rb\"\r\nContent-Length: 0\r\n\r\n", false, 0, &keep).failed);
  Parsed ignored = parse("HTTP/1.1 200 OK\r\nServer: a\rb\r\nContent-Length: 0\r\n\r\n", false, 0, &keep);
  EXPECT_FALSE(ignored.failed) << ignored.error;
  EXPECT_TRUE(ignored.bodyDone);
}

TEST(Http1ResponseParserTest, IdenticalContentLengthsAreOne) {
  Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok");
  ASSERT_FALSE(p.failed) << p.error;
  EXPECT_EQ(p.body, "ok");
}

TEST(Http1ResponseParserTest, MalformedChunksAreErrors) {
  const char* cases[] = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n bad trailer\r\n\r\n",
  };
  for (const char* wire : cases) EXPECT_TRUE(parse(wire).failed) << wire;
}

TEST(Http1ResponseParserTest, NotHttpIsRefusedWithoutWaiting) {
  Parsed p = parse("SSH-2.0-OpenSSH_9.2\r\n");
  EXPECT_TRUE(p.failed);
  EXPECT_NE(p.error.find("not HTTP"), std::string::npos) << p.error;
}

TEST(Http1ResponseParserTest, OversizedHeadIsRefused) {
  std::string wire = "HTTP/1.1 200 OK\r\n";
  while (wire.size() <= Http1ResponseParser::kMaxHeadBytes) wire += "X-Pad: " + std::string(100, 'p') + "\r\n";
  EXPECT_TRUE(parse(wire).failed);  // without an end
  EXPECT_TRUE(parse(wire + "\r\n").failed);
}

TEST(Http1ResponseParserTest, UntilCloseBodyEndsWhenTheOriginCloses) {
  Http1ResponseParser parser(false);
  std::string_view wire = "HTTP/1.0 200 OK\r\n\r\nsome bytes";
  size_t consumed = 0;
  ASSERT_EQ(parser.parseHead(wire, &consumed), Http1ResponseParser::HeadResult::kDone);
  auto step = parser.parseBody(wire.substr(consumed));
  EXPECT_EQ(step.payload, "some bytes");
  EXPECT_FALSE(parser.bodyDone());
  EXPECT_FALSE(parser.reusable());
  EXPECT_TRUE(parser.acceptClose());
  EXPECT_TRUE(parser.bodyDone());
}

TEST(Http1ResponseParserTest, CloseBeforeTheLengthIsACutBody) {
  Http1ResponseParser parser(false);
  std::string_view wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  size_t consumed = 0;
  ASSERT_EQ(parser.parseHead(wire, &consumed), Http1ResponseParser::HeadResult::kDone);
  parser.parseBody(wire.substr(consumed));
  EXPECT_FALSE(parser.acceptClose());
  EXPECT_EQ(parser.remaining(), 7u);
}

TEST(Http1ResponseParserTest, ConnectionOptionsDecideReuse) {
  EXPECT_FALSE(parse("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").reusable);
  EXPECT_FALSE(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").reusable);
  EXPECT_TRUE(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").reusable);
}

TEST(Http1ResponseParserTest, OnlyTheHeadersAskedForAreKeptButFramingStillCounts) {
  static const std::vector<std::string_view> keep{"etag"};
  Parsed p = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: \"e\"\r\nServer: x\r\n\r\nok", false, 0, &keep);
  ASSERT_EQ(p.headers.size(), 1u);
  EXPECT_EQ(p.headers[0].first, "etag");
  EXPECT_EQ(p.body, "ok");
  EXPECT_TRUE(p.bodyDone);
}

}  // namespace
}  // namespace recgw::reactor
