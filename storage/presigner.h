#pragma once
// The presigned-URL helpers (README, "Routes"): S3Location + credentials + key -> a
// time-limited GET URL, and the RFC 3339 timestamps the JSON endpoints return with it.
// Pure: the clock is a parameter (defaulting to now) and nothing here does I/O.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/s3_addressing.h"
#include "storage/sigv4_signer.h"

namespace recgw::storage {

struct S3Credentials {
  std::string accessKey;
  std::string secretKey;
  std::string sessionToken;  // temporary credentials only; empty for long-term keys
};

// Response headers S3 should send instead of the object's stored ones, signed into the
// URL as response-content-disposition / response-content-type.
struct PresignOverrides {
  std::optional<std::string> contentDisposition;
  std::optional<std::string> contentType;
};

struct SignedUrl {
  std::string url;
  std::chrono::system_clock::time_point expiresAt{};  // X-Amz-Date (whole seconds) + expiry
  int64_t expiresInSeconds = 0;
  std::string error;  // non-empty when no URL could be made; the other fields are then unset
  bool ok() const { return error.empty(); }
};

inline constexpr int64_t kDefaultSignedUrlSeconds = 24 * 3600;
inline constexpr int64_t kMaxTemporaryUrlMinutes = kMaxPresignExpirySeconds / 60;

// Presigns GETs for one bucket with one signer, so the signing key is derived once a day
// rather than once per URL. Not thread-safe (it owns a SigV4Signer): one per event loop.
class Presigner {
 public:
  // The signing region is location.region, or regionFromEndpoint(location.endpoint) when
  // that is empty.
  Presigner(S3Location location, const S3Credentials& credentials);

  // GET URL for `key` valid expiresSeconds (1..604800).
  SignedUrl generateSignedUrl(std::string_view key, int64_t expiresSeconds = kDefaultSignedUrlSeconds,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                              const PresignOverrides& overrides = {});
  // GET URL valid `minutes` (1..10080, i.e. at most 7 days).
  SignedUrl generateTemporaryPublicUrl(
      std::string_view key, int64_t minutes,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

  const S3Location& location() const { return location_; }
  const SigV4Signer& signer() const { return signer_; }

 private:
  S3Location location_;
  SigV4Signer signer_;
  std::string configError_;  // set when the location or credentials cannot sign anything
};

// One-shot forms of the above, for the CLI and rare calls; each derives a signing key.
SignedUrl generateSignedUrl(const S3Location& location, const S3Credentials& credentials,
                            std::string_view key, int64_t expiresSeconds = kDefaultSignedUrlSeconds,
                            std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                            const PresignOverrides& overrides = {});
SignedUrl generateTemporaryPublicUrl(
    const S3Location& location, const S3Credentials& credentials, std::string_view key, int64_t minutes,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// "2013-05-24T00:00:00Z": UTC, whole seconds (truncated), `Z` suffix.
std::string formatRfc3339Utc(std::chrono::system_clock::time_point time);

}  // namespace recgw::storage
