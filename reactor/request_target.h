// The parts of a request target recgw parses itself: path segments matched against the
// route patterns (with percent-decoding of the parameters) and query parameters. Pure
// functions of untrusted strings, so they are unit-tested and fuzzed alone (route_fuzz).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace recgw::reactor {

// "/a/b/" → {"a", "b", ""}; a path without its leading '/' is split as it is.
std::vector<std::string_view> splitPath(std::string_view path);

// Percent-decodes one path segment ('+' stays '+'); false on a malformed escape.
bool decodePathSegment(std::string_view in, std::string& out);

// The decoded value of the first `name` parameter of a raw query string ("a=1&b=%20"),
// empty when absent or when the query is malformed (libevent's own parser decides).
std::string findQueryParam(std::string_view query, std::string_view name);

struct RouteMatch {
  enum class Kind { kMatched, kMethodNotAllowed, kNotFound, kBadEncoding };
  Kind kind = Kind::kNotFound;
  size_t route = 0;                 // index given by RouteTable::add, when matched
  uint16_t allowed = 0;             // methods of every route whose pattern fits the path (for Allow)
  std::vector<std::string> params;  // decoded "{name}" segments, in order, when matched
};

// Decides from the decoded parameters whether a route whose pattern fits a path takes it.
// A route that declines is skipped as if its pattern did not fit (its methods are not in
// Allow either): two routes may share one pattern and split its paths between them, e.g.
// by the prefix of an id, whatever their order. A plain function: pure and cheap.
using RouteGuard = bool (*)(const std::vector<std::string>& params);

// Patterns are '/'-separated segments, each a literal or "{name}" (one whole segment).
// The first route, in the order added, whose pattern fits the path (and whose guard, if
// any, accepts it) and which accepts the method wins; a pattern that fits with other
// methods only gives kMethodNotAllowed.
class RouteTable {
 public:
  size_t add(uint16_t methods, std::string_view pattern, RouteGuard guard = nullptr);
  RouteMatch match(uint16_t method, std::string_view path) const;
  size_t size() const { return patterns_.size(); }

 private:
  struct Pattern {
    uint16_t methods;
    std::vector<std::string> segments;
    RouteGuard guard;
  };
  std::vector<Pattern> patterns_;
};

}  // namespace recgw::reactor
