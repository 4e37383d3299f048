#pragma once
// The settings of the rooms recording lifecycle (config section [lifecycle]).
#include <chrono>
#include <cstdint>
#include <string>

namespace recgw::lifecycle {

// One S3-compatible service: empty endpoint means "not set".
struct S3ServiceSettings {
  std::string endpoint, accessKey, secretKey, bucket, region, addressing;
  bool set() const { return !endpoint.empty(); }
};

// Config section [lifecycle]; env RECGW_LIFECYCLE_<KEY> (key in brackets). Defaults are the
// production ones.
struct LifecycleSettings {
  // [rooms_collection] [recordings_collection]; [transitions_collection]: exit claims and
  // audit log (storage/recording_store_claims.h).
  std::string roomsCollection = "rooms";
  std::string recordingsCollection = "recordings";
  std::string transitionsCollection = "recording_transitions";
  // [archive_bucket]: empty: archive 503.
  std::string archiveBucket;
  // [archive_storage_class]: sent as x-amz-storage-class; empty: the bucket's default.
  std::string archiveStorageClass = "GLACIER_IR";
  // The hot store (where ready recordings are, e.g. R2) and the archive (e.g. AWS S3) as
  // S3-compatible services (lifecycle/archive_storage.h). [hot_endpoint] [hot_access_key]
  // [hot_secret_key (secret)] [hot_bucket] [hot_region] [hot_addressing]: all empty: the main
  // storage (s3.* / system_settings). [archive_endpoint] [archive_access_key]
  // [archive_secret_key (secret)] [archive_region] [archive_addressing]: empty endpoint: the
  // hot store's service. Same service: server-side copy; two services: streamed multipart.
  S3ServiceSettings hot;
  S3ServiceSettings archive;  // its bucket is archiveBucket
  // [archive_part_bytes]: part size of the streamed archive (5 MiB..5 GiB); one part is in
  // memory per archive in flight. [archive_max_concurrent]: streamed archives per worker
  // (503 above). [archive_resume_after_s]: a streamed archive whose run stopped refreshing
  // its journal this long is resumed by the next request, or aborted by the sweep.
  uint64_t archivePartBytes = 16ULL * 1024 * 1024;
  int archiveMaxConcurrent = 2;
  std::chrono::seconds archiveResumeAfter{120};
  // [provider_url] [provider_token (secret)]: empty URL: sync/recover 503, no poll.
  std::string providerUrl;
  std::string providerToken;
  // [provider_connect_timeout_ms] [provider_timeout_ms]: request sent → response headers.
  std::chrono::milliseconds providerConnectTimeout{2000};
  std::chrono::milliseconds providerTimeout{5000};
  // [provider_retries]: after a 5xx or a refused connection; [provider_backoff_ms]: before
  // the first retry, doubled for each next one (±25% jitter).
  int providerRetries = 2;
  std::chrono::milliseconds providerBackoff{200};
  // [poll_period_s]: 0 = no background poll; [poll_batch]: recordings asked about per pass.
  std::chrono::seconds pollPeriod{30};
  int pollBatch = 50;
  // [link_window_s]: how far apart a provider recording's start and ours may be to link.
  std::chrono::seconds linkWindow{120};
  // [download_url_ttl_s]: 1..604800.
  std::chrono::seconds downloadUrlTtl{3600};
  // [s3_timeout_ms]: HEAD, CopyObject, DELETE (to response headers, and the stall limit).
  std::chrono::milliseconds s3Timeout{60000};
};

}  // namespace recgw::lifecycle
