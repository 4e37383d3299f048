#include "handlers/diagnose.h"

#include <algorithm>

#include "fleet/reachability.h"
#include "handlers/http_semantics.h"
#include "handlers/recordings.h"
#include "reactor/exchange_ref.h"
#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/call_indexes.h"
#include "storage/call_store.h"
#include "storage/s3_addressing.h"
#include "storage/url_redaction.h"

namespace recgw::handlers {

S3ErrorInfo parseS3Error(std::string_view xml) {
  auto element = [&](std::string_view name) -> std::string {
    std::string open = "<" + std::string(name) + ">";
    std::string close = "</" + std::string(name) + ">";
    size_t a = xml.find(open);
    if (a == std::string_view::npos) return {};
    a += open.size();
    size_t b = xml.find(close, a);
    if (b == std::string_view::npos || b - a > 512) return {};
    return std::string(xml.substr(a, b - a));
  };
  return S3ErrorInfo{element("Code"), element("Region"), element("Message")};
}

std::string DiagnosisReport::toJson() const {
  reactor::JsonWriter w;
  w.beginObject().field("subject", subject).field("servable", servable).field("verdict", verdict);
  w.key("steps").beginArray();
  for (const auto& s : steps) {
    w.beginObject().field("step", s.name).field("status", s.status).field("summary", s.summary);
    w.key("details").beginObject();
    for (const auto& [k, v] : s.details) w.field(k, v);
    w.endObject().endObject();
  }
  w.endArray().endObject();
  return w.take();
}

std::string DiagnosisReport::toText() const {
  // For a person: the outcome and what to fix first, then one row per step (details below
  // it, indented to the detail column).
  std::string out = "diagnosis of " + (subject.empty() ? std::string("the configuration") : subject) + ": " +
                    (servable ? "servable" : "NOT servable") + "\n";
  out += "verdict: " + verdict + "\n";
  auto failed =
      std::find_if(steps.begin(), steps.end(), [](const DiagnosisStep& s) { return s.status == "fail"; });
  if (failed != steps.end()) out += "first failing step: " + failed->name + " (" + failed->summary + ")\n";
  size_t nameWidth = 4;
  for (const auto& s : steps) nameWidth = std::max(nameWidth, s.name.size());
  auto pad = [](std::string text, size_t width) {
    text.resize(std::max(width, text.size()), ' ');
    return text;
  };
  const size_t resultWidth = 6;
  const std::string detailIndent(nameWidth + 2 + resultWidth + 2 + 2, ' ');
  out += "\n" + pad("step", nameWidth) + "  " + pad("result", resultWidth) + "  detail\n";
  for (const auto& s : steps) {
    std::string result = s.status == "fail" ? "FAIL" : s.status;
    out += pad(s.name, nameWidth) + "  " + pad(result, resultWidth) + "  " + s.summary + "\n";
    for (const auto& [k, v] : s.details) out += detailIndent + k + ": " + v + "\n";
  }
  return out;
}

namespace {

using storage::CallRecord;

struct Probe {
  long status = 0;
  std::string error;
  std::string body;
  std::string bucketRegion;
};

struct CallLookup {
  CallRecord record;
  std::string matchedBy;  // "recording_access_token", "session_id" or ""
  storage::StorageValues document;
  bool documentFound = false;
  std::string documentError;
  Expected<storage::CallIndexReport> indexes = fail("not checked");
};

class Diagnosis : public std::enable_shared_from_this<Diagnosis> {
 public:
  Diagnosis(const DiagnoseDependencies& deps, std::string id, std::function<void(DiagnosisReport)> done)
      : deps_(deps), id_(std::move(id)), done_(std::move(done)) {
    report_.subject = id_.empty() ? "" : reactor::redactToken(id_);
  }

  void start() {
    if (id_.empty()) return lookupCall();
    checkCaches();
  }

 private:
  void add(std::string name, std::string status, std::string summary,
           std::vector<std::pair<std::string, std::string>> details = {}) {
    report_.steps.push_back({std::move(name), std::move(status), std::move(summary), std::move(details)});
  }

