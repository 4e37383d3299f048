#include "reactor/logger.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

#include "reactor/json_writer.h"
#include <openssl/sha.h>

namespace recgw::reactor {
namespace {
std::atomic<int> gLevel{static_cast<int>(LogLevel::kInfo)};

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// One write(2) per line so lines from several worker processes never interleave.
void writeLine(int fd, std::string& line) {
  line += '\n';
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}
}  // namespace

void Logger::setLevel(LogLevel level) { gLevel.store(static_cast<int>(level)); }

bool Logger::parseLevel(std::string_view text, LogLevel& level) {
  if (text == "debug")
    level = LogLevel::kDebug;
  else if (text == "info")
    level = LogLevel::kInfo;
  else if (text == "warn")
    level = LogLevel::kWarn;
  else if (text == "error")
    level = LogLevel::kError;
  else
    return false;
  return true;
}

bool Logger::enabled(LogLevel level) { return static_cast<int>(level) >= gLevel.load(); }

void Logger::log(LogLevel level, std::string_view requestId, std::string_view message,
                 std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  JsonWriter w;
  w.beginObject().field("time", isoTimestampNow()).field("level", levelName(level));
  w.field("pid", static_cast<int64_t>(::getpid()));
  if (!requestId.empty()) w.field("request_id", requestId);
  w.field("msg", message);
  for (const auto& [k, v] : fields) w.field(k, v);
  w.endObject();
  std::string line = w.take();
  writeLine(STDERR_FILENO, line);
}

void Logger::access(std::string jsonLine) { writeLine(STDOUT_FILENO, jsonLine); }

std::string redactToken(std::string_view token) {
  std::string out(token.substr(0, 6));
  out += "…#";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xF];
  }
  return out;
}

std::string isoTimestampNow() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  // Every log line needs this; the part up to the second changes once a second.
  thread_local time_t cachedSecond = -1;
  thread_local char cachedPrefix[80];  // "YYYY-MM-DDTHH:MM:SS."
  if (tv.tv_sec != cachedSecond) {
    tm utc{};
    gmtime_r(&tv.tv_sec, &utc);
    std::snprintf(cachedPrefix, sizeof cachedPrefix, "%04d-%02d-%02dT%02d:%02d:%02d.", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    cachedSecond = tv.tv_sec;
  }
  int millis = static_cast<int>(tv.tv_usec / 1000);
  std::string out(cachedPrefix);
  out.push_back(static_cast<char>('0' + millis / 100));
  out.push_back(static_cast<char>('0' + millis / 10 % 10));
  out.push_back(static_cast<char>('0' + millis % 10));
  out.push_back('Z');
  return out;
}

}  // namespace recgw::reactor
