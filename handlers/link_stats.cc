#include "handlers/link_stats.h"

#include <algorithm>

#include "handlers/failed_lookup_limiter.h"
#include "handlers/recordings.h"
#include "reactor/exchange_ref.h"
#include "storage/bson_fields.h"

namespace recgw::handlers {
namespace {}  // namespace

void watchLinkHit(reactor::HttpExchange& ex, storage::LinkAnalytics& analytics, const std::string& token,
                  const std::string& sessionId, const ClientConditions& conditions,
                  const std::vector<std::string>& trustedProxies) {
  if (conditions.head) return;
  bool open =
      !conditions.range || (conditions.range->kind != ByteRange::kSuffix && conditions.range->first == 0);
  std::string client = clientAddress(ex.peerAddress(), ex.header("X-Forwarded-For"), trustedProxies);
  ex.setOnComplete([target = &analytics, alive = analytics.watch(), token, sessionId, client,
                    open](reactor::HttpExchange& ex) {
    if (alive.expired()) return;
    int status = ex.status();
    if (status != 200 && status != 206 && status != 302 && status != 304) return;
    storage::LinkHit hit;
    hit.open = open;
    hit.bytes = ex.bodyBytesSent();
    uint64_t first = 0;
    if (status == 206) {
      auto range = parseContentRange(ex.contentRangeSent());
      if (range && !range->unsatisfied) {
        first = range->first;
        hit.objectSize = range->completeLength.value_or(0);
      }
    } else if (status == 200) {
      hit.objectSize = ex.contentLengthSent().value_or(0);
    }
    hit.furthest = hit.bytes ? first + hit.bytes : 0;
    target->record(token, sessionId, client, hit,
                   storage::fields::toMillis(std::chrono::system_clock::now()));
  });
}

namespace {

// Reads every link of a session: SMEMBERS, then HGETALL + PFCOUNT per token (pipelined).
struct StatsRead : std::enable_shared_from_this<StatsRead> {
  reactor::ExchangeRef request;
  storage::RedisClient* redis = nullptr;
  std::string sessionId;
  std::vector<std::string> hashes;
  std::vector<storage::RedisReply> hashReplies, countReplies;
  size_t waiting = 0;
  std::string failure;

  void start() {
    auto self = shared_from_this();
    auto members = [self](const storage::RedisReply& r) {
      if (!r.ok()) return self->fail(r.text);
      for (const auto& e : r.elements) self->hashes.push_back(e.text);
      std::sort(self->hashes.begin(), self->hashes.end());
      self->readEach();
    };
    redis->command({"SMEMBERS", storage::linkStatsSessionKey(sessionId)}, std::move(members));
  }

  void readEach() {
    hashReplies.resize(hashes.size());
    countReplies.resize(hashes.size());
    waiting = hashes.size() * 2;
    if (waiting == 0) return finish();
    auto self = shared_from_this();
    for (size_t i = 0; i < hashes.size(); ++i) {
      std::string key = storage::linkStatsKey(hashes[i]);
      redis->command({"HGETALL", key},
                     [self, i](const storage::RedisReply& r) { self->landed(self->hashReplies[i], r); });
      redis->command({"PFCOUNT", key + ":clients"},
                     [self, i](const storage::RedisReply& r) { self->landed(self->countReplies[i], r); });
    }
  }

  void landed(storage::RedisReply& slot, const storage::RedisReply& reply) {
    if (!reply.ok() && failure.empty()) failure = reply.text;
    slot = reply;
    if (--waiting == 0) finish();
  }

  void fail(const std::string& why) {
    failure = why;
    finish();
  }

  void finish() {
    request.with([&](reactor::HttpExchange& ex) {
      if (!failure.empty()) {
        ex.addHeader("Retry-After", "5");
        return ex.replyError(503, "analytics_unavailable", "Redis could not be read: " + failure);
      }
      std::vector<storage::LinkStats> links;
      for (size_t i = 0; i < hashes.size(); ++i)
        links.push_back(storage::decodeLinkStats(hashes[i], hashReplies[i], countReplies[i]));
      ex.reply(200, storage::renderLinkStatsJson(sessionId, links));
    });
  }
};

}  // namespace

void registerLinkStatsRoute(reactor::HttpServer& server, std::shared_ptr<LinkStatsContext> ctx) {
  server.route(reactor::kGet, "/api/v1/admin/recordings/{session_id}/stats", "admin_link_stats",
               [ctx](reactor::HttpExchange& ex) {
                 if (!requireAdmin(ex, ctx->jwt)) return;
                 const std::string& sessionId = ex.pathParams()[0];
                 if (!isSafePathParam(sessionId)) return ex.replyError(404, "not_found", "no such call");
                 if (!ctx->redis || !ctx->redis->connected()) {
                   ex.addHeader("Retry-After", "5");
                   return ex.replyError(503, "analytics_unavailable",
                                        "link analytics live in Redis, which is not connected");
                 }
                 auto read = std::make_shared<StatsRead>();
                 read->request = reactor::ExchangeRef(ex);
                 read->redis = ctx->redis;
                 read->sessionId = sessionId;
                 read->start();
               });
}

}  // namespace recgw::handlers
