#include "reactor/request_target.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <algorithm>

namespace recgw::reactor {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isParameter(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  parts.reserve(static_cast<size_t>(std::count(path.begin(), path.end(), '/')) + 1);
  size_t start = (!path.empty() && path[0] == '/') ? 1 : 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

bool decodePathSegment(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hexValue(in[i + 1]);
    int lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::string findQueryParam(std::string_view query, std::string_view name) {
  // libevent wants C strings: a NUL inside either ends it, which can only shorten a match.
  std::string queryText(query.substr(0, query.find('\0')));
  std::string key(name.substr(0, name.find('\0')));
  evkeyvalq params;
  params.tqh_first = nullptr;
  params.tqh_last = &params.tqh_first;
  std::string result;
  if (evhttp_parse_query_str(queryText.c_str(), &params) == 0) {
    if (const char* v = evhttp_find_header(&params, key.c_str())) result = v;
  }
  evhttp_clear_headers(&params);
  return result;
}

size_t RouteTable::add(uint16_t methods, std::string_view pattern, RouteGuard guard) {
  Pattern p;
  p.methods = methods;
  p.guard = guard;
  for (auto segment : splitPath(pattern)) p.segments.emplace_back(segment);
  patterns_.push_back(std::move(p));
  return patterns_.size() - 1;
}

RouteMatch RouteTable::match(uint16_t method, std::string_view path) const {
  RouteMatch result;
  auto parts = splitPath(path);
  std::string decoded;
  bool matched = false;
  for (size_t index = 0; index < patterns_.size(); ++index) {
    const Pattern& p = patterns_[index];
    if (p.segments.size() != parts.size()) continue;
    std::vector<std::string> params;
    bool fits = true;
    for (size_t i = 0; i < parts.size() && fits; ++i) {
      if (isParameter(p.segments[i])) {
        // A malformed escape where a parameter goes is the client's error, whichever route.
        if (!decodePathSegment(parts[i], decoded)) {
          RouteMatch bad;
          bad.kind = RouteMatch::Kind::kBadEncoding;
          return bad;
        }
        params.push_back(decoded);
      } else if (p.segments[i] != parts[i]) {
        fits = false;
      }
    }
    if (!fits || (p.guard && !p.guard(params))) continue;
    result.allowed |= p.methods;
    if ((p.methods & method) && !matched) {
      matched = true;
      result.route = index;
      result.params = std::move(params);
    }
  }
  if (matched) {
    result.kind = RouteMatch::Kind::kMatched;
  } else if (result.allowed) {
    result.kind = RouteMatch::Kind::kMethodNotAllowed;
  }
  return result;
}

}  // namespace recgw::reactor
