#pragma once
// /metrics across worker processes: each worker publishes its Prometheus text to a small
// file in shared memory once a second, and whichever worker answers a scrape adds the
// others' files to its own fresh numbers, series by series. Every family recgw exports is
// a counter, a gauge that is meaningful summed (connections, streams, queue depth) or a
// histogram, so summing is the right merge.
#include <string>
#include <string_view>
#include <vector>

namespace recgw::reactor {

// Sums identical series (same name and labels) across texts; keeps the first HELP/TYPE of
// each family and the order in which families first appear. Pure.
std::string mergePrometheusTexts(const std::vector<std::string>& texts);

class MetricsPublisher {
 public:
  // directory: shared by the workers of one supervisor (e.g. /dev/shm/recgw-<pid>).
  MetricsPublisher(std::string directory, int workerIndex);
  // Atomically replaces this worker's file (write + rename). Errors are ignored: a missing
  // file only means a scrape shows this worker's numbers a second late.
  void publish(const std::string& text) const;
  // This worker's fresh text merged with every other worker's last published one.
  std::string mergedWith(const std::string& ownText) const;

 private:
  std::string directory_;
  int workerIndex_;
};

}  // namespace recgw::reactor
