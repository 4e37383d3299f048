#include "storage/s3_addressing.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>


namespace recgw::storage {
namespace {

TEST(S3AddressingTest, EndpointUrl) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case cases[] = {
      {"nyc3.digitaloceanspaces.com", "https://nyc3.digitaloceanspaces.com"},
      {"nyc3.digitaloceanspaces.com/", "https://nyc3.digitaloceanspaces.com"},
      {"https://nyc3.digitaloceanspaces.com/", "https://nyc3.digitaloceanspaces.com"},
      {"http://minio:9000", "http://minio:9000"},
      {"http://minio:9000//", "http://minio:9000"},
      {"minio:9000", "https://minio:9000"},
      {"  HTTPS://S3.EU-West-2.AmazonAWS.com/  ", "https://s3.eu-west-2.amazonaws.com"},
      {"https://gw.example.com/s3/", "https://gw.example.com/s3"},
      {"https://gw.example.com/Prefix/", "https://gw.example.com/Prefix"},
      {"http://[::1]:9000/", "http://[::1]:9000"},
      {"", ""},
      {"   ", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(endpointUrl(c.in), c.want) << "input: '" << c.in << "'";
  }
}

TEST(S3AddressingTest, RegionFromEndpoint) {
  struct Case {
    const char* endpoint;
    const char* configured;
    const char* want;
  };
  const Case cases[] = {
      // DigitalOcean Spaces
      {"nyc3.digitaloceanspaces.com", "", "nyc3"},
      {"https://fra1.digitaloceanspaces.com/", "us-west-1", "fra1"},
      {"https://bucket.sgp1.digitaloceanspaces.com/a/b.ogg", "", "sgp1"},
      {"ams3.cdn.digitaloceanspaces.com", "", "ams3"},
      {"bucket.nyc3.cdn.digitaloceanspaces.com", "", "nyc3"},
      // AWS regional, dash-style, dualstack, virtual-hosted
      {"s3.eu-west-2.amazonaws.com", "", "eu-west-2"},
      {"https://s3.eu-west-2.amazonaws.com", "us-east-1", "eu-west-2"},
      {"https://s3.eu-west-2.amazonaws.com:443/bucket/key.ogg?x=1", "", "eu-west-2"},
      {"s3-eu-west-2.amazonaws.com", "", "eu-west-2"},
      {"s3.dualstack.eu-west-2.amazonaws.com", "", "eu-west-2"},
      {"bucket.s3.eu-west-2.amazonaws.com", "", "eu-west-2"},
      {"bucket.s3-eu-west-2.amazonaws.com", "", "eu-west-2"},
      {"bucket.s3.dualstack.ap-southeast-1.amazonaws.com", "", "ap-southeast-1"},
      {"s3-logs.s3.ap-southeast-1.amazonaws.com", "", "ap-southeast-1"},
      {"my.dotted.bucket.s3.us-west-2.amazonaws.com", "", "us-west-2"},
      {"s3.us-gov-west-1.amazonaws.com", "", "us-gov-west-1"},
      {"s3-website-us-west-2.amazonaws.com", "", "us-west-2"},
      {"bucket.s3-website.eu-central-1.amazonaws.com", "", "eu-central-1"},
      {"s3.cn-north-1.amazonaws.com.cn", "", "cn-north-1"},
      {"https://vpce-0a1b2c.s3.us-east-1.vpce.amazonaws.com", "", "us-east-1"},
      {"bucket.vpce-0a1b2c.s3.eu-west-3.vpce.amazonaws.com", "", "eu-west-3"},
      {"S3.EU-WEST-2.AMAZONAWS.COM", "", "eu-west-2"},
      // AWS global endpoint: us-east-1 regardless of configuration
      {"s3.amazonaws.com", "", "us-east-1"},
      {"https://s3.amazonaws.com", "eu-west-1", "us-east-1"},
      {"bucket.s3.amazonaws.com", "", "us-east-1"},
      {"s3-external-1.amazonaws.com", "", "us-east-1"},
      // Global accelerate endpoint: the bucket's region comes from configuration
      {"bucket.s3-accelerate.amazonaws.com", "eu-central-1", "eu-central-1"},
      {"bucket.s3-accelerate.amazonaws.com", "", "us-east-1"},
      // Everything else
      {"http://minio:9000", "", "us-east-1"},
      {"http://minio:9000", "eu-central-1", "eu-central-1"},
      {"https://abc123.r2.cloudflarestorage.com", "auto", "auto"},
      {"http://127.0.0.1:9000", " ", "us-east-1"},
      {"", "", "us-east-1"},
      {"amazonaws.com", "ca-central-1", "ca-central-1"},
      {"digitaloceanspaces.com", "", "us-east-1"},
      {"evil-digitaloceanspaces.com", "x-region-9", "x-region-9"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(regionFromEndpoint(c.endpoint, c.configured), c.want)
        << "endpoint: '" << c.endpoint << "' configured: '" << c.configured << "'";
  }
}

TEST(S3AddressingTest, ParseAddressing) {
  EXPECT_EQ(parseAddressing("auto"), Addressing::kAuto);
  EXPECT_EQ(parseAddressing("path"), Addressing::kPath);
  EXPECT_EQ(parseAddressing("virtual"), Addressing::kVirtual);
  EXPECT_EQ(parseAddressing("PATH"), Addressing::kPath);
  EXPECT_EQ(parseAddressing("Virtual"), Addressing::kVirtual);
  EXPECT_EQ(parseAddressing(""), std::nullopt);
  EXPECT_EQ(parseAddressing("vhost"), std::nullopt);
  EXPECT_EQ(parseAddressing("path "), std::nullopt);
  for (Addressing a : {Addressing::kAuto, Addressing::kPath, Addressing::kVirtual}) {
    EXPECT_EQ(parseAddressing(addressingName(a)), a);
  }
}

TEST(S3AddressingTest, UsesVirtualHost) {
  struct Case {
    const char* endpoint;
    const char* bucket;
    Addressing addressing;
    bool want;
  };
  const Case cases[] = {
      {"https://s3.eu-west-2.amazonaws.com", "recordings", Addressing::kAuto, true},
      {"https://s3.amazonaws.com", "recordings", Addressing::kAuto, true},
      {"https://nyc3.digitaloceanspaces.com", "recordings", Addressing::kAuto, true},
      {"http://minio:9000", "recordings", Addressing::kAuto, false},
      {"https://abc.r2.cloudflarestorage.com", "recordings", Addressing::kAuto, false},
      {"https://s3.eu-west-2.amazonaws.com", "recordings", Addressing::kPath, false},
      {"http://minio:9000", "recordings", Addressing::kVirtual, true},
      // Not usable as a DNS label / wildcard certificate: auto falls back to path style.
      {"https://s3.eu-west-2.amazonaws.com", "my.dotted.bucket", Addressing::kAuto, false},
      {"http://s3.eu-west-2.amazonaws.com", "my.dotted.bucket", Addressing::kAuto, true},
      {"https://s3.eu-west-2.amazonaws.com", "Upper_Case", Addressing::kAuto, false},
      {"https://s3.eu-west-2.amazonaws.com", "my.dotted.bucket", Addressing::kVirtual, true},
      // An endpoint that already names the bucket is virtual-hosted whatever was asked.
      {"https://recordings.nyc3.digitaloceanspaces.com", "recordings", Addressing::kAuto, true},
  };
  for (const Case& c : cases) {
    S3Location location{c.endpoint, c.bucket, "us-east-1", c.addressing, ""};
    EXPECT_EQ(usesVirtualHost(location), c.want)
        << c.endpoint << " bucket " << c.bucket << " " << addressingName(c.addressing);
  }
}

void expectTarget(const ObjectTarget& t, const ObjectTarget& want) {
  EXPECT_EQ(t.url, want.url);
  EXPECT_EQ(t.scheme, want.scheme);
  EXPECT_EQ(t.host, want.host);
  EXPECT_EQ(t.canonicalUri, want.canonicalUri);
}

TEST(S3AddressingTest, ObjectTargetPathStyle) {
  S3Location minio{endpointUrl("http://minio:9000/"), "recordings", "us-east-1", Addressing::kAuto, ""};
  expectTarget(objectTarget(minio, "x/y.ogg"),
               {"http://minio:9000/recordings/x/y.ogg", "http", "minio:9000", "/recordings/x/y.ogg"});
}

TEST(S3AddressingTest, ObjectTargetVirtualHosted) {
  S3Location spaces{endpointUrl("nyc3.digitaloceanspaces.com"), "calls", "nyc3", Addressing::kAuto, ""};
  expectTarget(objectTarget(spaces, "2024/01/a.ogg"),
               {"https://calls.nyc3.digitaloceanspaces.com/2024/01/a.ogg", "https",
                "calls.nyc3.digitaloceanspaces.com", "/2024/01/a.ogg"});

  S3Location aws{endpointUrl("s3.eu-west-2.amazonaws.com"), "calls", "eu-west-2", Addressing::kAuto, ""};
  EXPECT_EQ(objectTarget(aws, "a.ogg").url, "https://calls.s3.eu-west-2.amazonaws.com/a.ogg");
  aws.addressing = Addressing::kPath;
  EXPECT_EQ(objectTarget(aws, "a.ogg").url, "https://s3.eu-west-2.amazonaws.com/calls/a.ogg");
}

TEST(S3AddressingTest, ObjectTargetEndpointAlreadyNamesBucket) {
  S3Location spaces{endpointUrl("https://calls.nyc3.digitaloceanspaces.com/"), "calls", "nyc3",
                    Addressing::kAuto, ""};
  ObjectTarget t = objectTarget(spaces, "a.ogg");
  EXPECT_EQ(t.host, "calls.nyc3.digitaloceanspaces.com");
  EXPECT_EQ(t.url, "https://calls.nyc3.digitaloceanspaces.com/a.ogg");
}

TEST(S3AddressingTest, ObjectTargetKeepsEndpointPathPrefixAndPorts) {
  S3Location prefixed{endpointUrl("https://gw.example.com/s3/"), "rec", "us-east-1", Addressing::kAuto, ""};
  ObjectTarget t = objectTarget(prefixed, "a.ogg");
  EXPECT_EQ(t.canonicalUri, "/s3/rec/a.ogg");
  EXPECT_EQ(t.url, "https://gw.example.com/s3/rec/a.ogg");

  // Default ports are dropped from Host (curl would drop them too), others kept.
  S3Location https443{"https://s3.eu-west-2.amazonaws.com:443", "rec", "eu-west-2", Addressing::kPath, ""};
  EXPECT_EQ(objectTarget(https443, "a").host, "s3.eu-west-2.amazonaws.com");
  S3Location http80{"http://minio:80", "rec", "us-east-1", Addressing::kAuto, ""};
  EXPECT_EQ(objectTarget(http80, "a").url, "http://minio/rec/a");
  S3Location http443{"http://minio:443", "rec", "us-east-1", Addressing::kAuto, ""};
  EXPECT_EQ(objectTarget(http443, "a").host, "minio:443");
  S3Location virtualPort{"https://nyc3.digitaloceanspaces.com:8443", "rec", "nyc3", Addressing::kAuto, ""};
  EXPECT_EQ(objectTarget(virtualPort, "a").host, "rec.nyc3.digitaloceanspaces.com:8443");
  // A hand-built location without a scheme still produces a usable https target.
  S3Location vpce{"https://vpce-0a1b2c.s3.us-east-1.vpce.amazonaws.com", "rec", "us-east-1",
                  Addressing::kAuto, ""};
  EXPECT_EQ(objectTarget(vpce, "a").url, "https://rec.vpce-0a1b2c.s3.us-east-1.vpce.amazonaws.com/a");
  vpce.addressing = Addressing::kPath;
  EXPECT_EQ(objectTarget(vpce, "a").url, "https://vpce-0a1b2c.s3.us-east-1.vpce.amazonaws.com/rec/a");
  S3Location bare{"nyc3.digitaloceanspaces.com", "rec", "nyc3", Addressing::kAuto, ""};
  EXPECT_EQ(objectTarget(bare, "a").url, "https://rec.nyc3.digitaloceanspaces.com/a");
}

// Awkward keys: what goes on the wire and into the canonical request must be the AWS
// UriEncode of the key, with `/` separators kept and never normalised.
TEST(S3AddressingTest, ObjectTargetEncodesAwkwardKeys) {
  struct Case {
    std::string key;
    const char* wantPath;  // after "/bucket"
  };
  const Case cases[] = {
      {"plain/file.ogg", "/plain/file.ogg"},
      {"with space.ogg", "/with%20space.ogg"},
      {"a+b.ogg", "/a%2Bb.ogg"},
      {"k=v&x=y.ogg", "/k%3Dv%26x%3Dy.ogg"},
      {"x[1](2){3}.ogg", "/x%5B1%5D%282%29%7B3%7D.ogg"},
      {"über/ñandú.ogg", "/%C3%BCber/%C3%B1and%C3%BA.ogg"},
      {"emoji-\xF0\x9F\x8E\xA7.ogg", "/emoji-%F0%9F%8E%A7.ogg"},
      {"~user/-_.~", "/~user/-_.~"},
      {"a//b///c.ogg", "/a//b///c.ogg"},
      {"/leading.ogg", "//leading.ogg"},
      {"trailing/", "/trailing/"},
      {"100%.ogg", "/100%25.ogg"},
      {"q?h#f.ogg", "/q%3Fh%23f.ogg"},
      {"$,:;@'!*.ogg", "/%24%2C%3A%3B%40%27%21%2A.ogg"},
      {"back\\slash|pipe^caret`\"<>.ogg", "/back%5Cslash%7Cpipe%5Ecaret%60%22%3C%3E.ogg"},
      {"tab\tnl\n.ogg", "/tab%09nl%0A.ogg"},
      {std::string("nul\0byte", 8), "/nul%00byte"},
      {"\xFF\xFE", "/%FF%FE"},
      {"./../x", "/./../x"},
      {"", "/"},
  };
  S3Location path{"http://minio:9000", "bucket", "us-east-1", Addressing::kPath, ""};
  S3Location virt{"https://s3.eu-west-2.amazonaws.com", "bucket", "eu-west-2", Addressing::kVirtual, ""};
  for (const Case& c : cases) {
    ObjectTarget p = objectTarget(path, c.key);
    EXPECT_EQ(p.canonicalUri, std::string("/bucket") + c.wantPath) << "key: " << c.key;
    EXPECT_EQ(p.url, "http://minio:9000" + p.canonicalUri);
    ObjectTarget v = objectTarget(virt, c.key);
    EXPECT_EQ(v.canonicalUri, c.wantPath) << "key: " << c.key;
    EXPECT_EQ(v.host, "bucket.s3.eu-west-2.amazonaws.com");
    // And back: the key extracted from the URL we built is the key we started from.
    if (!c.key.empty()) {
      EXPECT_EQ(extractS3KeyFromUrl(p.url), c.key) << "path-style round trip: " << c.key;
      EXPECT_EQ(extractS3KeyFromUrl(v.url), c.key) << "virtual-hosted round trip: " << c.key;
    }
  }
}

TEST(S3AddressingTest, ExtractS3KeyFromUrl) {
  struct Case {
    const char* url;
    const char* hint;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      // Spaces virtual-hosted, incl. CDN
      {"https://bucket.nyc3.digitaloceanspaces.com/a/b.ogg", "", "a/b.ogg"},
      {"https://bucket.nyc3.cdn.digitaloceanspaces.com/a/b.ogg", "", "a/b.ogg"},
      {"HTTPS://Bucket.NYC3.DigitalOceanSpaces.com/Case/Kept.ogg", "", "Case/Kept.ogg"},
      // Spaces / AWS path style
      {"https://nyc3.digitaloceanspaces.com/bucket/a/b.ogg", "", "a/b.ogg"},
      {"https://s3.eu-west-2.amazonaws.com/bucket/a/b.ogg", "", "a/b.ogg"},
      {"https://s3.amazonaws.com/bucket/a.ogg", "bucket", "a.ogg"},
      // AWS virtual-hosted
      {"https://bucket.s3.eu-west-2.amazonaws.com/a/b.ogg", "", "a/b.ogg"},
      {"https://bucket.s3.amazonaws.com/a/b.ogg", "", "a/b.ogg"},
      {"https://my.dotted.bucket.s3-eu-west-2.amazonaws.com/k.ogg", "", "k.ogg"},
      // Legacy MinIO
      {"http://minio:9000/recordings/x/y.ogg", "", "x/y.ogg"},
      {"http://minio:9000/recordings/x/y.ogg", "recordings", "x/y.ogg"},
      {"http://user:pw@10.0.0.5:9000/recordings/x.ogg", "", "x.ogg"},
      // Presigned: query and fragment dropped, key decoded
      {"https://bucket.nyc3.digitaloceanspaces.com/a/b%20c.ogg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
       "&X-Amz-Credential=AK%2F20240101%2Fnyc3%2Fs3%2Faws4_request&X-Amz-Signature=abc",
       "", "a/b c.ogg"},
      {"http://minio:9000/recordings/x.ogg?X-Amz-Expires=60&redirect=https://e.com/y", "", "x.ogg"},
      {"https://bucket.nyc3.digitaloceanspaces.com/a/b.ogg#t=10", "", "a/b.ogg"},
      // Decoding
      {"http://minio:9000/recordings/%C3%BCber%2Bx.ogg", "", "über+x.ogg"},
      {"http://minio:9000/recordings/a+b.ogg", "", "a+b.ogg"},
      {"http://minio:9000/recordings/a%2Fb.ogg", "", "a/b.ogg"},
      {"http://minio:9000/recordings/a//b.ogg", "", "a//b.ogg"},
      {"http://minio:9000/recordings//lead.ogg", "", "/lead.ogg"},
      // s3:// URLs
      {"s3://bucket/a/b.ogg", "", "a/b.ogg"},
      {"s3://bucket/bucket/a.ogg", "bucket", "bucket/a.ogg"},
      // Bucket hint on a path-style host: strip only a matching first segment
      {"https://cdn.example.com/recordings/a.ogg", "recordings", "a.ogg"},
      {"https://cdn.example.com/media/a.ogg", "recordings", "media/a.ogg"},
      {"https://cdn.example.com/a.ogg", "recordings", "a.ogg"},
      {"https://cdn.example.com/rec%20s/a.ogg", "rec s", "a.ogg"},
      // ... while on a provider's path-style endpoint the first segment is always the bucket
      {"https://nyc3.digitaloceanspaces.com/other/a.ogg", "recordings", "a.ogg"},
      {"https://s3.eu-west-2.amazonaws.com/other/a.ogg", "recordings", "a.ogg"},
      // AWS interface VPC endpoints: the vpce id is not a bucket
      {"https://vpce-0a1b2c.s3.us-east-1.vpce.amazonaws.com/bucket/a.ogg", "", "a.ogg"},
      {"https://bucket.vpce-0a1b2c.s3.us-east-1.vpce.amazonaws.com/a.ogg", "", "a.ogg"},
      // ... and not on a virtual-hosted one, where the whole path is the key
      {"https://recordings.nyc3.digitaloceanspaces.com/recordings/a.ogg", "recordings", "recordings/a.ogg"},
      // Whitespace around is ignored
      {"  http://minio:9000/recordings/x.ogg\n", "", "x.ogg"},
      // Garbage / no key
      {"", "", std::nullopt},
      {"not a url", "", std::nullopt},
      {"recordings/x.ogg", "", std::nullopt},
      {"/recordings/x.ogg", "", std::nullopt},
      {"ftp://host/bucket/key", "", std::nullopt},
      {"javascript://x/y/z", "", std::nullopt},
      {"https://", "", std::nullopt},
      {"https:///bucket/key", "", std::nullopt},
      {"https://ho st/bucket/key", "", std::nullopt},
      {"http://minio:9000", "", std::nullopt},
      {"http://minio:9000/", "", std::nullopt},
      {"http://minio:9000/recordings", "", std::nullopt},
      {"http://minio:9000/recordings/", "", std::nullopt},
      {"http://minio:9000/recordings?x=1", "", std::nullopt},
      {"http://minio:9000/recordings", "recordings", std::nullopt},
      {"https://bucket.nyc3.digitaloceanspaces.com", "", std::nullopt},
      {"https://bucket.nyc3.digitaloceanspaces.com/", "", std::nullopt},
      {"https://bucket.nyc3.digitaloceanspaces.com/?list-type=2", "", std::nullopt},
      {"http://minio:9000/recordings/bad%zz.ogg", "", std::nullopt},
      {"http://minio:9000/recordings/bad%4", "", std::nullopt},
      {"s3://bucket", "", std::nullopt},
      {"s3://bucket/", "", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(extractS3KeyFromUrl(c.url, c.hint), c.want)
        << "url: '" << c.url << "' hint: '" << c.hint << "'";
  }
}

}  // namespace
}  // namespace recgw::storage
