#include "storage/s3_addressing.h"

#include <vector>

#include "storage/uri_encoding.h"
#include "storage/url_parts.h"

namespace recgw::storage {
namespace {

constexpr std::string_view kAwsSuffix = ".amazonaws.com";
constexpr std::string_view kAwsChinaSuffix = ".amazonaws.com.cn";
constexpr std::string_view kSpacesSuffix = ".digitaloceanspaces.com";
constexpr std::string_view kDefaultRegion = "us-east-1";

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLowerAlpha(char c) { return c >= 'a' && c <= 'z'; }

// Drops ":443" from https and ":80" from http: curl leaves a default port out of the Host
// header it sends, and the Host we sign must be the one that is sent.
std::string_view withoutDefaultPort(std::string_view scheme, std::string_view authority) {
  std::string_view host = hostnameOf(authority);
  std::string_view port = authority.substr(host.size());
  if ((scheme == "https" && port == ":443") || (scheme == "http" && port == ":80")) return host;
  return authority;
}

std::vector<std::string_view> splitLabels(std::string_view host) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    labels.push_back(host.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels;
}

std::string joinLabels(const std::vector<std::string_view>& labels, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) out.push_back('.');
    out.append(labels[i]);
  }
  return out;
}

// "eu-west-2", "us-gov-west-1", "ap-southeast-1", "cn-north-1": two letters, one or more
// lower-case words, then a number.
bool isRegionLike(std::string_view label) {
  if (label.size() < 6 || !isLowerAlpha(label[0]) || !isLowerAlpha(label[1]) || label[2] != '-') {
    return false;
  }
  size_t lastDash = label.rfind('-');
  if (lastDash <= 2 || lastDash + 1 == label.size()) return false;
  for (size_t i = lastDash + 1; i < label.size(); ++i) {
    if (!isDigit(label[i])) return false;
  }
  for (size_t i = 3; i < lastDash; ++i) {
    char c = label[i];
    if (!isLowerAlpha(c) && !(c == '-' && label[i - 1] != '-')) return false;
  }
  return true;
}

// The labels of an AWS host in front of `.amazonaws.com[.cn]`, or nullopt for other hosts.
std::optional<std::vector<std::string_view>> awsLabels(std::string_view hostname) {
  for (std::string_view suffix : {kAwsSuffix, kAwsChinaSuffix}) {
    if (hostname.size() > suffix.size() && hostname.ends_with(suffix)) {
      return splitLabels(hostname.substr(0, hostname.size() - suffix.size()));
    }
  }
  return std::nullopt;
}

// The labels of a Spaces host in front of `.digitaloceanspaces.com`, without the `cdn`
// label of CDN hosts (`bucket.nyc3.cdn.digitaloceanspaces.com`); nullopt for other hosts.
std::optional<std::vector<std::string_view>> spacesLabels(std::string_view hostname) {
  if (hostname.size() <= kSpacesSuffix.size() || !hostname.ends_with(kSpacesSuffix)) return std::nullopt;
  auto labels = splitLabels(hostname.substr(0, hostname.size() - kSpacesSuffix.size()));
  if (labels.size() > 1 && labels.back() == "cdn") labels.pop_back();
  return labels;
}

bool isS3Label(std::string_view label) { return label == "s3" || label.starts_with("s3-"); }

// Index of the service label (`s3`, `s3-eu-west-2`, `s3-accelerate`, …). Searched from the
// right because a bucket name in front of it may itself look like one (`s3-logs.s3…`).
std::optional<size_t> awsServiceLabel(const std::vector<std::string_view>& labels) {
  for (size_t i = labels.size(); i-- > 0;) {
    if (isS3Label(labels[i])) return i;
  }
  return std::nullopt;
}

// The bucket a virtual-hosted host already names, or nullopt when the host is a plain
// service endpoint (or not an AWS/Spaces host at all).
std::optional<std::string> bucketInHost(std::string_view hostname) {
  if (auto labels = awsLabels(hostname)) {
    auto service = awsServiceLabel(*labels);
    if (!service) return std::nullopt;
    size_t bucketLabels = *service;
    // Interface VPC endpoints put their id in front of the service label
    // (`[bucket.]vpce-0a1b….s3.us-east-1.vpce.amazonaws.com`); it is not part of a bucket.
    if (bucketLabels > 0 && (*labels)[bucketLabels - 1].starts_with("vpce-")) --bucketLabels;
    if (bucketLabels > 0) return joinLabels(*labels, bucketLabels);
    return std::nullopt;
  }
  if (auto labels = spacesLabels(hostname)) {
    if (labels->size() >= 2) return joinLabels(*labels, labels->size() - 1);
  }
  return std::nullopt;
}

