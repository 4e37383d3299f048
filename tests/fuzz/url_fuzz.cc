// libFuzzer target for the pure parsers that see stored URLs, cached records, admin
// request bodies and client headers: extractS3KeyFromUrl, percentDecode,
// deriveRecordingKey, parseIsoInstant, decodeCachedRecord, parseWarmRequest,
// clientAddress and redactUrl. Beyond "no crash", it checks the properties callers rely on.
//
// Functions of two or three strings take the input split at '\n'.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/admin_cache.h"
#include "handlers/failed_lookup_limiter.h"
#include "storage/iso_time.h"
#include "storage/lookup_cache.h"
#include "storage/presigner.h"
#include "storage/recording_key.h"
#include "storage/s3_addressing.h"
#include "storage/uri_encoding.h"
#include "storage/url_redaction.h"

using namespace recgw;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::string_view> splitLines(std::string_view s, size_t parts) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < parts) {
    size_t nl = s.find('\n');
    if (nl == std::string_view::npos) break;
    out.push_back(s.substr(0, nl));
    s.remove_prefix(nl + 1);
  }
  out.push_back(s);
  while (out.size() < parts) out.emplace_back();
  return out;
}

void fuzzPercent(std::string_view s) {
  auto decoded = storage::percentDecode(s);
  if (!decoded) return;
  check(decoded->size() <= s.size());
  // Encoding what was decoded and decoding again gives the same bytes.
  auto again = storage::percentDecode(storage::uriEncode(*decoded, false));
  check(again && *again == *decoded);
  auto keepSlash = storage::percentDecode(storage::uriEncode(*decoded, true));
  check(keepSlash && *keepSlash == *decoded);
}

void fuzzExtract(std::string_view url, std::string_view hint) {
  auto key = storage::extractS3KeyFromUrl(url);
  if (key) check(!key->empty());
  auto hinted = storage::extractS3KeyFromUrl(url, hint);
  if (hinted) check(!hinted->empty());
}

void fuzzDerive(std::string_view key, std::string_view url) {
  auto derived = storage::deriveRecordingKey(key, url);
  if (!key.empty()) {
    check(derived && derived->key == key && derived->how == "recording_key");
    return;
  }
  auto fromUrl = storage::deriveRecordingKey({}, url);
  if (!fromUrl) return;
  check(!fromUrl->key.empty() && fromUrl->how == "recording_url");
  // Query and fragment never change the key.
  if (url.find_first_of("?#") == std::string_view::npos) {
    auto withQuery = storage::deriveRecordingKey({}, std::string(url) + "?q=/other.ogg#/frag.ogg");
    check(withQuery && withQuery->key == fromUrl->key);
  }
}

void fuzzIso(std::string_view s) {
  auto t = storage::parseIsoInstant(s);
  if (!t) return;
  using namespace std::chrono;
  if (s.size() == 10) check(duration_cast<seconds>(t->time_since_epoch()).count() % 86400 == 0);
  // Formatting the instant and parsing it again gives the same whole second.
  if (*t < system_clock::time_point{}) return;
  auto again = storage::parseIsoInstant(storage::formatRfc3339Utc(*t));
  check(again && time_point_cast<seconds>(*again) == time_point_cast<seconds>(*t));
}

void fuzzCachedRecord(std::string_view s) {
  auto decoded = storage::decodeCachedRecord(s);
  if (!decoded) return;
  const storage::CallRecord& r = decoded->first;
  check(r.outcome != storage::CallRecord::Outcome::kUnavailable);
  if (r.outcome == storage::CallRecord::Outcome::kFound) check(!r.key.empty());
  auto again = storage::decodeCachedRecord(storage::encodeCachedRecord(r, decoded->second));
  check(again.has_value());
  const storage::CallRecord& a = again->first;
  check(a.outcome == r.outcome && a.sessionId == r.sessionId && a.accountId == r.accountId &&
        a.recordingStatus == r.recordingStatus);
  if (r.outcome == storage::CallRecord::Outcome::kFound) {
    check(a.key == r.key && a.keyDerivation == r.keyDerivation && again->second == decoded->second);
  }
}

