#include "reactor/metrics_merge.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "reactor/logger.h"

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

namespace {

// A worker's text is a few KiB; anything far larger was not written by a worker.
constexpr off_t kMaxPublishedBytes = 4 << 20;

bool privateDirectory(const struct stat& st) {
  return S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
}

constexpr const char* kSupervisorFile = "supervisor.pid";

bool writeAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The whole of a file another worker published, or nullopt when it is not a regular file
// owned by this user (or cannot be read).
std::optional<std::string> readPublished(int directoryFd, const char* name) {
  // O_NOFOLLOW: a symlink is refused; O_NONBLOCK: opening a FIFO does not wait for a writer.
  int fd = ::openat(directoryFd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> text;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
      st.st_size <= kMaxPublishedBytes) {
    text.emplace();
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) text.reset();
      if (n <= 0) break;
      text->append(buf, static_cast<size_t>(n));
      if (text->size() > static_cast<size_t>(kMaxPublishedBytes)) {
        text.reset();
        break;
      }
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

std::string createMetricsDirectory(const std::string& base) {
  std::string parent = base;
  if (parent.empty()) {
    struct stat st {};
    parent = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "";
    if (parent.empty()) {
      std::error_code ec;
      parent = std::filesystem::temp_directory_path(ec).string();
      if (ec) parent = "/tmp";
    }
  }
  removeStaleMetricsDirectories(parent);
  std::string pattern = parent + "/recgw-metrics-XXXXXX";
  if (!::mkdtemp(pattern.data())) {
    logError("cannot create the metrics directory; /metrics shows one worker's numbers",
             {{"parent", parent}, {"error", std::strerror(errno)}});
    return {};
  }
  // Who made it: a later supervisor removes the directory of one that was killed before it
  // could remove its own. The name stays random (nothing to predict or plant).
  int fd = ::open((pattern + "/" + kSupervisorFile).c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    writeAll(fd, std::to_string(::getpid()) + "\n");
    ::close(fd);
  }
  return pattern;
}

size_t removeStaleMetricsDirectories(const std::string& parent, std::chrono::seconds quietFor) {
  namespace fs = std::filesystem;
  constexpr std::string_view kPrefix = "recgw-metrics-";
  size_t removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    // Its supervisor's pid, from the file createMetricsDirectory wrote (a regular file of
    // ours, never through a link); directories without one are left alone.
    long pid = 0;
    int fd = ::open((it->path() / kSupervisorFile).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat fileStat {};
    char text[32] = {};
    bool readable = ::fstat(fd, &fileStat) == 0 && S_ISREG(fileStat.st_mode) &&
                    fileStat.st_uid == ::geteuid() && ::read(fd, text, sizeof text - 1) > 0;
    ::close(fd);
    if (!readable) continue;
    auto [end_, err] = std::from_chars(text, text + std::strlen(text), pid);
    if (err != std::errc() || pid <= 0) continue;
    // The supervisor that made it is gone (its pid is free) ...
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    // ... it is ours and private (lstat: never through a link) ...
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !privateDirectory(st)) continue;
    // ... and no worker has published there lately: a supervisor in another pid namespace
    // that shares this /dev/shm would still be writing every second.
    auto quietSince = fs::file_time_type::clock::now() - quietFor;
    bool quiet = fs::last_write_time(it->path(), ec) < quietSince;
    for (fs::directory_iterator f(it->path(), ec), fend; quiet && !ec && f != fend; f.increment(ec))
      quiet = f->symlink_status(ec).type() != fs::file_type::regular ||
              fs::last_write_time(f->path(), ec) < quietSince;
    if (!quiet || ec) {
      ec.clear();
      continue;
    }
    fs::remove_all(it->path(), ec);  // does not follow symlinks inside
    if (!ec) {
      ++removed;
      logInfo("removed the metrics directory of a supervisor that is gone",
              {{"directory", it->path().string()}});
    }
    ec.clear();
  }
  return removed;
}

void removeMetricsDirectory(const std::string& directory) {
  if (directory.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(directory, ec);  // does not follow symlinks inside
}

MetricsPublisher::MetricsPublisher(const std::string& directory, int workerIndex)
    : workerIndex_(workerIndex) {
  if (directory.empty()) return;
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && privateDirectory(st)) {
    directoryFd_ = fd;
    return;
  }
  const char* why = fd < 0 ? std::strerror(errno) : "not a directory owned by this user with mode 0700";
  if (fd >= 0) ::close(fd);
  logError("metrics directory refused; /metrics shows this worker's numbers only",
           {{"directory", directory}, {"error", why}});
}

MetricsPublisher::~MetricsPublisher() {
  if (directoryFd_ >= 0) ::close(directoryFd_);
}

void MetricsPublisher::publish(const std::string& text) const {
  if (directoryFd_ < 0) return;
  std::string name = "worker-" + std::to_string(workerIndex_) + ".prom";
  std::string tmp = name + ".tmp";
  // O_EXCL|O_NOFOLLOW: never write through a file or link someone else put there. A
  // temporary left by this worker's predecessor (killed mid-publish) is removed first.
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::openat(directoryFd_, tmp.c_str(), flags, 0600);
  if (fd < 0 && errno == EEXIST && ::unlinkat(directoryFd_, tmp.c_str(), 0) == 0) {
    fd = ::openat(directoryFd_, tmp.c_str(), flags, 0600);
  }
  if (fd < 0) return;
  bool ok = writeAll(fd, text);
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::renameat(directoryFd_, tmp.c_str(), directoryFd_, name.c_str()) != 0) {
    ::unlinkat(directoryFd_, tmp.c_str(), 0);
  }
}

std::string MetricsPublisher::mergedWith(const std::string& ownText) const {
  std::vector<std::string> texts{ownText};
  if (directoryFd_ < 0) return mergePrometheusTexts(texts);
  std::string own = "worker-" + std::to_string(workerIndex_) + ".prom";
  // A fresh descriptor for the listing: fdopendir takes it over, and closedir closes it.
  int listFd = ::openat(directoryFd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = listFd >= 0 ? ::fdopendir(listFd) : nullptr;
  if (!dir) {
    if (listFd >= 0) ::close(listFd);
    return mergePrometheusTexts(texts);
  }
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name.size() < 5 || name.substr(name.size() - 5) != ".prom" || name == own) continue;
    if (auto text = readPublished(directoryFd_, entry->d_name)) texts.push_back(std::move(*text));
  }
  ::closedir(dir);
  return mergePrometheusTexts(texts);
}

}  // namespace recgw::reactor
