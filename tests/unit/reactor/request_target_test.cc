// Route matching and percent-decoding of request paths, and query parameters.
#include "reactor/request_target.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace recgw::reactor {
namespace {

constexpr uint16_t kGetBit = 1, kHeadBit = 4, kPostBit = 2, kDeleteBit = 16;

class RouteTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    publicRoute = table.add(kGetBit | kHeadBit, "/api/v1/public/recordings/{token}");
    adminRoute = table.add(kGetBit | kHeadBit, "/api/v1/recordings/{session_id}");
    evictRoute = table.add(kDeleteBit, "/api/v1/admin/cache/{kind}/{id}");
    warmRoute = table.add(kPostBit, "/api/v1/admin/cache/warm");
    // the same shape as evictRoute's for POST: the literal route added first wins
    warmLikeRoute = table.add(kPostBit, "/api/v1/admin/cache/{kind}/{id}");
    healthRoute = table.add(kGetBit, "/healthz");
  }
  RouteTable table;
  size_t publicRoute{}, adminRoute{}, evictRoute{}, warmRoute{}, warmLikeRoute{}, healthRoute{};
};

TEST_F(RouteTableTest, MatchesAndDecodesParameters) {
  auto m = table.match(kGetBit, "/api/v1/public/recordings/a%2Fb%20c+d");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
  EXPECT_EQ(m.route, publicRoute);
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], "a/b c+d");  // an encoded slash stays inside the parameter; '+' is literal
}

TEST_F(RouteTableTest, TwoParametersInOrder) {
  auto m = table.match(kDeleteBit, "/api/v1/admin/cache/token/x%41y");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
  EXPECT_EQ(m.route, evictRoute);
  EXPECT_EQ(m.params, (std::vector<std::string>{"token", "xAy"}));
}

TEST_F(RouteTableTest, FirstAddedRouteWinsForTheSameMethod) {
  auto m = table.match(kPostBit, "/api/v1/admin/cache/warm");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
  EXPECT_EQ(m.route, warmRoute);
  EXPECT_TRUE(m.params.empty());
}

TEST_F(RouteTableTest, OtherMethodGives405WithEveryAllowedMethod) {
  auto m = table.match(kPostBit, "/api/v1/recordings/s-1");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allowed, kGetBit | kHeadBit);
  // both cache shapes fit this path: DELETE from one, POST from the other
  m = table.match(kGetBit, "/api/v1/admin/cache/token/x");
  EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allowed, kDeleteBit | kPostBit);
}

// Two routes of one pattern split its paths by a guard on the decoded parameter, in
// either order of registration; a declining route adds nothing to Allow.
bool startsWithRec(const std::vector<std::string>& params) { return params[0].starts_with("rec_"); }
bool notRec(const std::vector<std::string>& params) { return !startsWithRec(params); }

TEST(RouteGuardTest, SplitsOnePatternBetweenTwoRoutesInEitherOrder) {
  for (bool guardedFirst : {true, false}) {
    RouteTable t;
    size_t rooms = 0, stream = 0, remove = 0;
    if (guardedFirst) rooms = t.add(kGetBit | kHeadBit, "/api/v1/recordings/{id}", &startsWithRec);
    stream = t.add(kGetBit | kHeadBit, "/api/v1/recordings/{session_id}", &notRec);
    if (!guardedFirst) rooms = t.add(kGetBit | kHeadBit, "/api/v1/recordings/{id}", &startsWithRec);
    remove = t.add(kDeleteBit, "/api/v1/recordings/{id}");

    auto m = t.match(kGetBit, "/api/v1/recordings/rec_abc");
    ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
    EXPECT_EQ(m.route, rooms);
    EXPECT_EQ(m.params, std::vector<std::string>{"rec_abc"});
    m = t.match(kHeadBit, "/api/v1/recordings/sess-1");
    ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
    EXPECT_EQ(m.route, stream);
    // the guard sees the decoded parameter, not the raw segment
    EXPECT_EQ(t.match(kGetBit, "/api/v1/recordings/rec%5Fx").route, rooms);
    EXPECT_EQ(t.match(kGetBit, "/api/v1/recordings/").route, stream);
    EXPECT_EQ(t.match(kDeleteBit, "/api/v1/recordings/sess-1").route, remove);
    // exactly one of the two GET routes fits any path, so Allow is the same for both kinds
    m = t.match(kPostBit, "/api/v1/recordings/rec_abc");
    EXPECT_EQ(m.kind, RouteMatch::Kind::kMethodNotAllowed);
    EXPECT_EQ(m.allowed, kGetBit | kHeadBit | kDeleteBit);
  }
}

