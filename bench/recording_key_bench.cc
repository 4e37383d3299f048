// Key derivation: runs once per MongoDB lookup (cache misses and warm-up batches).
#include <benchmark/benchmark.h>

#include "storage/recording_key.h"

namespace {

using recgw::storage::deriveRecordingKey;

void BM_DeriveFromRecordingKey(benchmark::State& state) {
  for (auto _ : state) {
    auto k = deriveRecordingKey("2024/06/01/session-0f8c2a6e-4a1b/recording.ogg", "");
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_DeriveFromRecordingKey);

// Legacy calls: the last path segment of a full URL, query dropped, percent-decoded.
void BM_DeriveFromLegacyUrl(benchmark::State& state) {
  constexpr char kUrl[] =
      "https://cxb-recordings.nyc3.digitaloceanspaces.com/2024/06/01/"
      "session-0f8c2a6e-4a1b%2Frecording%20part%201.ogg?X-Amz-Expires=86400&X-Amz-Signature=abcdef#t=10";
  for (auto _ : state) {
    auto k = deriveRecordingKey("", kUrl);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_DeriveFromLegacyUrl);

void BM_DeriveNothing(benchmark::State& state) {
  for (auto _ : state) {
    auto k = deriveRecordingKey("", "https://example.com/");
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_DeriveNothing);

}  // namespace
