#pragma once
// One levelled logger. Application lines go to stderr, access-log lines to stdout, each a
// single JSON object so they can be shipped as they are. Callers must never pass secrets:
// tokens go through redactToken() first.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace recgw::reactor {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

using LogField = std::pair<std::string_view, std::string_view>;

class Logger {
 public:
  static void setLevel(LogLevel level);
  static bool parseLevel(std::string_view text, LogLevel& level);
  static bool enabled(LogLevel level);
  // requestId may be empty for lines that belong to no request.
  static void log(LogLevel level, std::string_view requestId, std::string_view message,
                  std::initializer_list<LogField> fields = {});
  // A whole JSON object, already built, for the access log. Taken by value: the newline is
  // appended in place, without a copy.
  static void access(std::string jsonLine);
};

inline void logDebug(std::string_view msg, std::initializer_list<LogField> f = {}) {
  if (Logger::enabled(LogLevel::kDebug)) Logger::log(LogLevel::kDebug, {}, msg, f);
}
inline void logInfo(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Logger::log(LogLevel::kInfo, {}, msg, f);
}
inline void logWarn(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Logger::log(LogLevel::kWarn, {}, msg, f);
}
inline void logError(std::string_view msg, std::initializer_list<LogField> f = {}) {
  Logger::log(LogLevel::kError, {}, msg, f);
}

// "abcdef…#1a2b3c4d": the first 6 characters and a short hash, so a token can be
// correlated across lines without being recoverable from the log.
std::string redactToken(std::string_view token);

std::string isoTimestampNow();

}  // namespace recgw::reactor
