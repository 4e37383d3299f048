#pragma once
// URLs instead of bytes (README, "Routes"):
//   POST /v1/call-recording/signed-url                 {"call_id","expiration_url_in_minutes"}
//   GET  /api/v1/sessions/{id}/recording               X-Account-ID, 5-minute URL (alias
//                                                      /v1/sessions/{id}/recording); errors are
//                                                      JSON strings there
//   POST /api/v1/admin/recordings/{session_id}/token   mint or rotate the public token;
//                                                      optional {"expires_in_s"} or {"expires_at"}
//   DELETE /api/v1/admin/recordings/{session_id}/token revoke it (410 link_revoked from then on)
//   POST /api/v1/admin/calls/accessible-urls           {"session_ids": [...]}: a playable URL per call
// The tenant routes take a JWT or an API key (handlers/api_key_auth.h).
//
// Where the object is decides the URL: storage (HEAD) first → a presigned URL; else each
// fleet host in turn (HEAD with the fleet secret) → the gateway's own public link, which
// streams from that host; nowhere → no URL (404). A source that fails (not a 404) makes
// "nowhere" unknowable: then the answer is 503 (500 on the session route), never a link
// that would 404.
#include <memory>
#include <string>

#include "handlers/api_key_auth.h"
#include "handlers/recordings.h"
#include "reactor/curl_multi.h"
#include "storage/lookup_cache.h"
#include "storage/mongo_client.h"

namespace recgw::handlers {

struct SignedUrlContext {
  std::shared_ptr<RecordingsContext> recordings;  // signer, JWT, source chain settings
  storage::MongoClient* mongo = nullptr;
  std::string callsCollection = "calls";
  storage::LookupCache* cache = nullptr;
  reactor::CurlMulti* curl = nullptr;
  ApiKeyVerifier* apiKeys = nullptr;  // null: API keys are refused (401)
  std::string publicBaseUrl;
  std::string revokedCollection = "revoked_links";  // public.revoked_collection
  // Calls of one accessible-urls request whose sources are being asked at the same time.
  size_t locateConcurrency = 8;
};

void registerSignedUrlRoutes(reactor::HttpServer& server, std::shared_ptr<SignedUrlContext> context);

// The compatible 422 body: {"detail": [{"loc": [...], "msg": ..., "type": ...}]}.
std::string validationErrorBody(const std::vector<std::string>& loc, std::string_view msg,
                                std::string_view type);

// The optional body of POST …/token: {"expires_in_s": N} or {"expires_at": ISO 8601}, at
// most one of them; an empty body mints a link without expiry. Pure; exposed for tests.
struct MintRequest {
  int64_t expiresAtMs = 0;  // 0: the link does not expire
  std::string error;        // non-empty: 400 with this message
};
inline constexpr int64_t kMaxLinkLifetimeS = 10LL * 366 * 24 * 3600;
MintRequest parseMintRequest(std::string_view body, int64_t nowMs);

// At most this many session ids per accessible-urls request.
inline constexpr size_t kMaxAccessibleUrlIds = 500;

}  // namespace recgw::handlers
