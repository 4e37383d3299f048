#pragma once
// Where S3 credentials come from (s3.credentials): static keys, the environment, EKS IRSA
// (STS AssumeRoleWithWebIdentity), the ECS container endpoint, EC2 IMDSv2, or the AWS
// SDKs' chain of those; optionally followed by STS AssumeRole (s3.role_arn).
//
// Every fetch runs on the loop through reactor::CurlMulti: nothing here blocks (the token
// files read by web-identity and ECS are small local files). Loop thread only. A fetch
// calls `done` exactly once, later on the loop, never before fetch() returns, unless the
// source is destroyed first (then never).
//
// No default path contacts a metadata address: only `ecs`, `imds` and `chain` (when no
// other source is configured) do, and the endpoints can be overridden with the SDKs'
// variables (AWS_CONTAINER_CREDENTIALS_FULL_URI, AWS_EC2_METADATA_SERVICE_ENDPOINT).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"

namespace recgw::storage {

struct AwsCredentials {
  std::string accessKey;
  std::string secretKey;
  std::string sessionToken;  // empty for long-term keys
  // Unset: does not expire (static or env keys).
  std::optional<std::chrono::system_clock::time_point> expiration;
  bool temporary() const { return expiration.has_value() || !sessionToken.empty(); }
  bool complete() const { return !accessKey.empty() && !secretKey.empty(); }
};

struct CredentialFetch {
  AwsCredentials credentials;
  // Which source answered, e.g. "env", "imds", "web-identity+assume-role".
  std::string source;
  // Non-empty when the fetch failed: says what failed, never a secret
  // (e.g. "web identity token file not readable: /var/run/...", "STS answered AccessDenied").
  std::string error;
  bool ok() const { return error.empty(); }
};

using CredentialCallback = std::function<void(CredentialFetch)>;

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // The configured name ("static", "env", "chain", …, with "+assume-role" when a role is
  // assumed on top): for /readyz, logs and diagnose.
  virtual std::string name() const = 0;
  virtual void fetch(CredentialCallback done) = 0;
};

// Reads the process environment at each fetch (tests pass their own lookup).
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
EnvLookup processEnvironment();

struct CredentialSourceSettings {
  std::string kind = "static";  // static | env | web-identity | ecs | imds | chain
  // static: called at each fetch, so settings changes (SIGHUP, system_settings) are seen.
  std::function<AwsCredentials()> staticKeys;
  // STS, for web-identity and AssumeRole: "" = the regional AWS endpoint of `region`.
  std::string stsEndpoint;
  std::string region;
  // s3.role_arn: assume this role with the source's credentials (empty: do not).
  std::string roleArn;
  std::string roleSessionName = "recgw";
  std::chrono::seconds roleDuration{3600};
  std::chrono::milliseconds timeout{5000};  // per HTTP call to a credential endpoint
  EnvLookup env;                             // null: the process environment
};

// The known kinds, for config validation.
bool isCredentialSourceKind(std::string_view kind);
// "https://sts.<region>.amazonaws.com" (the global endpoint for an empty region).
std::string defaultStsEndpoint(std::string_view region);

// Builds the source (wrapped in AssumeRole when roleArn is set). `curl` and `loop` must
// outlive it.
std::unique_ptr<CredentialSource> makeCredentialSource(reactor::EventLoop& loop, reactor::CurlMulti& curl,
                                                       CredentialSourceSettings settings);

// ---- pure parsers, exposed for tests ----
// STS AssumeRole / AssumeRoleWithWebIdentity answers (XML). `error` says what was wrong:
// "STS answered AccessDenied: <message>" for an <Error>, or what is missing.
CredentialFetch parseStsCredentials(long status, std::string_view body);
// ECS container endpoint and IMDS credentials documents (JSON: AccessKeyId,
// SecretAccessKey, Token, Expiration; IMDS adds Code).
CredentialFetch parseJsonCredentials(std::string_view body);

}  // namespace recgw::storage
