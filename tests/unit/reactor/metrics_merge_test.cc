#include "reactor/metrics_merge.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>
#include <sstream>

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

// A scratch directory for one test, removed at the end.
class PublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "recgw-publisher-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  static std::string readFile(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }
  static void writeFile(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
  }

  std::filesystem::path scratch_;
};

TEST_F(PublisherTest, MergesOtherWorkersFilesButNotItsOwnTwice) {
  std::string dir = createMetricsDirectory(scratch_.string());
  ASSERT_FALSE(dir.empty());
  MetricsPublisher w0(dir, 0), w1(dir, 1);
  ASSERT_TRUE(w0.enabled() && w1.enabled());
  w0.publish("c_total 5\n");
  w1.publish("c_total 2\n");
  // Worker 0 answers with fresh numbers of its own (6) and worker 1's last published (2).
  EXPECT_EQ(w0.mergedWith("c_total 6\n"), "c_total 8\n");
  // Publishing again replaces the file (the temporary of the previous round is gone).
  w1.publish("c_total 3\n");
  EXPECT_EQ(w0.mergedWith("c_total 6\n"), "c_total 9\n");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir) / "worker-1.prom.tmp"));
}

TEST_F(PublisherTest, CreatedDirectoryIsFreshPrivateAndUnpredictable) {
  std::string a = createMetricsDirectory(scratch_.string());
  std::string b = createMetricsDirectory(scratch_.string());
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find(std::to_string(::getpid())), std::string::npos) << a;
  struct stat st {};
  ASSERT_EQ(::lstat(a.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  removeMetricsDirectory(a);
  EXPECT_FALSE(std::filesystem::exists(a));
}

// Someone else made the directory first (audit item 5): a directory others can write to,
// one owned by another user, or a symlink to a directory is not used, and what was planted
// there is neither written through nor merged.
TEST_F(PublisherTest, RefusesADirectoryOthersCanWriteTo) {
  auto dir = scratch_ / "open";
  std::filesystem::create_directory(dir);
  ::chmod(dir.c_str(), 0777);
  writeFile(dir / "planted.prom", "c_total 1000\n");
  MetricsPublisher w0(dir.string(), 0);
  EXPECT_FALSE(w0.enabled());
  w0.publish("c_total 5\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "worker-0.prom"));
  EXPECT_EQ(w0.mergedWith("c_total 6\n"), "c_total 6\n");
}

TEST_F(PublisherTest, RefusesADirectoryOwnedBySomeoneElse) {
  auto dir = scratch_ / "theirs";
  std::filesystem::create_directory(dir);
  ::chmod(dir.c_str(), 0700);
  if (::chown(dir.c_str(), 65534, 65534) != 0) GTEST_SKIP() << "needs root to give the directory away";
  writeFile(dir / "planted.prom", "c_total 1000\n");
  MetricsPublisher w0(dir.string(), 0);
  EXPECT_FALSE(w0.enabled());
  EXPECT_EQ(w0.mergedWith("c_total 6\n"), "c_total 6\n");
}

TEST_F(PublisherTest, RefusesASymlinkToADirectory) {
  std::string real = createMetricsDirectory(scratch_.string());
  ASSERT_FALSE(real.empty());
  auto link = scratch_ / "link";
  std::filesystem::create_directory_symlink(real, link);
  MetricsPublisher w0(link.string(), 0);
  EXPECT_FALSE(w0.enabled());
}

TEST_F(PublisherTest, NeverWritesThroughAPlantedTemporary) {
  std::string dir = createMetricsDirectory(scratch_.string());
  ASSERT_FALSE(dir.empty());
  auto victim = scratch_ / "root-owned-file";
  writeFile(victim, "important\n");
  std::filesystem::create_symlink(victim, std::filesystem::path(dir) / "worker-0.prom.tmp");
  MetricsPublisher w0(dir, 0);
  ASSERT_TRUE(w0.enabled());
  w0.publish("c_total 5\n");
  EXPECT_EQ(readFile(victim), "important\n");
  auto published = std::filesystem::path(dir) / "worker-0.prom";
  EXPECT_FALSE(std::filesystem::is_symlink(published));
  EXPECT_EQ(readFile(published), "c_total 5\n");
}

TEST_F(PublisherTest, MergesOnlyRegularFilesOfItsOwnUser) {
  std::string dir = createMetricsDirectory(scratch_.string());
  ASSERT_FALSE(dir.empty());
  std::filesystem::path d(dir);
  auto outside = scratch_ / "outside.txt";
  writeFile(outside, "c_total 1000\n");
  std::filesystem::create_symlink(outside, d / "link.prom");
  ASSERT_EQ(::mkfifo((d / "fifo.prom").c_str(), 0600), 0);  // opening it must not block
  std::filesystem::create_directory(d / "dir.prom");
  writeFile(d / "theirs.prom", "c_total 100\n");
  // Giving a file away needs root; otherwise that case is left out.
  if (::chown((d / "theirs.prom").c_str(), 65534, 65534) != 0) std::filesystem::remove(d / "theirs.prom");
  MetricsPublisher w0(dir, 0), w1(dir, 1);
  w1.publish("c_total 2\n");
  EXPECT_EQ(w0.mergedWith("c_total 6\n"), "c_total 8\n");
}

}  // namespace
}  // namespace recgw::reactor

