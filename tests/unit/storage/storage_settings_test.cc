#include "storage/storage_settings.h"

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <string>
#include <vector>

#include "storage/mongo_handles.h"

namespace recgw::storage {
namespace {

using Strings = std::vector<std::string>;

StorageValues complete(const std::string& prefix) {
  StorageValues v;
  v.endpoint = prefix + "-endpoint";
  v.accessKey = prefix + "-ak";
  v.secretKey = prefix + "-sk";
  v.bucket = prefix + "-bucket";
  v.region = prefix + "-region";
  v.addressing = "path";
  v.fleetUrls = {"http://" + prefix + "-fleet"};
  v.fleetSecret = prefix + "-secret";
  return v;
}

TEST(MergeSettingsTest, ConfigWinsFieldByField) {
  StorageValues config;
  config.endpoint = "http://cfg:9000";
  config.secretKey = "cfg-sk";
  config.fleetSecret = "cfg-secret";
  StorageSettings s = mergeSettings(config, complete("doc"));
  EXPECT_EQ(s.values.endpoint, "http://cfg:9000");
  EXPECT_EQ(s.values.accessKey, "doc-ak");
  EXPECT_EQ(s.values.secretKey, "cfg-sk");
  EXPECT_EQ(s.values.bucket, "doc-bucket");
  EXPECT_EQ(s.values.region, "doc-region");
  EXPECT_EQ(s.values.addressing, "path");
  EXPECT_EQ(s.values.fleetUrls, Strings{"http://doc-fleet"});
  EXPECT_EQ(s.values.fleetSecret, "cfg-secret");
  EXPECT_TRUE(s.storageComplete());
  EXPECT_TRUE(s.missing.empty());
}

TEST(MergeSettingsTest, ConfigFleetListReplacesTheDocumentsWholesale) {
  StorageValues config;
  config.fleetUrls = {"http://a", "http://b"};
  StorageSettings s = mergeSettings(config, complete("doc"));
  EXPECT_EQ(s.values.fleetUrls, (Strings{"http://a", "http://b"}));
}

TEST(MergeSettingsTest, CompleteConfigIgnoresTheDocument) {
  StorageSettings s = mergeSettings(complete("cfg"), complete("doc"));
  EXPECT_EQ(s.values.endpoint, "cfg-endpoint");
  EXPECT_EQ(s.values.accessKey, "cfg-ak");
  EXPECT_EQ(s.values.secretKey, "cfg-sk");
  EXPECT_EQ(s.values.bucket, "cfg-bucket");
  EXPECT_EQ(s.values.fleetUrls, Strings{"http://cfg-fleet"});
}

TEST(MergeSettingsTest, MissingListsFieldsInOrder) {
  StorageSettings none = mergeSettings({}, {});
  EXPECT_FALSE(none.storageComplete());
  EXPECT_EQ(none.missing, (Strings{"endpoint", "access_key", "secret_key", "bucket"}));
  std::string text = none.describeMissing();
  for (const char* field : {"endpoint", "access_key", "secret_key", "bucket"}) {
    EXPECT_NE(text.find(field), std::string::npos) << text;
  }

  StorageValues doc;
  doc.accessKey = "ak";
  doc.bucket = "b";
  StorageSettings some = mergeSettings({}, doc);
  EXPECT_EQ(some.missing, (Strings{"endpoint", "secret_key"}));
  // Region, addressing and fleet do not make storage incomplete.
  StorageValues config = complete("cfg");
  config.region.clear();
  config.addressing.clear();
  config.fleetUrls.clear();
  EXPECT_TRUE(mergeSettings(config, {}).storageComplete());
}

using Bson = OwnedBson;

TEST(SettingsFromDocumentTest, ReadsMinioFleetAndSecret) {
  Bson doc(BCON_NEW("_id", BCON_UTF8("global"), "minio", "{", "endpoint", BCON_UTF8("http://minio:9000"),
                    "access_key", BCON_UTF8("AK"), "secret_key", BCON_UTF8("SK"), "bucket",
                    BCON_UTF8("recordings"), "region", BCON_UTF8("eu-1"), "addressing", BCON_UTF8("path"),
                    "unrelated", BCON_INT32(5), "}", "cxbcore_fleet", "[", BCON_UTF8("http://f1:8080"),
                    BCON_UTF8(""), BCON_INT32(7), BCON_UTF8("https://f2"), "]", "cxbcore_secret",
                    BCON_UTF8("fleet-secret")));
  StorageValues v = settingsFromDocument(doc.get());
  EXPECT_EQ(v.endpoint, "http://minio:9000");
  EXPECT_EQ(v.accessKey, "AK");
  EXPECT_EQ(v.secretKey, "SK");
  EXPECT_EQ(v.bucket, "recordings");
  EXPECT_EQ(v.region, "eu-1");
  EXPECT_EQ(v.addressing, "path");
  // Empty and non-string entries are skipped; order is kept.
  EXPECT_EQ(v.fleetUrls, (Strings{"http://f1:8080", "https://f2"}));
  EXPECT_EQ(v.fleetSecret, "fleet-secret");
}

TEST(SettingsFromDocumentTest, WrongTypesAreIgnored) {
  Bson doc(BCON_NEW("minio", "{", "endpoint", BCON_INT32(1), "bucket", BCON_UTF8("b"), "}", "cxbcore_fleet",
                    BCON_UTF8("http://not-a-list"), "cxbcore_secret", BCON_INT64(42)));
  StorageValues v = settingsFromDocument(doc.get());
  EXPECT_EQ(v.endpoint, "");
  EXPECT_EQ(v.bucket, "b");
  EXPECT_TRUE(v.fleetUrls.empty());
  EXPECT_EQ(v.fleetSecret, "");

  Bson notADoc(BCON_NEW("minio", BCON_UTF8("http://minio:9000")));
  StorageValues w = settingsFromDocument(notADoc.get());
  EXPECT_EQ(w.endpoint, "");
}

TEST(SettingsFromDocumentTest, EmptyAndNullDocuments) {
  Bson empty(bson_new());
  StorageValues v = settingsFromDocument(empty.get());
  EXPECT_TRUE(mergeSettings({}, v).missing.size() == 4);
  StorageValues n = settingsFromDocument(nullptr);
  EXPECT_EQ(n.endpoint, "");
  EXPECT_TRUE(n.fleetUrls.empty());
}

TEST(SettingsFromDocumentTest, FeedsMerge) {
  Bson doc(BCON_NEW("minio", "{", "endpoint", BCON_UTF8("nyc3.digitaloceanspaces.com"), "access_key",
                    BCON_UTF8("AK"), "secret_key", BCON_UTF8("SK"), "bucket", BCON_UTF8("b"), "}"));
  StorageSettings s = mergeSettings({}, settingsFromDocument(doc.get()));
  EXPECT_TRUE(s.storageComplete());
  EXPECT_EQ(s.location().region, "nyc3");
}

// Issue #19 row 11: older deployments name the fleet settings voxcore_fleet/voxcore_secret,
// and their hosts expect X-VoxCore-Secret.
TEST(SettingsFromDocumentTest, ReadsTheVoxCoreNamesWhenCxbCoreIsAbsent) {
  Bson doc(BCON_NEW("voxcore_fleet", "[", BCON_UTF8("http://old-1:8000"), BCON_UTF8("http://old-2:8000"), "]",
                    "voxcore_secret", BCON_UTF8("vox-secret")));
  StorageValues v = settingsFromDocument(doc.get());
  EXPECT_EQ(v.fleetUrls, (Strings{"http://old-1:8000", "http://old-2:8000"}));
  EXPECT_EQ(v.fleetSecret, "vox-secret");
  EXPECT_EQ(v.fleetSecretHeader, "X-VoxCore-Secret");
  StorageSettings merged = mergeSettings({}, v);
  EXPECT_EQ(merged.values.fleetUrls, v.fleetUrls);
  EXPECT_EQ(merged.values.fleetSecretHeader, "X-VoxCore-Secret");

  // An empty cxbcore_fleet counts as absent; a voxcore secret wins over a cxbcore one then.
  Bson emptyNew(BCON_NEW("cxbcore_fleet", "[", "]", "cxbcore_secret", BCON_UTF8("new-secret"),
                         "voxcore_fleet", "[", BCON_UTF8("http://old-1:8000"), "]", "voxcore_secret",
                         BCON_UTF8("vox-secret")));
  StorageValues w = settingsFromDocument(emptyNew.get());
  EXPECT_EQ(w.fleetUrls, Strings{"http://old-1:8000"});
  EXPECT_EQ(w.fleetSecret, "vox-secret");
  EXPECT_EQ(w.fleetSecretHeader, "X-VoxCore-Secret");
}

TEST(SettingsFromDocumentTest, CxbCoreWinsOverVoxCore) {
  Bson doc(BCON_NEW("cxbcore_fleet", "[", BCON_UTF8("http://new:8000"), "]", "cxbcore_secret",
                    BCON_UTF8("new-secret"), "voxcore_fleet", "[", BCON_UTF8("http://old:8000"), "]",
                    "voxcore_secret", BCON_UTF8("vox-secret")));
  StorageValues v = settingsFromDocument(doc.get());
  EXPECT_EQ(v.fleetUrls, Strings{"http://new:8000"});
  EXPECT_EQ(v.fleetSecret, "new-secret");
  EXPECT_EQ(v.fleetSecretHeader, "");
  EXPECT_EQ(mergeSettings({}, v).values.fleetSecretHeader, "X-CXBCore-Secret");
}

TEST(MergeSettingsTest, SecretHeaderFollowsTheFleetsNamingUnlessConfigured) {
  StorageValues voxDocument;
  voxDocument.fleetUrls = {"http://old:8000"};
  voxDocument.fleetSecretHeader = "X-VoxCore-Secret";
  EXPECT_EQ(mergeSettings({}, voxDocument).values.fleetSecretHeader, "X-VoxCore-Secret");
  // fleet.secret_header configured: it is used whatever the naming.
  StorageValues configured;
  configured.fleetSecretHeader = "X-Custom-Secret";
  EXPECT_EQ(mergeSettings(configured, voxDocument).values.fleetSecretHeader, "X-Custom-Secret");
  // Fleet hosts from the config: the document's naming says nothing about them.
  StorageValues configFleet;
  configFleet.fleetUrls = {"http://cfg:8000"};
  StorageSettings s = mergeSettings(configFleet, voxDocument);
  EXPECT_EQ(s.values.fleetUrls, Strings{"http://cfg:8000"});
  EXPECT_EQ(s.values.fleetSecretHeader, "X-CXBCore-Secret");
  EXPECT_EQ(mergeSettings({}, {}).values.fleetSecretHeader, "X-CXBCore-Secret");
}

TEST(StorageLocationTest, RegionAndEndpointFromSettings) {
  struct Case {
    const char* endpoint;
    const char* region;
    const char* wantEndpoint;
    const char* wantRegion;
  };
  const Case cases[] = {
      {"nyc3.digitaloceanspaces.com", "", "https://nyc3.digitaloceanspaces.com", "nyc3"},
      {"https://s3.eu-west-2.amazonaws.com", "", "https://s3.eu-west-2.amazonaws.com", "eu-west-2"},
      {"s3.amazonaws.com", "", "https://s3.amazonaws.com", "us-east-1"},
      {"http://minio:9000", "", "http://minio:9000", "us-east-1"},
      {"http://minio:9000/", "eu-central-1", "http://minio:9000", "eu-central-1"},
  };
  for (const Case& c : cases) {
    StorageValues v = complete("x");
    v.endpoint = c.endpoint;
    v.region = c.region;
    S3Location loc = mergeSettings(v, {}).location();
    EXPECT_EQ(loc.endpoint, c.wantEndpoint) << c.endpoint;
    EXPECT_EQ(loc.region, c.wantRegion) << c.endpoint;
    EXPECT_EQ(loc.bucket, "x-bucket");
  }
}

TEST(StorageLocationTest, Addressing) {
  StorageValues v = complete("x");
  v.endpoint = "http://minio:9000";
  v.addressing = "virtual";
  EXPECT_EQ(mergeSettings(v, {}).location().addressing, Addressing::kVirtual);
  v.addressing = "path";
  EXPECT_EQ(mergeSettings(v, {}).location().addressing, Addressing::kPath);
  v.addressing = "";
  EXPECT_EQ(mergeSettings(v, {}).location().addressing, Addressing::kAuto);
}

}  // namespace
}  // namespace recgw::storage
