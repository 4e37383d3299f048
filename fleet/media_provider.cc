#include "fleet/media_provider.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <random>

#include "reactor/json_reader.h"
#include "reactor/logger.h"
#include "storage/iso_time.h"
#include "storage/uri_encoding.h"

namespace recgw::fleet {
namespace {

void setMethodAndBody(reactor::UpstreamRequest& request, const std::string& method, const std::string& body) {
  request.method = method;
  request.body = body;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::optional<std::string> optionalString(simdjson::dom::object& obj, const char* key) {
  simdjson::dom::element el;
  if (obj[key].get(el) || el.is_null()) return std::nullopt;
  std::string_view s;
  if (!el.get_string().get(s)) return std::string(s);
  int64_t i = 0;
  if (!el.get_int64().get(i)) return std::to_string(i);
  return std::nullopt;
}

std::optional<double> optionalNumber(simdjson::dom::object& obj, const char* key) {
  simdjson::dom::element el;
  if (obj[key].get(el) || el.is_null()) return std::nullopt;
  double d = 0;
  if (!el.get_double().get(d)) return d;
  int64_t i = 0;
  if (!el.get_int64().get(i)) return static_cast<double>(i);
  uint64_t u = 0;
  if (!el.get_uint64().get(u)) return static_cast<double>(u);
  return std::nullopt;
}

bool recordingFromObject(simdjson::dom::object obj, ProviderRecording& out, std::string& error) {
  auto id = optionalString(obj, "id");
  if (!id || id->empty()) {
    error = "a recording without an id";
    return false;
  }
  out.id = *id;
  out.roomId = optionalString(obj, "room_id").value_or("");
  out.status = lower(optionalString(obj, "status").value_or(""));
  if (auto s = optionalString(obj, "started_at")) out.startedAt = storage::parseIsoInstant(*s);
  if (auto s = optionalString(obj, "stopped_at")) out.stoppedAt = storage::parseIsoInstant(*s);
  out.durationSeconds = optionalNumber(obj, "duration_seconds");
  if (auto n = optionalNumber(obj, "size_bytes"); n && *n >= 0) out.sizeBytes = static_cast<int64_t>(*n);
  out.error = optionalString(obj, "error").value_or("");
  simdjson::dom::object storageObj;
  if (!obj["storage"].get_object().get(storageObj)) {
    out.storageProvider = optionalString(storageObj, "provider").value_or("");
    out.bucket = optionalString(storageObj, "bucket").value_or("");
    out.key = optionalString(storageObj, "key").value_or("");
  }
  return true;
}

const char* kindName(ProviderError::Kind kind) {
  switch (kind) {
    case ProviderError::Kind::kNone:
      return "ok";
    case ProviderError::Kind::kNotConfigured:
      return "not_configured";
    case ProviderError::Kind::kNotFound:
      return "not_found";
    case ProviderError::Kind::kRejected:
      return "rejected";
    case ProviderError::Kind::kBadGateway:
      return "error";
    case ProviderError::Kind::kTimeout:
      return "timeout";
  }
  return "error";
}

}  // namespace

int ProviderError::clientStatus() const {
  switch (kind) {
    case Kind::kNone:
      return 200;
    case Kind::kNotConfigured:
      return 503;
    case Kind::kNotFound:
      return 404;
    case Kind::kTimeout:
      return 504;
    case Kind::kRejected:
    case Kind::kBadGateway:
      return 502;
  }
  return 502;
}

std::string_view ProviderError::clientCode() const {
  switch (kind) {
    case Kind::kNone:
      return "ok";
    case Kind::kNotConfigured:
      return "provider_not_configured";
    case Kind::kNotFound:
      return "provider_not_found";
    case Kind::kTimeout:
      return "provider_timeout";
    case Kind::kRejected:
    case Kind::kBadGateway:
      return "provider_error";
  }
  return "provider_error";
}

std::string_view ProviderError::clientMessage() const {
  switch (kind) {
    case Kind::kNone:
      return "ok";
    case Kind::kNotConfigured:
      return "no media provider is configured";
    case Kind::kNotFound:
      return "the media provider does not know this recording";
    case Kind::kTimeout:
      return "the media provider did not answer in time; retry later";
    case Kind::kRejected:
    case Kind::kBadGateway:
      return "the media provider failed; retry later";
  }
  return "the media provider failed; retry later";
}

struct MediaProvider::Call {
  uint64_t id = 0;
  std::string method;
  std::string url;
  Finish finish;
  int attempt = 0;
  reactor::TransferId transfer = 0;
  long status = 0;
  std::string body;
  bool tooLarge = false;
  std::unique_ptr<reactor::Timer> retryTimer;
};

MediaProvider::MediaProvider(reactor::EventLoop& loop, reactor::CurlMulti& curl,
                             MediaProviderSettings settings)
    : loop_(loop), curl_(curl), settings_(std::move(settings)) {
  while (!settings_.baseUrl.empty() && settings_.baseUrl.back() == '/') settings_.baseUrl.pop_back();
}

// Pending calls are dropped without callbacks; their transfers finish and find alive_ gone.
// CurlMulti may already be destroyed here (the gateway tears it down first), so it is not
// touched.
MediaProvider::~MediaProvider() = default;

std::string MediaProvider::joinUrl(std::string_view base, std::initializer_list<std::string_view> segments) {
  std::string url(base);
  while (!url.empty() && url.back() == '/') url.pop_back();
  for (std::string_view s : segments) url += "/" + storage::uriEncode(s, false);
  return url;
}

bool MediaProvider::parseRecording(std::string_view json, ProviderRecording& out, std::string& error) {
  simdjson::dom::parser parser;
  auto obj = reactor::parseJsonObject(parser, json);
  if (!obj) {
    error = "not a JSON object";
    return false;
  }
  return recordingFromObject(*obj, out, error);
}

bool MediaProvider::parseRecordingList(std::string_view json, std::vector<ProviderRecording>& out,
                                       std::string& error) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc)) {
    error = "not JSON";
    return false;
  }
  simdjson::dom::array list;
  simdjson::dom::object obj;
  if (!doc.get_object().get(obj)) {
    if (obj["recordings"].get_array().get(list) && obj["data"].get_array().get(list)) {
      error = "no \"recordings\" array";
      return false;
    }
  } else if (doc.get_array().get(list)) {
    error = "neither an object nor an array";
    return false;
  }
  for (simdjson::dom::element item : list) {
    simdjson::dom::object recObj;
    if (item.get_object().get(recObj)) {
      error = "a recording that is not an object";
      return false;
    }
    ProviderRecording rec;
    if (!recordingFromObject(recObj, rec, error)) return false;
    out.push_back(std::move(rec));
  }
  return true;
}

