#include "fleet/source_chain.h"

#include <algorithm>

#include "storage/s3_addressing.h"
#include "storage/uri_encoding.h"

namespace recgw::fleet {

std::string fleetRecordingUrl(const std::string& base, const std::string& key) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/recordings/";
  // Per segment; "." and ".." are written %2E so no server can resolve them out of
  // /recordings/ (the fleet decodes the key after routing).
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    std::string segment = key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (segment == ".")
      url += "%2E";
    else if (segment == "..")
      url += "%2E%2E";
    else
      url += storage::uriEncode(segment, /*keepSlash=*/false);
    if (slash == std::string::npos) break;
    url += '/';
    start = slash + 1;
  }
  return url;
}

SourceChain::SourceChain(const storage::StorageSettings& settings,
                         std::shared_ptr<storage::SigV4Signer> signer, std::string key, std::string fleetSecretHeader, UpstreamTimeouts timeouts)
    : key_(std::move(key)),
      fleetSecret_(settings.values.fleetSecret),
      fleetSecretHeader_(std::move(fleetSecretHeader)),
      storageCaFile_(settings.values.caFile),
      fleetCaFile_(settings.values.fleetCaFile),
      signer_(std::move(signer)),
      timeouts_(timeouts) {
  if (fleetSecretHeader_.empty()) fleetSecretHeader_ = settings.values.fleetSecretHeader;
  if (fleetSecretHeader_.empty()) fleetSecretHeader_ = storage::kDefaultFleetSecretHeader;
  if (settings.storageComplete() && signer_) {
    location_ = settings.sharedLocation();
    sources_.push_back({Source::Kind::kStorage, "storage", location_->endpoint});
  }
  for (size_t i = 0; i < settings.values.fleetUrls.size(); ++i) {
    sources_.push_back({Source::Kind::kFleet, "fleet:" + std::to_string(i), settings.values.fleetUrls[i]});
  }
}

void SourceChain::preferFirst(const std::string& label) {
  auto it = std::find_if(sources_.begin(), sources_.end(), [&](const Source& s) { return s.label == label; });
  if (it == sources_.end() || it == sources_.begin()) return;
  std::rotate(sources_.begin(), it, it + 1);
}

reactor::UpstreamRequest SourceChain::request(size_t index,
                                              const std::vector<std::pair<std::string, std::string>>& headers,
                                              bool headOnly) const {
  const Source& source = sources_.at(index);
  reactor::UpstreamRequest req;
  req.connectTimeout = timeouts_.connect;
  req.firstByteTimeout = timeouts_.firstByte;
  req.lowSpeedBytes = timeouts_.lowSpeedBytes;
  req.lowSpeedTime = timeouts_.lowSpeedTime;
  req.headers = headers;
  if (source.kind == Source::Kind::kStorage) {
    storage::ObjectTarget target = storage::objectTarget(*location_, key_);
    req.url = target.url;
    req.caFile = storageCaFile_;
    req.headOnly = headOnly;
    std::vector<storage::HttpHeader> signedExtra;
    for (const auto& [name, value] : headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      signedExtra.push_back({lower, value});
    }
    auto sig = signer_->signHeaders(headOnly ? "HEAD" : "GET", target, signedExtra,
                                    std::chrono::system_clock::now());
    req.headers.reserve(req.headers.size() + sig.headers.size());
    for (const auto& h : sig.headers) req.headers.emplace_back(h.name, h.value);
  } else {
    req.url = fleetRecordingUrl(source.baseUrl, key_);
    req.caFile = fleetCaFile_;
    if (!fleetSecret_.empty()) req.headers.emplace_back(fleetSecretHeader_, fleetSecret_);
  }
  return req;
}

}  // namespace recgw::fleet
