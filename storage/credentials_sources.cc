#include "storage/credentials_sources.h"

#include <simdjson.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "reactor/json_reader.h"
#include "reactor/liveness.h"
#include "reactor/logger.h"
#include "storage/crypto.h"
#include "storage/iso_time.h"
#include "storage/s3_objects.h"
#include "storage/sigv4_signer.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {
namespace {

using Clock = std::chrono::system_clock;

constexpr size_t kMaxAnswerBytes = 64 * 1024;
constexpr size_t kMaxTokenFileBytes = 64 * 1024;
constexpr std::string_view kStsVersion = "2011-06-15";
// The link-local addresses the SDKs use when nothing overrides them.
constexpr const char* kEcsDefaultHost = "http://169.254.170.2";
constexpr const char* kImdsDefaultEndpoint = "http://169.254.169.254";
constexpr const char* kImdsTokenTtlSeconds = "21600";

struct HttpAnswer {
  long status = 0;
  std::string body;
  std::string error;  // transport failure; empty when an HTTP answer came
};

// One HTTP exchange on the loop. `done` runs on a later loop pass (so it may start the next
// transfer, which a curl callback may not) and only while `alive` lives.
void httpCall(reactor::EventLoop& loop, reactor::CurlMulti& curl, reactor::UpstreamRequest request,
              reactor::LivenessWatch alive, std::function<void(HttpAnswer)> done) {
  struct State {
    HttpAnswer answer;
  };
  auto state = std::make_shared<State>();
  auto deliver = [&loop, alive, done, state] {
    loop.defer([alive, done, state] {
      if (alive.expired()) return;
      try {
        done(std::move(state->answer));
      } catch (const std::exception& e) {
        reactor::logError("credential fetch callback failed", {{"error", e.what()}});
      }
    });
  };
  reactor::TransferCallbacks cb;
  cb.onHeaders = [state](const reactor::UpstreamResponse& r) {
    state->answer.status = r.status;
    return true;
  };
  cb.onData = [state](const char* data, size_t n) -> size_t {
    if (state->answer.body.size() + n > kMaxAnswerBytes) return 0;  // not a credentials answer
    state->answer.body.append(data, n);
    return n;
  };
  cb.onDone = [state, deliver](const std::string& error) {
    if (!error.empty()) state->answer.error = error;
    deliver();
  };
  if (auto started = curl.start(request, std::move(cb)); !started) {
    const std::string& error = started.error().message;
    state->answer.error = error.empty() ? "could not start the request" : error;
    deliver();
  }
}

reactor::UpstreamRequest baseRequest(std::string url, std::chrono::milliseconds timeout) {
  reactor::UpstreamRequest r;
  r.url = std::move(url);
  r.connectTimeout = timeout;
  r.firstByteTimeout = timeout;
  r.lowSpeedBytes = 1;
  r.lowSpeedTime = std::max<std::chrono::seconds>(std::chrono::seconds(1),
                                                  std::chrono::duration_cast<std::chrono::seconds>(timeout));
  return r;
}

// "host[:port]" of an http(s) URL, as the Host header carries it.
std::string authorityOf(std::string_view url) {
  size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  size_t end = url.find_first_of("/?#", start);
  return std::string(url.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
}

std::string trimmed(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Small local files (tokens): read whole, or nullopt when unreadable or oversized.
std::optional<std::string> readSmallFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::string text;
  text.resize(kMaxTokenFileBytes + 1);
  file.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (file.bad() || static_cast<size_t>(file.gcount()) > kMaxTokenFileBytes) return std::nullopt;
  text.resize(static_cast<size_t>(file.gcount()));
  return trimmed(std::move(text));
}

std::string formBody(std::vector<std::pair<std::string, std::string>> fields) {
  std::string body;
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body.push_back('&');
    body.append(uriEncode(name, false)).push_back('=');
    body.append(uriEncode(value, false));
  }
  return body;
}

std::string describeTransport(std::string_view what, const HttpAnswer& a) {
  return std::string(what) + " unreachable: " + a.error;
}

std::string shortened(std::string text) {
  constexpr size_t kMax = 200;
  if (text.size() > kMax) text = text.substr(0, kMax) + "…";
  return text;
}

// Base class: the `alive` token that stops callbacks after destruction, and the loop.
class SourceBase : public CredentialSource {
 public:
  SourceBase(reactor::EventLoop& loop, reactor::CurlMulti& curl, CredentialSourceSettings settings)
      : loop_(loop), curl_(curl), settings_(std::move(settings)) {
    if (!settings_.env) settings_.env = processEnvironment();
  }

