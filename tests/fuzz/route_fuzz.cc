// libFuzzer target for the request target as recgw parses it: route matching with
// percent-decoded parameters (reactor/request_target) over the gateway's real route
// shapes, and query parameters. The input is "METHOD-BYTE path[?query]".
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/request_target.h"

using namespace recgw::reactor;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Shape {
  uint16_t methods;
  const char* pattern;
  RouteGuard guard = nullptr;
};

// The guards of GET/HEAD /api/v1/recordings/{id}: rooms recordings (lifecycle) and every
// other id (the session stream), as handlers/ register them.
bool roomsRecording(const std::vector<std::string>& params) { return params[0].starts_with("rec_"); }
bool sessionId(const std::vector<std::string>& params) { return !roomsRecording(params); }

// The patterns registered by handlers/ and app/gateway.cc (GET 1, POST 2, HEAD 4,
// DELETE 16, OPTIONS 32), in a registration order like the gateway's.
constexpr Shape kShapes[] = {
    {1 | 4, "/healthz"},
    {1 | 4, "/readyz"},
    {1, "/metrics"},
    {1, "/openapi.json"},
    {1 | 4, "/api/v1/public/recordings/{token}"},
    {2, "/api/v1/rooms/{id}/recordings/start"},
    {2, "/api/v1/rooms/{id}/recordings/stop"},
    {2, "/api/v1/rooms/{id}/recordings/sync"},
    {1, "/api/v1/recordings"},
    {1 | 4, "/api/v1/recordings/{id}", &roomsRecording},
    {1, "/api/v1/recordings/{id}/download"},
    {2, "/api/v1/recordings/{id}/archive"},
    {2, "/api/v1/recordings/{id}/recover"},
    {16, "/api/v1/recordings/{id}"},
    {1 | 4, "/api/v1/recordings/{session_id}", &sessionId},
    {32, "/api/v1/public/recordings/{token}"},
    {32, "/api/v1/recordings/{session_id}"},
    {2, "/v1/call-recording/signed-url"},
    {1, "/api/v1/sessions/{id}/recording"},
    {2, "/api/v1/admin/recordings/{session_id}/token"},
    {16, "/api/v1/admin/cache/{id}"},
    {2, "/api/v1/admin/cache/warm"},
    {1, "/api/v1/admin/diagnose/{id}"},
};

const RouteTable& table() {
  static const RouteTable t = [] {
    RouteTable built;
    for (const Shape& s : kShapes) built.add(s.methods, s.pattern, s.guard);
    return built;
  }();
  return t;
}

size_t parameterCount(std::string_view pattern) {
  size_t n = 0;
  for (auto segment : splitPath(pattern))
    n += segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
  return n;
}

std::string percentEncodeAll(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out.push_back('%');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

void fuzzRoute(uint16_t method, std::string_view path) {
  RouteMatch m = table().match(method, path);
  switch (m.kind) {
    case RouteMatch::Kind::kNotFound:
      check(m.allowed == 0 && m.params.empty());
      return;
    case RouteMatch::Kind::kBadEncoding:
      check(path.find('%') != std::string_view::npos);
      return;
    case RouteMatch::Kind::kMethodNotAllowed:
      check(m.allowed != 0 && (m.allowed & method) == 0 && m.params.empty());
      return;
    case RouteMatch::Kind::kMatched:
      break;
  }
  check(m.route < table().size());
  const Shape& shape = kShapes[m.route];
  check((shape.methods & method) != 0 && (m.allowed & method) != 0);
  check(m.params.size() == parameterCount(shape.pattern));
  check(!shape.guard || shape.guard(m.params));
  if (path.find('%') == std::string_view::npos) {
    // Without escapes the parameters are the raw segments.
    auto parts = splitPath(path);
    auto segments = splitPath(shape.pattern);
    size_t p = 0;
    for (size_t i = 0; i < segments.size(); ++i) {
      if (segments[i].size() >= 2 && segments[i].front() == '{') check(m.params[p++] == parts[i]);
    }
  }
  // Decoded parameters encoded again give the same route and the same values.
  auto segments = splitPath(shape.pattern);
  std::string rebuilt;
  size_t p = 0;
  for (auto segment : segments) {
    rebuilt.push_back('/');
    if (segment.size() >= 2 && segment.front() == '{') {
      rebuilt += percentEncodeAll(m.params[p++]);
    } else {
      rebuilt += segment;
    }
  }
  RouteMatch again = table().match(method, rebuilt);
  check(again.kind == RouteMatch::Kind::kMatched && again.route == m.route && again.params == m.params);
}

void fuzzQuery(std::string_view query) {
  for (const char* name : {"format", "download", ""}) {
    std::string value = findQueryParam(query, name);
    // libevent decodes: a value is never longer than the query it came from.
    check(value.size() <= query.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 4096) return 0;
  constexpr uint16_t kMethods[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
  uint16_t method = kMethods[data[0] % (sizeof kMethods / sizeof kMethods[0])];
  std::string_view target(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t q = target.find('?');
  fuzzRoute(method, target.substr(0, q));
  if (q != std::string_view::npos) fuzzQuery(target.substr(q + 1));
  return 0;
}