  void checkCaches() {
    std::vector<std::pair<std::string, std::string>> details;
    if (deps_.cache) {
      auto tok = deps_.cache->peek(storage::LookupField::kToken, id_);
      auto sid = deps_.cache->peek(storage::LookupField::kSessionId, id_);
      details.emplace_back("l1", tok ? "hit as token" : sid ? "hit as session id" : "miss");
    } else {
      details.emplace_back("l1", "not applicable (CLI)");
    }
    if (!deps_.redis || !deps_.redis->connected()) {
      details.emplace_back("redis", deps_.redis ? "unavailable: " + deps_.redis->lastError() : "disabled");
      add("cache", "warn",
          deps_.redis && deps_.redis->authRefused()
              ? "Redis refuses our credentials (check redis.password / redis.username); lookups go to MongoDB"
              : "Redis is not answering; lookups go to MongoDB",
          details);
      return lookupCall();
    }
    auto self = shared_from_this();
    auto results = std::make_shared<std::vector<std::string>>(2);
    auto remaining = std::make_shared<int>(2);
    auto finish = [self, results, remaining, details]() mutable {
      if (--*remaining > 0) return;
      details.emplace_back("redis_token_key", (*results)[0]);
      details.emplace_back("redis_session_key", (*results)[1]);
      self->add("cache", "ok", "cache tiers checked (read only)", details);
      self->lookupCall();
    };
    auto describe = [](const storage::RedisReply& r) -> std::string {
      if (r.kind == storage::RedisReply::Kind::kNil) return "miss";
      if (r.kind == storage::RedisReply::Kind::kError) return "error: " + r.text;
      auto decoded = storage::decodeCachedRecord(r.text);
      if (!decoded) return "hit (unreadable value)";
      switch (decoded->first.outcome) {
        case CallRecord::Outcome::kFound:
          return "hit: found" +
                 (decoded->second.empty() ? std::string() : ", last served by " + decoded->second);
        case CallRecord::Outcome::kNoCall:
          return "hit: cached miss (no call)";
        case CallRecord::Outcome::kNoKey:
          return "hit: cached miss (no key)";
        default:
          return "hit";
      }
    };
    deps_.redis->command({"GET", storage::cacheKey(storage::LookupField::kToken, id_)},
                         [results, finish, describe](const storage::RedisReply& r) mutable {
                           (*results)[0] = describe(r);
                           finish();
                         });
    deps_.redis->command({"GET", storage::cacheKey(storage::LookupField::kSessionId, id_)},
                         [results, finish, describe](const storage::RedisReply& r) mutable {
                           (*results)[1] = describe(r);
                           finish();
                         });
  }

  void lookupCall() {
    auto self = shared_from_this();
    std::string db = deps_.mongo->databaseName();
    std::string calls = deps_.callsCollection;
    std::string settings = deps_.settingsCollection;
    std::string id = id_;
    bool queued = deps_.mongo->run([self, db, calls, settings, id](mongoc_client_t* client) {
      CallLookup out;
      if (!id.empty()) {
        out.record = storage::CallStore::findBlocking(client, db, calls, storage::LookupField::kToken, id);
        if (out.record.outcome != CallRecord::Outcome::kNoCall &&
            out.record.outcome != CallRecord::Outcome::kUnavailable) {
          out.matchedBy = "recording_access_token";
        } else if (out.record.outcome == CallRecord::Outcome::kNoCall) {
          out.record =
              storage::CallStore::findBlocking(client, db, calls, storage::LookupField::kSessionId, id);
          if (out.record.outcome == CallRecord::Outcome::kFound ||
              out.record.outcome == CallRecord::Outcome::kNoKey) {
            out.matchedBy = "session_id";
          }
        }
      }
      out.indexes = storage::checkCallIndexesBlocking(client, db, calls);
      out.document =
          storage::readSettingsDocumentBlocking(client, db, settings, out.documentFound, out.documentError);
      return reactor::WorkerPool::Completion([self, out] { self->onCall(out); });
    });
    if (!queued) {
      add("call", "fail", "MongoDB queue is full");
      finish("MongoDB is overloaded: retry the diagnosis");
    }
  }

