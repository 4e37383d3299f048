#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/metrics.h"
#include "storage/credentials_provider.h"
#include "storage/credentials_sources.h"
#include "tests/unit/run_loop.h"

namespace recgw::storage {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

using recgw::testing::runWithin;

void runFor(reactor::EventLoop& loop, std::chrono::milliseconds period) {
  reactor::Timer stop(loop, [&] { loop.stop(); });
  stop.startOnce(period);
  loop.run();
}

// ---- parsers ----

TEST(CredentialsParseTest, StsAssumeRoleAnswer) {
  CredentialFetch f = parseStsCredentials(200,
                                          "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
                                          "<AccessKeyId>ASIAEXAMPLE</AccessKeyId>"
                                          "<SecretAccessKey>secret/+=</SecretAccessKey>"
                                          "<SessionToken>tok&amp;en</SessionToken>"
                                          "<Expiration>2026-12-07T01:10:43Z</Expiration>"
                                          "</Credentials></AssumeRoleResult></AssumeRoleResponse>");
  ASSERT_TRUE(f.ok()) << f.error;
  EXPECT_EQ(f.credentials.accessKey, "ASIAEXAMPLE");
  EXPECT_EQ(f.credentials.secretKey, "secret/+=");
  EXPECT_EQ(f.credentials.sessionToken, "tok&en");
  ASSERT_TRUE(f.credentials.expiration);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(f.credentials.expiration->time_since_epoch()).count(),
            1796605843);
  EXPECT_TRUE(f.credentials.temporary());
}

TEST(CredentialsParseTest, StsErrorNamesTheCode) {
  CredentialFetch f = parseStsCredentials(
      403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>");
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.error, "STS answered AccessDenied: not allowed");
  EXPECT_FALSE(parseStsCredentials(502, "").ok());
  // 200 without a session token or expiry is not temporary credentials
  CredentialFetch partial = parseStsCredentials(
      200, "<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S</SecretAccessKey></Credentials>");
  EXPECT_FALSE(partial.ok());
  EXPECT_TRUE(partial.credentials.secretKey.empty());
}

TEST(CredentialsParseTest, JsonCredentialsOfEcsAndImds) {
  CredentialFetch f = parseJsonCredentials(
      R"({"Code":"Success","AccessKeyId":"ASIA1","SecretAccessKey":"S1","Token":"T1",)"
      R"("Expiration":"2026-12-07T07:00:00Z"})");
  ASSERT_TRUE(f.ok()) << f.error;
  EXPECT_EQ(f.credentials.sessionToken, "T1");
  EXPECT_TRUE(f.credentials.expiration.has_value());
  EXPECT_FALSE(parseJsonCredentials(R"({"Code":"Failure"})").ok());
  EXPECT_FALSE(parseJsonCredentials("not json").ok());
  EXPECT_FALSE(parseJsonCredentials(R"({"AccessKeyId":"A"})").ok());
  EXPECT_FALSE(parseJsonCredentials(R"({"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"soon"})").ok());
}

TEST(CredentialsParseTest, KindsAndStsEndpoint) {
  for (const char* kind : {"static", "env", "web-identity", "ecs", "imds", "chain"})
    EXPECT_TRUE(isCredentialSourceKind(kind)) << kind;
  EXPECT_FALSE(isCredentialSourceKind("instance"));
  EXPECT_EQ(defaultStsEndpoint("eu-west-2"), "https://sts.eu-west-2.amazonaws.com");
  EXPECT_EQ(defaultStsEndpoint(""), "https://sts.amazonaws.com");
}

// ---- sources that need no network ----

TEST(CredentialSourcesTest, EnvReadsTheThreeVariables) {
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  std::map<std::string, std::string> vars{
      {"AWS_ACCESS_KEY_ID", "AKIA"}, {"AWS_SECRET_ACCESS_KEY", "S"}, {"AWS_SESSION_TOKEN", "T"}};
  CredentialSourceSettings s;
  s.kind = "env";
  s.env = [&vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto source = makeCredentialSource(loop, curl, s);
  CredentialFetch got;
  bool called = false;
  source->fetch([&](CredentialFetch f) {
    got = std::move(f);
    called = true;
    loop.stop();
  });
  EXPECT_FALSE(called) << "fetch must call back later, on the loop";
  runWithin(loop, 2s);
  ASSERT_TRUE(got.ok()) << got.error;
  EXPECT_EQ(got.source, "env");
  EXPECT_EQ(got.credentials.sessionToken, "T");

  vars.clear();
  source->fetch([&](CredentialFetch f) {
    got = std::move(f);
    loop.stop();
  });
  runWithin(loop, 2s);
  EXPECT_EQ(got.error, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set");
}

TEST(CredentialSourcesTest, ChainWithNothingConfiguredUsesImdsAtTheOverride) {
  // Only the overridden (refused, loopback) endpoint is contacted, never 169.254.169.254.
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  CredentialSourceSettings s;
  s.kind = "chain";
  s.timeout = 1000ms;
  s.env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "AWS_EC2_METADATA_SERVICE_ENDPOINT") return "http://127.0.0.1:1";
    return std::nullopt;
  };
  auto source = makeCredentialSource(loop, curl, s);
  CredentialFetch got;
  source->fetch([&](CredentialFetch f) {
    got = std::move(f);
    loop.stop();
  });
  runWithin(loop, 5s);
  EXPECT_EQ(got.source, "chain:imds");
  EXPECT_NE(got.error.find("IMDS unreachable"), std::string::npos) << got.error;
}