bool MediaProvider::looksLikeTimeout(std::string_view transportError) {
  std::string e = lower(transportError);
  return e.find("timeout") != std::string::npos || e.find("timed out") != std::string::npos ||
         e.find("too slow") != std::string::npos;
}

std::chrono::milliseconds MediaProvider::backoffDelay(std::chrono::milliseconds base, int retry,
                                                      double jitter01) {
  double factor = 0.75 + 0.5 * std::clamp(jitter01, 0.0, 1.0);
  double ms =
      static_cast<double>(base.count()) * static_cast<double>(1LL << std::clamp(retry, 0, 16)) * factor;
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

MediaProvider::AttemptVerdict MediaProvider::judgeAttempt(long status, const std::string& transportError,
                                                          int attempt, int retries) {
  AttemptVerdict v;
  v.error.httpStatus = status;
  v.error.attempts = attempt;
  bool moreAllowed = attempt <= retries;
  if (!transportError.empty() && status == 0) {
    if (looksLikeTimeout(transportError)) {
      v.error.kind = ProviderError::Kind::kTimeout;
      v.error.reason = "the media provider did not answer in time (" + transportError + ")";
      return v;
    }
    v.retry = moreAllowed;
    v.error.kind = ProviderError::Kind::kBadGateway;
    v.error.reason = "the media provider is unreachable: " + transportError;
  } else if (!transportError.empty()) {
    // Headers came, then the transfer broke: the answer is incomplete.
    v.retry = moreAllowed;
    v.error.kind =
        looksLikeTimeout(transportError) ? ProviderError::Kind::kTimeout : ProviderError::Kind::kBadGateway;
    v.error.reason = "the media provider's answer broke off: " + transportError;
  } else if (status >= 500) {
    v.retry = moreAllowed;
    v.error.kind = ProviderError::Kind::kBadGateway;
    v.error.reason = "the media provider answered HTTP " + std::to_string(status);
  } else if (status == 404) {
    v.error.kind = ProviderError::Kind::kNotFound;
    v.error.reason = "the media provider does not know this recording";
  } else if (status < 200 || status >= 300) {
    v.error.kind = ProviderError::Kind::kRejected;
    v.error.reason = "the media provider refused the request with HTTP " + std::to_string(status);
  } else {
    v.error.kind = ProviderError::Kind::kNone;
  }
  if (!v.retry && attempt > 1 && !v.error.ok())
    v.error.reason += " (after " + std::to_string(attempt) + " attempts)";
  return v;
}

void MediaProvider::listRoomRecordings(
    const std::string& providerRoomId,
    std::function<void(ProviderError, std::vector<ProviderRecording>)> done) {
  call("GET", joinUrl(settings_.baseUrl, {"rooms", providerRoomId, "recordings"}),
       [done](ProviderError error, const std::string& body) {
         std::vector<ProviderRecording> list;
         if (error.ok()) {
           std::string why;
           if (!parseRecordingList(body, list, why)) {
             error.kind = ProviderError::Kind::kBadGateway;
             error.reason = "the media provider sent an invalid recording list: " + why;
             list.clear();
           }
         }
         done(std::move(error), std::move(list));
       });
}

void MediaProvider::getRecording(const std::string& providerId,
                                 std::function<void(ProviderError, ProviderRecording)> done) {
  call("GET", joinUrl(settings_.baseUrl, {"recordings", providerId}),
       [done](ProviderError error, const std::string& body) {
         ProviderRecording rec;
         if (error.ok()) {
           std::string why;
           if (!parseRecording(body, rec, why)) {
             error.kind = ProviderError::Kind::kBadGateway;
             error.reason = "the media provider sent an invalid recording: " + why;
           }
         }
         done(std::move(error), std::move(rec));
       });
}

void MediaProvider::requestReprocess(const std::string& providerId, std::function<void(ProviderError)> done) {
  call("POST", joinUrl(settings_.baseUrl, {"recordings", providerId, "reprocess"}),
       [done](ProviderError error, const std::string&) { done(std::move(error)); });
}

void MediaProvider::call(std::string method, std::string url, Finish finish) {
  auto c = std::make_unique<Call>();
  c->id = nextCallId_++;
  c->method = std::move(method);
  c->url = std::move(url);
  c->finish = std::move(finish);
  uint64_t id = c->id;
  calls_.emplace(id, std::move(c));
  if (!configured()) {
    ProviderError e{ProviderError::Kind::kNotConfigured, 0, 0, "no media provider is configured"};
    reactor::LivenessWatch alive = alive_;
    loop_.defer([this, alive, id, e] {
      if (!alive.expired()) complete(id, e);
    });
    return;
  }
  attempt(id);
}

void MediaProvider::attempt(uint64_t callId) {
  auto it = calls_.find(callId);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  ++c.attempt;
  c.status = 0;
  c.body.clear();
  c.tooLarge = false;
  reactor::UpstreamRequest req;
  req.url = c.url;
  req.headers.emplace_back("Authorization", "Bearer " + settings_.token);
  req.headers.emplace_back("Accept", "application/json");
  req.connectTimeout = settings_.connectTimeout;
  req.firstByteTimeout = settings_.timeout;
  req.lowSpeedBytes = 1;
  req.lowSpeedTime = std::max<std::chrono::seconds>(
      std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(settings_.timeout));
  if (c.method != "GET") {
    req.headers.emplace_back("Content-Type", "application/json");
    setMethodAndBody(req, c.method, "{}");
  }
  reactor::LivenessWatch alive = alive_;
  reactor::TransferCallbacks cb;
  cb.onHeaders = [this, alive, callId](const reactor::UpstreamResponse& r) {
    if (alive.expired()) return false;
    auto found = calls_.find(callId);
    if (found == calls_.end()) return false;
    found->second->status = r.status;
    return true;
  };
  cb.onData = [this, alive, callId](const char* data, size_t n) -> size_t {
    if (alive.expired()) return 0;
    auto found = calls_.find(callId);
    if (found == calls_.end()) return 0;
    Call& call = *found->second;
    if (call.body.size() + n > settings_.maxBodyBytes) {
      call.tooLarge = true;
      return 0;  // aborts the transfer; onDone reports it
    }
    call.body.append(data, n);
    return n;
  };
  cb.onDone = [this, alive, callId](const std::string& error) {
    if (!alive.expired()) attemptDone(callId, error);
  };
  auto started = curl_.start(req, std::move(cb));
  c.transfer = started.value_or(0);
  if (!started) {
    std::string error = started.error().message;
    loop_.defer([this, alive, callId, error] {
      if (!alive.expired()) attemptDone(callId, "cannot start the request: " + error);
    });
  }
}

void MediaProvider::attemptDone(uint64_t callId, const std::string& transportError) {
  auto it = calls_.find(callId);
  if (it == calls_.end()) return;
  Call& c = *it->second;
  c.transfer = 0;
  if (c.tooLarge) {
    complete(callId, ProviderError{ProviderError::Kind::kBadGateway, c.status, c.attempt,
                                   "the media provider's answer is larger than " +
                                       std::to_string(settings_.maxBodyBytes) + " bytes"});
    return;
  }
  AttemptVerdict v = judgeAttempt(c.status, transportError, c.attempt, settings_.retries);
  if (v.retry) {
    static thread_local std::mt19937 rng{std::random_device{}()};
    double jitter = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    auto delay = backoffDelay(settings_.backoff, c.attempt - 1, jitter);
    reactor::logWarn("media provider call failed; retrying",
                     {{"method", c.method},
                      {"reason", v.error.reason},
                      {"attempt", std::to_string(c.attempt)},
                      {"retry_in_ms", std::to_string(delay.count())}});
    // Replaced here, from a curl callback, never from inside the timer's own callback.
    c.retryTimer = std::make_unique<reactor::Timer>(loop_, [this, callId] { attempt(callId); });
    c.retryTimer->startOnce(delay);
    return;
  }
  complete(callId, std::move(v.error));
}

void MediaProvider::complete(uint64_t callId, ProviderError error) {
  auto it = calls_.find(callId);
  if (it == calls_.end()) return;
  std::shared_ptr<Call> c(std::move(it->second));
  calls_.erase(it);
  if (!error.ok()) {
    reactor::logWarn("media provider call failed",
                     {{"method", c->method}, {"outcome", kindName(error.kind)}, {"reason", error.reason}});
  }
  // The call may own the timer whose callback is running now: free it on the next pass.
  loop_.defer([c] {});
  c->finish(std::move(error), c->body);
}

}  // namespace recgw::fleet
