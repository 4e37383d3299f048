#pragma once
// URLs instead of bytes (SPEC §2.4):
//   POST /v1/call-recording/signed-url                 {"call_id","expiration_url_in_minutes"}
//   GET  /api/v1/sessions/{id}/recording               X-Account-ID, 5-minute URL
//   POST /api/v1/admin/recordings/{session_id}/token   mint or rotate the public token
// When the object is not in storage (only a fleet host has it) a presigned URL would 404,
// so the gateway's own public link is returned instead, with "url_kind" saying so.
#include <memory>
#include <string>

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
  std::string publicBaseUrl;
};

void registerSignedUrlRoutes(reactor::HttpServer& server, std::shared_ptr<SignedUrlContext> context);

// The compatible 422 body: {"detail": [{"loc": [...], "msg": ..., "type": ...}]}.
std::string validationErrorBody(const std::vector<std::string>& loc, std::string_view msg,
                                std::string_view type);

}  // namespace recgw::handlers
