#pragma once
// Where an S3 object lives and how to spell its URL: endpoint normalisation, region
// detection, path- vs virtual-hosted addressing, and the reverse direction (recovering a
// key from a stored URL). Pure functions on values: no I/O, no globals, safe from any
// thread.
#include <optional>
#include <string>
#include <string_view>

namespace recgw::storage {

// `endpoint` with `https://` added when it has no scheme and trailing `/` removed. The
// scheme and host are lower-cased (hostnames are case-insensitive, and a single spelling
// keeps suffix checks and the signed Host header consistent); a path prefix is kept as is.
// Surrounding whitespace is ignored; an empty input gives an empty string.
std::string endpointUrl(std::string_view endpoint);

// The SigV4 region an endpoint implies. Accepts a bare host or a URL with scheme, port
// and path:
//   nyc3.digitaloceanspaces.com (also bucket.nyc3…, nyc3.cdn…)     -> nyc3
//   s3.eu-west-2.amazonaws.com, s3-eu-west-2…, s3.dualstack.eu-west-2…,
//   bucket.s3.eu-west-2.amazonaws.com                                -> eu-west-2
//   s3.amazonaws.com, bucket.s3.amazonaws.com, s3-external-1…       -> us-east-1
//   anything else (MinIO, R2, …)  -> configuredRegion, or us-east-1 when that is empty.
std::string regionFromEndpoint(std::string_view endpoint, std::string_view configuredRegion = {});

enum class Addressing { kAuto, kPath, kVirtual };

// "auto" | "path" | "virtual" (ASCII case-insensitive); nullopt for anything else,
// including the empty string, so a config typo is reported rather than defaulted.
std::optional<Addressing> parseAddressing(std::string_view text);
std::string_view addressingName(Addressing addressing);

struct S3Location {
  std::string endpoint;  // normalised by endpointUrl(), e.g. "https://nyc3.digitaloceanspaces.com"
  std::string bucket;
  std::string region;  // the SigV4 signing region, usually regionFromEndpoint(endpoint, configured)
  Addressing addressing = Addressing::kAuto;
  // PEM bundle of the CA that signs the endpoint's certificate (s3.ca_file); empty: the
  // system store. Not part of the address: only how requests to it are verified.
  std::string caFile;
};

// kAuto picks virtual-hosted style for hosts under .amazonaws.com and
// .digitaloceanspaces.com, path style otherwise (MinIO, R2, custom endpoints). It still
// falls back to path style for buckets that cannot be a DNS label (upper case, `_`, and
// dots over https, which would not match the provider's wildcard certificate), as the
// AWS SDKs do.
bool usesVirtualHost(const S3Location& location);

struct ObjectTarget {
  std::string url;           // scheme://host + canonicalUri, no query
  std::string scheme;        // "https" or "http"
  std::string host;          // host[:port] exactly as sent in the Host header (default port dropped)
  std::string canonicalUri;  // the encoded path, exactly as sent and as signed
};

// The URL of `key` in `location`: path style `endpoint/bucket/key`, virtual-hosted style
// `bucket.host/key`. A path prefix on the endpoint is kept. The key is UriEncoded with `/`
// kept as the separator; empty segments (`a//b`, a leading `/`) are kept, because S3 keys
// are opaque and S3 does not normalise them.
ObjectTarget objectTarget(const S3Location& location, std::string_view key);

// The full object key from a stored URL, percent-decoded; query and fragment are dropped,
// so presigned URLs work. Recognised shapes:
//   https://bucket.nyc3.digitaloceanspaces.com/a/b.ogg   (virtual-hosted)  -> a/b.ogg
//   https://bucket.s3.eu-west-2.amazonaws.com/a/b.ogg    (virtual-hosted)  -> a/b.ogg
//   https://nyc3.digitaloceanspaces.com/bucket/a/b.ogg   (path style)      -> a/b.ogg
//   http://minio:9000/recordings/x/y.ogg                 (legacy MinIO)    -> x/y.ogg
//   s3://bucket/a/b.ogg                                                     -> a/b.ogg
// On an AWS or Spaces service endpoint without a bucket in the host, the first path
// segment is the bucket and is always stripped. On other hosts it is stripped too, except
// that with a bucketHint it is stripped only when it equals the hint (so a CDN URL mapped
// onto the bucket root keeps its whole path).
// nullopt for text that is not an http(s)/s3 URL, a malformed %-escape, or no key left.
std::optional<std::string> extractS3KeyFromUrl(std::string_view url, std::string_view bucketHint = {});

}  // namespace recgw::storage