void fuzzWarm(std::string_view s) {
  constexpr size_t kMax = 5;
  handlers::WarmRequest req = handlers::parseWarmRequest(s, kMax);
  if (!req.error.empty()) return;
  check(req.values.size() <= kMax);
  for (const auto& v : req.values) check(!v.empty() && v.size() <= 256);
  if (req.since) {
    check(req.values.empty());
    const bool given = req.limit >= 1 && req.limit <= kMax;
    check(given || req.limit == handlers::WarmRequest{}.limit);
  }
}

void fuzzClientAddress(std::string_view peer, std::string_view xff, std::string_view trustedText) {
  std::vector<std::string> trusted;
  std::stringstream ss{std::string(trustedText)};
  std::string item;
  while (std::getline(ss, item, ',')) trusted.push_back(item);
  const std::string peerStr(peer);
  const std::string xffStr(xff);
  std::string got = handlers::clientAddress(peerStr, xffStr.c_str(), trusted);
  check(handlers::clientAddress(peerStr, nullptr, trusted) == peerStr);
  if (got == peerStr) return;
  // Otherwise it is one hop of the header, not a trusted proxy, and the peer was trusted.
  check(xffStr.find(got) != std::string::npos);
  check(!got.empty());
  for (const auto& t : trusted) check(t != got);
  bool peerTrusted = false;
  for (const auto& t : trusted) peerTrusted = peerTrusted || t == peerStr;
  check(peerTrusted);
}

// The display form of a URL: no '@' survives but the one after the mask (so no userinfo
// does), every secret parameter's value is the mask, redacting twice changes nothing, and
// text with nothing to hide is shown as it is.
void fuzzRedactUrl(std::string_view url) {
  const std::string shown = storage::redactUrl(url);
  check(storage::redactUrl(shown) == shown);
  const size_t at = shown.find('@');
  if (at != std::string::npos) {
    check(shown.find('@', at + 1) == std::string::npos);
    const size_t mask = storage::kRedacted.size();
    check(at >= mask && shown.compare(at - mask, mask, storage::kRedacted) == 0);
  }
  if (url.find_first_of("@?#") == std::string_view::npos) check(shown == url);
  // Parameters: after the first '?' up to the first '#', and after that '#'.
  const size_t hostStart = at == std::string::npos ? 0 : at + 1;
  size_t fragment = shown.find('#', hostStart);
  size_t query = shown.find('?', hostStart);
  if (query != std::string::npos && fragment != std::string::npos && fragment < query) {
    query = std::string::npos;
  }
  auto checkParameters = [](std::string_view parameters) {
    size_t start = 0;
    while (start <= parameters.size()) {
      size_t end = parameters.find_first_of("&;", start);
      std::string_view p =
          parameters.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
      size_t eq = p.find('=');
      if (eq != std::string_view::npos && storage::isSecretUrlParameter(p.substr(0, eq))) {
        check(p.substr(eq + 1) == storage::kRedacted);
      }
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  };
  const std::string_view view(shown);
  if (query != std::string::npos) {
    size_t queryEnd = fragment == std::string::npos ? view.size() : fragment;
    checkParameters(view.substr(query + 1, queryEnd - query - 1));
  }
  if (fragment != std::string::npos) checkParameters(view.substr(fragment + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto two = splitLines(input, 2);
  auto three = splitLines(input, 3);
  fuzzPercent(input);
  fuzzExtract(input, {});
  fuzzExtract(two[1], two[0]);
  fuzzDerive({}, input);
  fuzzDerive(two[0], two[1]);
  fuzzIso(input);
  fuzzCachedRecord(input);
  fuzzWarm(input);
  fuzzClientAddress(three[0], three[1], three[2]);
  fuzzRedactUrl(input);
  return 0;
}
