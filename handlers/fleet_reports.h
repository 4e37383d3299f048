#pragma once
// POST /api/v1/fleet/recordings: a fleet host reports a recording it has finished uploading.
// The report is signed with the fleet secret (X-CXBCore-Signature: t=<unix>,v1=<hex
// HMAC-SHA256 of "<t>.<body>">), so a captured report cannot be replayed after
// fleet.report_skew_s or altered. The object is checked first (HEAD on storage; else on
// the reporting fleet host, or each fleet host), then the call is updated idempotently
// (recording_key, recording_status "ready", a public token when it has none) and both
// lookup tiers are filled, so the public link plays at once without a MongoDB query.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/recordings.h"
#include "reactor/curl_multi.h"
#include "reactor/metrics.h"
#include "storage/call_store.h"
#include "storage/lookup_cache.h"
#include "storage/mongo_client.h"
#include "storage/s3_objects.h"

namespace recgw::handlers {

inline constexpr const char* kFleetSignatureHeader = "X-CXBCore-Signature";

struct FleetReportContext {
  std::shared_ptr<RecordingsContext> recordings;  // signer, storage settings, fleet secret
  storage::MongoClient* mongo = nullptr;
  std::string callsCollection = "calls";
  std::string revokedCollection;  // public.revoked_collection: a revoked call gets no new token
  storage::LookupCache* cache = nullptr;
  reactor::CurlMulti* curl = nullptr;
  std::unique_ptr<storage::S3Objects> objects;
  reactor::Metrics* metrics = nullptr;
  std::string publicBaseUrl;
  int64_t reportSkewS = 300;  // fleet.report_skew_s; SIGHUP updates it
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

// ---- pure parts (unit-tested) ----------------------------------------------------------------

struct ReportSignature {
  int64_t timestamp = 0;
  std::vector<std::string> macs;  // lower-case hex, each 64 characters
};

// "t=<unix seconds>,v1=<hex>[,v1=<hex>…]" (spaces after commas allowed; unknown schemes
// ignored). nullopt when t or every v1 is missing or malformed.
std::optional<ReportSignature> parseReportSignature(std::string_view header);

// The hex HMAC-SHA256 a fleet host sends for `body` signed at `timestamp`.
std::string signReport(std::string_view secret, int64_t timestamp, std::string_view body);

struct SignatureCheck {
  enum class Result { kOk, kMissing, kMalformed, kExpired, kMismatch };
  Result result = Result::kMissing;
  std::string message;  // for the 401 body: never the secret or the expected MAC
};

// Checks the header against the body, the secret and the clock (within skewSeconds either
// way). The MACs are compared in constant time.
SignatureCheck checkReportSignature(const char* header, std::string_view body, std::string_view secret,
                                    std::chrono::system_clock::time_point now, int64_t skewSeconds);

struct UploadReport {
  storage::UploadFacts facts;
  std::string fleetHost;  // optional: the reporting host's base URL as configured in fleet.urls
};

struct ReportParse {
  std::optional<UploadReport> report;
  std::string field;  // the offending field when report is empty
  std::string message;
};

ReportParse parseUploadReport(std::string_view body);

// Index of `host` in `fleetUrls` (a trailing '/' on either side ignored), or nullopt.
std::optional<size_t> findFleetHost(const std::vector<std::string>& fleetUrls, std::string_view host);

void registerFleetReportRoutes(reactor::HttpServer& server, std::shared_ptr<FleetReportContext> context);

}  // namespace recgw::handlers
