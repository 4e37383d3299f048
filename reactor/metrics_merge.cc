#include "reactor/metrics_merge.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

namespace recgw::reactor {
namespace {

std::string formatValue(double v) {
  char buf[40];
  if (v == static_cast<double>(static_cast<long long>(v)) && v < 1e15 && v > -1e15) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  return buf;
}

std::string familyOf(std::string_view series) {
  size_t end = series.find_first_of("{ ");
  std::string name(series.substr(0, end));
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      return name.substr(0, name.size() - s.size());
    }
  }
  return name;
}

}  // namespace

std::string mergePrometheusTexts(const std::vector<std::string>& texts) {
  struct Family {
    std::vector<std::string> meta;         // HELP / TYPE lines
    std::vector<std::string> seriesOrder;  // first-seen order
    std::unordered_map<std::string, double> values;
  };
  std::vector<std::string> familyOrder;
  std::map<std::string, Family> families;
  for (const auto& text : texts) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line.rfind("# ", 0) == 0) {
        // "# HELP name …" / "# TYPE name …"
        std::istringstream words(line.substr(2));
        std::string kind, name;
        words >> kind >> name;
        auto [it, fresh] = families.try_emplace(name);
        if (fresh) familyOrder.push_back(name);
        bool seen = false;
        for (const auto& m : it->second.meta) seen = seen || m.rfind("# " + kind + " ", 0) == 0;
        if (!seen) it->second.meta.push_back(line);
        continue;
      }
      size_t space = line.rfind(' ');
      if (space == std::string::npos) continue;
      std::string series = line.substr(0, space);
      double value = std::strtod(line.c_str() + space + 1, nullptr);
      std::string family = familyOf(series);
      auto [it, fresh] = families.try_emplace(family);
      if (fresh) familyOrder.push_back(family);
      auto [vit, newSeries] = it->second.values.try_emplace(series, 0.0);
      if (newSeries) it->second.seriesOrder.push_back(series);
      vit->second += value;
    }
  }
  std::string out;
  for (const auto& name : familyOrder) {
    const Family& f = families[name];
    for (const auto& m : f.meta) out += m + "\n";
    for (const auto& series : f.seriesOrder) out += series + " " + formatValue(f.values.at(series)) + "\n";
  }
  return out;
}

MetricsPublisher::MetricsPublisher(std::string directory, int workerIndex)
    : directory_(std::move(directory)), workerIndex_(workerIndex) {
  ::mkdir(directory_.c_str(), 0700);
}

void MetricsPublisher::publish(const std::string& text) const {
  std::string path = directory_ + "/worker-" + std::to_string(workerIndex_) + ".prom";
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return;
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (ok) std::rename(tmp.c_str(), path.c_str());
}

std::string MetricsPublisher::mergedWith(const std::string& ownText) const {
  std::vector<std::string> texts{ownText};
  std::string own = "worker-" + std::to_string(workerIndex_) + ".prom";
  if (DIR* dir = ::opendir(directory_.c_str())) {
    while (dirent* entry = ::readdir(dir)) {
      std::string name = entry->d_name;
      if (name.size() < 5 || name.compare(name.size() - 5, 5, ".prom") != 0 || name == own) continue;
      std::ifstream in(directory_ + "/" + name);
      std::stringstream buffer;
      buffer << in.rdbuf();
      texts.push_back(buffer.str());
    }
    ::closedir(dir);
  }
  return mergePrometheusTexts(texts);
}

}  // namespace recgw::reactor
