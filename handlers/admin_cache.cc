#include "handlers/admin_cache.h"

#include <simdjson.h>

#include "handlers/recordings.h"
#include "reactor/json_reader.h"
#include "reactor/exchange_ref.h"
#include "reactor/json_writer.h"
#include "storage/iso_time.h"

namespace recgw::handlers {

WarmRequest parseWarmRequest(std::string_view body, size_t maxItems) {
  WarmRequest req;
  simdjson::dom::parser parser;
  auto parsed = reactor::parseJsonObject(parser, body);
  if (!parsed) {
    req.error = "the body must be a JSON object";
    return req;
  }
  simdjson::dom::object obj = *parsed;
  int forms = 0;
  for (const char* name : {"tokens", "session_ids"}) {
    simdjson::dom::array list;
    auto field = obj[name];
    if (field.error() == simdjson::NO_SUCH_FIELD) continue;
    ++forms;
    if (field.get_array().get(list)) {
      req.error = std::string(name) + " must be an array of strings";
      return req;
    }
    req.field =
        std::string_view(name) == "tokens" ? storage::LookupField::kToken : storage::LookupField::kSessionId;
    for (auto item : list) {
      std::string_view v;
      if (item.get_string().get(v) || v.empty() || v.size() > 256) {
        req.error = std::string(name) + " must hold non-empty strings of at most 256 bytes";
        return req;
      }
      req.values.emplace_back(v);
      if (req.values.size() > maxItems) {
        req.error = "at most " + std::to_string(maxItems) + " items per request";
        return req;
      }
    }
  }
  auto sinceField = obj["since"];
  if (sinceField.error() != simdjson::NO_SUCH_FIELD) {
    ++forms;
    std::string_view text;
    if (sinceField.get_string().get(text)) {
      req.error = "since must be an ISO 8601 date string";
      return req;
    }
    req.since = storage::parseIsoInstant(text);
    if (!req.since) {
      req.error = "since is not an ISO 8601 date (e.g. 2024-05-01T00:00:00Z)";
      return req;
    }
    auto untilField = obj["until"];
    if (untilField.error() != simdjson::NO_SUCH_FIELD) {
      if (untilField.get_string().get(text) || !(req.until = storage::parseIsoInstant(text))) {
        req.error = "until is not an ISO 8601 date (e.g. 2024-05-01T06:00:00Z)";
        return req;
      }
    }
    auto limitField = obj["limit"];
    if (limitField.error() != simdjson::NO_SUCH_FIELD) {
      int64_t limit = 0;
      if (limitField.get_int64().get(limit) || limit < 1 || static_cast<size_t>(limit) > maxItems) {
        req.error = "limit must be an integer from 1 to " + std::to_string(maxItems);
        return req;
      }
      req.limit = static_cast<size_t>(limit);
    }
  }
  if (forms != 1) req.error = "give exactly one of tokens, session_ids or since";
  return req;
}

namespace {

// Writes warmed records into the cache a window at a time, so Redis sees a pipeline and
// never more than `window` commands in flight from this request.
struct WarmPump : std::enable_shared_from_this<WarmPump> {
  storage::LookupCache* cache = nullptr;
  reactor::ExchangeRef request;
  std::vector<storage::WarmItem> items;
  size_t missing = 0;
  size_t next = 0;
  size_t inFlight = 0;
  size_t stored = 0;
  size_t failed = 0;
  static constexpr size_t kWindow = 512;

  void pump() {
    auto self = shared_from_this();
    while (inFlight < kWindow && next < items.size()) {
      const auto& item = items[next++];
      ++inFlight;
      cache->store(item.field, item.value, item.record, [self](bool ok) {
        --self->inFlight;
        (ok ? self->stored : self->failed) += 1;
        self->pump();
      });
    }
    if (inFlight == 0 && next == items.size()) finish();
  }