namespace recgw::reactor {
namespace {

// A pid that was just used and is free now.
pid_t deadPid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// A metrics directory as a supervisor with `pid` left it ("" = no supervisor.pid file).
std::filesystem::path makeStaleLooking(const std::filesystem::path& parent, const std::string& name,
                                       const std::string& pid, bool old) {
  auto dir = parent / name;
  std::filesystem::create_directory(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
  std::vector<std::filesystem::path> files = {dir / "worker-0.prom"};
  std::ofstream(files[0]) << "c_total 1\n";
  if (!pid.empty()) {
    files.push_back(dir / "supervisor.pid");
    std::ofstream(files[1]) << pid << "\n";
  }
  if (old) {
    auto then = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
    for (const auto& f : files) std::filesystem::last_write_time(f, then);
    std::filesystem::last_write_time(dir, then);
  }
  return dir;
}

TEST(StaleMetricsDirectories, OnlyAQuietPrivateDirectoryOfAGoneSupervisorIsRemoved) {
  auto parent = std::filesystem::temp_directory_path() / ("recgw-stale-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(parent);
  std::filesystem::create_directory(parent);
  std::string dead = std::to_string(deadPid());
  std::string alive = std::to_string(::getpid());
  auto gone = makeStaleLooking(parent, "recgw-metrics-aaaaaa", dead, true);
  auto fresh = makeStaleLooking(parent, "recgw-metrics-bbbbbb", dead, false);  // still written
  auto running = makeStaleLooking(parent, "recgw-metrics-cccccc", alive, true);
  auto legacy = makeStaleLooking(parent, "recgw-metrics-dddddd", "", true);  // no supervisor.pid
  auto open = makeStaleLooking(parent, "recgw-metrics-eeeeee", dead, true);
  std::filesystem::permissions(open, std::filesystem::perms::all, std::filesystem::perm_options::replace);

  EXPECT_EQ(removeStaleMetricsDirectories(parent.string()), 1u);
  EXPECT_FALSE(std::filesystem::exists(gone));
  for (const auto& kept : {fresh, running, legacy, open}) EXPECT_TRUE(std::filesystem::exists(kept)) << kept;

  // A new supervisor's directory says whose it is, and making one sweeps the parent first.
  auto again = makeStaleLooking(parent, "recgw-metrics-ffffff", dead, true);
  std::string made = createMetricsDirectory(parent.string());
  std::ifstream owner(std::filesystem::path(made) / "supervisor.pid");
  std::string written;
  owner >> written;
  EXPECT_EQ(written, alive);
  EXPECT_FALSE(std::filesystem::exists(again));
  std::filesystem::remove_all(parent);
}

}  // namespace
}  // namespace recgw::reactor
