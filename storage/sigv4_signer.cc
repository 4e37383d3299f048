#include "storage/sigv4_signer.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "reactor/char_search.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {
namespace {

using Clock = std::chrono::system_clock;
using EncodedParam = std::pair<std::string, std::string>;

// The presigning parameters we add ourselves; a caller's extra parameter may not shadow them.
constexpr std::string_view kPresignParams[] = {
    "X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",          "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token"};
constexpr std::string_view kSecurityTokenHeader = "x-amz-security-token";

// Headers signHeaders() adds itself, plus authorization, which is never signed.
constexpr std::string_view kManagedHeaders[] = {"host", "x-amz-date", "x-amz-content-sha256",
                                                "x-amz-security-token", "authorization"};

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

// SigV4 canonical header value: trimmed, each run of spaces (and tabs, which servers
// treat alike) collapsed to one space.
std::string canonicalHeaderValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool pendingSpace = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out.push_back(' ');
    pendingSpace = false;
    out.push_back(c);
  }
  return out;
}

std::string joinSorted(std::vector<EncodedParam>& params) {
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out.append(name).push_back('=');
    out.append(value);
  }
  return out;
}

std::string_view view(const crypto::Sha256& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void cleanse(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
}

}  // namespace

CanonicalRequest buildCanonicalRequest(const RequestToSign& request) {
  CanonicalRequest out;
  if (request.method.empty()) {
    out.error = "empty method";
    return out;
  }
  std::vector<HttpHeader> headers;
  headers.reserve(request.headers.size());
  bool haveHost = false;
  for (const HttpHeader& header : request.headers) {
    if (header.name.empty() ||
        !std::all_of(header.name.begin(), header.name.end(), reactor::isHttpTokenChar)) {
      out.error = "invalid header name '" + header.name + "'";
      return out;
    }
    if (reactor::findAny(header.value, std::string_view("\r\n\0", 3)) != std::string::npos) {
      out.error = "header '" + header.name + "' has a line break or NUL in its value";
      return out;
    }
    HttpHeader canonical{header.name, canonicalHeaderValue(header.value)};
    for (char& c : canonical.name) c = lowerAscii(c);
    if (canonical.name == "host") {
      if (canonical.value.empty()) {
        out.error = "empty host";
        return out;
      }
      haveHost = true;
    }
    headers.push_back(std::move(canonical));
  }
  if (!haveHost) {
    out.error = "host header missing";
    return out;
  }
  // Stable, so repeated headers keep their order when joined, as the server sees them.
  std::stable_sort(headers.begin(), headers.end(),
                   [](const HttpHeader& a, const HttpHeader& b) { return a.name < b.name; });

  std::string& text = out.text;
  text.reserve(256 + request.canonicalUri.size() + request.canonicalQuery.size());
  text.append(request.method).push_back('\n');
  text.append(request.canonicalUri.empty() ? std::string_view("/") : request.canonicalUri).push_back('\n');
  text.append(request.canonicalQuery).push_back('\n');
  for (size_t i = 0; i < headers.size(); ++i) {
    const HttpHeader& header = headers[i];
    if (i > 0 && headers[i - 1].name == header.name) {
      // Repeated header: already written; its value was appended below.
      continue;
    }
    text.append(header.name).push_back(':');
    text.append(header.value);
    for (size_t j = i + 1; j < headers.size() && headers[j].name == header.name; ++j) {
      text.push_back(',');
      text.append(headers[j].value);
    }
    text.push_back('\n');
    if (!out.signedHeaders.empty()) out.signedHeaders.push_back(';');
    out.signedHeaders.append(header.name);
  }
  text.push_back('\n');
  text.append(out.signedHeaders).push_back('\n');
  text.append(request.payloadHash);
  return out;
}

std::string canonicalQueryString(std::span<const QueryParam> params) {
  std::vector<EncodedParam> encoded;
  encoded.reserve(params.size());
  for (const QueryParam& param : params) {
    encoded.emplace_back(uriEncode(param.name, false), uriEncode(param.value, false));
  }
  return joinSorted(encoded);
}

std::string formatAmzDate(Clock::time_point now) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(now);
  // Every upstream request is signed with the current second: format it once per second.
  thread_local std::chrono::sys_seconds cachedSecond{};
  thread_local std::string cached;
  if (!cached.empty() && seconds == cachedSecond) return cached;
  auto day = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{seconds - day};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  cachedSecond = seconds;
  cached = buf;
  return cached;
}