  void onCall(const CallLookup& found) {
    lookup_ = found;
    reportIndexes(found);
    if (!id_.empty()) {
      const CallRecord& r = found.record;
      if (r.outcome == CallRecord::Outcome::kUnavailable) {
        add("call", "fail", "MongoDB could not be asked", {{"error", r.error}});
        return finish("MongoDB is unreachable: a real token would get 503 (fix MongoDB first)");
      }
      if (r.outcome == CallRecord::Outcome::kNoCall) {
        add("call", "fail", "no call has this recording_access_token or session_id",
            {{"collection", deps_.callsCollection}});
        verdictOverride_ = "token mismatch: no call in '" + deps_.callsCollection +
                           "' has this recording_access_token or session_id (a rotated or mistyped token?)";
      } else {
        std::vector<std::pair<std::string, std::string>> d = {
            {"matched_by", found.matchedBy},
            {"session_id", r.sessionId},
            {"account_id", r.accountId.empty() ? "(absent)" : r.accountId},
            {"recording_key", r.hasRecordingKey ? "present" : "absent"},
            {"recording_url", r.hasRecordingUrl ? "present" : "absent"},
            {"recording_status",
             r.recordingStatus.empty() ? "(absent: ready if a key is derivable)" : r.recordingStatus},
            {"recording_access_token", r.accessToken.empty() ? "absent" : "present"}};
        add("call", "ok", "call found by " + found.matchedBy, d);
        if (r.outcome == CallRecord::Outcome::kNoKey) {
          add("key", "fail", "the call has neither a recording_key nor a usable recording_url");
          verdictOverride_ = "the call has neither recording_key nor recording_url: nothing to fetch";
        } else {
          key_ = r.key;
          add("key", "ok", "key derived from " + r.keyDerivation,
              {{"key", r.key}, {"derived_from", r.keyDerivation}});
        }
      }
    }
    checkSettings();
  }

  // A missing index does not stop a link from playing, but every lookup that reaches
  // MongoDB then scans `calls`: slow links and a loaded database.
  void reportIndexes(const CallLookup& found) {
    const std::string& calls = deps_.callsCollection;
    if (!found.indexes) {
      add("indexes", "warn", "the indexes of '" + calls + "' could not be listed",
          {{"error", found.indexes.error().message}});
    } else if (!found.indexes->collectionExists) {
      add("indexes", "warn", "collection '" + calls + "' does not exist");
    } else if (!found.indexes->missing.empty()) {
      add("indexes", "warn", "'" + calls + "' lacks indexes recgw needs: lookups that reach MongoDB scan it",
          {{"missing", storage::describeMissing(found.indexes->missing)}, {"fix", "recgw ensure-indexes"}});
    } else {
      add("indexes", "ok", "'" + calls + "' has the indexes recgw needs");
    }
  }

  void checkSettings() {
    settings_ = storage::mergeSettings(deps_.configStorage, lookup_.document);
    const auto& v = settings_.values;
    std::vector<std::pair<std::string, std::string>> d;
    d.emplace_back("system_settings", lookup_.documentFound ? "found"
                                      : lookup_.documentError.empty()
                                          ? "absent"
                                          : "unreadable: " + lookup_.documentError);
    d.emplace_back("endpoint", v.endpoint.empty() ? "(missing)" : storage::redactUrl(v.endpoint));
    d.emplace_back("bucket", v.bucket.empty() ? "(missing)" : v.bucket);
    d.emplace_back("access_key", v.accessKey.empty() ? "(missing)" : "present");
    d.emplace_back("secret_key", v.secretKey.empty() ? "(missing)" : "present");
    std::string inferred = v.endpoint.empty() ? "" : storage::regionFromEndpoint(v.endpoint, "");
    std::string effective = v.endpoint.empty() ? "" : storage::regionFromEndpoint(v.endpoint, v.region);
    d.emplace_back("region_configured", v.region.empty() ? "(none)" : v.region);
    d.emplace_back("region_in_use", effective.empty() ? "(n/a)" : effective);
    d.emplace_back("fleet_hosts", std::to_string(v.fleetUrls.size()));
    d.emplace_back("fleet_secret", v.fleetSecret.empty() ? "(missing)" : "present");
    if (!settings_.storageComplete()) {
      add("storage_settings", "fail", "storage is skipped: " + settings_.describeMissing(), d);
    } else if (!v.region.empty() && inferred != "us-east-1" && inferred != v.region) {
      add("storage_settings", "warn",
          "configured region '" + v.region + "' differs from the endpoint's '" + inferred + "'", d);
    } else {
      add("storage_settings", "ok", "storage settings complete", d);
    }
    bool wantStorage = settings_.storageComplete() && (!key_.empty() || id_.empty());
    const storage::CredentialSourceSettings& c = deps_.credentials;
    if (wantStorage && (c.kind != "static" || !c.roleArn.empty()) && deps_.loop && deps_.curl) {
      return fetchCredentials();
    }
    if (wantStorage) {
      signer_ = std::make_shared<storage::SigV4Signer>(v.accessKey, v.secretKey, settings_.location().region,
                                                       "s3", deps_.sessionToken);
    }
    probeSources();
  }