TEST(CredentialSourcesTest, WebIdentityReportsAnUnreadableTokenFile) {
  reactor::EventLoop loop;
  reactor::CurlMulti curl(loop);
  CredentialSourceSettings s;
  s.kind = "web-identity";
  s.stsEndpoint = "http://127.0.0.1:1";
  s.env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "AWS_WEB_IDENTITY_TOKEN_FILE") return "/nonexistent/recgw-token";
    if (std::string(name) == "AWS_ROLE_ARN") return "arn:aws:iam::1:role/r";
    return std::nullopt;
  };
  auto source = makeCredentialSource(loop, curl, s);
  CredentialFetch got;
  source->fetch([&](CredentialFetch f) {
    got = std::move(f);
    loop.stop();
  });
  runWithin(loop, 2s);
  EXPECT_EQ(got.error, "web identity token file not readable: /nonexistent/recgw-token");
}

// ---- the provider, with a scripted source ----

class ScriptedSource final : public CredentialSource {
 public:
  explicit ScriptedSource(reactor::EventLoop& loop) : loop_(loop) {}
  std::string name() const override { return "scripted"; }
  void fetch(CredentialCallback done) override {
    ++fetches;
    pending.push_back(std::move(done));
    if (autoAnswer) answerLater();
  }
  void answerLater() {
    loop_.defer([this] { answer(); });
  }
  void answer() {
    if (pending.empty()) return;
    CredentialFetch f;
    f.source = "scripted";
    if (failNext > 0) {
      --failNext;
      f.error = "STS answered AccessDenied";
    } else {
      f.credentials = {"ASIA" + std::to_string(fetches), "secret", "token", Clock::now() + lifetime};
    }
    auto done = std::move(pending.front());
    pending.pop_front();
    done(std::move(f));
  }
  int fetches = 0;
  int failNext = 0;
  bool autoAnswer = true;
  std::chrono::milliseconds lifetime{3000};
  std::deque<CredentialCallback> pending;

 private:
  reactor::EventLoop& loop_;
};

struct ProviderFixture {
  reactor::EventLoop loop;
  reactor::Metrics metrics;
  ScriptedSource* source = nullptr;
  std::unique_ptr<CredentialsProvider> provider;

  explicit ProviderFixture(std::chrono::seconds margin, std::chrono::milliseconds lifetime = 3000ms) {
    auto s = std::make_unique<ScriptedSource>(loop);
    source = s.get();
    source->lifetime = lifetime;
    CredentialsRefreshSettings r;
    r.refreshMargin = margin;
    r.minBackoff = 100ms;
    r.maxBackoff = 400ms;
    provider = std::make_unique<CredentialsProvider>(loop, std::move(s), r, &metrics);
  }
};

TEST(CredentialsProviderTest, RefreshesMarginBeforeExpiry) {
  // 3 s credentials, refreshed 1 s before they expire: about every 2 s.
  ProviderFixture f(1s, 3000ms);
  f.provider->start();
  EXPECT_EQ(f.provider->current(), nullptr);
  runFor(f.loop, 300ms);
  ASSERT_NE(f.provider->current(), nullptr);
  EXPECT_EQ(f.source->fetches, 1);
  EXPECT_EQ(f.provider->current()->accessKey, "ASIA1");
  runFor(f.loop, 2000ms);  // t = 2.3 s: the refresh at ~2 s happened
  EXPECT_EQ(f.source->fetches, 2);
  EXPECT_EQ(f.provider->current()->accessKey, "ASIA2");
  EXPECT_EQ(f.metrics.value("recgw_s3_credential_refreshes_total", R"(result="ok")"), 2);
  CredentialsStatus s = f.provider->status();
  EXPECT_TRUE(s.available);
  EXPECT_TRUE(s.temporary);
  EXPECT_EQ(s.source, "scripted");
  ASSERT_TRUE(s.expiresInSeconds);
  EXPECT_LE(*s.expiresInSeconds, 3);
}