SigV4Signer::SigV4Signer(std::string accessKey, std::string secretKey, std::string region,
                         std::string service, std::string sessionToken)
    : accessKey_(std::move(accessKey)),
      secretKey_(std::move(secretKey)),
      region_(std::move(region)),
      service_(std::move(service)),
      sessionToken_(std::move(sessionToken)) {}

SigV4Signer::~SigV4Signer() {
  cleanse(secretKey_);
  cleanse(sessionToken_);
  OPENSSL_cleanse(signingKey_.data(), signingKey_.size());
}

std::string SigV4Signer::credentialScope(std::string_view date) const {
  std::string scope;
  scope.reserve(date.size() + region_.size() + service_.size() + 16);
  scope.append(date).push_back('/');
  scope.append(region_).push_back('/');
  scope.append(service_).append("/aws4_request");
  return scope;
}

crypto::HmacSha256Key& SigV4Signer::signingMac(std::string_view date) {
  if (date == keyDate_ && signingMac_.mac) return *signingMac_.mac;
  std::string secret = "AWS4" + secretKey_;
  crypto::Sha256 kDate = crypto::hmacSha256(secret, date);
  cleanse(secret);
  crypto::Sha256 kRegion = crypto::hmacSha256(view(kDate), region_);
  crypto::Sha256 kService = crypto::hmacSha256(view(kRegion), service_);
  signingKey_ = crypto::hmacSha256(view(kService), "aws4_request");
  signingMac_.mac = std::make_unique<crypto::HmacSha256Key>(view(signingKey_));
  keyDate_.assign(date);
  ++keyDerivations_;
  return *signingMac_.mac;
}

std::string SigV4Signer::signatureFor(std::string_view amzDate, std::string_view scope,
                                      std::string_view canonicalRequest) {
  std::string stringToSign;
  stringToSign.reserve(kSigV4Algorithm.size() + amzDate.size() + scope.size() + 67);
  stringToSign.append(kSigV4Algorithm).push_back('\n');
  stringToSign.append(amzDate).push_back('\n');
  stringToSign.append(scope).push_back('\n');
  stringToSign.append(crypto::sha256Hex(canonicalRequest));
  return crypto::hexLower(signingMac(amzDate.substr(0, 8)).mac(stringToSign));
}

SigV4Signature SigV4Signer::sign(const RequestToSign& request, Clock::time_point now) {
  SigV4Signature out;
  CanonicalRequest canonical = buildCanonicalRequest(request);
  if (!canonical.ok()) {
    out.error = std::move(canonical.error);
    return out;
  }
  std::string amzDate = formatAmzDate(now);
  std::string scope = credentialScope(std::string_view(amzDate).substr(0, 8));
  out.signature = signatureFor(amzDate, scope, canonical.text);
  out.signedHeaders = std::move(canonical.signedHeaders);
  // The comma-without-space layout of AWS's S3 examples; S3 accepts either.
  out.authorization.reserve(160 + out.signedHeaders.size());
  out.authorization.append(kSigV4Algorithm)
      .append(" Credential=")
      .append(accessKey_)
      .append("/")
      .append(scope)
      .append(",SignedHeaders=")
      .append(out.signedHeaders)
      .append(",Signature=")
      .append(out.signature);
  return out;
}

SigV4Headers SigV4Signer::signHeaders(std::string_view method, const ObjectTarget& target,
                                      std::span<const HttpHeader> extraHeaders, Clock::time_point now,
                                      std::string_view canonicalQuery) {
  return signHeaders(method, target.host, target.canonicalUri, canonicalQuery, extraHeaders, now);
}

