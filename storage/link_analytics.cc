#include "storage/link_analytics.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/crypto.h"
#include "storage/iso_time.h"

namespace recgw::storage {
namespace {

// One token's interval, applied atomically. KEYS: stats hash, all-time clients, this
// hour's clients, the session's set of token hashes, this hour's leak flag. ARGV: opens,
// bytes, furthest, size, first ms, last ms, token hash, session id, hour key TTL, leak
// limit, retention s, then the hashed client addresses. Returns {hour's clients, flagged}.
constexpr const char* kFlushScript = R"lua(
local s = KEYS[1]
redis.call('HINCRBY', s, 'opens', ARGV[1])
redis.call('HINCRBY', s, 'bytes', ARGV[2])
if tonumber(ARGV[3]) > tonumber(redis.call('HGET', s, 'furthest') or '0') then
  redis.call('HSET', s, 'furthest', ARGV[3]) end
if tonumber(ARGV[4]) > 0 then redis.call('HSET', s, 'size', ARGV[4]) end
local first = redis.call('HGET', s, 'first')
if not first or tonumber(ARGV[5]) < tonumber(first) then redis.call('HSET', s, 'first', ARGV[5]) end
if tonumber(ARGV[6]) > tonumber(redis.call('HGET', s, 'last') or '0') then
  redis.call('HSET', s, 'last', ARGV[6]) end
if ARGV[8] ~= '' then
  redis.call('HSET', s, 'session_id', ARGV[8])
  redis.call('SADD', KEYS[4], ARGV[7])
  redis.call('EXPIRE', KEYS[4], ARGV[11])
end
if #ARGV >= 12 then
  local clients = {}
  for i = 12, #ARGV do clients[#clients + 1] = ARGV[i] end
  redis.call('PFADD', KEYS[2], unpack(clients))
  redis.call('PFADD', KEYS[3], unpack(clients))
  redis.call('EXPIRE', KEYS[3], ARGV[9])
end
redis.call('EXPIRE', s, ARGV[11])
redis.call('EXPIRE', KEYS[2], ARGV[11])
local n = redis.call('PFCOUNT', KEYS[3])
local flagged = 0
if n > tonumber(ARGV[10]) and redis.call('SET', KEYS[5], n, 'NX', 'EX', ARGV[9]) then
  flagged = 1
  redis.call('HINCRBY', s, 'leak_warnings', 1)
  redis.call('HSET', s, 'leak_clients', n, 'leak_at', ARGV[6])
end
return {n, flagged}
)lua";

int64_t field(const RedisReply& hash, const char* name) {
  for (size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    if (hash.elements[i].text == name) {
      try {
        return std::stoll(hash.elements[i + 1].text);
      } catch (...) {
        return 0;
      }
    }
  }
  return 0;
}

std::string textField(const RedisReply& hash, const char* name) {
  for (size_t i = 0; i + 1 < hash.elements.size(); i += 2)
    if (hash.elements[i].text == name) return hash.elements[i + 1].text;
  return {};
}

std::string hashClient(const std::string& address) {
  // Only "seen before or not" matters: the address itself is never stored.
  return crypto::sha256Hex("recgw-link-client:" + address).substr(0, 32);
}

}  // namespace

std::optional<double> LinkStats::playedFraction() const {
  if (objectSize <= 0) return std::nullopt;
  return std::min(1.0, static_cast<double>(furthest) / static_cast<double>(objectSize));
}

std::string linkStatsKey(const std::string& tokenSha256) { return "recgw:stats:" + tokenSha256; }
std::string linkStatsSessionKey(const std::string& sessionId) { return "recgw:stats:sid:" + sessionId; }

LinkStats decodeLinkStats(const std::string& tokenSha256, const RedisReply& hash, const RedisReply& clients) {
  LinkStats s;
  s.tokenSha256 = tokenSha256;
  s.sessionId = textField(hash, "session_id");
  s.opens = field(hash, "opens");
  s.bytes = field(hash, "bytes");
  s.furthest = field(hash, "furthest");
  s.objectSize = field(hash, "size");
  s.firstAccessMs = field(hash, "first");
  s.lastAccessMs = field(hash, "last");
  s.leakWarnings = field(hash, "leak_warnings");
  s.leakClients = field(hash, "leak_clients");
  s.leakAtMs = field(hash, "leak_at");
  s.uniqueClients = clients.kind == RedisReply::Kind::kInteger ? clients.integer : 0;
  return s;
}

