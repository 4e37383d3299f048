#pragma once
// Counters, gauges and histograms of one worker process, rendered as Prometheus text.
// Loop thread only. Label sets are passed preformatted (`route="x",status="200"`), so the
// hot path does one map lookup per update.
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace recgw::reactor {

class Metrics {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  void describe(std::string_view name, Type type, std::string_view help, std::vector<double> buckets = {});
  void inc(std::string_view name, std::string_view labels = {}, double by = 1);
  void set(std::string_view name, std::string_view labels, double value);
  void add(std::string_view name, std::string_view labels, double delta);  // gauges
  void observe(std::string_view name, std::string_view labels, double value);
  double value(std::string_view name, std::string_view labels = {}) const;

  std::string render() const;

  // `key="value"` with the value escaped for the exposition format.
  static std::string label(std::string_view key, std::string_view value);

 private:
  struct Histogram {
    std::vector<double> counts;  // one per bucket, non-cumulative
    double sum = 0;
    double count = 0;
  };
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::vector<double> buckets;
    std::map<std::string, double, std::less<>> values;
    std::map<std::string, Histogram, std::less<>> histograms;
  };
  Family& family(std::string_view name);
  // Hashed, not ordered: several lookups a request by names of ~30 bytes that share the
  // "recgw_" prefix cost a hash and one comparison instead of six comparisons. render()
  // sorts the names itself.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const noexcept { return std::hash<std::string_view>{}(name); }
  };
  std::unordered_map<std::string, Family, NameHash, std::equal_to<>> families_;
};

}  // namespace recgw::reactor