SigV4Headers SigV4Signer::signHeaders(std::string_view method, std::string_view host,
                                      std::string_view canonicalUri, std::string_view canonicalQuery,
                                      std::span<const HttpHeader> extraHeaders, Clock::time_point now) {
  SigV4Headers out;
  std::vector<HttpHeader> headers;
  headers.reserve(extraHeaders.size() + 3);
  for (const HttpHeader& header : extraHeaders) {
    for (std::string_view managed : kManagedHeaders) {
      if (equalsIgnoreCase(header.name, managed)) {
        out.error = "header '" + header.name + "' is set by the signer";
        return out;
      }
    }
    headers.push_back(header);
  }
  std::string amzDate = formatAmzDate(now);
  headers.push_back({"host", std::string(host)});
  headers.push_back({"x-amz-content-sha256", std::string(kUnsignedPayload)});
  headers.push_back({"x-amz-date", amzDate});
  if (!sessionToken_.empty()) headers.push_back({std::string(kSecurityTokenHeader), sessionToken_});

  SigV4Signature signature =
      sign(RequestToSign{method, canonicalUri, canonicalQuery, headers, kUnsignedPayload}, now);
  if (!signature.ok()) {
    out.error = std::move(signature.error);
    return out;
  }
  out.headers.reserve(4);
  out.headers.push_back({"x-amz-date", std::move(amzDate)});
  out.headers.push_back({"x-amz-content-sha256", std::string(kUnsignedPayload)});
  if (!sessionToken_.empty()) out.headers.push_back({std::string(kSecurityTokenHeader), sessionToken_});
  out.headers.push_back({"Authorization", std::move(signature.authorization)});
  return out;
}

PresignedUrl SigV4Signer::presign(std::string_view method, const ObjectTarget& target, int64_t expiresSeconds,
                                  Clock::time_point now, std::span<const QueryParam> extraQuery) {
  PresignedUrl out;
  if (expiresSeconds < 1 || expiresSeconds > kMaxPresignExpirySeconds) {
    out.error = "expiry must be between 1 and " + std::to_string(kMaxPresignExpirySeconds) +
                " seconds, got " + std::to_string(expiresSeconds);
    return out;
  }
  std::string amzDate = formatAmzDate(now);
  std::string scope = credentialScope(std::string_view(amzDate).substr(0, 8));

  std::vector<EncodedParam> params;
  params.reserve(std::size(kPresignParams) + extraQuery.size());
  params.emplace_back("X-Amz-Algorithm", std::string(kSigV4Algorithm));
  params.emplace_back("X-Amz-Credential", uriEncode(accessKey_ + "/" + scope, false));
  params.emplace_back("X-Amz-Date", amzDate);
  params.emplace_back("X-Amz-Expires", std::to_string(expiresSeconds));
  params.emplace_back("X-Amz-SignedHeaders", "host");
  std::string encodedToken = sessionToken_.empty() ? std::string() : uriEncode(sessionToken_, false);
  if (!encodedToken.empty()) params.emplace_back("X-Amz-Security-Token", encodedToken);
  for (const QueryParam& param : extraQuery) {
    if (param.name.empty()) {
      out.error = "empty query parameter name";
      return out;
    }
    for (std::string_view reserved : kPresignParams) {
      // S3 reads these names case-insensitively, so a differently-cased copy would be
      // ambiguous rather than harmless.
      if (equalsIgnoreCase(param.name, reserved)) {
        out.error = "query parameter '" + param.name + "' is set by the signer";
        return out;
      }
    }
    params.emplace_back(uriEncode(param.name, false), uriEncode(param.value, false));
  }
  std::string canonicalQuery = joinSorted(params);

  HttpHeader host{"host", target.host};
  CanonicalRequest canonical = buildCanonicalRequest(
      RequestToSign{method, target.canonicalUri, canonicalQuery, std::span(&host, 1), kUnsignedPayload});
  if (!canonical.ok()) {
    out.error = std::move(canonical.error);
    return out;
  }
  std::string signature = signatureFor(amzDate, scope, canonical.text);

  out.url.reserve(target.url.size() + canonicalQuery.size() + 100);
  out.url.append(target.url).push_back('?');
  if (encodedToken.empty()) {
    out.url.append(canonicalQuery);
  } else {
    // The signature covers the sorted query; the URL lists the token right after
    // X-Amz-SignedHeaders, where boto3 puts it, so both tools print the same URL.
    std::string tokenParam = "X-Amz-Security-Token=" + encodedToken;
    std::string query = canonicalQuery;
    size_t at = query.find(tokenParam);
    query.erase(at == 0 ? 0 : at - 1, tokenParam.size() + 1);
    constexpr std::string_view kSignedHeadersParam = "X-Amz-SignedHeaders=host";
    size_t after = query.find(kSignedHeadersParam) + kSignedHeadersParam.size();
    query.insert(after, "&" + tokenParam);
    out.url.append(query);
  }
  out.url.append("&X-Amz-Signature=").append(signature);
  return out;
}

}  // namespace recgw::storage
