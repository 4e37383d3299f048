#include "storage/presigner.h"

#include <cstdio>
#include <utility>
#include <vector>

namespace recgw::storage {
namespace {

using Clock = std::chrono::system_clock;

std::string signingRegion(const S3Location& location) {
  return location.region.empty() ? regionFromEndpoint(location.endpoint) : location.region;
}

std::string configErrorFor(const S3Location& location, const S3Credentials& credentials) {
  if (location.endpoint.empty()) return "storage endpoint not configured";
  if (location.bucket.empty()) return "storage bucket not configured";
  if (credentials.accessKey.empty() || credentials.secretKey.empty())
    return "storage credentials not configured";
  return {};
}

}  // namespace

Presigner::Presigner(S3Location location, const S3Credentials& credentials)
    : location_(std::move(location)),
      signer_(credentials.accessKey, credentials.secretKey, signingRegion(location_), "s3",
              credentials.sessionToken),
      configError_(configErrorFor(location_, credentials)) {}

SignedUrl Presigner::generateSignedUrl(std::string_view key, int64_t expiresSeconds, Clock::time_point now,
                                       const PresignOverrides& overrides) {
  SignedUrl out;
  if (!configError_.empty()) {
    out.error = configError_;
    return out;
  }
  if (key.empty()) {
    out.error = "empty object key";
    return out;
  }
  std::vector<QueryParam> extra;
  if (overrides.contentDisposition)
    extra.push_back({"response-content-disposition", *overrides.contentDisposition});
  if (overrides.contentType) extra.push_back({"response-content-type", *overrides.contentType});

  PresignedUrl presigned = signer_.presign("GET", objectTarget(location_, key), expiresSeconds, now, extra);
  if (!presigned.ok()) {
    out.error = std::move(presigned.error);
    return out;
  }
  out.url = std::move(presigned.url);
  out.expiresInSeconds = expiresSeconds;
  // S3 counts from X-Amz-Date, which has whole seconds.
  out.expiresAt = std::chrono::floor<std::chrono::seconds>(now) + std::chrono::seconds(expiresSeconds);
  return out;
}

SignedUrl Presigner::generateTemporaryPublicUrl(std::string_view key, int64_t minutes,
                                                Clock::time_point now) {
  if (minutes < 1 || minutes > kMaxTemporaryUrlMinutes) {
    SignedUrl out;
    out.error = "expiration must be between 1 and " + std::to_string(kMaxTemporaryUrlMinutes) +
                " minutes, got " + std::to_string(minutes);
    return out;
  }
  return generateSignedUrl(key, minutes * 60, now);
}

SignedUrl generateSignedUrl(const S3Location& location, const S3Credentials& credentials,
                            std::string_view key, int64_t expiresSeconds, Clock::time_point now,
                            const PresignOverrides& overrides) {
  return Presigner(location, credentials).generateSignedUrl(key, expiresSeconds, now, overrides);
}

SignedUrl generateTemporaryPublicUrl(const S3Location& location, const S3Credentials& credentials,
                                     std::string_view key, int64_t minutes, Clock::time_point now) {
  return Presigner(location, credentials).generateTemporaryPublicUrl(key, minutes, now);
}

std::string formatRfc3339Utc(Clock::time_point time) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(time);
  auto day = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{seconds - day};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

}  // namespace recgw::storage
