// libFuzzer target for the URL/query rewriting in front of the database clients:
// parseRedisUrl and withTimeouts, on arbitrary strings.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/mongo_client.h"
#include "storage/redis_client.h"

using namespace recgw::storage;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void fuzzRedis(const std::string& url) {
  recgw::Expected<RedisAddress> parsed = parseRedisUrl(url);
  if (!parsed) return;
  const RedisAddress& a = *parsed;
  // Exactly one of a TCP host and a socket path.
  check(a.unixPath.empty() != a.host.empty());
  check(a.host != "localhost");
  if (url.find('@') == std::string::npos) check(a.password.empty());
  if (url.find("77") == std::string::npos) check(a.database != 77);
  if (!a.unixPath.empty()) {
    check(url.rfind("unix://", 0) == 0);
  } else {
    check(url.rfind("redis://", 0) == 0);
    check(a.port > 0 && a.port <= 65535);
  }
}

void fuzzTimeouts(const std::string& uri) {
  const auto timeout = std::chrono::milliseconds(1500);
  std::string out = withTimeouts(uri, timeout, 7);
  // Only appends: what the user wrote is kept as written.
  check(out.compare(0, uri.size(), uri) == 0);
  std::string l = lower(out);
  for (const char* name : {"serverselectiontimeoutms=", "connecttimeoutms=", "sockettimeoutms=",
                           "waitqueuetimeoutms=", "maxpoolsize="}) {
    check(l.find(name) != std::string::npos);
  }
  check(out.find('?') != std::string::npos);
  // Idempotent: a second pass finds every option present. (Not for text with several
  // '?': an option glued to a second '?' is not seen; no valid URI has one.)
  if (std::count(uri.begin(), uri.end(), '?') <= 1) check(withTimeouts(out, timeout, 7) == out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  fuzzRedis(input);
  fuzzRedis("redis://" + input);
  fuzzTimeouts(input);
  fuzzTimeouts("mongodb://" + input);
  return 0;
}
