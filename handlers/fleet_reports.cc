#include "handlers/fleet_reports.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "handlers/http_semantics.h"
#include "reactor/exchange_ref.h"
#include "reactor/json_reader.h"
#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/url_parts.h"
#include "storage/crypto.h"
#include "storage/public_link.h"
#include "storage/recording_token.h"
#include "storage/storage_settings.h"

namespace recgw::handlers {

namespace {

bool isLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view withoutTrailingSlash(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

constexpr size_t kMaxSessionIdBytes = 256;
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kMaxTextBytes = 256;

}  // namespace

std::optional<ReportSignature> parseReportSignature(std::string_view header) {
  ReportSignature out;
  bool haveTime = false;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view part = storage::trimSpace(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = part.substr(0, eq);
    std::string_view value = part.substr(eq + 1);
    if (name == "t") {
      if (haveTime || value.empty() || value.size() > 12) return std::nullopt;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out.timestamp);
      if (ec != std::errc() || end != value.data() + value.size() || out.timestamp < 0) return std::nullopt;
      haveTime = true;
    } else if (name == "v1") {
      std::string mac = lowered(value);
      if (mac.size() != 64 || !isLowerHex(mac)) return std::nullopt;
      if (out.macs.size() < 4) out.macs.push_back(std::move(mac));
    }
    // Other schemes (a future v2) are skipped, so a host can send both during a migration.
  }
  if (!haveTime || out.macs.empty()) return std::nullopt;
  return out;
}

std::string signReport(std::string_view secret, int64_t timestamp, std::string_view body) {
  std::string message = std::to_string(timestamp);
  message += '.';
  message.append(body);
  return crypto::hexLower(crypto::hmacSha256(secret, message));
}

SignatureCheck checkReportSignature(const char* header, std::string_view body, std::string_view secret,
                                    std::chrono::system_clock::time_point now, int64_t skewSeconds) {
  using R = SignatureCheck::Result;
  if (!header || !*header) return {R::kMissing, std::string(kFleetSignatureHeader) + " is required"};
  auto signature = parseReportSignature(header);
  if (!signature) {
    return {R::kMalformed, std::string(kFleetSignatureHeader) +
                               " must be t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">"};
  }
  int64_t nowS = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  int64_t age = nowS - signature->timestamp;
  if (age > skewSeconds || age < -skewSeconds) {
    return {R::kExpired, "the signature's time is " + std::to_string(age) + " s away from ours (at most " +
                             std::to_string(skewSeconds) + " s either way): a replay, or a clock to fix"};
  }
  std::string expected = signReport(secret, signature->timestamp, body);
  bool match = false;
  // Every candidate is compared in full, so the time taken does not say which one matched.
  for (const auto& mac : signature->macs) match = crypto::equalConstantTime(mac, expected) || match;
  if (!match) return {R::kMismatch, "the signature does not match the body and the fleet secret"};
  return {R::kOk, ""};
}

ReportParse parseUploadReport(std::string_view body) {
  ReportParse out;
  auto reject = [&out](std::string field, std::string message) {
    out.field = std::move(field);
    out.message = std::move(message);
    return out;
  };
  simdjson::dom::parser parser;
  auto parsed = reactor::parseJsonObject(parser, body);
  if (!parsed) return reject("", "the body must be a JSON object");
  simdjson::dom::object obj = *parsed;
  UploadReport report;

  auto requiredString = [&](const char* name, size_t maxBytes, std::string& into) -> bool {
    auto field = obj[name];
    if (field.error() == simdjson::NO_SUCH_FIELD) {
      reject(name, std::string(name) + " is required");
      return false;
    }
    std::string_view v;
    if (field.get_string().get(v) || v.empty() || v.size() > maxBytes) {
      reject(name, std::string(name) + " must be a non-empty string of at most " + std::to_string(maxBytes) +
                       " bytes");
      return false;
    }
    if (std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
      reject(name, std::string(name) + " must not contain control characters");
      return false;
    }
    into.assign(v);
    return true;
  };
  storage::UploadFacts& f = report.facts;
  if (!requiredString("session_id", kMaxSessionIdBytes, f.sessionId)) return out;
  if (!isSafePathParam(f.sessionId)) return reject("session_id", "session_id is not a valid session id");
  if (!requiredString("key", kMaxKeyBytes, f.key)) return out;
  if (f.key.front() == '/') return reject("key", "key is an object key inside the bucket: no leading '/'");

  auto size = obj["size"];
  if (size.error() == simdjson::NO_SUCH_FIELD) return reject("size", "size is required");
  uint64_t bytes = 0;
  if (size.get_uint64().get(bytes)) return reject("size", "size must be a non-negative integer (bytes)");
  f.size = bytes;

  if (!requiredString("etag", kMaxTextBytes, f.etag)) return out;
  if (!requiredString("content_type", kMaxTextBytes, f.contentType)) return out;

  simdjson::dom::element duration;
  if (obj["duration_s"].get(duration) == simdjson::SUCCESS && !duration.is_null()) {
    double seconds = 0;
    if (duration.get_double().get(seconds) || !std::isfinite(seconds) || seconds < 0)
      return reject("duration_s", "duration_s must be a non-negative number");
    f.durationS = seconds;
  }
  simdjson::dom::element host;
  if (obj["fleet_host"].get(host) == simdjson::SUCCESS && !host.is_null()) {
    if (!requiredString("fleet_host", kMaxKeyBytes, report.fleetHost)) return out;
  }
  out.report = std::move(report);
  return out;
}

std::optional<size_t> findFleetHost(const std::vector<std::string>& fleetUrls, std::string_view host) {
  std::string_view wanted = withoutTrailingSlash(host);
  for (size_t i = 0; i < fleetUrls.size(); ++i)
    if (withoutTrailingSlash(fleetUrls[i]) == wanted) return i;
  return std::nullopt;
}

namespace {

constexpr const char* kReportsMetric = "recgw_fleet_reports_total";

void count(FleetReportContext& ctx, std::string_view result) {
  if (ctx.metrics) ctx.metrics->inc(kReportsMetric, reactor::Metrics::label("result", result));
}

// ---- is the object where the report says? ----------------------------------------------------

struct Located {
  enum class Kind { kFound, kMismatch, kNotFound, kUnavailable };
  Kind kind = Kind::kNotFound;
  std::string source;  // "storage" or "fleet:N" (kFound)
  std::string reason;  // why not (shown to the fleet host: no secrets, no credentials)
};

// What the source answered against what the report says: "" when they agree.
std::string compareWithReport(const std::string& source, const storage::UploadFacts& facts,
                              const std::string* contentLength, std::string_view etag) {
  if (contentLength) {
    uint64_t size = 0;
    const char* first = contentLength->data();
    const char* last = first + contentLength->size();
    auto [end, ec] = std::from_chars(first, last, size);
    if (ec == std::errc() && end == last && size != facts.size) {
      return source + " holds " + std::to_string(size) + " bytes, the report says " +
             std::to_string(facts.size);
    }
  }
  if (!etag.empty() && storage::bareEtag(etag) != storage::bareEtag(facts.etag))
    return source + " has ETag " + std::string(etag) + ", the report says " + facts.etag;
  return "";
}

// Storage first (signed HEAD); when it does not hold the key, the reporting fleet host
// (or, without one named, each fleet host in order: HEAD with the fleet secret, GET cut
// after the headers when a host refuses HEAD).
class ReportLocator : public std::enable_shared_from_this<ReportLocator> {
 public:
  ReportLocator(std::shared_ptr<FleetReportContext> ctx, UploadReport report,
                std::function<void(Located)> done)
      : ctx_(std::move(ctx)),
        report_(std::move(report)),
        chain_(makeSourceChain(*ctx_->recordings, report_.facts.key)),
        done_(std::move(done)) {}

  void start() {
    StorageSigner& signer = *ctx_->recordings->signer;
    const storage::StorageSettings& settings = signer.settings();
    if (!settings.storageComplete()) {
      note("storage: not configured");
      return askFleet();
    }
    if (signer.credentialsUnavailable() || !signer.get()) {
      failed("storage: no valid credentials");
      return askFleet();
    }
    auto self = shared_from_this();
    ctx_->objects->head(settings.location(), report_.facts.key, *signer.get(),
                        [self](storage::S3Outcome outcome, storage::S3ObjectInfo info) {
                          self->storageAnswered(outcome, info);
                        });
  }

 private:
  void storageAnswered(const storage::S3Outcome& outcome, const storage::S3ObjectInfo& info) {
    if (outcome.ok()) {
      std::string length = std::to_string(info.size);
      std::string mismatch = compareWithReport("storage", report_.facts, &length, info.etag);
      if (!mismatch.empty()) return done_({Located::Kind::kMismatch, "", mismatch});
      return done_({Located::Kind::kFound, "storage", ""});
    }
    if (outcome.notFound()) {
      note("storage: not found");
    } else {
      failed("storage: " + outcome.reason);
    }
    askFleet();
  }

  void askFleet() {
    const auto& urls = ctx_->recordings->signer->settings().values.fleetUrls;
    if (!report_.fleetHost.empty()) {
      auto index = findFleetHost(urls, report_.fleetHost);
      if (!index) {
        note("fleet_host is not one of this gateway's fleet hosts");
        return finish();
      }
      candidates_.push_back("fleet:" + std::to_string(*index));
    } else {
      for (size_t i = 0; i < urls.size(); ++i) candidates_.push_back("fleet:" + std::to_string(i));
    }
    if (candidates_.empty()) note("no fleet hosts configured");
    askNext(false);
  }

  void askNext(bool asGet) {
    if (next_ >= candidates_.size()) return finish();
    const auto& sources = chain_.sources();
    auto it = std::find_if(sources.begin(), sources.end(),
                           [&](const fleet::Source& s) { return s.label == candidates_[next_]; });
    if (it == sources.end()) {
      failed(candidates_[next_] + ": gone from the settings");
      ++next_;
      return askNext(false);
    }
    size_t index = static_cast<size_t>(it - sources.begin());
    reactor::UpstreamRequest req = chain_.request(index, {}, false);
    req.headOnly = !asGet;
    struct Seen {
      long status = 0;
      std::optional<std::string> length, etag;
    };
    auto seen = std::make_shared<Seen>();
    reactor::TransferCallbacks cb;
    cb.onHeaders = [seen](const reactor::UpstreamResponse& r) {
      seen->status = r.status;
      if (const auto* v = r.find("content-length")) seen->length = *v;
      if (const auto* v = r.find("etag")) seen->etag = *v;
      return true;
    };
    // Only the headers matter: stop at the first body byte (a GET fallback's body).
    cb.onData = [](const char*, size_t) -> size_t { return 0; };
    auto self = shared_from_this();
    cb.onDone = [self, asGet, seen](const std::string& error) {
      const std::string* length = seen->length ? &*seen->length : nullptr;
      self->fleetAnswered(asGet, seen->status, length, seen->etag.value_or(""), error);
    };
    if (auto started = ctx_->curl->start(req, std::move(cb)); !started) {
      failed(candidates_[next_] + ": " + started.error().message);
      ++next_;
      askNext(false);
    }
  }

  void fleetAnswered(bool asGet, long status, const std::string* length, const std::string& etag,
                     const std::string& error) {
    const std::string label = candidates_[next_];
    if (status == 200) {
      std::string mismatch = compareWithReport(label, report_.facts, length, etag);
      if (!mismatch.empty()) return done_({Located::Kind::kMismatch, "", mismatch});
      return done_({Located::Kind::kFound, label, ""});
    }
    if (!asGet && (status == 405 || status == 501)) return askNext(true);
    if (status == 404) {
      note(label + ": not found");
    } else {
      failed(label + (status ? ": answered HTTP " + std::to_string(status) : ": " + error));
    }
    ++next_;
    askNext(false);
  }

  void note(const std::string& what) { reason_ += (reason_.empty() ? "" : "; ") + what; }
  void failed(const std::string& what) {
    anyFailed_ = true;
    note(what);
  }
  void finish() { done_({anyFailed_ ? Located::Kind::kUnavailable : Located::Kind::kNotFound, "", reason_}); }

  std::shared_ptr<FleetReportContext> ctx_;
  UploadReport report_;
  fleet::SourceChain chain_;
  std::function<void(Located)> done_;
  std::vector<std::string> candidates_;
  size_t next_ = 0;
  bool anyFailed_ = false;
  std::string reason_;
};

// ---- the call, then the caches ---------------------------------------------------------------

void replyRecorded(reactor::HttpExchange& ex, FleetReportContext& ctx, const storage::UploadRecorded& done) {
  reactor::JsonWriter w;
  w.beginObject().field("session_id", done.record.sessionId);
  if (done.record.accessToken.empty())
    w.key("public_url").null();  // the link was revoked: a report does not bring it back
  else
    w.field("public_url", storage::buildPublicRecordingUrl(ctx.publicBaseUrl, done.record.accessToken));
  w.field("token_created", done.tokenCreated);
  if (done.linkRevoked) w.field("link_revoked", true);
  w.endObject();
  count(ctx, done.tokenCreated ? "accepted_new_token" : "accepted");
  ex.reply(200, w.str());
}

// Fills L1 and Redis under the token and the session id, with where the object is, and
// answers once Redis has both (so another worker's first lookup finds them there too).
// Redis failing only costs the first lookups a MongoDB query: still a success.
void fillCachesAndReply(std::shared_ptr<FleetReportContext> ctx, reactor::ExchangeRef request,
                        storage::UploadRecorded done, std::string source) {
  struct Pending {
    int left = 2;
    bool redisOk = true;
  };
  auto pending = std::make_shared<Pending>();
  auto landed = [ctx, request, done, pending](bool ok) {
    pending->redisOk = pending->redisOk && ok;
    if (--pending->left > 0) return;
    request.with([&](reactor::HttpExchange& ex) {
      if (!pending->redisOk) {
        reactor::Logger::log(reactor::LogLevel::kInfo, ex.requestId(),
                             "upload report: Redis not updated (down or disabled); other workers ask "
                             "MongoDB once",
                             {});
      }
      replyRecorded(ex, *ctx, done);
    });
  };
  const storage::CallRecord& record = done.record;
  // What every worker of every gateway cached for this call (its lookups, and the bytes of an
  // object re-uploaded under the same key) is out of date: evictions go out on the
  // invalidation bus before this worker writes the new record.
  if (!record.sessionId.empty())
    ctx->cache->evict(storage::LookupField::kSessionId, record.sessionId, {}, "report", record.key);
  if (!record.accessToken.empty())
    ctx->cache->evict(storage::LookupField::kToken, record.accessToken, {}, "report", record.key);
  if (record.outcome != storage::CallRecord::Outcome::kFound || record.accessToken.empty()) {
    // A revoked link (no token was minted), or a record MongoDB did not give back whole:
    // answer without caching something partial; the next lookups ask MongoDB.
    request.with([&](reactor::HttpExchange& ex) { replyRecorded(ex, *ctx, done); });
    return;
  }
  ctx->cache->store(storage::LookupField::kToken, record.accessToken, record, landed, source);
  ctx->cache->store(storage::LookupField::kSessionId, record.sessionId, record, landed, source);
}

void recordUpload(std::shared_ptr<FleetReportContext> ctx, reactor::ExchangeRef request, UploadReport report,
                  std::string source) {
  std::string database = ctx->mongo->databaseName();
  std::string collection = ctx->callsCollection;
  std::string revokedCollection = ctx->revokedCollection;
  std::string candidate = storage::mintToken();
  storage::UploadFacts facts = report.facts;
  bool queued = ctx->mongo->run([=](mongoc_client_t* client) {
    storage::UploadRecorded done = storage::CallStore::recordUploadBlocking(
        client, database, collection, facts, candidate, revokedCollection);
    return reactor::WorkerPool::Completion([ctx, request, done, source] {
      using O = storage::UploadRecorded::Outcome;
      if (done.outcome == O::kRecorded) return fillCachesAndReply(ctx, request, done, source);
      request.with([&](reactor::HttpExchange& ex) {
        if (done.outcome == O::kNoCall) {
          count(*ctx, "no_call");
          return ex.replyError(404, "no_call", "no call has this session_id");
        }
        count(*ctx, "unavailable");
        reactor::Logger::log(reactor::LogLevel::kError, ex.requestId(), "upload report: MongoDB failed",
                             {{"error", done.error}});
        ex.addHeader("Retry-After", "5");
        ex.replyError(503, "mongo_unavailable", "the call could not be updated; retry shortly");
      });
    });
  });
  if (!queued) {
    request.with([&](reactor::HttpExchange& ex) {
      count(*ctx, "unavailable");
      ex.addHeader("Retry-After", "5");
      ex.replyError(503, "busy", "the MongoDB queue is full");
    });
  }
}

void replyInvalid(reactor::HttpExchange& ex, const ReportParse& parse) {
  reactor::JsonWriter w;
  w.beginObject().field("error", "invalid_report").field("message", parse.message);
  if (!parse.field.empty()) w.field("field", parse.field);
  w.endObject();
  ex.reply(400, w.str());
}

void handleReport(reactor::HttpExchange& ex, std::shared_ptr<FleetReportContext> ctx) {
  const storage::StorageValues& values = ctx->recordings->signer->settings().values;
  if (values.fleetSecret.empty()) {
    count(*ctx, "not_configured");
    ex.noteReason("fleet secret not configured");
    return ex.replyError(503, "fleet_secret_not_configured",
                         "this gateway has no fleet secret to verify upload reports with");
  }
  std::string_view body = ex.body();
  SignatureCheck check = checkReportSignature(ex.header(kFleetSignatureHeader), body, values.fleetSecret,
                                              ctx->now(), ctx->reportSkewS);
  if (check.result != SignatureCheck::Result::kOk) {
    count(*ctx, "unauthorized");
    const std::string& plainHeader = values.fleetSecretHeader.empty()
                                         ? std::string(storage::kDefaultFleetSecretHeader)
                                         : values.fleetSecretHeader;
    if (check.result == SignatureCheck::Result::kMissing && ex.header(plainHeader.c_str())) {
      // The plain secret header authenticates the gateway's GETs to fleet hosts; a report
      // changes state, so it must carry a signature that binds the body and the time.
      ex.noteReason("report with the plain secret header");
      return ex.replyError(401, "signature_required",
                           std::string("upload reports must be signed (") + kFleetSignatureHeader +
                               "); the plain secret header is accepted for GETs only");
    }
    static constexpr const char* kCodes[] = {"", "signature_required", "signature_malformed",
                                             "signature_expired", "signature_mismatch"};
    ex.noteReason(kCodes[static_cast<int>(check.result)]);
    return ex.replyError(401, kCodes[static_cast<int>(check.result)], check.message);
  }
  ReportParse parse = parseUploadReport(body);
  if (!parse.report) {
    count(*ctx, "invalid");
    return replyInvalid(ex, parse);
  }
  reactor::ExchangeRef request(ex);
  UploadReport report = *parse.report;
  auto locator = std::make_shared<ReportLocator>(ctx, report, [ctx, request, report](Located where) {
    switch (where.kind) {
      case Located::Kind::kFound:
        return recordUpload(ctx, request, report, where.source);
      case Located::Kind::kMismatch:
      case Located::Kind::kNotFound:
        request.with([&](reactor::HttpExchange& ex) {
          bool mismatch = where.kind == Located::Kind::kMismatch;
          count(*ctx, mismatch ? "object_mismatch" : "object_not_found");
          ex.noteReason(where.reason);
          reactor::JsonWriter w;
          w.beginObject()
              .field("error", mismatch ? "object_mismatch" : "object_not_found")
              .field("message",
                     mismatch ? "the object differs from the report" : "no source has the reported object")
              .field("reason", where.reason)
              .endObject();
          ex.reply(409, w.str());
        });
        return;
      case Located::Kind::kUnavailable:
        request.with([&](reactor::HttpExchange& ex) {
          count(*ctx, "unavailable");
          reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(), "upload report: sources failed",
                               {{"detail", where.reason}});
          ex.addHeader("Retry-After", "5");
          ex.replyError(503, "source_unavailable",
                        "the object could not be checked (a source failed); retry shortly");
        });
        return;
    }
  });
  locator->start();
}

}  // namespace

void registerFleetReportRoutes(reactor::HttpServer& server, std::shared_ptr<FleetReportContext> ctx) {
  if (ctx->metrics) {
    ctx->metrics->describe(kReportsMetric, reactor::Metrics::Type::kCounter,
                           "Upload reports from fleet hosts (POST /api/v1/fleet/recordings), by result");
  }
  server.route(reactor::kPost, "/api/v1/fleet/recordings", "fleet_upload_report",
               [ctx](reactor::HttpExchange& ex) { handleReport(ex, ctx); });
}

}  // namespace recgw::handlers
