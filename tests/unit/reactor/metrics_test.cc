#include "reactor/metrics.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace recgw::reactor {
namespace {

bool hasLine(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

#define EXPECT_LINE(text, line) \
  EXPECT_TRUE(hasLine(text, line)) << "missing line: " << (line) << "\nin:\n" << (text)

TEST(MetricsTest, CounterWithAndWithoutLabels) {
  Metrics m;
  m.describe("recgw_requests_total", Metrics::Type::kCounter, "Requests served");
  m.inc("recgw_requests_total");
  m.inc("recgw_requests_total", R"(route="a")");
  m.inc("recgw_requests_total", R"(route="a")", 2);
  std::string text = m.render();
  EXPECT_LINE(text, "# HELP recgw_requests_total Requests served");
  EXPECT_LINE(text, "# TYPE recgw_requests_total counter");
  EXPECT_LINE(text, "recgw_requests_total 1");
  EXPECT_LINE(text, R"(recgw_requests_total{route="a"} 3)");
  EXPECT_EQ(m.value("recgw_requests_total"), 1);
  EXPECT_EQ(m.value("recgw_requests_total", R"(route="a")"), 3);
  EXPECT_EQ(m.value("recgw_requests_total", R"(route="b")"), 0);
  EXPECT_EQ(m.value("recgw_unknown"), 0);
}

TEST(MetricsTest, GaugeSetAndAdd) {
  Metrics m;
  m.describe("recgw_streams", Metrics::Type::kGauge, "Open streams");
  m.set("recgw_streams", "", 5);
  m.add("recgw_streams", "", -2);
  m.add("recgw_streams", R"(kind="x")", 0.5);
  std::string text = m.render();
  EXPECT_LINE(text, "# TYPE recgw_streams gauge");
  EXPECT_LINE(text, "recgw_streams 3");
  EXPECT_LINE(text, R"(recgw_streams{kind="x"} 0.5)");
  EXPECT_EQ(m.value("recgw_streams"), 3);
  m.set("recgw_streams", "", 0);
  EXPECT_EQ(m.value("recgw_streams"), 0);
  EXPECT_LINE(m.render(), "recgw_streams 0");
}

TEST(MetricsTest, UndescribedFamilyStillRenders) {
  Metrics m;
  m.inc("recgw_adhoc_total");
  std::string text = m.render();
  EXPECT_LINE(text, "recgw_adhoc_total 1");
  EXPECT_NE(text.find("# TYPE recgw_adhoc_total"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics m;
  // Given out of order on purpose: rendering is by increasing bound.
  m.describe("recgw_latency_seconds", Metrics::Type::kHistogram, "Latency", {10, 0.1, 1});
  for (double v : {0.05, 0.5, 0.5, 1.0, 5.0, 50.0}) m.observe("recgw_latency_seconds", "", v);
  std::string text = m.render();
  EXPECT_LINE(text, "# TYPE recgw_latency_seconds histogram");
  EXPECT_LINE(text, R"(recgw_latency_seconds_bucket{le="0.1"} 1)");
  EXPECT_LINE(text, R"(recgw_latency_seconds_bucket{le="1"} 4)");  // le is "less or equal": 1.0 counts
  EXPECT_LINE(text, R"(recgw_latency_seconds_bucket{le="10"} 5)");
  EXPECT_LINE(text, R"(recgw_latency_seconds_bucket{le="+Inf"} 6)");
  EXPECT_LINE(text, "recgw_latency_seconds_sum 57.05");
  EXPECT_LINE(text, "recgw_latency_seconds_count 6");
  EXPECT_EQ(m.value("recgw_latency_seconds"), 6);
  // Buckets appear in increasing order.
  EXPECT_LT(text.find(R"(le="0.1")"), text.find(R"(le="1")"));
  EXPECT_LT(text.find(R"(le="1")"), text.find(R"(le="10")"));
  EXPECT_LT(text.find(R"(le="10")"), text.find(R"(le="+Inf")"));
}

TEST(MetricsTest, HistogramWithLabels) {
  Metrics m;
  m.describe("recgw_lookup_seconds", Metrics::Type::kHistogram, "Lookup latency", {0.01, 0.1});
  std::string tier = Metrics::label("tier", "redis");
  m.observe("recgw_lookup_seconds", tier, 0.005);
  m.observe("recgw_lookup_seconds", tier, 0.05);
  m.observe("recgw_lookup_seconds", Metrics::label("tier", "mongo"), 0.5);
  std::string text = m.render();
  EXPECT_LINE(text, R"(recgw_lookup_seconds_bucket{tier="redis",le="0.01"} 1)");
  EXPECT_LINE(text, R"(recgw_lookup_seconds_bucket{tier="redis",le="0.1"} 2)");
  EXPECT_LINE(text, R"(recgw_lookup_seconds_bucket{tier="redis",le="+Inf"} 2)");
  EXPECT_LINE(text, R"(recgw_lookup_seconds_count{tier="redis"} 2)");
  EXPECT_LINE(text, R"(recgw_lookup_seconds_sum{tier="redis"} 0.055)");
  EXPECT_LINE(text, R"(recgw_lookup_seconds_bucket{tier="mongo",le="0.1"} 0)");
  EXPECT_LINE(text, R"(recgw_lookup_seconds_bucket{tier="mongo",le="+Inf"} 1)");
  EXPECT_EQ(m.value("recgw_lookup_seconds", tier), 2);
}

TEST(MetricsTest, HelpAndTypeAppearOncePerFamily) {
  Metrics m;
  m.describe("recgw_x_total", Metrics::Type::kCounter, "X");
  m.inc("recgw_x_total", R"(a="1")");
  m.inc("recgw_x_total", R"(a="2")");
  std::string text = m.render();
  size_t first = text.find("# TYPE recgw_x_total");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find("# TYPE recgw_x_total", first + 1), std::string::npos);
}

TEST(MetricsTest, LabelEscaping) {
  EXPECT_EQ(Metrics::label("route", "plain"), R"(route="plain")");
  EXPECT_EQ(Metrics::label("path", "a\"b"), R"(path="a\"b")");
  EXPECT_EQ(Metrics::label("path", "a\\b"), R"(path="a\\b")");
  EXPECT_EQ(Metrics::label("path", "a\nb"), R"(path="a\nb")");
  // An escaped label value cannot end the label early or start a new line.
  Metrics m;
  m.inc("recgw_paths_total", Metrics::label("path", "x\"} 999\nrecgw_fake 1"));
  std::string text = m.render();
  EXPECT_FALSE(hasLine(text, "recgw_fake 1")) << text;
}

TEST(MetricsTest, RenderingIsSortedByFamilyThenLabels) {
  Metrics m;
  for (const char* name : {"recgw_z_total", "recgw_a_total", "recgw_m_total"}) {
    for (const char* labels : {R"(route="c")", R"(route="a")", R"(route="b")"}) m.inc(name, labels);
  }
  std::vector<std::string> series;
  std::istringstream in(m.render());
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') series.push_back(line.substr(0, line.find(' ')));
  }
  std::vector<std::string> expected;
  for (const char* name : {"recgw_a_total", "recgw_m_total", "recgw_z_total"}) {
    for (const char* labels : {R"({route="a"})", R"({route="b"})", R"({route="c"})"})
      expected.push_back(std::string(name) + labels);
  }
  EXPECT_EQ(series, expected);
}

}  // namespace
}  // namespace recgw::reactor
