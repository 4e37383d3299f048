#pragma once
// Per-link analytics on the public route, and their admin view (README, "Link analytics"):
//   GET /api/v1/admin/recordings/{session_id}/stats   every token the call had: opens,
//                                                     unique clients, bytes, furthest byte
//                                                     and fraction, first/last access, leak
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "handlers/jwt_verifier.h"
#include "handlers/stream_relay.h"
#include "reactor/http_server.h"
#include "storage/link_analytics.h"
#include "storage/redis_client.h"

namespace recgw::handlers {

// Counts this public request in `analytics` when its response completes (HEAD is not
// counted; only 200, 206, 302 and 304 answers are). The client address is the one the
// failed-lookup limit uses: X-Forwarded-For only from server.trusted_proxies.
void watchLinkHit(reactor::HttpExchange& ex, storage::LinkAnalytics& analytics, const std::string& token,
                  const std::string& sessionId, const ClientConditions& conditions,
                  const std::vector<std::string>& trustedProxies);

struct LinkStatsContext {
  storage::RedisClient* redis = nullptr;  // null: 503
  const JwtVerifier* jwt = nullptr;
};

void registerLinkStatsRoute(reactor::HttpServer& server, std::shared_ptr<LinkStatsContext> context);

}  // namespace recgw::handlers
