#pragma once
// Where recordings live, as now in force: the `system_settings` document (_id "global"),
// re-read periodically so operators can change storage or fleet without a restart, with
// every non-empty value from the config file/environment taking precedence.
// Loop thread only; the read itself runs on the MongoDB worker pool.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "storage/mongo_client.h"
#include "storage/s3_addressing.h"

namespace recgw::storage {

// The header that carries the fleet secret when neither the config (`fleet.secret_header`)
// nor the settings' naming says otherwise.
inline constexpr const char* kDefaultFleetSecretHeader = "X-CXBCore-Secret";
// Older deployments name their fleet `voxcore_fleet` (secret `voxcore_secret`), and their
// fleet hosts expect this header.
inline constexpr const char* kVoxCoreFleetSecretHeader = "X-VoxCore-Secret";

struct StorageValues {
  std::string endpoint, accessKey, secretKey, bucket, region, addressing;
  std::vector<std::string> fleetUrls;
  std::string fleetSecret;
  // Config: `fleet.secret_header` (empty = not configured). Document: the header its naming
  // implies (X-VoxCore-Secret for `voxcore_fleet`, else empty). Merged: the header in force.
  std::string fleetSecretHeader;
  // CA bundles for storage and the fleet hosts (config only: a file path means something
  // on this host, not in a document shared by every gateway). Empty: the system store.
  std::string caFile, fleetCaFile;
  // Config only: the credentials come from a provider (s3.credentials other than static),
  // so access_key and secret_key are not required.
  bool keysFromProvider = false;
};

struct StorageSettings {
  StorageValues values;
  std::vector<std::string> missing;  // of endpoint, access_key, secret_key, bucket
  bool storageComplete() const { return missing.empty(); }
  S3Location location() const;
  // The same, resolved once by mergeSettings: a stream's SourceChain shares it instead of
  // parsing the endpoint again for every request. Settings built by hand resolve it here.
  std::shared_ptr<const S3Location> sharedLocation() const;
  std::string describeMissing() const;
  // Set by mergeSettings from `values`, which are not changed afterwards.
  std::shared_ptr<const S3Location> resolvedLocation;  // "incomplete settings, missing: …"
};

// Config wins field by field; the document fills the gaps. The secret header is the
// configured one, else the one the fleet list's naming implies (the document's, when the
// fleet hosts come from the document), else kDefaultFleetSecretHeader. Pure.
StorageSettings mergeSettings(const StorageValues& config, const StorageValues& document);

// Parses the system_settings document. Pure (tests feed it BSON). The fleet is
// `cxbcore_fleet` (+ `cxbcore_secret`); when that is absent or empty, the older names
// `voxcore_fleet` (+ `voxcore_secret`, header X-VoxCore-Secret) are read instead.
StorageValues settingsFromDocument(const bson_t* doc);

// Reads the system_settings document (_id "global"). Blocking: worker threads and CLIs.
// `found` is false when there is no such document; `error` is set when MongoDB failed.
StorageValues readSettingsDocumentBlocking(mongoc_client_t* client, const std::string& database,
                                           const std::string& collection, bool& found, std::string& error);

class SettingsStore {
 public:
  SettingsStore(reactor::EventLoop& loop, MongoClient& mongo, std::string collection, StorageValues config,
                std::chrono::seconds refresh);
  void start();
  void setConfig(StorageValues config);  // SIGHUP
  const StorageSettings& current() const { return current_; }
  uint64_t generation() const { return generation_; }  // bumps when the settings change
  const std::string& lastReadError() const { return lastReadError_; }
  bool documentSeen() const { return documentSeen_; }

 private:
  void refresh();
  void apply(const StorageValues& document);

  reactor::EventLoop& loop_;
  MongoClient& mongo_;
  std::string collection_;
  StorageValues config_;
  StorageValues document_;
  StorageSettings current_;
  uint64_t generation_ = 1;
  std::string lastReadError_;
  bool documentSeen_ = false;
  bool readInFlight_ = false;
  std::chrono::seconds refreshPeriod_;
  reactor::Timer timer_;
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
