#include "storage/url_redaction.h"

#include <gtest/gtest.h>

#include <string>

namespace recgw::storage {
namespace {

struct Case {
  const char* in;
  const char* want;
};

TEST(UrlRedactionTest, DisplayForms) {
  const Case cases[] = {
      // Nothing to hide: unchanged.
      {"", ""},
      {"http://127.0.0.1:8000", "http://127.0.0.1:8000"},
      {"https://fleet.example.com/base/", "https://fleet.example.com/base/"},
      {"s3.eu-west-2.amazonaws.com", "s3.eu-west-2.amazonaws.com"},
      {"redis://127.0.0.1:6379/2", "redis://127.0.0.1:6379/2"},
      {"unix:///run/redis.sock", "unix:///run/redis.sock"},
      {"http://[::1]:8080/x?a=1&b=2#frag", "http://[::1]:8080/x?a=1&b=2#frag"},
      // Userinfo, http(s) (curl turns it into Basic auth).
      {"http://user:pass@127.0.0.1:9000", "http://***@127.0.0.1:9000"},
      {"https://user@host/p", "https://***@host/p"},
      {"HTTP://User:Pass@Host", "HTTP://***@Host"},
      {"http://:pass@host", "http://***@host"},
      {"http://user:pass@[::1]:8000/base", "http://***@[::1]:8000/base"},
      {"http://user:pass@[fe80::1%25eth0]:8000", "http://***@[fe80::1%25eth0]:8000"},
      // Passwords holding the delimiters, raw or percent-encoded.
      {"http://user:p@ss@host:1/x", "http://***@host:1/x"},
      {"http://user:p%40ss%3A@host", "http://***@host"},
      {"http://user:pa/ss@host/x", "http://***@host/x"},
      {"http://user:pa?ss@host/x", "http://***@host/x"},
      {"http://user:pa#ss@host/x", "http://***@host/x"},
      {"http://us@er:p@ss:w/rd@h", "http://***@h"},
      // MongoDB: several hosts, IPv6, SRV, secret options (also with ';' separators).
      {"mongodb://dbuser:dbpass@h1:27017,h2:27018,[::1]:27019/cxb?replicaSet=rs0&authSource=admin",
       "mongodb://***@h1:27017,h2:27018,[::1]:27019/cxb?replicaSet=rs0&authSource=admin"},
      {"mongodb+srv://u:p@cluster0.example.net/cxb?retryWrites=true",
       "mongodb+srv://***@cluster0.example.net/cxb?retryWrites=true"},
      {"mongodb://h1,h2/db?tls=true&tlsCertificateKeyFilePassword=s3cr3t&appName=x",
       "mongodb://h1,h2/db?tls=true&tlsCertificateKeyFilePassword=***&appName=x"},
      {"mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok,SERVICE:x",
       "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=***"},
      {"mongodb://h/?sslClientCertificateKeyPassword=a;tlsInsecure=false;password=b",
       "mongodb://h/?sslClientCertificateKeyPassword=***;tlsInsecure=false;password=***"},
      {"mongodb://h/?TLSCERTIFICATEKEYFILEPASSWORD=a", "mongodb://h/?TLSCERTIFICATEKEYFILEPASSWORD=***"},
      // A percent-encoded option name is still recognised.
      {"mongodb://h/?tlsCertificateKeyFile%50assword=a", "mongodb://h/?tlsCertificateKeyFile%50assword=***"},
      // Redis.
      {"redis://:redispw@127.0.0.1:6379/1", "redis://***@127.0.0.1:6379/1"},
      {"rediss://default:pw@cache.example.com:6380", "rediss://***@cache.example.com:6380"},
      {"redis://127.0.0.1:6379?password=pw", "redis://127.0.0.1:6379?password=***"},
      // Presigned S3 URLs and other signed or token-bearing links.
      {"https://b.s3.amazonaws.com/k.ogg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20240501"
       "&X-Amz-Date=20240501T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=abcdef",
       "https://b.s3.amazonaws.com/k.ogg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
       "&X-Amz-Date=20240501T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=***"},
      {"https://h/k?X-Amz-Security-Token=FwoG&sessionToken=t&AWSAccessKeyId=A&Signature=s",
       "https://h/k?X-Amz-Security-Token=***&sessionToken=***&AWSAccessKeyId=***&Signature=***"},
      {"https://h/cb#access_token=t&state=s", "https://h/cb#access_token=***&state=s"},
      {"https://h/x?q=1#frag?password=p", "https://h/x?q=1#frag?password=***"},
      {"https://h/x#f?token=t", "https://h/x#f?token=***"},
      // A name without '=' or an empty value: shape kept.
      {"https://h/?password&token=", "https://h/?password&token=***"},
      // No scheme.
      {"user:pass@host:8000", "***@host:8000"},
      {"host:8000/x?secret=1", "host:8000/x?secret=***"},
      {"1http://u:p@h", "***@h"},
      // An '@' in a path or query hides what precedes it: too little shown, never a secret.
      {"http://host/files/@archive", "http://***@archive"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(redactUrl(c.in), c.want) << "input: " << c.in;
    // Redacting the display form changes nothing (logs may redact twice).
    EXPECT_EQ(redactUrl(redactUrl(c.in)), redactUrl(c.in)) << "input: " << c.in;
  }
}

TEST(UrlRedactionTest, SecretParameterNames) {
  for (const char* name :
       {"password", "Password", "PASSWD", "pwd", "tlsCertificateKeyFilePassword", "authMechanismProperties",
        "sessionToken", "X-Amz-Signature", "x-amz-credential", "X-Amz-Security-Token", "access_token",
        "client_secret", "api_key", "apikey", "key", "sig", "private_key", "pass%77ord"}) {
    EXPECT_TRUE(isSecretUrlParameter(name)) << name;
  }
  for (const char* name : {"authSource", "authMechanism", "replicaSet", "tls", "appName", "X-Amz-Date",
                           "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Algorithm", "retryWrites", "",
                           "%zz"}) {
    EXPECT_FALSE(isSecretUrlParameter(name)) << name;
  }
}

// No character of the userinfo survives, whatever it holds.
TEST(UrlRedactionTest, NoPartOfAUserinfoSurvives) {
  const std::string secret = "Zq9:x@y/z?w#v%40";
  for (std::string prefix : {"http://", "mongodb://", "redis://", "rediss://", "mongodb+srv://", ""}) {
    std::string shown = redactUrl(prefix + "admin:" + secret + "@host:1/db?appName=a");
    EXPECT_EQ(shown, prefix + "***@host:1/db?appName=a");
    for (const char* fragment : {"Zq9", "x@y", "z?w", "#v", "admin"}) {
      EXPECT_EQ(shown.find(fragment), std::string::npos) << fragment << " in " << shown;
    }
  }
}

// libmongoc quotes a password it rejects ("Password \"pa:ss\" must not have unescaped
// chars"); such messages are logged, so they pass through redactUrlSecretsIn first.
TEST(UrlRedactionTest, SecretsOfAUrlAreMaskedInText) {
  EXPECT_EQ(redactUrlSecretsIn("Password \"pa:ss\" must not have unescaped chars",
                               "mongodb://dbuser:pa:ss@h/db"),
            "Password \"***\" must not have unescaped chars");
  EXPECT_EQ(redactUrlSecretsIn("auth failed for dbuser with p@ss", "mongodb://dbuser:p%40ss@h/db"),
            "auth failed for dbuser with ***");
  EXPECT_EQ(redactUrlSecretsIn("bad key file password kfpw; token TOKEN1",
                               "mongodb://h/?tlsCertificateKeyFilePassword=kfpw#x&access_token=TOKEN1"),
            "bad key file password ***; token ***");
  EXPECT_EQ(redactUrlSecretsIn("TOKEN@host refused", "https://TOKEN@host/"), "***@host refused");
  // Nothing secret: the text is unchanged.
  EXPECT_EQ(redactUrlSecretsIn("cannot connect to h:27017", "mongodb://h:27017/db?appName=x"),
            "cannot connect to h:27017");
  EXPECT_EQ(redactUrlSecretsIn("x", ""), "x");
}

}  // namespace
}  // namespace recgw::storage
