#pragma once
// /metrics across worker processes: each worker publishes its Prometheus text to a small
// file in shared memory once a second, and whichever worker answers a scrape adds the
// others' files to its own fresh numbers, series by series. Every family recgw exports is
// a counter, a gauge that is meaningful summed (connections, streams, queue depth) or a
// histogram, so summing is the right merge.
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace recgw::reactor {

// Sums identical series (same name and labels) across texts; keeps the first HELP/TYPE of
// each family and the order in which families first appear. Pure.
std::string mergePrometheusTexts(const std::vector<std::string>& texts);

// A fresh directory for the workers of one supervisor to share their metrics in: mkdtemp
// under `base` (default /dev/shm, else the temp dir), so its name is random, it did not
// exist before (nobody could have planted it or anything in it) and its mode is 0700.
// Create it before forking and remove it (removeMetricsDirectory) after the workers exit.
// Returns "" (logged) when it cannot be made: workers then serve their own numbers only.
// It holds supervisor.pid (the creator's pid); creating one first removes the stale
// directories under `base` (removeStaleMetricsDirectories).
std::string createMetricsDirectory(const std::string& base = {});
// Removes the recgw-metrics-* directories under `parent` that a SIGKILLed supervisor left:
// the pid in its supervisor.pid is free, the directory is ours (0700, not a link) and
// nothing in it was written for `quietFor`. Returns how many it removed.
size_t removeStaleMetricsDirectories(const std::string& parent,
                                     std::chrono::seconds quietFor = std::chrono::seconds(60));
void removeMetricsDirectory(const std::string& directory);

class MetricsPublisher {
 public:
  // `directory` must be a directory (not a symlink) owned by this user and closed to
  // everyone else (createMetricsDirectory makes one): anything else — or "" — turns
  // publishing and merging off (logged), and /metrics shows this worker's numbers only.
  MetricsPublisher(const std::string& directory, int workerIndex);
  ~MetricsPublisher();
  MetricsPublisher(const MetricsPublisher&) = delete;
  MetricsPublisher& operator=(const MetricsPublisher&) = delete;

  bool enabled() const { return directoryFd_ >= 0; }
  // Atomically replaces this worker's file (write a fresh temporary, then rename). Errors are
  // ignored: a missing file only means a scrape shows this worker's numbers a second late.
  void publish(const std::string& text) const;
  // This worker's fresh text merged with every other worker's last published one. Only
  // regular files owned by this user are read; links, FIFOs and others' files are skipped.
  std::string mergedWith(const std::string& ownText) const;

 private:
  int directoryFd_ = -1;  // every file is opened relative to it, so the path cannot be swapped
  int workerIndex_;
};

}  // namespace recgw::reactor
