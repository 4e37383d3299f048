#include "fleet/source_chain.h"
#include "fleet/reachability.h"

#include <gtest/gtest.h>
#include <strings.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <memory>
#include <string>
#include <vector>

namespace recgw::fleet {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::optional<std::string> header(const reactor::UpstreamRequest& req, const std::string& name) {
  std::optional<std::string> found;
  for (const auto& [n, v] : req.headers) {
    if (strcasecmp(n.c_str(), name.c_str()) == 0) {
      EXPECT_FALSE(found.has_value()) << "header " << name << " sent twice";
      found = v;
    }
  }
  return found;
}

std::vector<std::string> labels(const SourceChain& chain) {
  std::vector<std::string> out;
  for (const auto& s : chain.sources()) out.push_back(s.label);
  return out;
}

storage::StorageSettings settings(bool completeStorage, std::vector<std::string> fleet,
                                  std::string fleetSecret = "fleet-secret") {
  storage::StorageValues v;
  v.endpoint = "http://minio:9000";
  v.accessKey = "AKIDEXAMPLE";
  v.secretKey = completeStorage ? "SECRET" : "";
  v.bucket = "recordings";
  v.addressing = "path";
  v.fleetUrls = std::move(fleet);
  v.fleetSecret = std::move(fleetSecret);
  return storage::mergeSettings(v, {});
}

std::chrono::system_clock::time_point fromAmzDate(const std::string& s) {
  std::tm tm{};
  EXPECT_EQ(s.size(), 16u) << s;
  tm.tm_year = std::stoi(s.substr(0, 4)) - 1900;
  tm.tm_mon = std::stoi(s.substr(4, 2)) - 1;
  tm.tm_mday = std::stoi(s.substr(6, 2));
  tm.tm_hour = std::stoi(s.substr(9, 2));
  tm.tm_min = std::stoi(s.substr(11, 2));
  tm.tm_sec = std::stoi(s.substr(13, 2));
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

TEST(FleetRecordingUrlTest, EncodesEachSegment) {
  EXPECT_EQ(fleetRecordingUrl("http://f:8080", "a b/c+d.ogg"), "http://f:8080/recordings/a%20b/c%2Bd.ogg");
  EXPECT_EQ(fleetRecordingUrl("http://f:8080/", "a b/c+d.ogg"), "http://f:8080/recordings/a%20b/c%2Bd.ogg");
  EXPECT_EQ(fleetRecordingUrl("https://f.example/base/", "x.ogg"), "https://f.example/base/recordings/x.ogg");
  EXPECT_EQ(fleetRecordingUrl("http://f", "q?#%.ogg"), "http://f/recordings/q%3F%23%25.ogg");
}

TEST(SourceChainTest, StorageFirstThenFleetInOrder) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  SourceChain chain(settings(true, {"http://f1:8080", "http://f2:8080"}), signer, "a b/c+d.ogg",
                    "X-CXBCore-Secret", {});
  EXPECT_EQ(labels(chain), (std::vector<std::string>{"storage", "fleet:0", "fleet:1"}));
  EXPECT_EQ(chain.sources()[0].kind, Source::Kind::kStorage);
  EXPECT_EQ(chain.sources()[1].kind, Source::Kind::kFleet);
  EXPECT_EQ(chain.key(), "a b/c+d.ogg");
}

TEST(SourceChainTest, IncompleteStorageLeavesOnlyFleet) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  SourceChain chain(settings(false, {"http://f1:8080", "http://f2:8080"}), signer, "k.ogg",
                    "X-CXBCore-Secret", {});
  EXPECT_EQ(labels(chain), (std::vector<std::string>{"fleet:0", "fleet:1"}));
  EXPECT_EQ(chain.request(0, {}, false).url, "http://f1:8080/recordings/k.ogg");

  SourceChain noSigner(settings(true, {"http://f1:8080"}), nullptr, "k.ogg", "X-CXBCore-Secret", {});
  EXPECT_EQ(labels(noSigner), (std::vector<std::string>{"fleet:0"}));

  SourceChain nothing(settings(false, {}), signer, "k.ogg", "X-CXBCore-Secret", {});
  EXPECT_TRUE(nothing.sources().empty());
}