  // A fresh set from the configured source (a one-off: the gateway's own provider is not
  // disturbed), so the report names the source and, when it fails, why.
  void fetchCredentials() {
    storage::CredentialSourceSettings c = deps_.credentials;
    const storage::StorageValues& v = settings_.values;
    storage::AwsCredentials keys{v.accessKey, v.secretKey, deps_.sessionToken, std::nullopt};
    c.staticKeys = [keys] { return keys; };
    credentialSource_ = storage::makeCredentialSource(*deps_.loop, *deps_.curl, c);
    auto self = shared_from_this();
    credentialSource_->fetch([self](storage::CredentialFetch f) {
      if (!f.ok()) {
        self->add("storage_credentials", "fail", f.source + ": " + f.error, {{"source", f.source}});
        self->storageProblem_ = "no storage credentials: " + f.error;
      } else {
        const storage::AwsCredentials& k = f.credentials;
        std::vector<std::pair<std::string, std::string>> d{{"source", f.source},
                                                           {"temporary", k.temporary() ? "yes" : "no"}};
        if (k.expiration) {
          auto left = std::chrono::duration_cast<std::chrono::seconds>(*k.expiration -
                                                                       std::chrono::system_clock::now());
          d.emplace_back("expires_in_s", std::to_string(left.count()));
        }
        self->add("storage_credentials", "ok", "credentials from " + f.source, d);
        self->signer_ = std::make_shared<storage::SigV4Signer>(
            k.accessKey, k.secretKey, self->settings_.location().region, "s3", k.sessionToken);
      }
      self->probeSources();
    });
  }

  void probeSources() {
    chain_ = std::make_unique<fleet::SourceChain>(settings_, signer_,
                                                  key_.empty() ? "recgw-diagnose-probe-does-not-exist" : key_,
                                                  deps_.fleetSecretHeader, deps_.timeouts);
    if (!key_.empty() || id_.empty()) return probe(0);
    finish("");
  }

  void probe(size_t index) {
    if (index >= chain_->sources().size()) {
      if (settings_.values.fleetUrls.empty())
        add("fleet", "warn", "no fleet hosts configured: the fallback never runs");
      return finish("");
    }
    auto self = shared_from_this();
    auto result = std::make_shared<Probe>();
    reactor::UpstreamRequest req = chain_->request(index, {{"Range", "bytes=0-0"}}, false);
    reactor::TransferCallbacks cb;
    cb.onHeaders = [result](const reactor::UpstreamResponse& r) {
      result->status = r.status;
      if (const std::string* region = r.find("x-amz-bucket-region")) result->bucketRegion = *region;
      return true;
    };
    cb.onData = [result](const char* data, size_t n) {
      if (result->body.size() < 8192)
        result->body.append(data, std::min<size_t>(n, 8192 - result->body.size()));
      return n;
    };
    cb.onDone = [self, result, index](const std::string& error) {
      result->error = error;
      self->onProbe(index, *result);
    };
    if (auto started = deps_.curl->start(req, std::move(cb)); !started) {
      Probe failed;
      failed.error = started.error().message;
      onProbe(index, failed);
    }
  }

