#pragma once
// The ordered places a recording may be: object storage first (when its settings are
// complete), then each fleet host in order. For each it builds the upstream request:
// a SigV4-signed GET/HEAD for storage, `GET {base}/recordings/{key}` with the secret
// header for a fleet host. Knows nothing of HTTP routes or clients.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reactor/curl_multi.h"
#include "storage/sigv4_signer.h"
#include "storage/storage_settings.h"

namespace recgw::fleet {

struct Source {
  enum class Kind { kStorage, kFleet };
  Kind kind = Kind::kStorage;
  std::string label;    // "storage" or "fleet:0", "fleet:1" … (metrics and logs)
  std::string baseUrl;  // fleet base URL, or the storage endpoint
};

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{3000};
  std::chrono::milliseconds firstByte{10000};
  long lowSpeedBytes = 1024;
  std::chrono::seconds lowSpeedTime{20};
};

// `GET {base}/recordings/{key}` with each key segment percent-encoded. Pure.
std::string fleetRecordingUrl(const std::string& base, const std::string& key);

class SourceChain {
 public:
  // `signer` may be null when storage is incomplete (or has no valid credentials). The
  // chain shares it, so a credential refresh that replaces the gateway's signer does not
  // pull it from under a stream in progress (the chain signs when asked, with the time of
  // asking).
  // An empty `fleetSecretHeader` means the one the settings carry (see mergeSettings).
  SourceChain(const storage::StorageSettings& settings, std::shared_ptr<storage::SigV4Signer> signer,
              std::string key,
              std::string fleetSecretHeader, UpstreamTimeouts timeouts);

  const std::vector<Source>& sources() const { return sources_; }
  // Moves the source with this label to the front (a lookup hint of where the object was
  // last found); the rest keep their order, so a stale hint only costs one attempt.
  void preferFirst(const std::string& label);
  const std::string& key() const { return key_; }
  const std::shared_ptr<storage::SigV4Signer>& signer() const { return signer_; }
  // Signs later storage requests with `signer` (fresh credentials); ignored when null.
  void replaceSigner(std::shared_ptr<storage::SigV4Signer> signer) {
    if (signer) signer_ = std::move(signer);
  }
  const std::string& fleetSecretHeader() const { return fleetSecretHeader_; }

  // headers: extra request headers (range, if-match). headOnly asks storage for HEAD;
  // fleet hosts are only asked GET (the caller cancels after the headers).
  reactor::UpstreamRequest request(size_t index,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   bool headOnly) const;

 private:
  std::vector<Source> sources_;
  std::string key_;
  std::string fleetSecret_;
  std::string fleetSecretHeader_;
  std::string storageCaFile_, fleetCaFile_;
  std::shared_ptr<const storage::S3Location> location_;
  std::shared_ptr<storage::SigV4Signer> signer_;
  UpstreamTimeouts timeouts_;
};

}  // namespace recgw::fleet
