#include "storage/storage_settings.h"

#include "reactor/logger.h"
#include "storage/url_redaction.h"

namespace recgw::storage {
namespace {

std::string utf8(bson_iter_t* it) {
  if (!BSON_ITER_HOLDS_UTF8(it)) return {};
  uint32_t len = 0;
  const char* s = bson_iter_utf8(it, &len);
  return std::string(s, len);
}

const std::string& pick(const std::string& config, const std::string& document) {
  return config.empty() ? document : config;
}

bool sameValues(const StorageValues& a, const StorageValues& b) {
  return a.endpoint == b.endpoint && a.accessKey == b.accessKey && a.secretKey == b.secretKey &&
         a.bucket == b.bucket && a.region == b.region && a.addressing == b.addressing &&
         a.fleetUrls == b.fleetUrls && a.fleetSecret == b.fleetSecret &&
         a.fleetSecretHeader == b.fleetSecretHeader && a.caFile == b.caFile && a.fleetCaFile == b.fleetCaFile &&
         a.keysFromProvider == b.keysFromProvider;
}

std::vector<std::string> urlList(const bson_t* doc, const char* field) {
  std::vector<std::string> urls;
  bson_iter_t it, child;
  if (bson_iter_init_find(&it, doc, field) && BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &child)) {
    while (bson_iter_next(&child)) {
      std::string url = utf8(&child);
      if (!url.empty()) urls.push_back(url);
    }
  }
  return urls;
}

std::string stringField(const bson_t* doc, const char* field) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, field) ? utf8(&it) : std::string();
}

}  // namespace

std::shared_ptr<const S3Location> StorageSettings::sharedLocation() const {
  return resolvedLocation ? resolvedLocation : std::make_shared<const S3Location>(location());
}

S3Location StorageSettings::location() const {
  if (resolvedLocation) return *resolvedLocation;
  S3Location loc;
  loc.endpoint = endpointUrl(values.endpoint);
  loc.bucket = values.bucket;
  loc.region = regionFromEndpoint(values.endpoint, values.region);
  loc.addressing = parseAddressing(values.addressing).value_or(Addressing::kAuto);
  loc.caFile = values.caFile;
  return loc;
}

std::string StorageSettings::describeMissing() const {
  std::string out = "incomplete settings, missing:";
  for (const auto& m : missing) out += " " + m;
  return out;
}

StorageSettings mergeSettings(const StorageValues& config, const StorageValues& document) {
  StorageSettings s;
  StorageValues& v = s.values;
  v.endpoint = pick(config.endpoint, document.endpoint);
  v.accessKey = pick(config.accessKey, document.accessKey);
  v.secretKey = pick(config.secretKey, document.secretKey);
  v.bucket = pick(config.bucket, document.bucket);
  v.region = pick(config.region, document.region);
  v.addressing = pick(config.addressing, document.addressing);
  v.fleetUrls = config.fleetUrls.empty() ? document.fleetUrls : config.fleetUrls;
  v.fleetSecret = pick(config.fleetSecret, document.fleetSecret);
  const std::string& namingHeader = config.fleetUrls.empty() ? document.fleetSecretHeader : std::string();
  v.fleetSecretHeader = !config.fleetSecretHeader.empty() ? config.fleetSecretHeader
                        : !namingHeader.empty()           ? namingHeader
                                                          : std::string(kDefaultFleetSecretHeader);
  v.caFile = config.caFile;
  v.fleetCaFile = config.fleetCaFile;
  if (v.endpoint.empty()) s.missing.push_back("endpoint");
  v.keysFromProvider = config.keysFromProvider;
  if (!v.keysFromProvider && v.accessKey.empty()) s.missing.push_back("access_key");
  if (!v.keysFromProvider && v.secretKey.empty()) s.missing.push_back("secret_key");
  if (v.bucket.empty()) s.missing.push_back("bucket");
  s.resolvedLocation = std::make_shared<const S3Location>(s.location());
  return s;
}

