#pragma once
// Keeps one worker's S3 credentials fresh, on its loop. Loop thread only.
//
// Temporary credentials are refreshed `refreshMargin` before they expire, in the
// background: requests keep signing with the current set and never wait. Refreshes
// collapse (one fetch in flight at a time; a forced refresh joins it). A failed refresh is
// retried with exponential backoff while the current set is still valid, and again while
// none is. Credentials that do not expire (static, env) are fetched once.
//
// Each worker process refreshes for itself: nothing is shared between processes or written
// to disk.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "storage/credentials_sources.h"

namespace recgw::storage {

struct CredentialsRefreshSettings {
  std::chrono::seconds refreshMargin{300};
  std::chrono::milliseconds minBackoff{1000};
  std::chrono::milliseconds maxBackoff{60000};
  // Labels of the expiry gauge, e.g. `worker="0"`: /metrics sums the workers' series, and a
  // sum of expiries means nothing.
  std::string gaugeLabels;
};

// What /readyz, diagnose and the metrics show: never a key.
struct CredentialsStatus {
  std::string source;  // the configured source, then what answered ("chain:imds")
  bool available = false;
  bool temporary = false;
  std::optional<int64_t> expiresInSeconds;
  std::string lastError;  // of the last failed fetch, cleared by a success
  uint64_t refreshes = 0, failures = 0;
};

class CredentialsProvider {
 public:
  // `metrics` may be null (CLI tools). Counts recgw_s3_credential_refreshes_total{result}
  // and sets recgw_s3_credentials_expiry_seconds.
  CredentialsProvider(reactor::EventLoop& loop, std::unique_ptr<CredentialSource> source,
                      CredentialsRefreshSettings settings, reactor::Metrics* metrics);
  ~CredentialsProvider();
  CredentialsProvider(const CredentialsProvider&) = delete;
  CredentialsProvider& operator=(const CredentialsProvider&) = delete;

  // The first fetch.
  void start();
  // The current credentials if valid now (not expired), else null.
  const AwsCredentials* current() const;
  // Bumps whenever current() changes.
  uint64_t generation() const { return generation_; }
  // Storage refused the credentials of generation `seen` (ExpiredToken …): refresh now,
  // joining a fetch in flight. When newer credentials than `seen` are already in force,
  // nothing is fetched: many requests refused at once cost one fetch. `done(ok)` runs on
  // the loop, later.
  void refreshNow(uint64_t seen, std::function<void(bool ok)> done);
  // For a request that finds no valid credentials: `done(true)` once a valid set is in
  // force: at once, or when the fetch in flight (e.g. the first one) succeeds. `done(false)`
  // when that fetch fails, or at once while a failed fetch's backoff runs (requests must not
  // turn a failing source into a fetch per request). Always later, on the loop.
  void waitForCredentials(std::function<void(bool ok)> done);
  CredentialsStatus status() const;
  // Updates the expiry gauge (called from the gauge refresh).
  void publishGauges();

 private:
  void beginFetch();
  void onFetched(CredentialFetch result);
  void scheduleRefresh();
  void scheduleRetry();

  reactor::EventLoop& loop_;
  std::unique_ptr<CredentialSource> source_;
  CredentialsRefreshSettings settings_;
  reactor::Metrics* metrics_;
  std::optional<AwsCredentials> current_;
  std::string answeredBy_;
  uint64_t generation_ = 0;
  bool inFlight_ = false;
  bool lastFetchFailed_ = false;
  std::vector<std::function<void(bool)>> waiters_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point lastSuccess_{};
  std::string lastError_;
  uint64_t refreshes_ = 0, failures_ = 0;
  reactor::Timer timer_;
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
