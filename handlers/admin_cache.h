#pragma once
// Admin cache routes (README, "Routes"):
//   DELETE /api/v1/admin/cache/{token-or-session}  evict from L1 and Redis (both readings),
//                                                  and the object it reached from this
//                                                  worker's object cache
//   GET    /api/v1/admin/cache/stats               this worker's object cache: totals and the
//                                                  top entries by hits (storage keys, never tokens)
//   POST   /api/v1/admin/cache/warm                {"tokens"|"session_ids": [...]} or
//                                                  {"since": ISO 8601, "limit": N}
//                                                  (+ "until": ISO 8601, exclusive)
#include <memory>

#include "handlers/jwt_verifier.h"
#include "handlers/object_serving.h"
#include "reactor/http_server.h"
#include "storage/lookup_cache.h"
#include "storage/mongo_client.h"

namespace recgw::handlers {

struct AdminCacheContext {
  storage::LookupCache* cache = nullptr;
  storage::MongoClient* mongo = nullptr;
  std::string callsCollection = "calls";
  const JwtVerifier* jwt = nullptr;
  size_t maxWarmItems = 100000;
  ObjectServer* objects = nullptr;  // null: no object cache (stats answer it off)
};

void registerAdminCacheRoutes(reactor::HttpServer& server, std::shared_ptr<AdminCacheContext> context);

// A warm-up request body, parsed. Pure; exposed for tests and fuzzing.
struct WarmRequest {
  storage::LookupField field = storage::LookupField::kToken;
  std::vector<std::string> values;
  std::optional<std::chrono::system_clock::time_point> since;
  std::optional<std::chrono::system_clock::time_point> until;  // with since: created before this
  size_t limit = 1000;
  std::string error;  // non-empty: 400 with this message
};
WarmRequest parseWarmRequest(std::string_view body, size_t maxItems);

}  // namespace recgw::handlers