StorageValues settingsFromDocument(const bson_t* doc) {
  StorageValues v;
  if (!doc) return v;
  bson_iter_t it, child;
  if (bson_iter_init_find(&it, doc, "minio") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
      bson_iter_recurse(&it, &child)) {
    while (bson_iter_next(&child)) {
      std::string_view key = bson_iter_key(&child);
      if (key == "endpoint")
        v.endpoint = utf8(&child);
      else if (key == "access_key")
        v.accessKey = utf8(&child);
      else if (key == "secret_key")
        v.secretKey = utf8(&child);
      else if (key == "bucket")
        v.bucket = utf8(&child);
      else if (key == "region")
        v.region = utf8(&child);
      else if (key == "addressing")
        v.addressing = utf8(&child);
    }
  }
  v.fleetUrls = urlList(doc, "cxbcore_fleet");
  v.fleetSecret = stringField(doc, "cxbcore_secret");
  if (v.fleetUrls.empty()) {
    std::vector<std::string> older = urlList(doc, "voxcore_fleet");
    if (!older.empty()) {
      v.fleetUrls = std::move(older);
      v.fleetSecretHeader = kVoxCoreFleetSecretHeader;
      if (std::string secret = stringField(doc, "voxcore_secret"); !secret.empty()) v.fleetSecret = secret;
    }
  }
  return v;
}

StorageValues readSettingsDocumentBlocking(mongoc_client_t* client, const std::string& database,
                                           const std::string& collection, bool& found, std::string& error) {
  found = false;
  if (!client) {
    error = "no MongoDB client";
    return {};
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter, opts;
  BSON_APPEND_UTF8(filter.get(), "_id", "global");
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(cursor.get(), &doc)) {
    found = true;
    return settingsFromDocument(doc);
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor.get(), &err)) error = err.message;
  return {};
}

SettingsStore::SettingsStore(reactor::EventLoop& loop, MongoClient& mongo, std::string collection,
                             StorageValues config, std::chrono::seconds refresh)
    : loop_(loop),
      mongo_(mongo),
      collection_(std::move(collection)),
      config_(std::move(config)),
      current_(mergeSettings(config_, {})),
      refreshPeriod_(refresh),
      timer_(loop, [this] { this->refresh(); }) {}

void SettingsStore::start() {
  refresh();
  timer_.startPeriodic(refreshPeriod_);
}

void SettingsStore::setConfig(StorageValues config) {
  config_ = std::move(config);
  apply(document_);
}

void SettingsStore::apply(const StorageValues& document) {
  document_ = document;
  StorageSettings next = mergeSettings(config_, document_);
  if (sameValues(next.values, current_.values) && next.missing == current_.missing) return;
  bool wasComplete = current_.storageComplete();
  current_ = std::move(next);
  ++generation_;
  if (current_.storageComplete()) {
    reactor::logInfo("storage settings in force", {{"endpoint", redactUrl(current_.values.endpoint)},
                                                   {"bucket", current_.values.bucket},
                                                   {"was_complete", wasComplete ? "true" : "false"}});
  } else {
    reactor::logWarn("storage skipped", {{"reason", current_.describeMissing()}});
  }
}

void SettingsStore::refresh() {
  if (readInFlight_) return;
  readInFlight_ = true;
  std::string database = mongo_.databaseName();
  std::string collection = collection_;
  reactor::LivenessWatch alive = alive_;
  bool queued = mongo_.run([this, database, collection, alive](mongoc_client_t* client) {
    std::string error;
    bool found = false;
    StorageValues values = readSettingsDocumentBlocking(client, database, collection, found, error);
    return reactor::WorkerPool::Completion([this, alive, values, error, found] {
      if (alive.expired()) return;
      readInFlight_ = false;
      if (!error.empty()) {
        // Keep what we had: a MongoDB outage must not blank the storage settings.
        if (lastReadError_ != error) reactor::logWarn("system_settings read failed", {{"error", error}});
        lastReadError_ = error;
        return;
      }
      lastReadError_.clear();
      documentSeen_ = found;
      apply(values);
    });
  });
  if (!queued) readInFlight_ = false;
}

}  // namespace recgw::storage
