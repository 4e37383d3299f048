// Range parsing on the request path: every streaming request with a Range header parses it
// once, and the relay parses the origin's Content-Range once per response.
#include <benchmark/benchmark.h>

#include <string_view>

#include "handlers/http_semantics.h"

namespace {

using recgw::handlers::parseContentRange;
using recgw::handlers::parseRangeHeader;
using recgw::handlers::resolveRange;

// What browsers' audio players send: an open range from a seek position.
void BM_ParseRangeOpen(benchmark::State& state) {
  constexpr std::string_view kHeader = "bytes=1048576-";
  for (auto _ : state) {
    auto r = parseRangeHeader(kHeader);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseRangeOpen);

void BM_ParseRangeFromTo(benchmark::State& state) {
  constexpr std::string_view kHeader = "bytes=104857600-209715199";
  for (auto _ : state) {
    auto r = parseRangeHeader(kHeader);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseRangeFromTo);

void BM_ParseRangeSuffix(benchmark::State& state) {
  constexpr std::string_view kHeader = "bytes=-500";
  for (auto _ : state) {
    auto r = parseRangeHeader(kHeader);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseRangeSuffix);

// Rejected input (multi-range, ignored → 200): the parser must give up quickly.
void BM_ParseRangeMulti(benchmark::State& state) {
  constexpr std::string_view kHeader = "bytes=0-99, 200-299, 400-499";
  for (auto _ : state) {
    auto r = parseRangeHeader(kHeader);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseRangeMulti);

void BM_ParseAndResolveRange(benchmark::State& state) {
  constexpr std::string_view kHeader = "bytes=1048576-2097151";
  for (auto _ : state) {
    auto r = parseRangeHeader(kHeader);
    auto res = resolveRange(*r, 268435456);
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_ParseAndResolveRange);

void BM_ParseContentRange(benchmark::State& state) {
  constexpr std::string_view kHeader = "bytes 1048576-268435455/268435456";
  for (auto _ : state) {
    auto r = parseContentRange(kHeader);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseContentRange);

}  // namespace
