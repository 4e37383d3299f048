#pragma once
// AWS Signature Version 4 for S3, signed by us rather than by curl: curl 7.88's
// CURLOPT_AWS_SIGV4 omits x-amz-content-sha256, leaves the query unsorted and the path
// unencoded (docs/library-notes.md, "SigV4 with curl 7.88"). Pure computation: no I/O, and the
// clock is always a parameter so tests and AWS's published examples are reproducible.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/crypto.h"
#include "storage/s3_addressing.h"

namespace recgw::storage {

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";
// Sent as x-amz-content-sha256 for bodiless GET/HEAD and for presigned URLs: S3 then does
// not hash a body, and AWS S3 and R2 reject requests that omit the header entirely.
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// AWS's upper bound on X-Amz-Expires: 7 days.
inline constexpr int64_t kMaxPresignExpirySeconds = 7 * 24 * 3600;

struct HttpHeader {
  std::string name;
  std::string value;
};

// One query parameter, raw (not yet encoded).
struct QueryParam {
  std::string name;
  std::string value;
};

// Everything the canonical request is made of, for the low-level signer. Views must
// outlive the call only.
struct RequestToSign {
  std::string_view method;              // upper case: "GET", "HEAD", "PUT"
  std::string_view canonicalUri;        // the encoded path, exactly as sent ("/" when empty)
  std::string_view canonicalQuery;      // already canonical (see canonicalQueryString); "" for none
  std::span<const HttpHeader> headers;  // every header to sign, any case and order; must include
                                        // host, and x-amz-date equal to formatAmzDate(now)
  std::string_view payloadHash;         // hex SHA-256 of the body, or kUnsignedPayload
};

struct CanonicalRequest {
  std::string text;           // the canonical request AWS hashes (handy when S3 says
                              // SignatureDoesNotMatch and returns its own version)
  std::string signedHeaders;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string error;          // non-empty when the input cannot be signed
  bool ok() const { return error.empty(); }
};

// Header names are lower-cased and sorted; values trimmed with inner runs of spaces
// collapsed; repeated names joined with ",". Rejects empty or non-token names, values
// with CR/LF/NUL, and a missing host header.
CanonicalRequest buildCanonicalRequest(const RequestToSign& request);

// Sorted by encoded name (then encoded value), names and values UriEncoded with `/`
// encoded, joined with `&`; a parameter without a value appears as `name=`.
std::string canonicalQueryString(std::span<const QueryParam> params);

// "20130524T000000Z" (UTC, seconds precision).
std::string formatAmzDate(std::chrono::system_clock::time_point now);

struct SigV4Signature {
  std::string signature;      // 64 lower-case hex digits
  std::string signedHeaders;  // as in CanonicalRequest
  std::string authorization;  // the whole Authorization header value
  std::string error;
  bool ok() const { return error.empty(); }
};

// Headers to add to a request signed with signHeaders(): x-amz-date,
// x-amz-content-sha256 (UNSIGNED-PAYLOAD) and Authorization, in that order. The request
// must also send Host equal to the signed host and every extra header that was signed.
struct SigV4Headers {
  std::vector<HttpHeader> headers;
  std::string error;
  bool ok() const { return error.empty(); }
};

struct PresignedUrl {
  std::string url;  // target.url + "?" + canonical query + "&X-Amz-Signature=…"
  std::string error;
  bool ok() const { return error.empty(); }
};

// Signs S3 requests for one set of credentials, one region and one service.
//
// With a session token (temporary credentials: STS, instance profiles, task roles), every
// header-signed request carries x-amz-security-token and every presigned URL carries
// X-Amz-Security-Token, both signed, as boto3 does.
//
// Not thread-safe: it caches the day's signing key (kDate -> kRegion -> kService ->
// kSigning, keyed by the yyyymmdd date), so signing many requests on the same day costs
// one HMAC chain. Keep one signer per event loop; copies are independent.
class SigV4Signer {
 public:
  SigV4Signer(std::string accessKey, std::string secretKey, std::string region, std::string service = "s3",
              std::string sessionToken = {});
  ~SigV4Signer();  // wipes the secret, the session token and the cached key
  SigV4Signer(const SigV4Signer&) = default;
  SigV4Signer& operator=(const SigV4Signer&) = default;
  SigV4Signer(SigV4Signer&&) = default;
  SigV4Signer& operator=(SigV4Signer&&) = default;

  // Header authentication with an UNSIGNED-PAYLOAD body hash. `extraHeaders` are signed in
  // addition to host, x-amz-content-sha256 and x-amz-date (e.g. range, if-match); naming
  // one of those three, x-amz-security-token or authorization is an error. `canonicalQuery` is already
  // canonical (see canonicalQueryString), "" for a plain object GET.
  SigV4Headers signHeaders(std::string_view method, const ObjectTarget& target,
                           std::span<const HttpHeader> extraHeaders,
                           std::chrono::system_clock::time_point now, std::string_view canonicalQuery = {});
  SigV4Headers signHeaders(std::string_view method, std::string_view host, std::string_view canonicalUri,
                           std::string_view canonicalQuery, std::span<const HttpHeader> extraHeaders,
                           std::chrono::system_clock::time_point now);

  // Low level: signs exactly the given headers with the given payload hash; adds nothing.
  // This is what reproduces AWS's published examples, which hash real payloads.
  SigV4Signature sign(const RequestToSign& request, std::chrono::system_clock::time_point now);

  // Query-string presigning (X-Amz-Algorithm … X-Amz-Signature), signing only `host`,
  // payload UNSIGNED-PAYLOAD. `extraQuery` (raw, e.g. response-content-disposition) is
  // signed and sent with the rest. expiresSeconds must be 1..604800; anything else, or an
  // extra parameter named like one of the X-Amz-* ones, is an error.
  PresignedUrl presign(std::string_view method, const ObjectTarget& target, int64_t expiresSeconds,
                       std::chrono::system_clock::time_point now,
                       std::span<const QueryParam> extraQuery = {});

  const std::string& accessKey() const { return accessKey_; }
  const std::string& region() const { return region_; }
  const std::string& service() const { return service_; }
  bool hasSessionToken() const { return !sessionToken_.empty(); }
  // How many times the signing key was derived: one per distinct day in practice. For
  // tests and metrics.
  uint64_t keyDerivations() const { return keyDerivations_; }

 private:
  // "yyyymmdd/region/service/aws4_request"
  std::string credentialScope(std::string_view date) const;
  crypto::HmacSha256Key& signingMac(std::string_view date);
  std::string signatureFor(std::string_view amzDate, std::string_view scope,
                           std::string_view canonicalRequest);

  std::string accessKey_;
  std::string secretKey_;
  std::string region_;
  std::string service_;
  std::string sessionToken_;  // empty: long-term keys
  std::string keyDate_;       // yyyymmdd the cached key is for; empty when none
  crypto::Sha256 signingKey_{};
  // Keyed with signingKey_. A copy starts without one (and derives its own on first use):
  // an OpenSSL context must not be shared by copies that may live on other threads.
  struct MacSlot {
    std::unique_ptr<crypto::HmacSha256Key> mac;
    MacSlot() = default;
    MacSlot(const MacSlot&) {}
    MacSlot& operator=(const MacSlot&) {
      mac.reset();
      return *this;
    }
    MacSlot(MacSlot&&) = default;
    MacSlot& operator=(MacSlot&&) = default;
  };
  MacSlot signingMac_;
  uint64_t keyDerivations_ = 0;
};

}  // namespace recgw::storage
