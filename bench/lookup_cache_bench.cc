// The lookup path: cache keys (sha256 of the token), the Redis value encoding, and the
// in-process LRU (L1) as the public route uses it — LookupCache::resolve on an L1 hit,
// which is synchronous. No MongoDB or Redis is contacted: L1 is pre-filled with store()
// and Redis is disabled (null client).
#include <benchmark/benchmark.h>
#include <mongoc/mongoc.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/metrics.h"
#include "reactor/worker_pool.h"
#include "storage/call_store.h"
#include "storage/lookup_cache.h"
#include "storage/mongo_client.h"

namespace {

using recgw::storage::CallRecord;
using recgw::storage::LookupField;

constexpr char kToken[] = "q3Vx0m8bJx2mD0p4hQ0eYk2m1fV6oTt7bP9wZc3nLrA";  // 43 chars, like mint-token

CallRecord sampleRecord() {
  CallRecord r;
  r.outcome = CallRecord::Outcome::kFound;
  r.key = "2024/06/01/session-0f8c2a6e-4a1b/recording.ogg";
  r.keyDerivation = "recording_key";
  r.sessionId = "session-0f8c2a6e-4a1b";
  r.accountId = "acct-1";
  r.recordingStatus = "ready";
  return r;
}

void BM_CacheKeyToken(benchmark::State& state) {
  const std::string token = kToken;
  for (auto _ : state) {
    auto k = recgw::storage::cacheKey(LookupField::kToken, token);
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_CacheKeyToken);

void BM_EncodeCachedRecord(benchmark::State& state) {
  const CallRecord r = sampleRecord();
  const std::string hint = "storage";
  for (auto _ : state) {
    auto s = recgw::storage::encodeCachedRecord(r, hint);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_EncodeCachedRecord);

void BM_DecodeCachedRecord(benchmark::State& state) {
  const std::string text = recgw::storage::encodeCachedRecord(sampleRecord(), "storage");
  for (auto _ : state) {
    auto r = recgw::storage::decodeCachedRecord(text);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_DecodeCachedRecord);

// Everything LookupCache needs, with MongoDB never reached (the client pool connects lazily).
struct L1Fixture {
  L1Fixture() {
    static bool once = (mongoc_init(), true);
    (void)once;
    workers = std::make_unique<recgw::reactor::WorkerPool>(loop, 1, 16);
    mongo = std::make_unique<recgw::storage::MongoClient>(*workers, "mongodb://127.0.0.1:9/cxb",
                                                          std::chrono::milliseconds(100), 1);
    calls = std::make_unique<recgw::storage::CallStore>(*mongo, "calls");
    recgw::storage::LookupSettings settings;
    settings.l1Ttl = std::chrono::seconds(3600);
    cache = std::make_unique<recgw::storage::LookupCache>(*calls, nullptr, metrics, settings);
  }
  ~L1Fixture() {
    cache.reset();
    calls.reset();
    workers->shutdown();
    mongo.reset();
    workers.reset();
  }
  recgw::reactor::EventLoop loop;
  recgw::reactor::Metrics metrics;
  std::unique_ptr<recgw::reactor::WorkerPool> workers;
  std::unique_ptr<recgw::storage::MongoClient> mongo;
  std::unique_ptr<recgw::storage::CallStore> calls;
  std::unique_ptr<recgw::storage::LookupCache> cache;
};

// L1 hit with `range(0)` entries in the cache, hitting them round-robin (1 = the hot link).
void BM_LookupL1Hit(benchmark::State& state) {
  L1Fixture f;
  const CallRecord record = sampleRecord();
  std::vector<std::string> tokens;
  for (int64_t i = 0; i < state.range(0); ++i) {
    tokens.push_back(std::string(kToken).substr(0, 36) + std::to_string(1000000 + i));
    f.cache->store(LookupField::kToken, tokens.back(), record);
  }
  size_t i = 0, hits = 0;
  for (auto _ : state) {
    f.cache->resolve(LookupField::kToken, tokens[i], [&hits](CallRecord r, std::string tier, std::string) {
      hits += (tier == "l1" && r.outcome == CallRecord::Outcome::kFound);
    });
    if (++i == tokens.size()) i = 0;
  }
  if (hits != static_cast<size_t>(state.iterations())) state.SkipWithError("not every lookup was an L1 hit");
}
BENCHMARK(BM_LookupL1Hit)->Arg(1)->Arg(1000)->Arg(100000);

// Filling L1 past its bound: every store evicts the least recently used entry.
void BM_LookupL1StoreEvicting(benchmark::State& state) {
  L1Fixture f;
  recgw::storage::LookupSettings settings;
  settings.l1Entries = 1000;
  settings.l1Ttl = std::chrono::seconds(3600);
  f.cache->setSettings(settings);
  const CallRecord record = sampleRecord();
  std::vector<std::string> tokens;
  for (int i = 0; i < 4096; ++i)
    tokens.push_back(std::string(kToken).substr(0, 36) + std::to_string(1000000 + i));
  size_t i = 0;
  for (auto _ : state) {
    f.cache->store(LookupField::kToken, tokens[i], record);
    if (++i == tokens.size()) i = 0;
  }
}
BENCHMARK(BM_LookupL1StoreEvicting);

}  // namespace
