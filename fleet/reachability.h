#pragma once
// Can storage and each fleet host be reached, TLS handshake included? /readyz asks this so
// that an origin whose certificate cannot be verified (a private CA without s3.ca_file or
// fleet.ca_file) is named there, before a user's request fails on it. One small ranged GET
// per source; answers are cached for `maxAge` and concurrent checks share one round.
// Loop thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fleet/source_chain.h"
#include "reactor/curl_multi.h"
#include "reactor/liveness.h"

namespace recgw::fleet {

struct SourceReachability {
  std::string label;  // "storage", "fleet:0" …
  Source::Kind kind = Source::Kind::kStorage;
  bool ok = false;       // the origin answered HTTP (any status: credentials are not judged here)
  std::string reason;    // safe to show: URLs in display form, no secrets
};

// A transport failure of `source` worded for the person who has to fix it: a certificate
// that could not be verified names the setting that supplies a private CA. Pure.
std::string explainTransportError(const Source& source, const std::string& error);

class Reachability {
 public:
  // `makeChain` builds the chain as now in force, for a key that is not expected to exist.
  // `settingsVersion` (optional) changes when the settings do (a reload, a new
  // system_settings document): a cached answer is only reused for the same version.
  Reachability(reactor::CurlMulti& curl, std::function<SourceChain()> makeChain, std::chrono::seconds maxAge,
               std::function<uint64_t()> settingsVersion = {});
  ~Reachability();
  Reachability(const Reachability&) = delete;
  Reachability& operator=(const Reachability&) = delete;

  using Done = std::function<void(const std::vector<SourceReachability>&)>;
  void check(Done done);

 private:
  void finishRound();

  reactor::CurlMulti& curl_;
  std::function<SourceChain()> makeChain_;
  std::chrono::seconds maxAge_;
  std::function<uint64_t()> settingsVersion_;
  uint64_t checkedVersion_ = 0;
  std::optional<std::chrono::steady_clock::time_point> checkedAt_;
  std::vector<SourceReachability> last_;
  std::vector<SourceReachability> round_;
  std::vector<reactor::TransferId> inFlight_;
  int outstanding_ = 0;
  std::vector<Done> waiting_;
  reactor::Liveness alive_;
};

}  // namespace recgw::fleet
