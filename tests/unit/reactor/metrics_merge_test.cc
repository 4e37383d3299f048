#include "reactor/metrics_merge.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "reactor/metrics.h"

namespace recgw::reactor {
namespace {

TEST(MetricsMergeTest, SumsIdenticalSeriesAndKeepsOneHeaderPerFamily) {
  Metrics a, b;
  for (Metrics* m : {&a, &b}) {
    m->describe("recgw_requests_total", Metrics::Type::kCounter, "requests");
    m->describe("recgw_latency_seconds", Metrics::Type::kHistogram, "latency", {0.1, 1});
  }
  a.inc("recgw_requests_total", R"(route="x")", 3);
  b.inc("recgw_requests_total", R"(route="x")", 4);
  b.inc("recgw_requests_total", R"(route="y")", 1);
  a.observe("recgw_latency_seconds", {}, 0.05);
  b.observe("recgw_latency_seconds", {}, 0.5);
  std::string merged = mergePrometheusTexts({a.render(), b.render()});
  EXPECT_NE(merged.find("recgw_requests_total{route=\"x\"} 7\n"), std::string::npos) << merged;
  EXPECT_NE(merged.find("recgw_requests_total{route=\"y\"} 1\n"), std::string::npos) << merged;
  EXPECT_NE(merged.find("recgw_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << merged;
  EXPECT_NE(merged.find("recgw_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << merged;
  EXPECT_NE(merged.find("recgw_latency_seconds_count 2\n"), std::string::npos) << merged;
  size_t first = merged.find("# TYPE recgw_requests_total counter");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(merged.find("# TYPE recgw_requests_total counter", first + 1), std::string::npos) << merged;
}

TEST(MetricsMergeTest, PublisherMergesOtherWorkersFilesButNotItsOwnTwice) {
  auto dir = std::filesystem::temp_directory_path() / ("recgw-merge-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  MetricsPublisher w0(dir.string(), 0), w1(dir.string(), 1);
  w0.publish("c_total 5\n");
  w1.publish("c_total 2\n");
  // Worker 0 answers with fresh numbers of its own (6) and worker 1's last published (2).
  EXPECT_EQ(w0.mergedWith("c_total 6\n"), "c_total 8\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace recgw::reactor