std::optional<std::string> awsRegion(const std::vector<std::string_view>& labels) {
  auto service = awsServiceLabel(labels);
  if (!service) {
    // Not an S3 host we know the shape of; a region label is still the best guess.
    for (std::string_view label : labels) {
      if (isRegionLike(label)) return std::string(label);
    }
    return std::nullopt;
  }
  std::string_view label = labels[*service];
  if (label.starts_with("s3-")) {
    std::string_view rest = label.substr(3);
    if (rest == "external-1") return std::string(kDefaultRegion);
    // Accelerate endpoints are global; the signing region is the bucket's.
    if (rest == "accelerate") return std::nullopt;
    for (std::string_view prefix : {"website-", "fips-"}) {
      if (rest.starts_with(prefix)) rest.remove_prefix(prefix.size());
    }
    if (isRegionLike(rest)) return std::string(rest);
  }
  for (size_t i = *service + 1; i < labels.size(); ++i) {
    if (isRegionLike(labels[i])) return std::string(labels[i]);
    if (labels[i] == "accelerate" || labels[i] == "s3-accelerate") return std::nullopt;
  }
  // s3.amazonaws.com, bucket.s3.amazonaws.com, s3.dualstack.amazonaws.com: the legacy
  // global endpoint, which signs as us-east-1.
  return std::string(kDefaultRegion);
}

// A bucket name usable as a DNS label in front of the provider's host.
bool isDnsCompatibleBucket(std::string_view bucket, bool https) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  if (bucket.front() == '-' || bucket.back() == '-' || bucket.front() == '.' || bucket.back() == '.') {
    return false;
  }
  for (char c : bucket) {
    if (c == '.') {
      if (https) return false;
      continue;
    }
    if (!isLowerAlpha(c) && !isDigit(c) && c != '-') return false;
  }
  return bucket.find("..") == std::string_view::npos;
}

bool isVirtualHostProvider(std::string_view hostname) {
  return awsLabels(hostname).has_value() || spacesLabels(hostname).has_value();
}

bool virtualFor(const S3Location& location, std::string_view scheme, std::string_view hostname) {
  switch (location.addressing) {
    case Addressing::kPath:
      return false;
    case Addressing::kVirtual:
      return true;
    case Addressing::kAuto:
      break;
  }
  return isVirtualHostProvider(hostname) && isDnsCompatibleBucket(location.bucket, scheme == "https");
}

std::string_view schemeOrHttps(std::string_view scheme) { return scheme.empty() ? "https" : scheme; }

bool isAcceptableAuthority(std::string_view authority) {
  if (authority.empty() || hostnameOf(authority).empty()) return false;
  for (unsigned char c : authority) {
    if (c <= 0x20 || c >= 0x7F || c == '\\' || c == '%') return false;
  }
  return true;
}

}  // namespace

std::string endpointUrl(std::string_view endpoint) {
  endpoint = trimSpace(endpoint);
  if (endpoint.empty()) return {};
  UrlParts parts = splitUrl(endpoint);
  std::string_view path = parts.path;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::string out = lower(schemeOrHttps(parts.scheme));
  out.append("://");
  out.append(lower(parts.authority));
  out.append(path);
  return out;
}

std::string regionFromEndpoint(std::string_view endpoint, std::string_view configuredRegion) {
  std::string hostname = lower(hostnameOf(splitUrl(trimSpace(endpoint)).authority));
  std::optional<std::string> region;
  if (auto labels = awsLabels(hostname)) {
    region = awsRegion(*labels);
  } else if (auto labels = spacesLabels(hostname)) {
    if (!labels->back().empty()) region = std::string(labels->back());
  }
  if (region) return *region;
  configuredRegion = trimSpace(configuredRegion);
  return std::string(configuredRegion.empty() ? kDefaultRegion : configuredRegion);
}