TEST(SourceChainTest, StorageRequestIsSignedAndCarriesTheRange) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  UpstreamTimeouts timeouts;
  timeouts.connect = std::chrono::milliseconds(1234);
  timeouts.firstByte = std::chrono::milliseconds(5678);
  SourceChain chain(settings(true, {"http://f1:8080"}), signer, "a b/c+d.ogg", "X-CXBCore-Secret", timeouts);
  auto before = std::chrono::system_clock::now() - std::chrono::seconds(1);
  reactor::UpstreamRequest req = chain.request(0, Headers{{"Range", "bytes=0-99"}}, false);
  auto after = std::chrono::system_clock::now() + std::chrono::seconds(1);

  EXPECT_EQ(req.url, "http://minio:9000/recordings/a%20b/c%2Bd.ogg");
  EXPECT_FALSE(req.headOnly);
  EXPECT_EQ(req.connectTimeout, std::chrono::milliseconds(1234));
  EXPECT_EQ(req.firstByteTimeout, std::chrono::milliseconds(5678));
  EXPECT_EQ(header(req, "Range"), "bytes=0-99");
  EXPECT_EQ(header(req, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
  auto date = header(req, "x-amz-date");
  ASSERT_TRUE(date.has_value());
  auto signedAt = fromAmzDate(*date);
  EXPECT_GE(signedAt, std::chrono::time_point_cast<std::chrono::seconds>(before));
  EXPECT_LE(signedAt, after);
  auto auth = header(req, "Authorization");
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 0), 0u) << *auth;
  EXPECT_NE(auth->find("/us-east-1/s3/aws4_request"), std::string::npos) << *auth;
  EXPECT_NE(auth->find("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"), std::string::npos)
      << *auth;
  EXPECT_FALSE(header(req, "X-CXBCore-Secret").has_value());

  // The signature is the one an independent signer computes for the same request and time.
  storage::SigV4Signer check("AKIDEXAMPLE", "SECRET", "us-east-1");
  storage::S3Location loc = settings(true, {}).location();
  std::vector<storage::HttpHeader> extra{{"range", "bytes=0-99"}};
  auto expected = check.signHeaders("GET", storage::objectTarget(loc, "a b/c+d.ogg"), extra, signedAt);
  ASSERT_TRUE(expected.ok()) << expected.error;
  std::optional<std::string> expectedAuth;
  for (const auto& h : expected.headers) {
    if (strcasecmp(h.name.c_str(), "authorization") == 0) expectedAuth = h.value;
  }
  EXPECT_EQ(auth, expectedAuth);
}

TEST(SourceChainTest, StorageHeadRequest) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  SourceChain chain(settings(true, {}), signer, "k.ogg", "X-CXBCore-Secret", {});
  reactor::UpstreamRequest req = chain.request(0, {}, true);
  EXPECT_TRUE(req.headOnly);
  EXPECT_TRUE(header(req, "Authorization").has_value());
  EXPECT_FALSE(header(req, "Range").has_value());
}

TEST(SourceChainTest, FleetRequestCarriesTheSecretHeader) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  SourceChain chain(settings(true, {"http://f1:8080", "http://f2:8080/"}), signer, "a b/c+d.ogg",
                    "X-CXBCore-Secret", {});
  reactor::UpstreamRequest req = chain.request(2, Headers{{"Range", "bytes=10-"}}, true);
  EXPECT_EQ(req.url, "http://f2:8080/recordings/a%20b/c%2Bd.ogg");
  EXPECT_EQ(header(req, "X-CXBCore-Secret"), "fleet-secret");
  EXPECT_EQ(header(req, "Range"), "bytes=10-");
  EXPECT_FALSE(header(req, "Authorization").has_value());
  EXPECT_FALSE(header(req, "x-amz-date").has_value());
  EXPECT_FALSE(req.headOnly);  // fleet hosts are only asked GET
}

TEST(SourceChainTest, EmptyHeaderNameTakesTheSettingsHeader) {
  storage::StorageValues v;
  v.fleetUrls = {"http://old:8000"};
  v.fleetSecret = "vox-secret";
  v.fleetSecretHeader = "X-VoxCore-Secret";  // as read from a voxcore_fleet document
  SourceChain chain(storage::mergeSettings({}, v), nullptr, "k.ogg", "", {});
  EXPECT_EQ(chain.fleetSecretHeader(), "X-VoxCore-Secret");
  reactor::UpstreamRequest req = chain.request(0, {}, false);
  EXPECT_EQ(header(req, "X-VoxCore-Secret"), "vox-secret");
  EXPECT_FALSE(header(req, "X-CXBCore-Secret").has_value());
  // A header given explicitly (fleet.secret_header) wins.
  SourceChain configured(storage::mergeSettings({}, v), nullptr, "k.ogg", "X-Custom", {});
  EXPECT_EQ(header(configured.request(0, {}, false), "X-Custom"), "vox-secret");
}

TEST(SourceChainTest, FleetRequestWithoutSecretSendsNoSecretHeader) {
  SourceChain chain(settings(false, {"http://f1:8080"}, ""), nullptr, "k.ogg", "X-CXBCore-Secret", {});
  reactor::UpstreamRequest req = chain.request(0, {}, false);
  EXPECT_FALSE(header(req, "X-CXBCore-Secret").has_value());
}

