#include "reactor/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace recgw::reactor {
namespace {
std::string formatNumber(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    // Most samples are counts: to_chars writes one in ~50 instructions, snprintf's "%.0f"
    // took ~1.7 k, and a render writes hundreds of them.
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    return std::string(buf, ec == std::errc() ? end : buf);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

const char* typeName(Metrics::Type t) {
  switch (t) {
    case Metrics::Type::kCounter:
      return "counter";
    case Metrics::Type::kGauge:
      return "gauge";
    case Metrics::Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string joinLabels(std::string_view labels, std::string_view extra) {
  std::string out;
  if (labels.empty() && extra.empty()) return out;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
  return out;
}
}  // namespace

void Metrics::describe(std::string_view name, Type type, std::string_view help, std::vector<double> buckets) {
  Family& f = family(name);
  f.type = type;
  f.help = std::string(help);
  std::sort(buckets.begin(), buckets.end());
  f.buckets = std::move(buckets);
}

Metrics::Family& Metrics::family(std::string_view name) {
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{}).first;
  return it->second;
}

void Metrics::inc(std::string_view name, std::string_view labels, double by) { add(name, labels, by); }

void Metrics::add(std::string_view name, std::string_view labels, double delta) {
  Family& f = family(name);
  auto it = f.values.find(labels);
  if (it == f.values.end()) it = f.values.emplace(std::string(labels), 0.0).first;
  it->second += delta;
}

void Metrics::set(std::string_view name, std::string_view labels, double value) {
  Family& f = family(name);
  auto it = f.values.find(labels);
  if (it == f.values.end()) it = f.values.emplace(std::string(labels), 0.0).first;
  it->second = value;
}

void Metrics::observe(std::string_view name, std::string_view labels, double value) {
  Family& f = family(name);
  auto it = f.histograms.find(labels);
  if (it == f.histograms.end()) {
    it = f.histograms.emplace(std::string(labels), Histogram{}).first;
    it->second.counts.assign(f.buckets.size(), 0);
  }
  Histogram& h = it->second;
  if (h.counts.size() != f.buckets.size()) h.counts.resize(f.buckets.size(), 0);  // re-described
  auto bucket = std::lower_bound(f.buckets.begin(), f.buckets.end(), value);
  if (bucket != f.buckets.end()) h.counts[static_cast<size_t>(bucket - f.buckets.begin())] += 1;
  h.sum += value;
  h.count += 1;
}

double Metrics::value(std::string_view name, std::string_view labels) const {
  auto fit = families_.find(name);
  if (fit == families_.end()) return 0;
  auto it = fit->second.values.find(labels);
  if (it != fit->second.values.end()) return it->second;
  auto hit = fit->second.histograms.find(labels);
  return hit == fit->second.histograms.end() ? 0 : hit->second.count;
}

std::string Metrics::label(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(key.size() + value.size() + 3);
  out.append(key);
  out += "=\"";
  // A loop, not find_first_of, which calls memchr on the three needles for every byte.
  if (std::none_of(value.begin(), value.end(), [](char c) { return c == '\\' || c == '"' || c == '\n'; })) {
    out.append(value);  // the common case, once per request for several labels
    out += '"';
    return out;
  }
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096);
  std::vector<const std::pair<const std::string, Family>*> sorted;
  sorted.reserve(families_.size());
  for (const auto& entry : families_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : sorted) {
    const std::string& name = entry->first;
    const Family& f = entry->second;
    out += "# HELP " + name + " " + (f.help.empty() ? name : f.help) + "\n";
    out += "# TYPE " + name + " " + typeName(f.type) + "\n";
    if (f.type == Type::kHistogram) {
      for (const auto& [labels, h] : f.histograms) {
        double cumulative = 0;
        for (size_t i = 0; i < f.buckets.size(); ++i) {
          cumulative += i < h.counts.size() ? h.counts[i] : 0;
          out += name + "_bucket" + joinLabels(labels, "le=\"" + formatNumber(f.buckets[i]) + "\"") + " " +
                 formatNumber(cumulative) + "\n";
        }
        out += name + "_bucket" + joinLabels(labels, "le=\"+Inf\"") + " " + formatNumber(h.count) + "\n";
        out += name + "_sum" + joinLabels(labels, {}) + " " + formatNumber(h.sum) + "\n";
        out += name + "_count" + joinLabels(labels, {}) + " " + formatNumber(h.count) + "\n";
      }
    } else {
      for (const auto& [labels, v] : f.values) {
        out += name + joinLabels(labels, {}) + " " + formatNumber(v) + "\n";
      }
    }
  }
  return out;
}

}  // namespace recgw::reactor
