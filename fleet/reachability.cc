#include "fleet/reachability.h"

#include "storage/url_redaction.h"

namespace recgw::fleet {
namespace {

// Short budgets: /readyz waits for this round, and an origin that needs longer to accept a
// connection is worth reporting anyway.
constexpr std::chrono::milliseconds kConnectBudget{1000};
constexpr std::chrono::milliseconds kFirstByteBudget{1500};

}  // namespace

std::string explainTransportError(const Source& source, const std::string& error) {
  bool storage = source.kind == Source::Kind::kStorage;
  const char* setting = storage ? "s3.ca_file" : "fleet.ca_file";
  std::string where = source.label + " (" + storage::redactUrl(source.baseUrl) + ")";
  if (error.rfind(reactor::kCertificateUnverified, 0) == 0) {
    return "the TLS certificate of " + where + " could not be verified (" + error +
           "): if a private CA signed it, set " + setting + " to that CA's PEM bundle";
  }
  if (error.rfind(reactor::kCaBundleUnusable, 0) == 0) {
    return std::string(setting) + " could not be used to verify " + where + " (" + error +
           "): it must be a readable PEM bundle of CA certificates";
  }
  return where + " is unreachable (" + error + ")";
}

Reachability::Reachability(reactor::CurlMulti& curl, std::function<SourceChain()> makeChain,
                           std::chrono::seconds maxAge, std::function<uint64_t()> settingsVersion)
    : curl_(curl),
      makeChain_(std::move(makeChain)),
      maxAge_(maxAge),
      settingsVersion_(std::move(settingsVersion)) {}

Reachability::~Reachability() {
  for (reactor::TransferId id : inFlight_) curl_.cancel(id);
}

void Reachability::check(Done done) {
  auto now = std::chrono::steady_clock::now();
  uint64_t version = settingsVersion_ ? settingsVersion_() : 0;
  if (checkedAt_ && now - *checkedAt_ < maxAge_ && version == checkedVersion_) return done(last_);
  waiting_.push_back(std::move(done));
  if (waiting_.size() > 1) return;  // a round is under way
  checkedVersion_ = version;

  SourceChain chain = makeChain_();
  round_.clear();
  inFlight_.clear();
  outstanding_ = static_cast<int>(chain.sources().size()) + 1;  // +1: held until all are started
  for (size_t i = 0; i < chain.sources().size(); ++i) {
    const Source& source = chain.sources()[i];
    round_.push_back({source.label, source.kind, false, ""});
    reactor::UpstreamRequest req = chain.request(i, {{"Range", "bytes=0-0"}}, false);
    req.connectTimeout = std::min(req.connectTimeout, kConnectBudget);
    req.firstByteTimeout = std::min(req.firstByteTimeout, kFirstByteBudget);
    auto status = std::make_shared<long>(0);
    reactor::LivenessWatch alive = alive_;
    reactor::TransferCallbacks cb;
    cb.onHeaders = [status](const reactor::UpstreamResponse& r) {
      *status = r.status;
      return true;  // (false would cancel silently, without onDone)
    };
    // The status line is all this wants: stop at the first body bytes (onDone still runs).
    cb.onData = [](const char*, size_t) -> size_t { return 0; };
    cb.onDone = [this, alive, status, i, source](const std::string& error) {
      if (alive.expired()) return;
      SourceReachability& r = round_[i];
      if (*status != 0) {
        r.ok = true;
        r.reason = "answered HTTP " + std::to_string(*status);
      } else {
        r.reason = explainTransportError(source, error.empty() ? "no answer" : error);
      }
      finishRound();
    };
    if (auto started = curl_.start(req, std::move(cb)); !started) {
      round_[i].reason = explainTransportError(source, started.error().message);
      --outstanding_;
    } else {
      inFlight_.push_back(*started);
    }
  }
  finishRound();
}

void Reachability::finishRound() {
  if (--outstanding_ > 0) return;
  inFlight_.clear();
  last_ = round_;
  checkedAt_ = std::chrono::steady_clock::now();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& done : waiting) done(last_);
}

}  // namespace recgw::fleet