TEST(CredentialsProviderTest, ConcurrentForcedRefreshesCollapseIntoOneFetch) {
  ProviderFixture f(0s, 60000ms);
  f.provider->start();
  runFor(f.loop, 100ms);
  ASSERT_EQ(f.source->fetches, 1);
  uint64_t seen = f.provider->generation();
  f.source->autoAnswer = false;
  int answered = 0;
  for (int i = 0; i < 20; ++i) f.provider->refreshNow(seen, [&](bool ok) { answered += ok ? 1 : 0; });
  EXPECT_EQ(f.source->fetches, 2);  // one fetch for all twenty
  f.source->answerLater();
  runFor(f.loop, 100ms);
  EXPECT_EQ(answered, 20);
  // A request refused with the old generation after the refresh: no fetch, the new set.
  bool ok = false;
  f.provider->refreshNow(seen, [&](bool r) { ok = r; });
  runFor(f.loop, 50ms);
  EXPECT_TRUE(ok);
  EXPECT_EQ(f.source->fetches, 2);
}

TEST(CredentialsProviderTest, FailedRefreshBacksOffAndKeepsTheValidSet) {
  ProviderFixture f(0s, 60000ms);
  f.provider->start();
  runFor(f.loop, 50ms);
  ASSERT_NE(f.provider->current(), nullptr);
  f.source->failNext = 3;
  f.provider->refreshNow(f.provider->generation(), {});
  runFor(f.loop, 50ms);
  // The failed refresh did not drop the set still valid.
  ASSERT_NE(f.provider->current(), nullptr);
  EXPECT_EQ(f.provider->current()->accessKey, "ASIA1");
  EXPECT_EQ(f.provider->status().lastError, "STS answered AccessDenied");
  // Retries at 100, 200, 400 ms: three failures, then the fourth fetch succeeds.
  runFor(f.loop, 1000ms);
  EXPECT_EQ(f.source->fetches, 5);
  EXPECT_EQ(f.provider->current()->accessKey, "ASIA5");
  EXPECT_TRUE(f.provider->status().lastError.empty());
  EXPECT_EQ(f.metrics.value("recgw_s3_credential_refreshes_total", R"(result="error")"), 3);
}

TEST(CredentialsProviderTest, NoValidCredentialsWhenTheFirstFetchFailsOrTheSetExpired) {
  ProviderFixture f(0s, 300ms);
  f.source->failNext = 1000;
  f.provider->start();
  runFor(f.loop, 350ms);
  EXPECT_EQ(f.provider->current(), nullptr);
  EXPECT_FALSE(f.provider->status().available);
  int fetches = f.source->fetches;
  EXPECT_GE(fetches, 2);  // retried …
  EXPECT_LE(fetches, 4);  // … with backoff, not in a loop
  // An expired set is not handed out.
  ProviderFixture g(0s, 200ms);
  g.source->autoAnswer = true;
  g.provider->start();
  runFor(g.loop, 50ms);
  ASSERT_NE(g.provider->current(), nullptr);
  g.source->failNext = 1000;
  runFor(g.loop, 400ms);
  EXPECT_EQ(g.provider->current(), nullptr);
}

TEST(CredentialsProviderTest, RequestsWaitForTheFirstFetchButNotThroughABackoff) {
  ProviderFixture f(0s, 60000ms);
  f.source->autoAnswer = false;
  f.provider->start();
  int yes = 0, no = 0;
  for (int i = 0; i < 5; ++i) f.provider->waitForCredentials([&](bool ok) { ++(ok ? yes : no); });
  EXPECT_EQ(f.source->fetches, 1);  // they joined the first fetch
  f.source->answerLater();
  runFor(f.loop, 50ms);
  EXPECT_EQ(yes, 5);
  EXPECT_EQ(no, 0);

  // A source that fails: the waiting request learns it; the next one, during the
  // backoff, gets its answer at once, without a fetch of its own.
  ProviderFixture g(0s, 60000ms);
  g.source->failNext = 1000;
  g.provider->start();
  bool first = true, second = true;
  g.provider->waitForCredentials([&](bool ok) { first = ok; });
  runFor(g.loop, 50ms);
  EXPECT_FALSE(first);
  int fetches = g.source->fetches;
  g.provider->waitForCredentials([&](bool ok) { second = ok; });
  runFor(g.loop, 20ms);
  EXPECT_FALSE(second);
  EXPECT_EQ(g.source->fetches, fetches);
}

}  // namespace
}  // namespace recgw::storage
