#include "storage/invalidation_bus.h"

#include <simdjson.h>

#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/crypto.h"

namespace recgw::storage {
namespace {

bool isSha256Hex(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

std::string InvalidationEvent::cacheKey() const {
  return (field == LookupField::kToken ? "recgw:tok:" : "recgw:sid:") + value;
}

InvalidationEvent InvalidationEvent::forToken(const std::string& token, std::string reason,
                                              std::string storageKey) {
  InvalidationEvent e;
  e.field = LookupField::kToken;
  e.value = crypto::sha256Hex(token);
  e.reason = std::move(reason);
  e.storageKey = std::move(storageKey);
  return e;
}

InvalidationEvent InvalidationEvent::forSession(const std::string& sessionId, std::string reason,
                                                std::string storageKey) {
  InvalidationEvent e;
  e.field = LookupField::kSessionId;
  e.value = sessionId;
  e.reason = std::move(reason);
  e.storageKey = std::move(storageKey);
  return e;
}

InvalidationEvent InvalidationEvent::forObject(std::string storageKey, std::string reason) {
  InvalidationEvent e;
  e.objectOnly = true;
  e.storageKey = std::move(storageKey);
  e.reason = std::move(reason);
  return e;
}

std::string encodeInvalidation(const InvalidationEvent& e) {
  reactor::JsonWriter w;
  w.beginObject()
      .field("v", 1)
      .field("field", e.objectOnly                     ? "object"
                      : e.field == LookupField::kToken ? "token"
                                                       : "session")
      .field("value", e.value)
      .field("reason", e.reason);
  if (!e.storageKey.empty()) w.field("storage_key", e.storageKey);
  if (!e.origin.empty()) w.field("origin", e.origin);
  w.endObject();
  return w.take();
}

std::optional<InvalidationEvent> decodeInvalidation(std::string_view text) {
  if (text.size() > 8192) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc)) return std::nullopt;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  auto str = [&](const char* name) -> std::string {
    std::string_view v;
    if (obj[name].get_string().get(v)) return {};
    return std::string(v);
  };
  InvalidationEvent e;
  std::string field = str("field");
  if (field == "object") {
    e.objectOnly = true;
    e.storageKey = str("storage_key");
    if (e.storageKey.empty() || e.storageKey.size() > 4096) return std::nullopt;
    e.reason = str("reason");
    e.origin = str("origin");
    return e;
  }
  if (field == "token")
    e.field = LookupField::kToken;
  else if (field == "session")
    e.field = LookupField::kSessionId;
  else
    return std::nullopt;
  e.value = str("value");
  if (e.value.empty() || e.value.size() > 256) return std::nullopt;
  if (e.field == LookupField::kToken && !isSha256Hex(e.value)) return std::nullopt;
  e.storageKey = str("storage_key");
  e.reason = str("reason");
  e.origin = str("origin");
  return e;
}

InvalidationBus::InvalidationBus(RedisClient* publisher, std::unique_ptr<RedisClient> subscriber,
                                 reactor::Metrics& metrics)
    : publisher_(publisher), subscriber_(std::move(subscriber)), metrics_(metrics) {
  origin_ = crypto::base64UrlEncode(crypto::randomBytes(9));
  using T = reactor::Metrics::Type;
  metrics_.describe("recgw_invalidation_subscribed", T::kGauge,
                    "1 while this worker's subscription to recgw:invalidate is confirmed");
  metrics_.set("recgw_invalidation_subscribed", {}, 0);
  metrics_.describe("recgw_invalidations_published_total", T::kCounter,
                    "Invalidation events published (revoke, rotate, evict), by outcome");
  metrics_.describe("recgw_invalidations_received_total", T::kCounter,
                    "Invalidation events received from other workers or gateways");
  metrics_.describe("recgw_invalidations_malformed_total", T::kCounter,
                    "Messages on recgw:invalidate that are not an invalidation event");
  if (subscriber_) {
    subscriber_->subscribe(kInvalidationChannel, [this](const std::string& text) { onMessage(text); });
    subscriber_->setOnStateChange([this](bool up, const std::string&) {
      metrics_.set("recgw_invalidation_subscribed", {}, up ? 1 : 0);
    });
  }
}

void InvalidationBus::start() {
  if (subscriber_) subscriber_->start();
}

void InvalidationBus::addListener(Listener listener) { listeners_.push_back(std::move(listener)); }

void InvalidationBus::deliver(const InvalidationEvent& event) {
  for (const auto& listener : listeners_) {
    try {
      listener(event);
    } catch (const std::exception& e) {
      reactor::logError("invalidation: a listener threw", {{"error", e.what()}, {"reason", event.reason}});
    }
  }
}

void InvalidationBus::publish(InvalidationEvent event, std::function<void(bool)> done) {
  event.origin = origin_;
  deliver(event);
  if (!publisher_ || !publisher_->connected()) {
    metrics_.inc("recgw_invalidations_published_total", reactor::Metrics::label("outcome", "redis_down"));
    if (done) done(false);
    return;
  }
  reactor::LivenessWatch alive = alive_;
  auto published = [this, alive, done = std::move(done)](const RedisReply& reply) {
    if (alive.expired()) return;
    metrics_.inc("recgw_invalidations_published_total",
                 reactor::Metrics::label("outcome", reply.ok() ? "ok" : "error"));
    if (!reply.ok())
      reactor::logWarn("invalidation: PUBLISH failed; other workers rely on the L1 TTL",
                       {{"error", reply.text}});
    if (done) done(reply.ok());
  };
  publisher_->command({"PUBLISH", kInvalidationChannel, encodeInvalidation(event)}, std::move(published));
}

void InvalidationBus::onMessage(const std::string& text) {
  auto event = decodeInvalidation(text);
  if (!event) {
    metrics_.inc("recgw_invalidations_malformed_total");
    return;
  }
  if (event->origin == origin_) return;  // applied when it was published
  metrics_.inc("recgw_invalidations_received_total");
  deliver(*event);
}

}  // namespace recgw::storage