std::optional<Addressing> parseAddressing(std::string_view text) {
  if (equalsIgnoreCase(text, "auto")) return Addressing::kAuto;
  if (equalsIgnoreCase(text, "path")) return Addressing::kPath;
  if (equalsIgnoreCase(text, "virtual")) return Addressing::kVirtual;
  return std::nullopt;
}

std::string_view addressingName(Addressing addressing) {
  switch (addressing) {
    case Addressing::kAuto:
      return "auto";
    case Addressing::kPath:
      return "path";
    case Addressing::kVirtual:
      return "virtual";
  }
  return "auto";
}

bool usesVirtualHost(const S3Location& location) {
  UrlParts parts = splitUrl(trimSpace(location.endpoint));
  std::string hostname = lower(hostnameOf(parts.authority));
  if (auto named = bucketInHost(hostname); named && *named == location.bucket) return true;
  return virtualFor(location, lower(schemeOrHttps(parts.scheme)), hostname);
}

ObjectTarget objectTarget(const S3Location& location, std::string_view key) {
  // The endpoint is normally already normalised; parsing it here rather than trusting it
  // keeps a hand-built S3Location (tests, CLI) from producing a URL we did not sign.
  UrlParts parts = splitUrl(trimSpace(location.endpoint));
  ObjectTarget target;
  target.scheme = lower(schemeOrHttps(parts.scheme));
  std::string authority = lower(withoutDefaultPort(target.scheme, parts.authority));
  std::string hostname(hostnameOf(authority));
  std::string_view prefix = parts.path;
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);

  std::string encodedKey = uriEncode(key, /*keepSlash=*/true);
  target.canonicalUri.reserve(prefix.size() + location.bucket.size() + encodedKey.size() + 2);
  target.canonicalUri.append(prefix);

  auto named = bucketInHost(hostname);
  if (named && *named == location.bucket) {
    // The endpoint is already the bucket's own host (`bucket.nyc3.digitaloceanspaces.com`);
    // prefixing the bucket again would address `bucket.bucket.…`.
    target.host = std::move(authority);
  } else if (virtualFor(location, target.scheme, hostname)) {
    target.host = location.bucket + "." + authority;
  } else {
    target.host = std::move(authority);
    target.canonicalUri.push_back('/');
    target.canonicalUri.append(uriEncode(location.bucket, /*keepSlash=*/false));
  }
  target.canonicalUri.push_back('/');
  target.canonicalUri.append(encodedKey);

  target.url.reserve(target.scheme.size() + 3 + target.host.size() + target.canonicalUri.size());
  target.url.append(target.scheme).append("://").append(target.host).append(target.canonicalUri);
  return target;
}

std::optional<std::string> extractS3KeyFromUrl(std::string_view url, std::string_view bucketHint) {
  UrlParts parts = splitUrl(trimSpace(url));
  std::string scheme = lower(parts.scheme);
  if (scheme != "http" && scheme != "https" && scheme != "s3") return std::nullopt;
  if (!isAcceptableAuthority(parts.authority)) return std::nullopt;
  if (parts.path.size() < 2) return std::nullopt;  // "" or "/": no key
  std::string_view rawPath = parts.path.substr(1);

  std::string_view rawKey = rawPath;
  std::string hostname = lower(hostnameOf(parts.authority));
  // s3://bucket/key and virtual-hosted hosts carry the bucket in the authority: the whole
  // path is the key, even when it starts with something that looks like the bucket.
  if (scheme != "s3" && !bucketInHost(hostname)) {
    size_t slash = rawPath.find('/');
    std::string_view first = rawPath.substr(0, slash);
    bool stripFirst = true;
    // On an AWS or Spaces service endpoint the first segment is always the bucket; only on
    // other hosts (MinIO, a CDN or proxy) can it be part of the key.
    if (!bucketHint.empty() && !isVirtualHostProvider(hostname)) {
      auto decoded = percentDecode(first);
      stripFirst = decoded && *decoded == bucketHint;
    }
    if (stripFirst) {
      if (slash == std::string_view::npos) return std::nullopt;  // only a bucket
      rawKey = rawPath.substr(slash + 1);
    }
  }
  if (rawKey.empty()) return std::nullopt;
  auto key = percentDecode(rawKey);
  if (!key || key->empty()) return std::nullopt;
  return key;
}

}  // namespace recgw::storage
