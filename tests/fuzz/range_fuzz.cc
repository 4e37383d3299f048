// libFuzzer target for the relay's header parsers (handlers/http_semantics).
// Beyond "no crash", it checks the properties callers rely on: parsed ranges
// are ordered and round-trip, resolved ranges lie inside the object, dates
// round-trip through formatHttpDate, and Content-Disposition cannot break out
// of its header.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "handlers/http_semantics.h"

using namespace recgw::handlers;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void fuzzRange(std::string_view s, uint64_t size) {
  auto range = parseRangeHeader(s);
  if (!range) return;
  if (range->kind == ByteRange::kFromTo) check(range->first <= range->last);
  auto again = parseRangeHeader(rangeHeaderValue(*range));
  check(again && again->kind == range->kind && again->first == range->first && again->last == range->last &&
        again->suffixLength == range->suffixLength);
  const RangeResolution r = resolveRange(*range, size);
  if (r.outcome == RangeOutcome::kSatisfiable) {
    check(size > 0 && r.range.first <= r.range.last && r.range.last < size);
    auto cr = parseContentRange(contentRangeValue(r.range.first, r.range.last, size));
    check(cr && !cr->unsatisfied && cr->first == r.range.first && cr->last == r.range.last &&
          cr->completeLength == size);
  } else {
    auto cr = parseContentRange(unsatisfiedContentRange(size));
    check(cr && cr->unsatisfied && cr->completeLength == size);
  }
}

void fuzzContentRange(std::string_view s) {
  auto cr = parseContentRange(s);
  if (!cr) return;
  check(cr->unsatisfied ? cr->completeLength.has_value() : cr->first <= cr->last);
  if (!cr->unsatisfied && cr->completeLength) check(cr->last < *cr->completeLength);
  if (!cr->unsatisfied) check(cr->last - cr->first + 1 > 0);  // a length that cannot wrap
  // An answer accepted for a range lies inside what was asked.
  for (const char* asked : {"bytes=0-", "bytes=0-99", "bytes=-10", "bytes=5-9"}) {
    const ByteRange range = *parseRangeHeader(asked);
    if (!contentRangeAnswers(range, *cr)) continue;
    check(!cr->unsatisfied);
    if (range.kind != ByteRange::kSuffix) check(cr->first == range.first);
    if (range.kind == ByteRange::kFromTo) check(cr->last <= range.last);
  }
}

// The served Content-Type is either playable media or application/octet-stream, and it
// is header-safe.
void fuzzServedType(std::string_view s) {
  const std::string origin(s);
  const std::string served = servedContentType(&origin, "k.ogg");
  for (unsigned char c : served) check((c >= 0x20 && c < 0x7f) || c == '\t');
  check(isPlayableMediaType(served) || served == "application/octet-stream");
}

void fuzzDate(std::string_view s) {
  auto t = parseHttpDate(s);
  if (!t) return;
  const std::string formatted = formatHttpDate(*t);
  check(parseHttpDate(formatted) == t);
  check(notModifiedSince(formatted, formatted));
  check(ifRangeAllows(formatted, "", formatted));
}

void fuzzDisposition(std::string_view s) {
  const std::string v = contentDisposition(s);
  for (unsigned char c : v) check(c >= 0x20 && c < 0x7f);
  const std::string_view prefix = "inline; filename=\"";
  check(v.compare(0, prefix.size(), prefix) == 0);
  const size_t close = v.find('"', prefix.size());
  check(close != std::string::npos && close > prefix.size());
  check(v.compare(close, 20, "\"; filename*=UTF-8''") == 0);
  check(v.find('"', close + 1) == std::string::npos);
  check(v.find('\\') == std::string::npos);
  (void)contentTypeForKey(s);
  (void)isSafePathParam(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  uint64_t objectSize = 0;
  for (size_t i = 0; i < size && i < 8; ++i) objectSize = (objectSize << 8) | data[i];
  fuzzRange(input, objectSize);
  fuzzRange(input, objectSize % 4096);
  fuzzContentRange(input);
  fuzzDate(input);
  fuzzDisposition(input);
  fuzzServedType(input);

  // Conditionals take two values; split the input at the first newline.
  const size_t nl = input.find('\n');
  const std::string_view a = input.substr(0, nl);
  const std::string_view b = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  (void)ifNoneMatchMatches(a, b);
  (void)ifRangeAllows(a, b, b);
  (void)notModifiedSince(a, b);
  if (!b.empty() && b.front() == '"' && b.find('"', 1) == b.size() - 1) {
    // A well-formed strong tag always matches itself, weakly and strongly.
    bool clean = true;
    for (unsigned char c : b.substr(1, b.size() - 2)) clean = clean && c > 0x20 && c != 0x7f;
    if (clean) check(ifNoneMatchMatches(b, b) && ifRangeAllows(b, b, ""));
  }
  return 0;
}
