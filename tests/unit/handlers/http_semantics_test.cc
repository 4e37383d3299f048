#include "handlers/http_semantics.h"

#include <gtest/gtest.h>

#include <string>

namespace recgw::handlers {
namespace {

// ---- Range ----

struct RangeCase {
  const char* header;
  bool valid;
  ByteRange::Kind kind = ByteRange::kFrom;
  uint64_t a = 0;  // first, or suffixLength for kSuffix
  uint64_t b = 0;  // last for kFromTo
};

class RangeParseTable : public ::testing::TestWithParam<RangeCase> {};

TEST_P(RangeParseTable, Parses) {
  const RangeCase& c = GetParam();
  auto r = parseRangeHeader(c.header);
  ASSERT_EQ(r.has_value(), c.valid) << "header: [" << c.header << "]";
  if (!c.valid) return;
  EXPECT_EQ(r->kind, c.kind) << c.header;
  switch (c.kind) {
    case ByteRange::kSuffix:
      EXPECT_EQ(r->suffixLength, c.a) << c.header;
      break;
    case ByteRange::kFrom:
      EXPECT_EQ(r->first, c.a) << c.header;
      break;
    case ByteRange::kFromTo:
      EXPECT_EQ(r->first, c.a) << c.header;
      EXPECT_EQ(r->last, c.b) << c.header;
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Range, RangeParseTable,
    ::testing::Values(
        RangeCase{"bytes=0-499", true, ByteRange::kFromTo, 0, 499},
        RangeCase{"bytes=500-999", true, ByteRange::kFromTo, 500, 999},
        RangeCase{"bytes=7-7", true, ByteRange::kFromTo, 7, 7},
        RangeCase{"bytes=100-", true, ByteRange::kFrom, 100},
        RangeCase{"bytes=0-", true, ByteRange::kFrom, 0},
        RangeCase{"bytes=-500", true, ByteRange::kSuffix, 500},
        RangeCase{"bytes=-0", true, ByteRange::kSuffix, 0},
        RangeCase{"Bytes=1-2", true, ByteRange::kFromTo, 1, 2},
        RangeCase{"BYTES=1-2", true, ByteRange::kFromTo, 1, 2},
        // OWS around the value, after '=' and around empty list elements.
        RangeCase{"  bytes=1-2  ", true, ByteRange::kFromTo, 1, 2},
        RangeCase{"\tbytes=1-2\t", true, ByteRange::kFromTo, 1, 2},
        RangeCase{"bytes= 1-2", true, ByteRange::kFromTo, 1, 2},
        RangeCase{"bytes=1-2 ,", true, ByteRange::kFromTo, 1, 2},
        RangeCase{"bytes=, 1-2", true, ByteRange::kFromTo, 1, 2},
        RangeCase{"bytes=,,-5,", true, ByteRange::kSuffix, 5},
        RangeCase{"bytes=18446744073709551615-", true, ByteRange::kFrom, 18446744073709551615ull},
        RangeCase{"bytes=0-18446744073709551615", true, ByteRange::kFromTo, 0, 18446744073709551615ull},
        // Invalid: ignored by the caller (200, full body).
        RangeCase{"", false}, RangeCase{"bytes=", false}, RangeCase{"bytes=-", false},
        RangeCase{"bytes", false}, RangeCase{"=0-1", false}, RangeCase{"bytes=abc", false},
        RangeCase{"bytes=1", false}, RangeCase{"bytes=1-2-3", false}, RangeCase{"bytes=a-b", false},
        RangeCase{"bytes=5-2", false}, RangeCase{"bytes=0-499,500-999", false},
        RangeCase{"bytes=0-1, -5", false}, RangeCase{"bytes=1 - 2", false}, RangeCase{"bytes=+1-2", false},
        RangeCase{"bytes=-+5", false}, RangeCase{"bytes=0x10-", false}, RangeCase{"bytes =1-2", false},
        RangeCase{"items=0-5", false}, RangeCase{"none", false},
        RangeCase{"bytes=99999999999999999999-", false}, RangeCase{"bytes=0-99999999999999999999", false},
        RangeCase{"bytes=-99999999999999999999", false}, RangeCase{"bytes=18446744073709551616-", false},
        RangeCase{"bytes=1-2;x", false},
        RangeCase{"bytes=\x01"
                  "1-2",
                  false}));

TEST(RangeResolve, Table) {
  struct Case {
    ByteRange range;
    uint64_t size;
    bool satisfiable;
    uint64_t first, last;
  };
  const Case cases[] = {
      {{ByteRange::kFromTo, 0, 499, 0}, 1000, true, 0, 499},
      {{ByteRange::kFromTo, 0, 5000, 0}, 1000, true, 0, 999},  // clamped
      {{ByteRange::kFromTo, 999, 999, 0}, 1000, true, 999, 999},
      {{ByteRange::kFromTo, 1000, 1001, 0}, 1000, false, 0, 0},
      {{ByteRange::kFrom, 100, 0, 0}, 1000, true, 100, 999},
      {{ByteRange::kFrom, 999, 0, 0}, 1000, true, 999, 999},
      {{ByteRange::kFrom, 1000, 0, 0}, 1000, false, 0, 0},
      {{ByteRange::kSuffix, 0, 0, 500}, 1000, true, 500, 999},
      {{ByteRange::kSuffix, 0, 0, 1000}, 1000, true, 0, 999},
      {{ByteRange::kSuffix, 0, 0, 5000}, 1000, true, 0, 999},  // longer than object
      {{ByteRange::kSuffix, 0, 0, 1}, 1000, true, 999, 999},
      {{ByteRange::kSuffix, 0, 0, 0}, 1000, false, 0, 0},  // bytes=-0
      {{ByteRange::kFrom, 0, 0, 0}, 0, false, 0, 0},
      {{ByteRange::kSuffix, 0, 0, 5}, 0, false, 0, 0},
      {{ByteRange::kFromTo, UINT64_MAX, UINT64_MAX, 0}, UINT64_MAX, false, 0, 0},
      {{ByteRange::kFromTo, 0, UINT64_MAX, 0}, UINT64_MAX, true, 0, UINT64_MAX - 1},
  };
  for (const auto& c : cases) {
    auto r = resolveRange(c.range, c.size);
    SCOPED_TRACE(rangeHeaderValue(c.range) + " size " + std::to_string(c.size));
    EXPECT_EQ(r.outcome == RangeOutcome::kSatisfiable, c.satisfiable);
    if (c.satisfiable) {
      EXPECT_EQ(r.range.first, c.first);
      EXPECT_EQ(r.range.last, c.last);
    }
  }
}

TEST(RangeResolve, ParsedThenResolved) {
  auto r = parseRangeHeader("bytes=-0");
  ASSERT_TRUE(r);
  EXPECT_EQ(resolveRange(*r, 10).outcome, RangeOutcome::kUnsatisfiable);
}

TEST(RangeHeaderValue, RoundTrips) {
  for (const char* h : {"bytes=0-499", "bytes=100-", "bytes=-500", "bytes=0-0", "bytes=-0"}) {
    auto r = parseRangeHeader(h);
    ASSERT_TRUE(r) << h;
    EXPECT_EQ(rangeHeaderValue(*r), h);
  }
  EXPECT_EQ(rangeHeaderValue(*parseRangeHeader(" Bytes= 5-9 ,")), "bytes=5-9");
}

TEST(ContentRangeValue, Formats) {
  EXPECT_EQ(contentRangeValue(0, 499, 1000), "bytes 0-499/1000");
  EXPECT_EQ(unsatisfiedContentRange(1000), "bytes */1000");
  EXPECT_EQ(unsatisfiedContentRange(0), "bytes */0");
}

TEST(ContentRangeParse, Valid) {
  auto r = parseContentRange("bytes 0-499/1000");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->unsatisfied);
  EXPECT_EQ(r->first, 0u);
  EXPECT_EQ(r->last, 499u);
  EXPECT_EQ(r->completeLength, 1000u);

  r = parseContentRange("bytes 500-999/*");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 500u);
  EXPECT_EQ(r->last, 999u);
  EXPECT_FALSE(r->completeLength.has_value());