 protected:
  void later(CredentialCallback done, CredentialFetch result) {
    reactor::LivenessWatch alive = alive_;
    loop_.defer([alive, done = std::move(done), result = std::move(result)]() mutable {
      if (!alive.expired()) done(std::move(result));
    });
  }
  CredentialFetch failure(std::string error) const {
    CredentialFetch f;
    f.source = name();
    f.error = std::move(error);
    return f;
  }
  std::optional<std::string> env(const char* name) const {
    auto v = settings_.env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  }

  reactor::EventLoop& loop_;
  reactor::CurlMulti& curl_;
  CredentialSourceSettings settings_;
  reactor::Liveness alive_;
};

class StaticSource final : public SourceBase {
 public:
  using SourceBase::SourceBase;
  std::string name() const override { return "static"; }
  void fetch(CredentialCallback done) override {
    CredentialFetch f;
    f.source = name();
    if (settings_.staticKeys) f.credentials = settings_.staticKeys();
    if (!f.credentials.complete()) {
      f.error = "static credentials not configured (s3.access_key, s3.secret_key)";
    }
    later(std::move(done), std::move(f));
  }
};

class EnvSource final : public SourceBase {
 public:
  using SourceBase::SourceBase;
  std::string name() const override { return "env"; }
  void fetch(CredentialCallback done) override {
    CredentialFetch f;
    f.source = name();
    auto access = env("AWS_ACCESS_KEY_ID");
    auto secret = env("AWS_SECRET_ACCESS_KEY");
    if (!access || !secret) {
      f.error = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set";
    } else {
      f.credentials.accessKey = *access;
      f.credentials.secretKey = *secret;
      f.credentials.sessionToken = env("AWS_SESSION_TOKEN").value_or("");
    }
    later(std::move(done), std::move(f));
  }
};

class WebIdentitySource final : public SourceBase {
 public:
  using SourceBase::SourceBase;
  std::string name() const override { return "web-identity"; }
  void fetch(CredentialCallback done) override {
    auto tokenFile = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    auto roleArn = env("AWS_ROLE_ARN");
    if (!tokenFile || !roleArn)
      return later(std::move(done), failure("AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not both set"));
    // Re-read every time: the kubelet rotates the projected token.
    std::optional<std::string> token = readSmallFile(*tokenFile);
    if (!token || token->empty())
      return later(std::move(done), failure("web identity token file not readable: " + *tokenFile));
    std::string endpoint =
        settings_.stsEndpoint.empty() ? defaultStsEndpoint(settings_.region) : settings_.stsEndpoint;
    reactor::UpstreamRequest req = baseRequest(endpoint, settings_.timeout);
    req.method = "POST";
    std::string sessionName = env("AWS_ROLE_SESSION_NAME").value_or(settings_.roleSessionName);
    req.body = formBody({{"Action", "AssumeRoleWithWebIdentity"},
                         {"DurationSeconds", std::to_string(settings_.roleDuration.count())},
                         {"RoleArn", *roleArn},
                         {"RoleSessionName", sessionName},
                         {"Version", std::string(kStsVersion)},
                         {"WebIdentityToken", *token}});
    cleanseString(*token);
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.headers.emplace_back("Accept", "application/xml");
    httpCall(loop_, curl_, std::move(req), alive_, [this, done = std::move(done)](HttpAnswer a) {
      if (!a.error.empty()) return done(failure(describeTransport("STS", a)));
      CredentialFetch f = parseStsCredentials(a.status, a.body);
      f.source = name();
      done(std::move(f));
    });
  }