TEST(RouteGuardTest, ADecliningRouteIsNotFoundNorInAllow) {
  RouteTable t;
  t.add(kGetBit, "/api/v1/recordings/{id}", &startsWithRec);
  EXPECT_EQ(t.match(kGetBit, "/api/v1/recordings/sess-1").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(t.match(kPostBit, "/api/v1/recordings/sess-1").kind, RouteMatch::Kind::kNotFound);
  EXPECT_EQ(t.match(kPostBit, "/api/v1/recordings/rec_1").kind, RouteMatch::Kind::kMethodNotAllowed);
}

TEST_F(RouteTableTest, UnknownPathsAreNotFound) {
  for (const char* path : {"/", "", "/healthz/", "/api/v1/public/recordings", "/api/v1/public/recordings/a/b",
                           "/API/v1/public/recordings/a", "//healthz", "/healthz?x=1"}) {
    EXPECT_EQ(table.match(kGetBit, path).kind, RouteMatch::Kind::kNotFound) << path;
  }
}

TEST_F(RouteTableTest, EmptyParameterSegmentMatchesAsEmpty) {
  auto m = table.match(kGetBit, "/api/v1/public/recordings/");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
  EXPECT_EQ(m.params, (std::vector<std::string>{""}));
}

TEST_F(RouteTableTest, MalformedEscapeInAParameterIsBadEncoding) {
  for (const char* path : {"/api/v1/public/recordings/%", "/api/v1/public/recordings/%4",
                           "/api/v1/public/recordings/%zz", "/api/v1/public/recordings/ok%g1"}) {
    EXPECT_EQ(table.match(kGetBit, path).kind, RouteMatch::Kind::kBadEncoding) << path;
  }
  // in a literal position it simply does not match
  EXPECT_EQ(table.match(kGetBit, "/api/v1/public/rec%zz/x").kind, RouteMatch::Kind::kNotFound);
}

TEST_F(RouteTableTest, EncodedNulAndDotsAreDataNotStructure) {
  auto m = table.match(kGetBit, "/api/v1/public/recordings/%2e%2e%00x");
  ASSERT_EQ(m.kind, RouteMatch::Kind::kMatched);
  EXPECT_EQ(m.params[0], std::string("..\0x", 4));
}

TEST(SplitPathTest, Segments) {
  EXPECT_EQ(splitPath("/a/b/"), (std::vector<std::string_view>{"a", "b", ""}));
  EXPECT_EQ(splitPath("/"), (std::vector<std::string_view>{""}));
  EXPECT_EQ(splitPath(""), (std::vector<std::string_view>{""}));
  EXPECT_EQ(splitPath("a/b"), (std::vector<std::string_view>{"a", "b"}));
}

TEST(QueryParamTest, FindsDecodedValues) {
  EXPECT_EQ(findQueryParam("format=text&x=1", "format"), "text");
  EXPECT_EQ(findQueryParam("a=%41%42+c", "a"), "AB c");
  EXPECT_EQ(findQueryParam("a=1&a=2", "a"), "1");
  EXPECT_EQ(findQueryParam("", "a"), "");
  EXPECT_EQ(findQueryParam("b=1", "a"), "");
  EXPECT_EQ(findQueryParam(std::string_view("a=1\0b=2", 7), "b"), "");
}

}  // namespace
}  // namespace recgw::reactor