  r = parseContentRange("bytes */1234");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->unsatisfied);
  EXPECT_EQ(r->completeLength, 1234u);

  r = parseContentRange("  Bytes 1-1/2 ");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, 1u);
}

TEST(ContentRangeParse, Invalid) {
  for (const char* h :
       {"", "bytes", "bytes ", "bytes 0-499", "bytes 0-499/", "bytes 5-2/10", "bytes 0-10/10", "bytes */*",
        "bytes -5/10", "bytes 5-/10", "items 0-1/2", "bytes=0-1/2", "bytes 0-1/2/3",
        "bytes 0-99999999999999999999/*", "bytes 0-1/99999999999999999999", "bytes a-b/c", "bytes 0-1/ 2"}) {
    EXPECT_FALSE(parseContentRange(h)) << h;
  }
}

// ---- Conditionals ----

TEST(ContentRangeParse, LastAtUint64MaxIsRefused) {
  // last - first + 1 would wrap to 0: the relay would declare an empty body, then relay one.
  EXPECT_FALSE(parseContentRange("bytes 0-18446744073709551615/*"));
  EXPECT_TRUE(parseContentRange("bytes 0-18446744073709551614/*"));
}

TEST(ContentRangeAnswers, Table) {
  auto range = [](const char* header) { return *parseRangeHeader(header); };
  auto answer = [](const char* header) { return *parseContentRange(header); };
  // complete length known: exactly the asked range resolved against it
  EXPECT_TRUE(contentRangeAnswers(range("bytes=0-9"), answer("bytes 0-9/100")));
  EXPECT_TRUE(contentRangeAnswers(range("bytes=90-200"), answer("bytes 90-99/100")));
  EXPECT_TRUE(contentRangeAnswers(range("bytes=-10"), answer("bytes 90-99/100")));
  EXPECT_TRUE(contentRangeAnswers(range("bytes=50-"), answer("bytes 50-99/100")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=10-19"), answer("bytes 0-9/100")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=0-9"), answer("bytes 0-99/100")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=0-9"), answer("bytes 0-8/100")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=-10"), answer("bytes 0-9/100")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=200-"), answer("bytes 0-9/100")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=0-9"), answer("bytes */100")));
  // complete length unknown
  EXPECT_TRUE(contentRangeAnswers(range("bytes=0-9"), answer("bytes 0-9/*")));
  EXPECT_TRUE(contentRangeAnswers(range("bytes=0-9"), answer("bytes 0-4/*")));
  EXPECT_TRUE(contentRangeAnswers(range("bytes=5-"), answer("bytes 5-9/*")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=0-9"), answer("bytes 0-10/*")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=5-"), answer("bytes 4-9/*")));
  EXPECT_FALSE(contentRangeAnswers(range("bytes=-10"), answer("bytes 0-9/*")));
}

TEST(ServedContentType, OnlyPlayableTypesFromTheOrigin) {
  auto served = [](const char* origin, const char* key) {
    std::string type = origin;
    return servedContentType(&type, key);
  };
  EXPECT_EQ(servedContentType(nullptr, "a/b.ogg"), "audio/ogg");
  EXPECT_EQ(servedContentType(nullptr, "a/b.html"), "application/octet-stream");
  EXPECT_EQ(served("application/octet-stream", "a/b.mp3"), "audio/mpeg");
  EXPECT_EQ(served("binary/octet-stream", "a/b.wav"), "audio/wav");
  EXPECT_EQ(served("", "a/b.wav"), "audio/wav");
  EXPECT_EQ(served("audio/ogg; codecs=opus", "a/b"), "audio/ogg; codecs=opus");
  EXPECT_EQ(served("Video/MP4", "a/b"), "Video/MP4");
  EXPECT_EQ(served("application/ogg", "a/b"), "application/ogg");
  EXPECT_EQ(served("text/html", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("text/html; charset=utf-8", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("image/svg+xml", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("application/xhtml+xml", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("audio/", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("audio/<script>", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("audio/ogg\x01", "a/b.ogg"), "application/octet-stream");
  EXPECT_EQ(served("audiox/ogg", "a/b.ogg"), "application/octet-stream");
  EXPECT_TRUE(isPlayableMediaType("audio/mpeg"));
  EXPECT_FALSE(isPlayableMediaType("application/octet-stream"));
}

TEST(ContentDisposition, Attachment) {
  EXPECT_EQ(contentDisposition("a/page.html", true),
            "attachment; filename=\"page.html\"; filename*=UTF-8''page.html");
}

TEST(HttpIfNoneMatch, Table) {
  struct Case {
    const char* header;
    const char* etag;
    bool match;
  };
  const Case cases[] = {
      {"\"abc\"", "\"abc\"", true},    {"\"abc\"", "\"abd\"", false},
      {"W/\"abc\"", "\"abc\"", true},  // weak comparison
      {"\"abc\"", "W/\"abc\"", true},  {"W/\"abc\"", "W/\"abc\"", true},
      {"*", "\"abc\"", true},          {"*", "", true},
      {" * ", "\"x\"", true},          {"\"a\", \"b\", \"c\"", "\"b\"", true},
      {"\"a\",\"b\"", "\"c\"", false}, {"\"a\" ,W/\"c\" , ", "\"c\"", true},
      {"\"a,b\"", "\"a,b\"", true},  // commas inside a tag are part of it
      {"\"a,b\"", "\"a\"", false},     {"\"abc\"", "", false},
      {"abc", "\"abc\"", false},  // unquoted in the header: malformed
      {"\"abc", "\"abc\"", false},     {"\"abc\" junk", "\"abc\"", false},
      {"", "\"abc\"", false},          {"\"abc\"", "abc", true},  // unquoted origin ETag tolerated
      {"\"\"", "\"\"", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ifNoneMatchMatches(c.header, c.etag), c.match) << c.header << " vs " << c.etag;
  }
}

TEST(HttpIfRange, ETags) {
  EXPECT_TRUE(ifRangeAllows("\"abc\"", "\"abc\"", ""));
  EXPECT_FALSE(ifRangeAllows("\"abc\"", "\"abd\"", ""));
  EXPECT_FALSE(ifRangeAllows("W/\"abc\"", "\"abc\"", ""));  // strong comparison only
  EXPECT_FALSE(ifRangeAllows("\"abc\"", "W/\"abc\"", ""));
  EXPECT_FALSE(ifRangeAllows("\"abc\"", "", ""));
  EXPECT_FALSE(ifRangeAllows("\"abc\", \"def\"", "\"abc\"", ""));
  EXPECT_TRUE(ifRangeAllows("", "\"abc\"", ""));
}

TEST(HttpIfRange, Dates) {
  const char* lm = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_TRUE(ifRangeAllows(lm, "\"abc\"", lm));
  EXPECT_TRUE(ifRangeAllows("Sunday, 06-Nov-94 08:49:37 GMT", "", lm));
  EXPECT_FALSE(ifRangeAllows("Sun, 06 Nov 1994 08:49:38 GMT", "", lm));
  EXPECT_FALSE(ifRangeAllows("Sun, 06 Nov 1994 08:49:36 GMT", "", lm));  // equal, not "before"
  EXPECT_FALSE(ifRangeAllows(lm, "\"abc\"", ""));
  EXPECT_FALSE(ifRangeAllows("yesterday", "\"abc\"", lm));
}

// ---- Dates ----

TEST(HttpDate, ParsesAllThreeFormats) {
  constexpr std::time_t kExpected = 784111777;  // 1994-11-06T08:49:37Z
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), kExpected);
  EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), kExpected);
  EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994"), kExpected);
  EXPECT_EQ(parseHttpDate("Sun Nov 16 08:49:37 1994"), kExpected + 10 * 86400);
  EXPECT_EQ(parseHttpDate(" Sun, 06 Nov 1994 08:49:37 GMT "), kExpected);
  EXPECT_EQ(parseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parseHttpDate("Wed, 31 Dec 1969 23:59:59 GMT"), -1);
  EXPECT_EQ(parseHttpDate("Tue, 29 Feb 2000 12:00:00 GMT"), 951825600);
  EXPECT_EQ(parseHttpDate("Thu, 01 Jan 2099 00:00:00 GMT"), 4070908800);
}

TEST(HttpDate, TwoDigitYears) {
  // Not more than 50 years ahead → this century; otherwise the last one.
  EXPECT_EQ(parseHttpDate("Friday, 01-Jan-99 00:00:00 GMT"), 915148800);  // 1999
  // 2070 is under 50 years ahead (for any "now" in 2020..2119), so not 1970.
  EXPECT_EQ(parseHttpDate("Tuesday, 01-Jan-70 00:00:00 GMT"), 3155760000);
  auto t = parseHttpDate("Saturday, 01-Jan-22 00:00:00 GMT");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 1640995200);  // 2022
}

TEST(HttpDate, Rejects) {
  for (const char* d : {"",
                        "Sun, 06 Nov 1994 08:49:37",
                        "Sun, 06 Nov 1994 08:49:37 UTC",
                        "Sun, 6 Nov 1994 08:49:37 GMT",
                        "Sun, 06 Foo 1994 08:49:37 GMT",
                        "Sun, 31 Nov 1994 08:49:37 GMT",
                        "Sun, 29 Feb 1900 08:49:37 GMT",
                        "Sun, 00 Nov 1994 08:49:37 GMT",
                        "Sun, 06 Nov 1994 24:00:00 GMT",
                        "Sun, 06 Nov 1994 08:60:00 GMT",
                        "Sun, 06 Nov 1994 08:49:61 GMT",
                        "Xyz, 06 Nov 1994 08:49:37 GMT",
                        "Sun, 06 Nov 94 08:49:37 GMT",
                        "Sun, 06 Nov 1994 08:49:37 GMTx",
                        "Sunday, 06-Nov-1994 08:49:37 GMT",
                        "Sun Nov 6 08:49:37 1994",
                        "Sun Nov  6 08:49:37 94",
                        "1994-11-06T08:49:37Z",
                        "784111777",
                        "Sun, 06 Nov 1994 8:49:37 GMT",
                        "sun, 06 nov 1994 08:49:37 gmt"}) {
    EXPECT_FALSE(parseHttpDate(d)) << d;
  }
}

TEST(HttpDate, Formats) {
  EXPECT_EQ(formatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  EXPECT_EQ(formatHttpDate(951825600), "Tue, 29 Feb 2000 12:00:00 GMT");
  for (std::time_t t : {std::time_t{0}, std::time_t{1}, std::time_t{86399}, std::time_t{1700000000},
                        std::time_t{4102444799}, std::time_t{-86400 * 365}}) {
    EXPECT_EQ(parseHttpDate(formatHttpDate(t)), t) << t;
  }
}

TEST(HttpNotModifiedSince, Table) {
  const char* lm = "Sun, 06 Nov 1994 08:49:37 GMT";
  EXPECT_TRUE(notModifiedSince(lm, lm));
  EXPECT_TRUE(notModifiedSince("Mon, 07 Nov 1994 00:00:00 GMT", lm));
  EXPECT_FALSE(notModifiedSince("Sat, 05 Nov 1994 00:00:00 GMT", lm));
  EXPECT_FALSE(notModifiedSince("garbage", lm));
  EXPECT_FALSE(notModifiedSince(lm, ""));
}

// ---- Content type and disposition ----

TEST(ContentType, Table) {
  struct Case {
    const char* key;
    const char* type;
  };
  const Case cases[] = {
      {"a/b/call.ogg", "audio/ogg"},
      {"call.OGG", "audio/ogg"},
      {"x.opus", "audio/ogg"},
      {"x.mp3", "audio/mpeg"},
      {"x.Mp3", "audio/mpeg"},
      {"x.wav", "audio/wav"},
      {"x.m4a", "audio/mp4"},
      {"x.webm", "audio/webm"},
      {"x.flac", "audio/flac"},
      {"x.mp4", "video/mp4"},
      {"x.MP4", "video/mp4"},
      {"x.tar.ogg", "audio/ogg"},
      {"x", "application/octet-stream"},
      {"", "application/octet-stream"},
      {"x.", "application/octet-stream"},
      {"x.exe", "application/octet-stream"},
      {"dir.ogg/file", "application/octet-stream"},
      {"x.ogg.txt", "application/octet-stream"},
      {"x.oggx", "application/octet-stream"},
      {".ogg", "audio/ogg"},
  };
  for (const auto& c : cases) EXPECT_EQ(contentTypeForKey(c.key), c.type) << c.key;
}

bool headerSafe(const std::string& v) {
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7f || c >= 0x80) return false;
  }
  return true;
}

// The quoted filename must contain no '"' or '\\' so it cannot end early.
std::string quotedFilename(const std::string& v) {
  const std::string open = "filename=\"";
  const size_t start = v.find(open);
  if (start == std::string::npos) return "<none>";
  const size_t end = v.find('"', start + open.size());
  return v.substr(start + open.size(), end - start - open.size());
}

TEST(ContentDisposition, Plain) {
  EXPECT_EQ(contentDisposition("rec/2024/call-1.ogg"),
            "inline; filename=\"call-1.ogg\"; filename*=UTF-8''call-1.ogg");
  EXPECT_EQ(contentDisposition("call 1.ogg"),
            "inline; filename=\"call 1.ogg\"; filename*=UTF-8''call%201.ogg");
}

TEST(ContentDisposition, EvilKeys) {
  {
    const std::string v = contentDisposition("a\"b.ogg");
    EXPECT_EQ(v, "inline; filename=\"a_b.ogg\"; filename*=UTF-8''a%22b.ogg");
  }
  {
    const std::string v = contentDisposition("x\r\nSet-Cookie: y.ogg");
    EXPECT_TRUE(headerSafe(v)) << v;
    EXPECT_EQ(v, "inline; filename=\"x__Set-Cookie: y.ogg\"; filename*=UTF-8''x%0D%0ASet-Cookie%3A%20y.ogg");
  }
  {
    const std::string v = contentDisposition("rec/Anruf\xC3\xA9.ogg");  // "Anrufé.ogg"
    EXPECT_TRUE(headerSafe(v)) << v;
    EXPECT_EQ(v, "inline; filename=\"Anruf_.ogg\"; filename*=UTF-8''Anruf%C3%A9.ogg");
  }
  {
    const std::string v = contentDisposition("dir/");
    EXPECT_EQ(v, "inline; filename=\"recording\"; filename*=UTF-8''recording");
  }
  {
    EXPECT_EQ(quotedFilename(contentDisposition("")), "recording");
    EXPECT_EQ(quotedFilename(contentDisposition("a\\b\\c.ogg")), "a_b_c.ogg");
    EXPECT_EQ(quotedFilename(contentDisposition(std::string("a\0b.ogg", 7))), "a_b.ogg");
    EXPECT_EQ(quotedFilename(contentDisposition("a\x7f\x01.ogg")), "a__.ogg");
    EXPECT_EQ(quotedFilename(contentDisposition("\xff\xfe.ogg")), "__.ogg");  // two bad lead bytes
    EXPECT_EQ(quotedFilename(contentDisposition("\x80x.ogg")), "_x.ogg");
    EXPECT_EQ(quotedFilename(contentDisposition("\"\"\"")), "___");
  }
  for (const char* key : {"\r\n\r\n", "a;b=\"c\".ogg", "%0d%0a.ogg", "\xe2\x80\xa8.ogg", "dir/\"; x=y"}) {
    const std::string v = contentDisposition(key);
    EXPECT_TRUE(headerSafe(v)) << v;
    EXPECT_EQ(quotedFilename(v).find_first_of("\"\\"), std::string::npos);
    EXPECT_FALSE(quotedFilename(v).empty());
  }
}

TEST(HttpSafePathParam, Table) {
  EXPECT_TRUE(isSafePathParam("abc"));
  EXPECT_TRUE(isSafePathParam("a.b-c_d~e%20"));
  EXPECT_TRUE(isSafePathParam(std::string(256, 'x')));
  EXPECT_FALSE(isSafePathParam(std::string(257, 'x')));
  EXPECT_FALSE(isSafePathParam(""));
  EXPECT_FALSE(isSafePathParam("a/b"));
  EXPECT_FALSE(isSafePathParam("/"));
  EXPECT_FALSE(isSafePathParam("a\nb"));
  EXPECT_FALSE(isSafePathParam("a\rb"));
  EXPECT_FALSE(isSafePathParam("a\tb"));
  EXPECT_FALSE(isSafePathParam(std::string("a\0b", 3)));
  EXPECT_FALSE(isSafePathParam("a\x7f"));
  EXPECT_TRUE(isSafePathParam("caf\xC3\xA9"));  // non-ASCII is the caller's lookup concern
}

}  // namespace
}  // namespace recgw::handlers