 private:
  static void cleanseString(std::string& s) {
    for (char& c : s) c = 0;
  }
};

class EcsSource final : public SourceBase {
 public:
  using SourceBase::SourceBase;
  std::string name() const override { return "ecs"; }
  void fetch(CredentialCallback done) override {
    std::string url;
    if (auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
      url = *full;
    } else if (auto relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
      url = std::string(kEcsDefaultHost) + *relative;
    } else {
      return later(std::move(done), failure("AWS_CONTAINER_CREDENTIALS_FULL_URI and "
                                            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI are not set"));
    }
    reactor::UpstreamRequest req = baseRequest(url, settings_.timeout);
    if (auto tokenFile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      std::optional<std::string> token = readSmallFile(*tokenFile);
      if (!token) return later(std::move(done), failure("container authorization token file not readable: " +
                                                        *tokenFile));
      req.headers.emplace_back("Authorization", *token);
    } else if (auto token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      req.headers.emplace_back("Authorization", *token);
    }
    httpCall(loop_, curl_, std::move(req), alive_, [this, done = std::move(done)](HttpAnswer a) {
      if (!a.error.empty()) return done(failure(describeTransport("container credentials endpoint", a)));
      if (a.status != 200)
        return done(failure("container credentials endpoint answered HTTP " + std::to_string(a.status)));
      CredentialFetch f = parseJsonCredentials(a.body);
      f.source = name();
      done(std::move(f));
    });
  }
};

class ImdsSource final : public SourceBase {
 public:
  using SourceBase::SourceBase;
  std::string name() const override { return "imds"; }
  void fetch(CredentialCallback done) override {
    std::string endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or(kImdsDefaultEndpoint);
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    reactor::UpstreamRequest req = baseRequest(endpoint + "/latest/api/token", settings_.timeout);
    req.method = "PUT";
    req.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", kImdsTokenTtlSeconds);
    req.headers.emplace_back("Content-Type", "");
    httpCall(loop_, curl_, std::move(req), alive_,
             [this, endpoint, done = std::move(done)](HttpAnswer a) mutable {
               if (!a.error.empty()) return done(failure(describeTransport("IMDS", a)));
               if (a.status != 200 || a.body.empty())
                 return done(failure("IMDS refused a session token (HTTP " + std::to_string(a.status) + ")"));
               getRole(std::move(endpoint), trimmed(std::move(a.body)), std::move(done));
             });
  }

 private:
  static constexpr const char* kCredentialsPath = "/latest/meta-data/iam/security-credentials/";

  void getRole(std::string endpoint, std::string token, CredentialCallback done) {
    reactor::UpstreamRequest req = baseRequest(endpoint + kCredentialsPath, settings_.timeout);
    req.headers.emplace_back("X-aws-ec2-metadata-token", token);
    httpCall(loop_, curl_, std::move(req), alive_,
             [this, endpoint, token, done = std::move(done)](HttpAnswer a) mutable {
               if (!a.error.empty()) return done(failure(describeTransport("IMDS", a)));
               std::string role = trimmed(a.body.substr(0, a.body.find('\n')));
               if (a.status == 404 || (a.status == 200 && role.empty()))
                 return done(failure("IMDS: this instance has no IAM role (instance profile) attached"));
               if (a.status != 200)
                 return done(
                     failure("IMDS answered HTTP " + std::to_string(a.status) + " for the role name"));
               getCredentials(endpoint + kCredentialsPath + uriEncode(role, false), std::move(token),
                              std::move(done));
             });
  }

  void getCredentials(std::string url, std::string token, CredentialCallback done) {
    reactor::UpstreamRequest req = baseRequest(std::move(url), settings_.timeout);
    req.headers.emplace_back("X-aws-ec2-metadata-token", std::move(token));
    httpCall(loop_, curl_, std::move(req), alive_, [this, done = std::move(done)](HttpAnswer a) {
      if (!a.error.empty()) return done(failure(describeTransport("IMDS", a)));
      if (a.status != 200)
        return done(failure("IMDS answered HTTP " + std::to_string(a.status) + " for the role credentials"));
      CredentialFetch f = parseJsonCredentials(a.body);
      f.source = name();
      done(std::move(f));
    });
  }
};

// The AWS SDKs' order: env, web identity, container, instance metadata. The first one that
// is configured is used; IMDS is the last resort.
class ChainSource final : public SourceBase {
 public:
  ChainSource(reactor::EventLoop& loop, reactor::CurlMulti& curl, CredentialSourceSettings settings)
      : SourceBase(loop, curl, settings),
        env_(loop, curl, settings),
        webIdentity_(loop, curl, settings),
        ecs_(loop, curl, settings),
        imds_(loop, curl, std::move(settings)) {}
  std::string name() const override { return "chain"; }
  void fetch(CredentialCallback done) override {
    CredentialSource& chosen = choose();
    std::string label = "chain:" + chosen.name();
    if (label != lastLabel_) {
      reactor::logInfo("s3 credentials source chosen", {{"source", label}});
      lastLabel_ = label;
    }
    chosen.fetch([label, done = std::move(done)](CredentialFetch f) {
      f.source = label;
      done(std::move(f));
    });
  }

 private:
  CredentialSource& choose() const {
    if (env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) return const_cast<EnvSource&>(env_);
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") && env("AWS_ROLE_ARN"))
      return const_cast<WebIdentitySource&>(webIdentity_);
    if (env("AWS_CONTAINER_CREDENTIALS_FULL_URI") || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
      return const_cast<EcsSource&>(ecs_);
    return const_cast<ImdsSource&>(imds_);
  }

  EnvSource env_;
  WebIdentitySource webIdentity_;
  EcsSource ecs_;
  ImdsSource imds_;
  std::string lastLabel_;
};

// STS AssumeRole with the credentials of `base`, signed with SigV4 (service sts).
class AssumeRoleSource final : public SourceBase {
 public:
  AssumeRoleSource(reactor::EventLoop& loop, reactor::CurlMulti& curl, CredentialSourceSettings settings,
                   std::unique_ptr<CredentialSource> base)
      : SourceBase(loop, curl, std::move(settings)), base_(std::move(base)) {}
  std::string name() const override { return base_->name() + "+assume-role"; }
  void fetch(CredentialCallback done) override {
    reactor::LivenessWatch alive = alive_;
    base_->fetch([this, alive, done = std::move(done)](CredentialFetch base) mutable {
      if (alive.expired()) return;
      if (!base.ok()) {
        base.source += "+assume-role";
        return done(std::move(base));
      }
      assume(std::move(base), std::move(done));
    });
  }

 private:
  void assume(CredentialFetch base, CredentialCallback done) {
    std::string endpoint =
        settings_.stsEndpoint.empty() ? defaultStsEndpoint(settings_.region) : settings_.stsEndpoint;
    std::string region = settings_.region.empty() ? "us-east-1" : settings_.region;
    reactor::UpstreamRequest req = baseRequest(endpoint, settings_.timeout);
    req.method = "POST";
    req.body = formBody({{"Action", "AssumeRole"},
                         {"DurationSeconds", std::to_string(settings_.roleDuration.count())},
                         {"RoleArn", settings_.roleArn},
                         {"RoleSessionName", settings_.roleSessionName},
                         {"Version", std::string(kStsVersion)}});
    const AwsCredentials& c = base.credentials;
    SigV4Signer signer(c.accessKey, c.secretKey, region, "sts");
    Clock::time_point now = Clock::now();
    std::string amzDate = formatAmzDate(now);
    std::string host = authorityOf(endpoint);
    std::vector<HttpHeader> headers{{"host", host},
                                    {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                                    {"x-amz-date", amzDate}};
    if (!c.sessionToken.empty()) headers.push_back({"x-amz-security-token", c.sessionToken});
    std::string path = "/";
    if (size_t slash = endpoint.find('/', endpoint.find("://") + 3); slash != std::string::npos) {
      path = endpoint.substr(slash);
    }
    std::string payloadHash = crypto::sha256Hex(req.body);
    SigV4Signature sig = signer.sign(RequestToSign{"POST", path, "", headers, payloadHash}, now);
    if (!sig.ok()) return done(failure("cannot sign the STS request: " + sig.error));
    for (const HttpHeader& h : headers) req.headers.emplace_back(h.name == "host" ? "Host" : h.name, h.value);
    req.headers.emplace_back("Authorization", sig.authorization);
    req.headers.emplace_back("Accept", "application/xml");
    std::string baseSource = base.source;
    httpCall(loop_, curl_, std::move(req), alive_, [this, baseSource, done = std::move(done)](HttpAnswer a) {
      std::string label = baseSource + "+assume-role";
      if (!a.error.empty()) {
        CredentialFetch f = failure(describeTransport("STS", a));
        f.source = label;
        return done(std::move(f));
      }
      CredentialFetch f = parseStsCredentials(a.status, a.body);
      f.source = label;
      done(std::move(f));
    });
  }

  std::unique_ptr<CredentialSource> base_;
};

}  // namespace

EnvLookup processEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

bool isCredentialSourceKind(std::string_view kind) {
  constexpr std::array<std::string_view, 6> kKinds = {"static", "env",  "web-identity",
                                                      "ecs",    "imds", "chain"};
  for (std::string_view k : kKinds) {
    if (k == kind) return true;
  }
  return false;
}

std::string defaultStsEndpoint(std::string_view region) {
  if (region.empty()) return "https://sts.amazonaws.com";
  return "https://sts." + std::string(region) + ".amazonaws.com";
}

std::unique_ptr<CredentialSource> makeCredentialSource(reactor::EventLoop& loop, reactor::CurlMulti& curl,
                                                       CredentialSourceSettings settings) {
  std::unique_ptr<CredentialSource> source;
  const std::string kind = settings.kind;
  if (kind == "env") {
    source = std::make_unique<EnvSource>(loop, curl, settings);
  } else if (kind == "web-identity") {
    source = std::make_unique<WebIdentitySource>(loop, curl, settings);
  } else if (kind == "ecs") {
    source = std::make_unique<EcsSource>(loop, curl, settings);
  } else if (kind == "imds") {
    source = std::make_unique<ImdsSource>(loop, curl, settings);
  } else if (kind == "chain") {
    source = std::make_unique<ChainSource>(loop, curl, settings);
  } else {
    source = std::make_unique<StaticSource>(loop, curl, settings);
  }
  if (settings.roleArn.empty()) return source;
  return std::make_unique<AssumeRoleSource>(loop, curl, std::move(settings), std::move(source));
}

CredentialFetch parseStsCredentials(long status, std::string_view body) {
  CredentialFetch f;
  auto [code, message] = S3Objects::parseError(body);
  if (status != 200 || !code.empty()) {
    if (!code.empty()) {
      f.error = "STS answered " + code + (message.empty() ? "" : ": " + shortened(message));
    } else {
      f.error = "STS answered HTTP " + std::to_string(status);
    }
    return f;
  }
  AwsCredentials& c = f.credentials;
  c.accessKey = S3Objects::xmlValue(body, "AccessKeyId");
  c.secretKey = S3Objects::xmlValue(body, "SecretAccessKey");
  c.sessionToken = S3Objects::xmlValue(body, "SessionToken");
  std::string expiration = S3Objects::xmlValue(body, "Expiration");
  c.expiration = parseIsoInstant(expiration);
  if (!c.complete() || c.sessionToken.empty() || !c.expiration) {
    f.credentials = {};
    f.error =
        "STS answered without complete credentials (AccessKeyId, SecretAccessKey, SessionToken, Expiration)";
  }
  return f;
}

CredentialFetch parseJsonCredentials(std::string_view body) {
  CredentialFetch f;
  simdjson::dom::parser parser;
  auto parsed = reactor::parseJsonObject(parser, body);
  if (!parsed) {
    f.error = "the credentials answer is not a JSON object";
    return f;
  }
  simdjson::dom::object obj = *parsed;
  auto text = [&obj](const char* field) -> std::string {
    std::string_view v;
    if (obj[field].get(v)) return {};
    return std::string(v);
  };
  if (std::string code = text("Code"); !code.empty() && code != "Success") {
    f.error = "the credentials endpoint answered Code " + shortened(code);
    return f;
  }
  AwsCredentials& c = f.credentials;
  c.accessKey = text("AccessKeyId");
  c.secretKey = text("SecretAccessKey");
  c.sessionToken = text("Token");
  std::string expiration = text("Expiration");
  if (!expiration.empty()) {
    c.expiration = parseIsoInstant(expiration);
    if (!c.expiration) {
      f.credentials = {};
      f.error = "the credentials answer has an unreadable Expiration";
      return f;
    }
  }
  if (!c.complete()) {
    f.credentials = {};
    f.error = "the credentials answer lacks AccessKeyId or SecretAccessKey";
  }
  return f;
}

}  // namespace recgw::storage