  void finish() {
    request.with([&](reactor::HttpExchange& ex) {
      size_t calls = 0;
      for (const auto& item : items)
        calls += item.record.outcome == storage::CallRecord::Outcome::kFound ? 1 : 0;
      reactor::JsonWriter w;
      w.beginObject()
          .field("warmed", static_cast<uint64_t>(stored))
          .field("missing", static_cast<uint64_t>(missing))
          .field("without_recording", static_cast<uint64_t>(items.size() - calls))
          .field("redis_failed", static_cast<uint64_t>(failed))
          .endObject();
      ex.reply(200, w.str());
    });
  }
};

// GET /api/v1/admin/cache/stats: this worker's object cache, named by storage keys only.
void replyObjectCacheStats(reactor::HttpExchange& ex, const AdminCacheContext& ctx) {
  if (!requireAdmin(ex, ctx.jwt)) return;
  constexpr size_t kTopEntries = 20;
  reactor::JsonWriter w;
  w.beginObject();
  if (!ctx.objects || !ctx.objects->cache().enabled()) {
    w.field("enabled", false).endObject();
    return ex.reply(200, w.str());
  }
  const storage::ObjectCache& cache = ctx.objects->cache();
  const storage::ObjectCacheSettings& s = cache.settings();
  w.field("enabled", true)
      .field("budget_bytes", static_cast<uint64_t>(s.budgetBytes))
      .field("object_max_bytes", static_cast<uint64_t>(s.maxObjectBytes))
      .field("object_fresh_s", static_cast<int64_t>(s.fresh.count()))
      .field("object_admit_after", static_cast<uint64_t>(s.admitAfter))
      .field("bytes", static_cast<uint64_t>(cache.bytes()))
      .field("entries", static_cast<uint64_t>(cache.entries()))
      .field("evictions", cache.evictions());
  w.key("top").beginArray();
  for (const auto& e : cache.top(kTopEntries)) {
    w.beginObject()
        .field("key", e.key)
        .field("hits", e.hits)
        .field("bytes", static_cast<uint64_t>(e.bytes))
        .field("etag", e.etag)
        .field("validated_s_ago", static_cast<int64_t>(e.age.count()))
        .endObject();
  }
  w.endArray().endObject();
  ex.reply(200, w.str());
}

}  // namespace

void registerAdminCacheRoutes(reactor::HttpServer& server, std::shared_ptr<AdminCacheContext> ctx) {
  server.route(
      reactor::kDelete, "/api/v1/admin/cache/{id}", "admin_cache_evict", [ctx](reactor::HttpExchange& ex) {
        if (!requireAdmin(ex, ctx->jwt)) return;
        const std::string& id = ex.pathParams()[0];
        if (!isSafePathParam(id)) return ex.replyError(400, "bad_request", "invalid token or session id");
        // The object it reached, by the names requests used for it. A session id whose
        // object was only ever reached by token is looked up (after the eviction
        // below, so from MongoDB's current answer) and the reply waits for it; not
        // when the cache is empty or a name already found it.
        ObjectServer* objects = ctx->objects;
        bool lookUpKey = false;
        if (objects) {
          const bool byToken = objects->dropAlias(storage::cacheKey(storage::LookupField::kToken, id));
          const bool bySession = objects->dropAlias(storage::cacheKey(storage::LookupField::kSessionId, id));
          lookUpKey = !byToken && !bySession && objects->cache().entries() > 0;
        }
        auto pending = std::make_shared<int>(lookUpKey ? 3 : 2);
        auto redisOk = std::make_shared<bool>(true);
        reactor::ExchangeRef request(ex);
        auto done = [pending, redisOk, request](bool ok) {
          *redisOk = *redisOk && ok;
          if (--*pending > 0) return;
          request.with([&](reactor::HttpExchange& ex) {
            reactor::JsonWriter w;
            w.beginObject().field("evicted", true).field("redis", *redisOk).endObject();
            ex.reply(200, w.str());
          });
        };
        // The id may be a token or a session id; both readings are dropped.
        ctx->cache->evict(storage::LookupField::kToken, id, done);
        ctx->cache->evict(storage::LookupField::kSessionId, id, done);
        if (lookUpKey) {
          ctx->cache->resolve(
              storage::LookupField::kSessionId, id,
              [objects, done](storage::CallRecord record, std::string, std::string) {
                if (record.outcome == storage::CallRecord::Outcome::kFound && !record.key.empty())
                  objects->dropObject(record.key);
                done(true);
              });
        }
      });

  server.route(reactor::kGet, "/api/v1/admin/cache/stats", "admin_cache_stats",
               [ctx](reactor::HttpExchange& ex) { replyObjectCacheStats(ex, *ctx); });

  server.route(
      reactor::kPost, "/api/v1/admin/cache/warm", "admin_cache_warm", [ctx](reactor::HttpExchange& ex) {
        if (!requireAdmin(ex, ctx->jwt)) return;
        WarmRequest req = parseWarmRequest(ex.body(), ctx->maxWarmItems);
        if (!req.error.empty()) return ex.replyError(400, "bad_request", req.error);
        reactor::ExchangeRef request(ex);
        storage::LookupCache* cache = ctx->cache;
        std::string database = ctx->mongo->databaseName();
        std::string collection = ctx->callsCollection;
        bool queued = ctx->mongo->run([req, database, collection, request, cache](mongoc_client_t* client) {
          storage::WarmBatch batch =
              req.since
                  ? storage::CallStore::findSinceBlocking(client, database, collection, *req.since, req.limit,
                                                          req.until)
                  : storage::CallStore::findManyBlocking(client, database, collection, req.field, req.values);
          return reactor::WorkerPool::Completion([batch = std::move(batch), request, cache]() mutable {
            request.with([&](reactor::HttpExchange& ex) {
              if (!batch.error.empty()) {
                ex.addHeader("Retry-After", "5");
                return ex.replyError(503, "mongo_unavailable",
                                     "MongoDB failed during warm-up: " + batch.error);
              }
              auto pump = std::make_shared<WarmPump>();
              pump->cache = cache;
              pump->request = request;
              pump->items = std::move(batch.found);
              pump->missing = batch.missing;
              pump->pump();
            });
          });
        });
        if (!queued) {
          ex.addHeader("Retry-After", "5");
          ex.replyError(503, "busy", "the MongoDB queue is full");
        }
      });
}

}  // namespace recgw::handlers
