#include "app/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace recgw::app {
namespace {

// A NULL-terminated envp array over owned strings.
class FakeEnv {
 public:
  FakeEnv(std::initializer_list<std::string> entries) : entries_(entries) {
    for (auto& e : entries_) pointers_.push_back(e.data());
    pointers_.push_back(nullptr);
  }
  char** get() { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

// A TOML file in the test temp dir, removed afterwards.
class TempToml {
 public:
  explicit TempToml(const std::string& text) {
    std::string pattern = ::testing::TempDir() + "recgw_config_XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = buf.data();
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << text;
  }
  ~TempToml() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Config loadText(const std::string& toml, std::initializer_list<std::string> env = {}) {
  TempToml file(toml);
  FakeEnv fake(env);
  return loadConfig(file.path(), fake.get());
}

// Runs loadConfig and returns the ConfigError message ("" when it did not throw).
std::string errorOf(const std::optional<std::string>& toml, std::initializer_list<std::string> env = {}) {
  FakeEnv fake(env);
  try {
    if (toml) {
      TempToml file(*toml);
      loadConfig(file.path(), fake.get());
    } else {
      loadConfig(std::nullopt, fake.get());
    }
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

void expectErrorNaming(const std::string& message, const std::string& key) {
  EXPECT_FALSE(message.empty()) << "expected a ConfigError naming " << key;
  EXPECT_NE(message.find(key), std::string::npos) << "message: " << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "not one line: " << message;
}

TEST(ConfigTest, DefaultsWithoutFileOrEnvironment) {
  FakeEnv env({});
  Config c = loadConfig(std::nullopt, env.get());
  EXPECT_EQ(c.server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.listenHost(), "127.0.0.1");
  EXPECT_EQ(c.listenPort(), 8080);
  EXPECT_EQ(c.server.workers, 0);
  EXPECT_EQ(c.server.logLevel, "info");
  EXPECT_EQ(c.mongo.uri, "mongodb://127.0.0.1:27017/cxb");
  EXPECT_EQ(c.mongo.callsCollection, "calls");
  EXPECT_EQ(c.redis.url, "redis://127.0.0.1:6379");
  EXPECT_TRUE(c.redis.enabled);
  EXPECT_EQ(c.s3.addressing, "auto");
  EXPECT_TRUE(c.fleet.urls.empty());
  EXPECT_EQ(c.fleet.secretHeader, "");  // by the fleet settings' naming (storage_settings)
  EXPECT_LT(c.stream.lowWatermark, c.stream.highWatermark);
  EXPECT_TRUE(c.sourcePath.empty());
  EXPECT_EQ(c.missingStorageFields(),
            (std::vector<std::string>{"endpoint", "access_key", "secret_key", "bucket"}));
}

TEST(ConfigTest, NullEnvironmentIsAccepted) {
  Config c = loadConfig(std::nullopt, nullptr);
  EXPECT_EQ(c.server.listen, "127.0.0.1:8080");
}

TEST(ConfigTest, FileOverridesDefaults) {
  Config c = loadText(R"(
[server]
listen = "0.0.0.0:9090"
workers = 4
log_level = "debug"
cors_origins = ["https://a.example", "https://b.example"]

[mongo]
uri = "mongodb://db.internal:27017/calls"

[redis]
enabled = false

[s3]
endpoint = "http://minio:9000"
access_key = "AK"
secret_key = "SK"
bucket = "recordings"

[fleet]
urls = ["http://f1:8080", "https://f2"]
secret = "fleet-secret"

[stream]
high_watermark = 1000
low_watermark = 10
)");
  EXPECT_EQ(c.server.listen, "0.0.0.0:9090");
  EXPECT_EQ(c.listenHost(), "0.0.0.0");
  EXPECT_EQ(c.listenPort(), 9090);
  EXPECT_EQ(c.server.workers, 4);
  EXPECT_EQ(c.server.logLevel, "debug");
  EXPECT_EQ(c.server.corsOrigins, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(c.mongo.uri, "mongodb://db.internal:27017/calls");
  EXPECT_FALSE(c.redis.enabled);
  EXPECT_EQ(c.s3.bucket, "recordings");
  EXPECT_TRUE(c.missingStorageFields().empty());
  EXPECT_EQ(c.fleet.urls, (std::vector<std::string>{"http://f1:8080", "https://f2"}));
  EXPECT_EQ(c.fleet.secret, "fleet-secret");
  EXPECT_EQ(c.stream.highWatermark, 1000);
  EXPECT_EQ(c.stream.lowWatermark, 10);
  EXPECT_FALSE(c.sourcePath.empty());
  // Keys the file does not name keep their defaults.
  EXPECT_EQ(c.mongo.callsCollection, "calls");
  EXPECT_EQ(c.redis.url, "redis://127.0.0.1:6379");
}

TEST(ConfigTest, EnvironmentWinsOverFile) {
  Config c = loadText(
      R"(
[server]
workers = 4
listen = "0.0.0.0:9090"
[fleet]
urls = ["http://file:1"]
)",
      {"RECGW_SERVER_WORKERS=8", "RECGW_REDIS_ENABLED=false", "RECGW_S3_BUCKET=from-env",
       "RECGW_FLEET_URLS=http://env:2"});
  EXPECT_EQ(c.server.workers, 8);
  EXPECT_EQ(c.server.listen, "0.0.0.0:9090");  // not in the environment: the file's value
  EXPECT_FALSE(c.redis.enabled);
  EXPECT_EQ(c.s3.bucket, "from-env");
  EXPECT_EQ(c.fleet.urls, (std::vector<std::string>{"http://env:2"}));
}

TEST(ConfigTest, FleetUrlsFromEnvironmentAreACommaList) {
  FakeEnv env({"RECGW_FLEET_URLS= http://a:8080 ,https://b.example,, http://c "});
  Config c = loadConfig(std::nullopt, env.get());
  EXPECT_EQ(c.fleet.urls, (std::vector<std::string>{"http://a:8080", "https://b.example", "http://c"}));
}

TEST(ConfigTest, UnrelatedRecgwVariablesAreIgnored) {
  FakeEnv env({"RECGW_CACHE=/var/cache/recgw", "RECGW_BINARY=/usr/bin/recgw", "PATH=/usr/bin", "HOME=/root",
               "RECGW_SERVER_WORKERS=2"});
  Config c = loadConfig(std::nullopt, env.get());
  EXPECT_EQ(c.server.workers, 2);
}

TEST(ConfigTest, UnknownSettingInAKnownSectionIsRejected) {
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_SERVER_BOGUS=1"}), "RECGW_SERVER_BOGUS");
}

TEST(ConfigTest, UnknownTomlKeyIsRejected) {
  expectErrorNaming(errorOf("[server]\nbogus = 1\n"), "server.bogus");
}

TEST(ConfigTest, UnknownTomlSectionIsRejected) {
  std::string e = errorOf("[bogus]\nx = 1\n");
  expectErrorNaming(e, "bogus");
}

TEST(ConfigTest, WrongTomlTypeIsRejected) {
  expectErrorNaming(errorOf("[server]\nworkers = \"4\"\n"), "server.workers");
  expectErrorNaming(errorOf("[redis]\nenabled = \"yes\"\n"), "redis.enabled");
  expectErrorNaming(errorOf("[mongo]\nuri = 5\n"), "mongo.uri");
  expectErrorNaming(errorOf("[fleet]\nurls = [1, 2]\n"), "fleet.urls");
}

TEST(ConfigTest, BadUrlsAreRejected) {
  expectErrorNaming(errorOf("[mongo]\nuri = \"http://x\"\n"), "mongo.uri");
  expectErrorNaming(errorOf("[redis]\nurl = \"foo\"\n"), "redis.url");
  expectErrorNaming(errorOf("[fleet]\nurls = [\"http://ok:1\", \"ftp://x\"]\n"), "fleet.urls");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_FLEET_URLS=ftp://x"}), "fleet.urls");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_MONGO_URI=http://x"}), "mongo.uri");
}

TEST(ConfigTest, NonNumericEnvironmentValueIsRejected) {
  std::string e = errorOf(std::nullopt, {"RECGW_SERVER_WORKERS=abc"});
  EXPECT_FALSE(e.empty());
  EXPECT_TRUE(e.find("RECGW_SERVER_WORKERS") != std::string::npos ||
              e.find("server.workers") != std::string::npos)
      << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(ConfigTest, LowWatermarkMustBeBelowHigh) {
  expectErrorNaming(errorOf("[stream]\nhigh_watermark = 100\nlow_watermark = 100\n"), "stream.low_watermark");
  expectErrorNaming(errorOf("[stream]\nhigh_watermark = 100\nlow_watermark = 200\n"), "stream.low_watermark");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_STREAM_LOW_WATERMARK=999999999"}), "stream.low_watermark");
  EXPECT_EQ(errorOf("[stream]\nhigh_watermark = 100\nlow_watermark = 99\n"), "");
}

TEST(ConfigTest, ParkAfterDefaultsToTwoSecondsAndZeroNeverParks) {
  EXPECT_EQ(loadText("").stream.parkAfterMs, 2000);
  EXPECT_EQ(loadText("", {"RECGW_STREAM_PARK_AFTER_MS=0"}).stream.parkAfterMs, 0);
  EXPECT_EQ(loadText("[stream]\npark_after_ms = 150\n").stream.parkAfterMs, 150);
  expectErrorNaming(errorOf("[stream]\npark_after_ms = -1\n"), "stream.park_after_ms");
}

TEST(ConfigTest, UpstreamClientIsBuiltinOrCurl) {
  EXPECT_EQ(loadText("").stream.upstreamClient, "builtin");
  EXPECT_EQ(loadText("[stream]\nupstream_client = \"curl\"\n").stream.upstreamClient, "curl");
  EXPECT_EQ(loadText("", {"RECGW_STREAM_UPSTREAM_CLIENT=curl"}).stream.upstreamClient, "curl");
  expectErrorNaming(errorOf("[stream]\nupstream_client = \"libcurl\"\n"), "stream.upstream_client");
}

TEST(ConfigTest, SpliceIsOnUnlessTurnedOff) {
  EXPECT_TRUE(loadText("").stream.splice);
  EXPECT_FALSE(loadText("[stream]\nsplice = false\n").stream.splice);
  EXPECT_FALSE(loadText("", {"RECGW_STREAM_SPLICE=false"}).stream.splice);
  expectErrorNaming(errorOf("[stream]\nsplice = \"yes\"\n"), "stream.splice");
}

TEST(ConfigTest, KernelUnsentBytesDefaultsToQuarterMebibyteAndZeroLeavesTheKernelDefault) {
  EXPECT_EQ(loadText("").stream.kernelUnsentBytes, 256 * 1024);
  EXPECT_EQ(loadText("", {"RECGW_STREAM_KERNEL_UNSENT_BYTES=0"}).stream.kernelUnsentBytes, 0);
  EXPECT_EQ(loadText("[stream]\nkernel_unsent_bytes = 65536\n").stream.kernelUnsentBytes, 65536);
  expectErrorNaming(errorOf("[stream]\nkernel_unsent_bytes = 100\n"), "stream.kernel_unsent_bytes");
  expectErrorNaming(errorOf("[stream]\nkernel_unsent_bytes = -1\n"), "stream.kernel_unsent_bytes");
}

TEST(ConfigTest, ObjectCacheDefaultsAndBounds) {
  const Config defaults = loadText("");
  EXPECT_EQ(defaults.cache.objectsBytes, 256LL * 1024 * 1024);
  EXPECT_EQ(defaults.cache.objectMaxBytes, 8LL * 1024 * 1024);
  EXPECT_EQ(defaults.cache.objectFreshS, 30);
  EXPECT_EQ(defaults.cache.objectAdmitAfter, 2);
  EXPECT_EQ(loadText("", {"RECGW_CACHE_OBJECTS_BYTES=0"}).cache.objectsBytes, 0);
  EXPECT_EQ(loadText("[cache]\nobject_fresh_s = 1\nobject_admit_after = 1\n").cache.objectFreshS, 1);
  expectErrorNaming(errorOf("[cache]\nobjects_bytes = -1\n"), "cache.objects_bytes");
  expectErrorNaming(errorOf("[cache]\nobject_max_bytes = 0\n"), "cache.object_max_bytes");
  expectErrorNaming(errorOf("[cache]\nobject_fresh_s = 0\n"), "cache.object_fresh_s");
  expectErrorNaming(errorOf("[cache]\nobject_admit_after = 0\n"), "cache.object_admit_after");
}

TEST(ConfigTest, TomlSyntaxErrorIsOneLine) {
  std::string e = errorOf("[server\nlisten = \n");
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(ConfigTest, MissingFileIsAConfigError) {
  FakeEnv env({});
  EXPECT_THROW(loadConfig(std::string("/nonexistent/recgw.toml"), env.get()), ConfigError);
}

Config withSecrets() {
  Config c;
  c.s3.secretKey = "s3-very-secret";
  c.s3.accessKey = "AKIDEXAMPLE";
  c.fleet.secret = "fleet-very-secret";
  c.jwt.hs256Secret = "jwt-very-secret";
  c.mongo.uri = "mongodb://u:pw@h/db";
  c.redis.url = "redis://:redispw@127.0.0.1:6379/1";
  return c;
}

TEST(ConfigTest, RenderMasksSecrets) {
  std::string text = renderConfig(withSecrets());
  EXPECT_EQ(text.find("s3-very-secret"), std::string::npos);
  EXPECT_EQ(text.find("fleet-very-secret"), std::string::npos);
  EXPECT_EQ(text.find("jwt-very-secret"), std::string::npos);
  EXPECT_EQ(text.find("pw"), std::string::npos) << text;  // neither mongo's nor redis's password
  EXPECT_NE(text.find("@127.0.0.1:6379/1"), std::string::npos) << text;
  // The URI keeps its shape: host and database stay visible.
  EXPECT_NE(text.find("@h/db"), std::string::npos) << text;
  EXPECT_NE(text.find("***"), std::string::npos);
  // Non-secret values are shown.
  EXPECT_NE(text.find("127.0.0.1:8080"), std::string::npos);
}

// The hot store and the archive as their own services: keys and secrets masked like s3.*,
// all-or-nothing groups, part size within S3's limits.
TEST(ConfigTest, LifecycleHotAndArchiveServices) {
  Config c = loadText(
      "[lifecycle]\nhot_endpoint = \"https://acct.r2.cloudflarestorage.com\"\nhot_access_key = \"R2KEY\"\n"
      "hot_secret_key = \"r2-very-secret\"\nhot_bucket = \"hot\"\narchive_bucket = \"cold\"\n"
      "archive_endpoint = \"s3.eu-west-2.amazonaws.com\"\narchive_access_key = \"AWSKEY\"\n"
      "archive_secret_key = \"aws-very-secret\"\narchive_part_bytes = 5242880\n");
  EXPECT_EQ(c.lifecycle.hotEndpoint, "https://acct.r2.cloudflarestorage.com");
  EXPECT_EQ(c.lifecycle.archiveSecretKey, "aws-very-secret");
  EXPECT_EQ(c.lifecycle.archivePartBytes, 5242880);
  EXPECT_EQ(c.lifecycle.archiveMaxConcurrent, 2);
  std::string text = renderConfig(c);
  for (const char* secret : {"r2-very-secret", "aws-very-secret", "R2KEY", "AWSKEY"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in\n" << text;
  EXPECT_NE(text.find("s3.eu-west-2.amazonaws.com"), std::string::npos);
  for (const auto& line : diffConfig(Config{}, c)) {
    EXPECT_EQ(line.find("very-secret"), std::string::npos) << line;
  }

  expectErrorNaming(errorOf(std::nullopt, {"RECGW_LIFECYCLE_HOT_ENDPOINT=http://127.0.0.1:1"}),
                    "lifecycle.hot_endpoint");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_LIFECYCLE_ARCHIVE_SECRET_KEY=x"}),
                    "lifecycle.archive_endpoint");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_LIFECYCLE_ARCHIVE_PART_BYTES=5242879"}),
                    "lifecycle.archive_part_bytes");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_LIFECYCLE_HOT_ADDRESSING=sideways"}),
                    "lifecycle.hot_addressing");
  EXPECT_EQ(errorOf(std::nullopt, {}), "");  // none set: the main storage, as before
}

TEST(ConfigTest, RenderedDefaultsLoadBackToTheSameConfig) {
  FakeEnv env({});
  Config c = loadConfig(std::nullopt, env.get());
  std::string text = renderConfig(c);
  TempToml file(text);
  Config again = loadConfig(file.path(), env.get());
  EXPECT_EQ(renderConfig(again), text);
  EXPECT_TRUE(diffConfig(c, again).empty());
}

TEST(ConfigTest, DiffNamesChangedKeysOnly) {
  Config before;
  Config after;
  EXPECT_TRUE(diffConfig(before, after).empty());
  after.server.workers = 7;
  after.fleet.urls = {"http://f:1"};
  auto changes = diffConfig(before, after);
  ASSERT_EQ(changes.size(), 2u);
  std::string all = changes[0] + "|" + changes[1];
  EXPECT_NE(all.find("server.workers"), std::string::npos) << all;
  EXPECT_NE(all.find("7"), std::string::npos) << all;
  EXPECT_NE(all.find("fleet.urls"), std::string::npos) << all;
  EXPECT_NE(all.find("http://f:1"), std::string::npos) << all;
}

TEST(ConfigTest, DiffNeverPrintsSecretValues) {
  Config before;
  Config after = withSecrets();
  auto changes = diffConfig(before, after);
  std::string all;
  for (const auto& line : changes) all += line + "\n";
  for (const char* key : {"s3.secret_key", "fleet.secret", "jwt.hs256_secret", "mongo.uri", "redis.url"}) {
    EXPECT_NE(all.find(key), std::string::npos) << key << " missing from:\n" << all;
  }
  for (const char* secret :
       {"s3-very-secret", "fleet-very-secret", "jwt-very-secret", "AKIDEXAMPLE", "pw@", "redispw"}) {
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " leaked in:\n" << all;
  }
}

// Regression: secrets were compared after masking, so rotating one non-empty secret to
// another ("old" -> "new" both render "***") was not reported.
TEST(ConfigTest, DiffReportsARotatedSecret) {
  Config before = withSecrets();
  Config after = withSecrets();
  after.s3.secretKey = "rotated-secret";
  after.mongo.uri = "mongodb://u:pw2@h/db";
  auto changes = diffConfig(before, after);
  std::string all;
  for (const auto& line : changes) all += line + "\n";
  EXPECT_NE(all.find("s3.secret_key"), std::string::npos) << all;
  EXPECT_NE(all.find("mongo.uri"), std::string::npos) << all;
  EXPECT_EQ(all.find("rotated-secret"), std::string::npos) << all;
  EXPECT_EQ(all.find("pw2"), std::string::npos) << all;
}

// Regression: the URI mask stopped at the first '@', so a password with a raw '@'
// ("mongodb://u:p@ss@h/db", which libmongoc accepts) showed its tail: "***@ss@h/db".
TEST(ConfigTest, RenderMasksAPasswordContainingAt) {
  Config c;
  c.mongo.uri = "mongodb://u:p@ssword@h/db";
  std::string text = renderConfig(c);
  // Not the bare "ssword": key names such as redis.password contain it.
  EXPECT_EQ(text.find("ssword@h"), std::string::npos) << text;
  EXPECT_EQ(text.find("p@ss"), std::string::npos) << text;
}

// Regression: the key or value was quoted verbatim into what(), so a value or TOML key
// holding a newline made a multi-line error, against the header's "what() is one line".
TEST(ConfigTest, ErrorIsOneLineEvenForValuesWithNewlines) {
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_SERVER_WORKERS=1\n2"}), "RECGW_SERVER_WORKERS");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_FLEET_URLS=ftp://a\nb"}), "fleet.urls");
  expectErrorNaming(errorOf("[server]\n\"a\\nb\" = 1\n"), "server.a");
}

// Regression (audit item 3): URLs other than mongo.uri/redis.url were printed as they were,
// so check-config and the SIGHUP "config changed" lines showed fleet and provider passwords.
TEST(ConfigTest, RenderShowsEveryUrlWithoutCredentials) {
  Config c;
  c.fleet.urls = {"http://fleetuser:fleetpass@127.0.0.1:8000", "http://10.0.0.2:8000"};
  c.lifecycle.providerUrl = "https://provuser:provpass@provider.example.com/api";
  c.s3.endpoint = "https://ep:endpointpass@minio.example.com:9000";
  c.server.publicBaseUrl = "https://pb:basepass@links.example.com";
  c.mongo.uri = "mongodb://h1,h2/db?tls=true&tlsCertificateKeyFilePassword=keyfilepass&replicaSet=rs0";
  std::string text = renderConfig(c);
  for (const char* secret :
       {"fleetpass", "provpass", "endpointpass", "basepass", "keyfilepass", "fleetuser"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in:\n" << text;
  }
  for (const char* shown :
       {"\"http://***@127.0.0.1:8000\"", "\"http://10.0.0.2:8000\"", "https://***@provider.example.com/api",
        "https://***@minio.example.com:9000", "tlsCertificateKeyFilePassword=***&replicaSet=rs0"}) {
    EXPECT_NE(text.find(shown), std::string::npos) << shown << " missing from:\n" << text;
  }
  // The masked text is still a valid config.
  TempToml file(text);
  FakeEnv env({});
  EXPECT_NO_THROW(loadConfig(file.path(), env.get()));
}

TEST(ConfigTest, DiffReportsACredentialChangeInAUrlWithoutShowingIt) {
  Config before;
  before.fleet.urls = {"http://u:oldpass@f:1"};
  before.lifecycle.providerUrl = "https://u:oldprov@p";
  Config after = before;
  after.fleet.urls = {"http://u:newpass@f:1"};
  after.lifecycle.providerUrl = "https://u:newprov@p";
  auto changes = diffConfig(before, after);
  std::string all;
  for (const auto& line : changes) all += line + "\n";
  EXPECT_EQ(changes.size(), 2u) << all;
  EXPECT_NE(all.find("fleet.urls: changed"), std::string::npos) << all;
  EXPECT_NE(all.find("lifecycle.provider_url: changed"), std::string::npos) << all;
  for (const char* secret : {"oldpass", "newpass", "oldprov", "newprov"}) {
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in:\n" << all;
  }
  // A host change is shown, still without credentials.
  after.fleet.urls = {"http://u:newpass@g:1"};
  changes = diffConfig(before, after);
  all.clear();
  for (const auto& line : changes) all += line + "\n";
  EXPECT_NE(all.find("\"http://***@f:1\"] -> [\"http://***@g:1\"]"), std::string::npos) << all;
}

TEST(ConfigTest, OpsListen) {
  FakeEnv none({});
  EXPECT_EQ(loadConfig(std::nullopt, none.get()).server.opsListen, "");
  FakeEnv set({"RECGW_SERVER_OPS_LISTEN=127.0.0.1:9090"});
  Config c = loadConfig(std::nullopt, set.get());
  EXPECT_EQ(c.opsListenHost(), "127.0.0.1");
  EXPECT_EQ(c.opsListenPort(), 9090);
  FakeEnv v6({"RECGW_SERVER_OPS_LISTEN=[::1]:9091"});
  EXPECT_EQ(loadConfig(std::nullopt, v6.get()).opsListenHost(), "::1");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_SERVER_OPS_LISTEN=9090"}), "server.ops_listen");
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_SERVER_OPS_LISTEN=127.0.0.1:0"}), "server.ops_listen");
  // The public port: SO_REUSEPORT would let the two listeners share it.
  expectErrorNaming(
      errorOf(std::nullopt, {"RECGW_SERVER_LISTEN=127.0.0.1:8080", "RECGW_SERVER_OPS_LISTEN=127.0.0.1:8080"}),
      "server.ops_listen");
  expectErrorNaming(errorOf("[server]\nops_listen = 9090\n"), "server.ops_listen");
}

TEST(ConfigTest, RedisCredentialKeysFromEnvAreSecretAndChecked) {
  Config c = loadText(
      "[redis]\nurl = \"redis://127.0.0.1:6380/2\"\n",
      {"RECGW_REDIS_USERNAME=cache", "RECGW_REDIS_PASSWORD=env-redis-secret", "RECGW_REDIS_DATABASE=3"});
  EXPECT_EQ(c.redis.username, "cache");
  EXPECT_EQ(c.redis.password, "env-redis-secret");
  EXPECT_EQ(c.redis.database, 3);
  std::string text = renderConfig(c);
  EXPECT_EQ(text.find("env-redis-secret"), std::string::npos) << text;
  EXPECT_EQ(Config().redis.database, -1);  // the URL's database unless set
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_REDIS_DATABASE=-2"}), "redis.database");
  // An ACL user cannot AUTH without a password.
  expectErrorNaming(errorOf(std::nullopt, {"RECGW_REDIS_USERNAME=cache"}), "redis.database");
}

}  // namespace
}  // namespace recgw::app

namespace recgw::app {
namespace {

TEST(ConfigTest, CaFilesAreEmptyByDefaultAndMustHoldAPemCertificate) {
  FakeEnv none({});
  Config defaults = loadConfig(std::nullopt, none.get());
  EXPECT_EQ(defaults.s3.caFile, "");
  EXPECT_EQ(defaults.fleet.caFile, "");

  TempToml pem("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  Config c = loadText("[s3]\nca_file = \"" + pem.path() + "\"\n", {"RECGW_FLEET_CA_FILE=" + pem.path()});
  EXPECT_EQ(c.s3.caFile, pem.path());
  EXPECT_EQ(c.fleet.caFile, pem.path());

  expectErrorNaming(errorOf("[s3]\nca_file = \"/nonexistent/ca.pem\"\n"), "s3.ca_file");
  TempToml notPem("just text\n");
  std::string err = errorOf("[fleet]\nca_file = \"" + notPem.path() + "\"\n");
  expectErrorNaming(err, "fleet.ca_file");
  EXPECT_NE(err.find("PEM"), std::string::npos) << err;
}

}  // namespace
}  // namespace recgw::app