TEST(SourceChainTest, PreferFirstMovesOneSourceToTheFront) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  SourceChain chain(settings(true, {"http://f1:8080", "http://f2:8080"}), signer, "k.ogg",
                    "X-CXBCore-Secret", {});
  chain.preferFirst("fleet:1");
  EXPECT_EQ(labels(chain), (std::vector<std::string>{"fleet:1", "storage", "fleet:0"}));
  EXPECT_EQ(chain.request(0, {}, false).url, "http://f2:8080/recordings/k.ogg");
  EXPECT_TRUE(header(chain.request(1, {}, false), "Authorization").has_value());

  chain.preferFirst("fleet:9");  // stale hint: nothing moves
  EXPECT_EQ(labels(chain), (std::vector<std::string>{"fleet:1", "storage", "fleet:0"}));
  chain.preferFirst("fleet:1");  // already first
  EXPECT_EQ(labels(chain), (std::vector<std::string>{"fleet:1", "storage", "fleet:0"}));
  chain.preferFirst("fleet:0");
  EXPECT_EQ(labels(chain), (std::vector<std::string>{"fleet:0", "fleet:1", "storage"}));
}

}  // namespace
}  // namespace recgw::fleet

namespace recgw::fleet {
namespace {

TEST(SourceChainTest, EachSourceCarriesItsOwnCaBundle) {
  auto signer = std::make_shared<storage::SigV4Signer>("AKIDEXAMPLE", "SECRET", "us-east-1");
  storage::StorageValues v = settings(true, {"https://f1:8443"}).values;
  v.caFile = "/etc/recgw/storage-ca.pem";
  v.fleetCaFile = "/etc/recgw/fleet-ca.pem";
  SourceChain chain(storage::mergeSettings(v, {}), signer, "k.ogg", "", {});
  ASSERT_EQ(labels(chain), (std::vector<std::string>{"storage", "fleet:0"}));
  EXPECT_EQ(chain.request(0, {}, false).caFile, "/etc/recgw/storage-ca.pem");
  EXPECT_EQ(chain.request(1, {}, false).caFile, "/etc/recgw/fleet-ca.pem");

  SourceChain systemStore(settings(true, {"https://f1:8443"}), signer, "k.ogg", "", {});
  EXPECT_EQ(systemStore.request(0, {}, false).caFile, "");
  EXPECT_EQ(systemStore.request(1, {}, false).caFile, "");
}

TEST(SourceChainTest, CaBundlesComeFromTheConfigNeverFromTheDocument) {
  storage::StorageValues config, document;
  config.caFile = "/etc/recgw/storage-ca.pem";
  document.caFile = "/tmp/planted.pem";
  document.fleetCaFile = "/tmp/planted.pem";
  storage::StorageSettings merged = storage::mergeSettings(config, document);
  EXPECT_EQ(merged.values.caFile, "/etc/recgw/storage-ca.pem");
  EXPECT_EQ(merged.values.fleetCaFile, "");
}

TEST(ExplainTransportErrorTest, CertificateFailuresNameTheSettingThatFixesThem) {
  Source storageSource{Source::Kind::kStorage, "storage", "https://user:pw@minio.internal:9000"};
  Source fleetSource{Source::Kind::kFleet, "fleet:1", "https://fleet.internal:8443"};
  std::string unverified = std::string(reactor::kCertificateUnverified) +
                           ": SSL certificate problem: self-signed certificate in certificate chain";
  std::string s = explainTransportError(storageSource, unverified);
  EXPECT_NE(s.find("could not be verified"), std::string::npos) << s;
  EXPECT_NE(s.find("s3.ca_file"), std::string::npos) << s;
  EXPECT_NE(s.find("self-signed"), std::string::npos) << s;
  EXPECT_EQ(s.find("pw@"), std::string::npos) << s;

  std::string f = explainTransportError(fleetSource, unverified);
  EXPECT_NE(f.find("fleet.ca_file"), std::string::npos) << f;
  EXPECT_NE(f.find("fleet:1"), std::string::npos) << f;

  std::string bundle = explainTransportError(
      fleetSource, std::string(reactor::kCaBundleUnusable) + ": error setting certificate file: /x.pem");
  EXPECT_EQ(bundle.rfind("fleet.ca_file", 0), 0u) << bundle;

  std::string refused = explainTransportError(fleetSource, "Couldn't connect to server");
  EXPECT_NE(refused.find("unreachable"), std::string::npos) << refused;
  EXPECT_EQ(refused.find("ca_file"), std::string::npos) << refused;
}

}  // namespace
}  // namespace recgw::fleet