std::string renderLinkStatsJson(const std::string& sessionId, const std::vector<LinkStats>& links) {
  reactor::JsonWriter w;
  w.beginObject().field("session_id", sessionId).key("links").beginArray();
  for (const auto& s : links) {
    w.beginObject()
        .field("token_sha256", s.tokenSha256)
        .field("opens", s.opens)
        .field("unique_clients", s.uniqueClients)
        .field("bytes_sent", s.bytes)
        .field("furthest_byte", s.furthest);
    w.key("object_size");
    s.objectSize > 0 ? w.value(s.objectSize) : w.null();
    w.key("played_fraction");
    if (auto f = s.playedFraction())
      w.value(*f);
    else
      w.null();
    w.key("first_access");
    s.firstAccessMs > 0 ? w.value(formatIsoMillis(s.firstAccessMs)) : w.null();
    w.key("last_access");
    s.lastAccessMs > 0 ? w.value(formatIsoMillis(s.lastAccessMs)) : w.null();
    w.key("suspected_leak").beginObject().field("warnings", s.leakWarnings);
    if (s.leakWarnings > 0)
      w.field("clients_in_hour", s.leakClients).field("at", formatIsoMillis(s.leakAtMs));
    w.endObject();
    w.endObject();
  }
  w.endArray().endObject();
  return w.take();
}

std::string renderLinkStatsTable(const std::string& sessionId, const std::vector<LinkStats>& links) {
  std::string out = "stats of " + sessionId + ": " + std::to_string(links.size()) + " link(s)\n";
  if (links.empty()) return out + "no access recorded\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-14s %7s %8s %12s %12s %7s %-24s %-24s %s\n", "token (sha256)", "opens",
                "clients", "bytes", "furthest", "played", "first access", "last access", "leak");
  out += line;
  for (const auto& s : links) {
    std::string played = "-";
    if (auto f = s.playedFraction()) {
      char pct[16];
      std::snprintf(pct, sizeof pct, "%.0f %%", *f * 100);
      played = pct;
    }
    std::string leak =
        s.leakWarnings > 0 ? "SUSPECTED (" + std::to_string(s.leakClients) + " clients/h)" : "no";
    std::snprintf(line, sizeof line,
                  "%-14s %7" PRId64 " %8" PRId64 " %12" PRId64 " %12" PRId64 " %7s %-24s %-24s %s\n",
                  (s.tokenSha256.substr(0, 12) + "…").c_str(), s.opens, s.uniqueClients, s.bytes, s.furthest,
                  played.c_str(), s.firstAccessMs ? formatIsoMillis(s.firstAccessMs).c_str() : "-",
                  s.lastAccessMs ? formatIsoMillis(s.lastAccessMs).c_str() : "-", leak.c_str());
    out += line;
  }
  return out;
}

LinkAnalytics::LinkAnalytics(reactor::EventLoop& loop, RedisClient* redis, reactor::Metrics& metrics,
                             LinkAnalyticsSettings settings)
    : loop_(loop), redis_(redis), metrics_(metrics), settings_(settings), timer_(loop, [this] { flush(); }) {
  using T = reactor::Metrics::Type;
  metrics_.describe("recgw_link_opens_total", T::kCounter,
                    "Public link opens (GET without Range or from byte 0)");
  metrics_.describe("recgw_link_bytes_total", T::kCounter, "Body bytes sent on public links");
  metrics_.describe("recgw_links_suspected_leaked_total", T::kCounter,
                    "Link-hours in which one link was fetched from more than "
                    "analytics.leak_clients_per_hour addresses");
  metrics_.describe("recgw_link_analytics_flushes_total", T::kCounter,
                    "Analytics flushes to Redis, by outcome");
  metrics_.describe("recgw_link_analytics_dropped_total", T::kCounter,
                    "Link hits not counted (Redis disabled, or over the per-interval token cap)");
  timer_.startPeriodic(settings_.flushInterval);
}

void LinkAnalytics::setSettings(LinkAnalyticsSettings settings) {
  bool newInterval = settings.flushInterval != settings_.flushInterval;
  settings_ = settings;
  if (newInterval) timer_.startPeriodic(settings_.flushInterval);
}