  void onProbe(size_t index, const Probe& p) {
    const fleet::Source& source = chain_->sources()[index];
    std::vector<std::pair<std::string, std::string>> d;
    d.emplace_back("url_base", storage::redactUrl(source.baseUrl));
    d.emplace_back("http_status", p.status ? std::to_string(p.status) : "(no response)");
    bool probeOnly = id_.empty();
    if (source.kind == fleet::Source::Kind::kStorage) {
      S3ErrorInfo err = parseS3Error(p.body);
      if (!err.code.empty()) d.emplace_back("s3_error", err.code);
      if (!err.region.empty()) d.emplace_back("s3_expects_region", err.region);
      if (!p.bucketRegion.empty()) d.emplace_back("bucket_region", p.bucketRegion);
      std::string expected = !err.region.empty() ? err.region : p.bucketRegion;
      if (!p.error.empty() && p.status == 0) {
        d.emplace_back("error", p.error);
        bool certificate = reactor::isCertificateError(p.error);
        add("storage", "fail",
            certificate ? "the TLS certificate of storage could not be verified"
                        : "storage could not be reached",
            d);
        storageProblem_ = certificate ? fleet::explainTransportError(source, p.error)
                                      : "storage is unreachable (" + p.error + ")";
      } else if (p.status == 200 || p.status == 206) {
        add("storage", "ok", probeOnly ? "storage answered" : "the object is in storage", d);
        servedBy_ = servedBy_.empty() ? "storage" : servedBy_;
      } else if (p.status == 404) {
        bool noBucket = err.code == "NoSuchBucket";
        add("storage", noBucket ? "fail" : (probeOnly ? "ok" : "warn"),
            noBucket    ? "the bucket does not exist"
            : probeOnly ? "storage accepted the credentials (probe object absent, as expected)"
                        : "the object is not in storage (NoSuchKey); the fleet is asked next",
            d);
        if (noBucket)
          storageProblem_ = "the bucket '" + settings_.values.bucket + "' does not exist on " +
                            storage::redactUrl(settings_.values.endpoint);
        else if (!probeOnly)
          storageMissing_ = true;
      } else if (err.code == "AuthorizationHeaderMalformed" || err.code == "PermanentRedirect" ||
                 p.status == 301 || (!expected.empty() && expected != settings_.location().region)) {
        add("storage", "fail", "wrong region for this bucket", d);
        storageProblem_ = "the region is wrong: signing with '" + settings_.location().region +
                          "' but S3 expects '" +
                          (expected.empty() ? std::string("another region") : expected) +
                          "' (set s3.region or fix the endpoint)";
      } else if (p.status == 403) {
        add("storage", "fail",
            "storage refused: " + (err.code.empty() ? std::string("AccessDenied") : err.code), d);
        storageProblem_ =
            "storage refused with " + (err.code.empty() ? std::string("AccessDenied") : err.code) +
            ": check s3.access_key/secret_key and the bucket policy (a CRM holding a presigned URL "
            "whose query string was clipped gets this too: give it the token URL instead)";
      } else {
        add("storage", "fail", "storage answered HTTP " + std::to_string(p.status), d);
        storageProblem_ =
            "storage answered HTTP " + std::to_string(p.status) + (err.code.empty() ? "" : " " + err.code);
      }
    } else {
      if (!p.error.empty() && p.status == 0) {
        d.emplace_back("error", p.error);
        bool certificate = reactor::isCertificateError(p.error);
        add(source.label, "fail",
            certificate ? "the TLS certificate of the fleet host could not be verified"
                        : "fleet host unreachable",
            d);
        if (fleetProblem_.empty()) {
          fleetProblem_ =
              certificate ? fleet::explainTransportError(source, p.error) : source.label + " is unreachable";
        }
      } else if (p.status == 200 || p.status == 206) {
        add(source.label, "ok", probeOnly ? "fleet host answered" : "the fleet host has the recording", d);
        if (servedBy_.empty() && !probeOnly) servedBy_ = source.label;
      } else if (p.status == 401 || p.status == 403) {
        add(source.label, "fail",
            "the fleet host refused the secret: likely a " + chain_->fleetSecretHeader() + " mismatch", d);
        fleetProblem_ = source.label + " (" + storage::redactUrl(source.baseUrl) +
                        ") refused the fleet secret: the " + chain_->fleetSecretHeader() +
                        " value does not match the fleet's";
      } else if (p.status == 404) {
        add(source.label, probeOnly ? "ok" : "warn",
            probeOnly ? "fleet host answered (probe object absent)" : "not on this fleet host", d);
      } else {
        add(source.label, "fail", "fleet host answered HTTP " + std::to_string(p.status), d);
        fleetProblem_ = fleetProblem_.empty() ? source.label + " answered HTTP " + std::to_string(p.status)
                                              : fleetProblem_;
      }
    }
    probe(index + 1);
  }

