#pragma once
// Per-link analytics (README, "Link analytics"): for each public token, counted in memory
// per worker and flushed to Redis every analytics.flush_ms in one pipelined burst (one
// EVAL per token seen), so the hot path only touches a hash map. In Redis everything is
// filed under the token's SHA-256, never the token:
//   recgw:stats:<hash>                 hash: opens, bytes, furthest, size, first, last (ms),
//                                      session_id, leak_warnings, leak_clients, leak_at
//   recgw:stats:<hash>:clients         HyperLogLog of hashed client addresses (all time)
//   recgw:stats:<hash>:clients:<hour>  the same for one hour (leaked-link signal; expires)
//   recgw:stats:<hash>:leak:<hour>     set once per hour when the hour's count passes the
//                                      limit: exactly one worker of one gateway warns
//   recgw:stats:sid:<session_id>       set of the hashes of every token the call had
// A crash loses at most one flush interval. Loop thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "storage/redis_client.h"

namespace recgw::storage {

struct LinkAnalyticsSettings {
  std::chrono::milliseconds flushInterval{1000};
  int64_t leakClientsPerHour = 50;
  // Bounds on one interval's memory: tokens beyond are not counted (metric), clients
  // beyond the cap of one token are not added to its HyperLogLog.
  size_t maxTokens = 100000;
  size_t maxClientsPerToken = 4096;
  std::chrono::seconds retention{400 * 24 * 3600};  // stats keys live this long after the last access
};

// One request's contribution, reported when its response is complete.
struct LinkHit {
  bool open = false;        // a GET without Range, or with a Range starting at byte 0
  uint64_t bytes = 0;       // body bytes sent
  uint64_t furthest = 0;    // one past the last byte sent (0: none)
  uint64_t objectSize = 0;  // 0: unknown
};

// One token's stats as read back (the route and `recgw stats`).
struct LinkStats {
  std::string tokenSha256;
  std::string sessionId;
  int64_t opens = 0;
  int64_t uniqueClients = 0;  // HyperLogLog estimate
  int64_t bytes = 0;
  int64_t furthest = 0;  // one past the furthest byte delivered
  int64_t objectSize = 0;
  int64_t firstAccessMs = 0;
  int64_t lastAccessMs = 0;
  int64_t leakWarnings = 0;  // hours in which the link passed analytics.leak_clients_per_hour
  int64_t leakClients = 0;   // distinct clients counted in the last such hour
  int64_t leakAtMs = 0;
  // furthest / size ("played to 87 %"); nullopt without a known size.
  std::optional<double> playedFraction() const;
};

// Builds a LinkStats from HGETALL's reply and PFCOUNT's. Pure.
LinkStats decodeLinkStats(const std::string& tokenSha256, const RedisReply& hash, const RedisReply& clients);
// {"session_id": …, "links": [...]} (the stats route and `recgw stats --json`). Pure.
std::string renderLinkStatsJson(const std::string& sessionId, const std::vector<LinkStats>& links);
// A table for people (`recgw stats`). Pure.
std::string renderLinkStatsTable(const std::string& sessionId, const std::vector<LinkStats>& links);
std::string linkStatsKey(const std::string& tokenSha256);
std::string linkStatsSessionKey(const std::string& sessionId);

class LinkAnalytics {
 public:
  // redis may be null (disabled): nothing is counted then but the /metrics aggregates.
  LinkAnalytics(reactor::EventLoop& loop, RedisClient* redis, reactor::Metrics& metrics,
                LinkAnalyticsSettings settings);
  LinkAnalytics(const LinkAnalytics&) = delete;
  LinkAnalytics& operator=(const LinkAnalytics&) = delete;

  // Counts one request of the link `token` (raw: it is hashed at flush, never stored) from
  // `clientAddress` (hashed at flush). nowMs: the wall clock.
  void record(const std::string& token, const std::string& sessionId, const std::string& clientAddress,
              const LinkHit& hit, int64_t nowMs);
  void setSettings(LinkAnalyticsSettings settings);
  // Sends what was counted since the last flush (also on the timer).
  void flush();
  size_t pendingTokens() const { return pending_.size(); }
  // For callbacks that may outlive this object (a request completing at shutdown).
  reactor::LivenessWatch watch() const { return alive_; }

 private:
  struct Pending {
    std::string sessionId;
    int64_t opens = 0;
    uint64_t bytes = 0;
    uint64_t furthest = 0;
    uint64_t objectSize = 0;
    int64_t firstMs = 0;
    int64_t lastMs = 0;
    std::unordered_set<std::string> clients;
  };
  void onFlushed(const std::string& tokenHash, const std::string& sessionId, const RedisReply& reply,
                 int64_t hourClients);

  reactor::EventLoop& loop_;
  RedisClient* redis_;
  reactor::Metrics& metrics_;
  LinkAnalyticsSettings settings_;
  std::unordered_map<std::string, Pending> pending_;
  reactor::Timer timer_;
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