void LinkAnalytics::record(const std::string& token, const std::string& sessionId,
                           const std::string& clientAddress, const LinkHit& hit, int64_t nowMs) {
  if (hit.open) metrics_.inc("recgw_link_opens_total");
  if (hit.bytes) metrics_.inc("recgw_link_bytes_total", {}, static_cast<double>(hit.bytes));
  if (!redis_) return;
  auto it = pending_.find(token);
  if (it == pending_.end()) {
    if (pending_.size() >= settings_.maxTokens) {
      metrics_.inc("recgw_link_analytics_dropped_total");
      return;
    }
    it = pending_.emplace(token, Pending{}).first;
    it->second.firstMs = nowMs;
  }
  Pending& p = it->second;
  if (p.sessionId.empty()) p.sessionId = sessionId;
  p.opens += hit.open ? 1 : 0;
  p.bytes += hit.bytes;
  p.furthest = std::max(p.furthest, hit.furthest);
  if (hit.objectSize) p.objectSize = hit.objectSize;
  p.lastMs = nowMs;
  if (!clientAddress.empty() && p.clients.size() < settings_.maxClientsPerToken)
    p.clients.insert(clientAddress);
}

void LinkAnalytics::flush() {
  if (pending_.empty() || !redis_) return;
  if (!redis_->connected()) {
    // Kept for the next interval, up to the caps: a short Redis outage loses nothing.
    metrics_.inc("recgw_link_analytics_flushes_total", reactor::Metrics::label("outcome", "redis_down"));
    return;
  }
  std::unordered_map<std::string, Pending> batch;
  batch.swap(pending_);
  int64_t nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::string hour = std::to_string(nowMs / 3600000);
  std::string hourTtl = std::to_string(2 * 3600);
  std::string limit = std::to_string(settings_.leakClientsPerHour);
  std::string retention = std::to_string(settings_.retention.count());
  for (auto& [token, p] : batch) {
    std::string hash = crypto::sha256Hex(token);
    std::string stats = linkStatsKey(hash);
    std::vector<std::string> args = {
        "EVAL",
        kFlushScript,
        "5",
        stats,
        stats + ":clients",
        stats + ":clients:" + hour,
        p.sessionId.empty() ? stats + ":nosession" : linkStatsSessionKey(p.sessionId),
        stats + ":leak:" + hour,
        std::to_string(p.opens),
        std::to_string(p.bytes),
        std::to_string(p.furthest),
        std::to_string(p.objectSize),
        std::to_string(p.firstMs),
        std::to_string(p.lastMs),
        hash,
        p.sessionId,
        hourTtl,
        limit,
        retention};
    for (const auto& client : p.clients) args.push_back(hashClient(client));
    // Every EVAL goes out now, without waiting for the previous answer: one pipelined burst.
    redis_->command(std::move(args), [this, alive = reactor::LivenessWatch(alive_), hash,
                                      session = p.sessionId](const RedisReply& reply) {
      if (alive.expired()) return;
      int64_t hourClients =
          reply.kind == RedisReply::Kind::kArray && !reply.elements.empty() ? reply.elements[0].integer : 0;
      onFlushed(hash, session, reply, hourClients);
    });
  }
}

void LinkAnalytics::onFlushed(const std::string& tokenHash, const std::string& sessionId,
                              const RedisReply& reply, int64_t hourClients) {
  if (!reply.ok()) {
    metrics_.inc("recgw_link_analytics_flushes_total", reactor::Metrics::label("outcome", "error"));
    reactor::logWarn("link analytics: a flush failed; that interval of this link is lost",
                     {{"error", reply.text}});
    return;
  }
  metrics_.inc("recgw_link_analytics_flushes_total", reactor::Metrics::label("outcome", "ok"));
  bool flagged = reply.elements.size() >= 2 && reply.elements[1].integer == 1;
  if (!flagged) return;
  metrics_.inc("recgw_links_suspected_leaked_total");
  reactor::logWarn(
      "link suspected leaked: fetched from more distinct client addresses in an hour than "
      "analytics.leak_clients_per_hour",
      {{"session_id", sessionId},
       {"token_sha256_prefix", tokenHash.substr(0, 12)},
       {"clients_this_hour", std::to_string(hourClients)},
       {"limit", std::to_string(settings_.leakClientsPerHour)}});
}

}  // namespace recgw::storage