  void finish(const std::string& forced) {
    std::string verdict = forced;
    if (verdict.empty()) verdict = verdictOverride_;
    bool probeOnly = id_.empty();
    if (verdict.empty()) {
      if (!servedBy_.empty() && !probeOnly) {
        report_.servable = true;
        verdict = "servable from " + servedBy_;
        if (servedBy_ != "storage" && !storageProblem_.empty())
          verdict += "; but " + storageProblem_;
        else if (servedBy_ != "storage" && !settings_.storageComplete()) {
          verdict += "; but storage is skipped (" + settings_.describeMissing() + ")";
        }
      } else if (!settings_.storageComplete() && !lookup_.documentError.empty()) {
        verdict = "the system_settings document could not be read (" + lookup_.documentError +
                  "), and the config alone leaves storage incomplete: " + settings_.describeMissing();
      } else if (!settings_.storageComplete()) {
        verdict = "storage is silently skipped: " + settings_.describeMissing() +
                  " (set them in the config/env or in system_settings.minio)";
        if (!fleetProblem_.empty())
          verdict += "; and " + fleetProblem_;
        else if (settings_.values.fleetUrls.empty())
          verdict += "; and no fleet hosts are configured";
      } else if (!storageProblem_.empty()) {
        verdict = storageProblem_;
      } else if (!fleetProblem_.empty()) {
        verdict = (storageMissing_ ? std::string("not in storage, and ") : std::string()) + fleetProblem_;
      } else if (probeOnly) {
        report_.servable = true;
        verdict = "storage and fleet settings work";
      } else if (settings_.values.fleetUrls.empty()) {
        verdict =
            "the object is not in storage and no fleet hosts are configured, so the fallback never runs";
      } else {
        verdict = "the object is neither in storage nor on any fleet host";
      }
    }
    report_.verdict = verdict;
    if (done_) {
      auto done = std::move(done_);
      done_ = nullptr;
      done(report_);
    }
  }

  DiagnoseDependencies deps_;
  std::string id_;
  std::function<void(DiagnosisReport)> done_;
  DiagnosisReport report_;
  CallLookup lookup_;
  std::string key_;
  storage::StorageSettings settings_;
  std::shared_ptr<storage::SigV4Signer> signer_;
  std::unique_ptr<storage::CredentialSource> credentialSource_;
  std::unique_ptr<fleet::SourceChain> chain_;
  std::string verdictOverride_;
  std::string servedBy_;
  std::string storageProblem_;
  std::string fleetProblem_;
  bool storageMissing_ = false;
};

}  // namespace

void diagnose(const DiagnoseDependencies& deps, const std::string& id,
              std::function<void(DiagnosisReport)> done) {
  auto d = std::make_shared<Diagnosis>(deps, id, std::move(done));
  d->start();
}

void registerDiagnoseRoute(reactor::HttpServer& server, std::shared_ptr<DiagnoseRouteContext> ctx) {
  server.route(
      reactor::kGet, "/api/v1/admin/diagnose/{id}", "admin_diagnose", [ctx](reactor::HttpExchange& ex) {
        if (!requireAdmin(ex, ctx->jwt)) return;
        std::string client =
            clientAddress(ex.peerAddress(), ex.header("X-Forwarded-For"), ctx->trustedProxies);
        if (ctx->limiter) {
          if (int wait = ctx->limiter->retryAfter(client); wait > 0) {
            ex.addHeader("Retry-After", std::to_string(wait));
            return ex.replyError(429, "rate_limited", "too many diagnoses from this address; retry later");
          }
          ctx->limiter->recordFailure(client);
        }
        const std::string& id = ex.pathParams()[0];
        if (!isSafePathParam(id)) return ex.replyError(400, "bad_request", "invalid token or session id");
        bool text = ex.queryParam("format") == "text";
        diagnose(ctx->deps, id, [request = reactor::ExchangeRef(ex), text](DiagnosisReport report) {
          request.with([&](reactor::HttpExchange& ex) {
            if (text)
              ex.reply(200, report.toText(), "text/plain; charset=utf-8");
            else
              ex.reply(200, report.toJson());
          });
        });
      });
}

}  // namespace recgw::handlers
