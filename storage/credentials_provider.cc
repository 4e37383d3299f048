#include "storage/credentials_provider.h"

#include <algorithm>
#include <openssl/crypto.h>

#include "reactor/logger.h"

namespace recgw::storage {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kRefreshesMetric = "recgw_s3_credential_refreshes_total";
constexpr const char* kExpiryMetric = "recgw_s3_credentials_expiry_seconds";
// Never schedule a refresh sooner than this after the last one: a margin as long as the
// credentials' lifetime would otherwise spin.
constexpr milliseconds kMinRefreshDelay{1000};

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

void wipe(AwsCredentials& c) {
  wipe(c.secretKey);
  wipe(c.sessionToken);
}

}  // namespace

CredentialsProvider::CredentialsProvider(reactor::EventLoop& loop, std::unique_ptr<CredentialSource> source,
                                         CredentialsRefreshSettings settings, reactor::Metrics* metrics)
    : loop_(loop),
      source_(std::move(source)),
      settings_(settings),
      metrics_(metrics),
      timer_(loop, [this] { beginFetch(); }) {
  if (metrics_) {
    metrics_->describe(kRefreshesMetric, reactor::Metrics::Type::kCounter,
                       "S3 credential fetches and refreshes, by result (ok, error)");
    metrics_->describe(kExpiryMetric, reactor::Metrics::Type::kGauge,
                       "Seconds until the S3 credentials in use expire (absent: they do not)");
    metrics_->describe("recgw_s3_credential_retries_total", reactor::Metrics::Type::kCounter,
                       "Requests retried once after storage refused the credentials (ExpiredToken …)");
    metrics_->inc(kRefreshesMetric, reactor::Metrics::label("result", "ok"), 0);
    metrics_->inc(kRefreshesMetric, reactor::Metrics::label("result", "error"), 0);
  }
}

CredentialsProvider::~CredentialsProvider() {
  if (current_) wipe(*current_);
}

void CredentialsProvider::start() { beginFetch(); }

const AwsCredentials* CredentialsProvider::current() const {
  if (!current_) return nullptr;
  if (current_->expiration && *current_->expiration <= Clock::now()) return nullptr;
  return &*current_;
}

void CredentialsProvider::refreshNow(uint64_t seen, std::function<void(bool)> done) {
  if (seen != generation_ && !inFlight_) {
    reactor::LivenessWatch alive = alive_;
    loop_.defer([this, alive, done = std::move(done)] {
      if (!alive.expired() && done) done(current() != nullptr);
    });
    return;
  }
  if (done) waiters_.push_back(std::move(done));
  if (!inFlight_) {
    timer_.cancel();
    beginFetch();
  }
}

void CredentialsProvider::waitForCredentials(std::function<void(bool)> done) {
  if (current() || (!inFlight_ && lastFetchFailed_)) {
    reactor::LivenessWatch alive = alive_;
    loop_.defer([this, alive, done = std::move(done)] {
      if (!alive.expired()) done(current() != nullptr);
    });
    return;
  }
  waiters_.push_back(std::move(done));
  if (!inFlight_) {
    timer_.cancel();
    beginFetch();
  }
}

void CredentialsProvider::beginFetch() {
  if (inFlight_) return;
  inFlight_ = true;
  reactor::LivenessWatch alive = alive_;
  source_->fetch([this, alive](CredentialFetch result) {
    if (alive.expired()) return;
    onFetched(std::move(result));
  });
}

void CredentialsProvider::onFetched(CredentialFetch result) {
  inFlight_ = false;
  bool ok = result.ok();
  lastFetchFailed_ = !ok;
  if (ok) {
    if (current_) wipe(*current_);
    current_ = std::move(result.credentials);
    wipe(result.credentials);
    answeredBy_ = result.source;
    ++generation_;
    ++refreshes_;
    lastSuccess_ = std::chrono::steady_clock::now();
    backoff_ = milliseconds(0);
    if (!lastError_.empty() || refreshes_ == 1) {
      reactor::logInfo("s3 credentials in force",
                       {{"source", answeredBy_},
                        {"temporary", current_->temporary() ? "true" : "false"},
                        {"expires_in_s", current_->expiration ? std::to_string(duration_cast<seconds>(
                                                                                    *current_->expiration -
                                                                                    Clock::now())
                                                                                    .count())
                                                              : std::string("never")}});
    }
    lastError_.clear();
    if (metrics_) metrics_->inc(kRefreshesMetric, reactor::Metrics::label("result", "ok"));
    scheduleRefresh();
  } else {
    ++failures_;
    if (result.error != lastError_) {
      reactor::logWarn("s3 credentials fetch failed",
                       {{"source", result.source.empty() ? source_->name() : result.source},
                        {"error", result.error},
                        {"current_valid", current() ? "true" : "false"}});
    }
    lastError_ = result.error;
    if (metrics_) metrics_->inc(kRefreshesMetric, reactor::Metrics::label("result", "error"));
    scheduleRetry();
  }
  publishGauges();
  std::vector<std::function<void(bool)>> waiters;
  waiters.swap(waiters_);
  for (auto& w : waiters) {
    try {
      w(ok);
    } catch (const std::exception& e) {
      reactor::logError("credentials waiter failed", {{"error", e.what()}});
    }
  }
}

void CredentialsProvider::scheduleRefresh() {
  timer_.cancel();
  if (!current_ || !current_->expiration) return;  // does not expire: nothing to refresh
  auto due = *current_->expiration - settings_.refreshMargin;
  auto delay = duration_cast<milliseconds>(due - Clock::now());
  timer_.startOnce(std::max(delay, kMinRefreshDelay));
}

void CredentialsProvider::scheduleRetry() {
  timer_.cancel();
  backoff_ = backoff_.count() == 0 ? settings_.minBackoff : std::min(backoff_ * 2, settings_.maxBackoff);
  milliseconds delay = backoff_;
  // Keep a retry ahead of the expiry while the current set still works.
  if (const AwsCredentials* c = current(); c && c->expiration) {
    auto left = duration_cast<milliseconds>(*c->expiration - Clock::now());
    if (left > kMinRefreshDelay) delay = std::min(delay, std::max(left / 2, kMinRefreshDelay));
  }
  timer_.startOnce(delay);
}

CredentialsStatus CredentialsProvider::status() const {
  CredentialsStatus s;
  s.source = answeredBy_.empty() ? source_->name() : answeredBy_;
  const AwsCredentials* c = current();
  s.available = c != nullptr;
  if (c) {
    s.temporary = c->temporary();
    if (c->expiration) s.expiresInSeconds = duration_cast<seconds>(*c->expiration - Clock::now()).count();
  }
  s.lastError = lastError_;
  s.refreshes = refreshes_;
  s.failures = failures_;
  return s;
}

void CredentialsProvider::publishGauges() {
  if (!metrics_) return;
  const AwsCredentials* c = current();
  if (c && c->expiration) {
    auto left = duration_cast<seconds>(*c->expiration - Clock::now());
    metrics_->set(kExpiryMetric, settings_.gaugeLabels, static_cast<double>(left.count()));
  } else if (!c) {
    metrics_->set(kExpiryMetric, settings_.gaugeLabels, 0);
  }
}

}  // namespace recgw::storage
