#include "handlers/jwt_verifier.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "storage/crypto.h"
#include "storage/openssl_handles.h"

namespace recgw::handlers {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::system_clock;

// ---- test-only signer -------------------------------------------------------

using PkeyPtr = storage::EvpPkeyPtr;
using MdCtxPtr = storage::EvpMdCtxPtr;
using BioPtr = storage::BioPtr;
using BnPtr = storage::BignumPtr;
using SigPtr = storage::EcdsaSigPtr;

PkeyPtr generateRsa(size_t bits) {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
  if (!key) throw std::runtime_error("RSA keygen failed");
  return key;
}

PkeyPtr generateEc() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw std::runtime_error("EC keygen failed");
  return key;
}

std::string publicPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string digestSign(EVP_PKEY* key, std::string_view input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    throw std::runtime_error("sign init failed");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    throw std::runtime_error("sign failed");
  }
  sig.resize(len);
  return sig;
}

// JWS wants r||s, each left-padded to 32 bytes, not OpenSSL's DER.
std::string derToRaw(const std::string& der) {
  auto p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(64, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  return raw;
}

std::string b64(std::string_view s) { return crypto::base64UrlEncode(s); }

std::string signingInput(const std::string& header, const std::string& payload) {
  return b64(header) + "." + b64(payload);
}

std::string hsToken(const std::string& alg, const std::string& secret, const std::string& payload,
                    const std::string& extraHeader = "") {
  const std::string header = "{\"alg\":\"" + alg + "\",\"typ\":\"JWT\"" + extraHeader + "}";
  const std::string input = signingInput(header, payload);
  const crypto::Digest d = alg == "HS384"   ? crypto::Digest::kSha384
                           : alg == "HS512" ? crypto::Digest::kSha512
                                            : crypto::Digest::kSha256;
  return input + "." + b64(crypto::hmac(d, secret, input));
}

std::string rsToken(EVP_PKEY* key, const std::string& payload, const std::string& extraHeader = "") {
  const std::string input = signingInput("{\"alg\":\"RS256\"" + extraHeader + "}", payload);
  return input + "." + b64(digestSign(key, input));
}

std::string esToken(EVP_PKEY* key, const std::string& payload, const std::string& extraHeader = "") {
  const std::string input = signingInput("{\"alg\":\"ES256\"" + extraHeader + "}", payload);
  return input + "." + b64(derToRaw(digestSign(key, input)));
}

std::string bnParam(EVP_PKEY* key, const char* name, int pad = 0) {
  BIGNUM* raw = nullptr;
  EVP_PKEY_get_bn_param(key, name, &raw);
  BnPtr bn(raw);
  std::string out(pad > 0 ? static_cast<size_t>(pad) : static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

std::string rsaJwk(EVP_PKEY* key, const std::string& kid, const std::string& extra = "") {
  return "{\"kty\":\"RSA\",\"kid\":\"" + kid + "\",\"n\":\"" + b64(bnParam(key, OSSL_PKEY_PARAM_RSA_N)) +
         "\",\"e\":\"" + b64(bnParam(key, OSSL_PKEY_PARAM_RSA_E)) + "\"" + extra + "}";
}

std::string ecJwk(EVP_PKEY* key, const std::string& kid, const std::string& extra = "") {
  return "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"" + kid + "\",\"x\":\"" +
         b64(bnParam(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)) + "\",\"y\":\"" +
         b64(bnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + "\"" + extra + "}";
}

// ---- fixture ------------------------------------------------------------

constexpr std::time_t kNow = 1'700'000'000;

std::string claims(const std::string& extra = "") {
  std::string s = "{\"sub\":\"user-1\",\"account_id\":\"acc-9\",\"exp\":" + std::to_string(kNow + 600);
  if (!extra.empty()) s += "," + extra;
  return s + "}";
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = generateRsa(2048).release();
    rsaOther_ = generateRsa(2048).release();
    ec_ = generateEc().release();
    ecOther_ = generateEc().release();
    char pattern[] = "/tmp/recgw-jwt-test-XXXXXX";
    dir_ = new std::string(mkdtemp(pattern));
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_);
    EVP_PKEY_free(rsaOther_);
    EVP_PKEY_free(ec_);
    EVP_PKEY_free(ecOther_);
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static std::string writeFile(const std::string& name, const std::string& content) {
    const std::string path = *dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static Clock::time_point now() { return Clock::from_time_t(kNow); }

  static JwtConfig hsConfig() {
    JwtConfig c;
    c.hmacSecrets = {"first-secret-0123456789abcdef012", "second-secret-0123456789abcdef01"};
    return c;
  }

  static JwtConfig allConfig() {
    JwtConfig c = hsConfig();
    c.publicKeyPems = {publicPem(rsa_), publicPem(ec_)};
    return c;
  }

  // Every failure message must be free of the token and its parts.
  static void expectError(const JwtVerifier& v, const std::string& token, JwtError want,
                          Clock::time_point at = now()) {
    const VerifyResult r = v.verify(token, at);
    EXPECT_EQ(r.error, want) << "got " << jwtErrorName(r.error) << " (" << r.message << ")";
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.message.empty());
    if (token.size() >= 8) {
      EXPECT_EQ(r.message.find(token), std::string::npos);
      const size_t dot = token.find('.');
      if (dot != std::string::npos && dot >= 8) {
        EXPECT_EQ(r.message.find(token.substr(0, dot)), std::string::npos);
      }
    }
    EXPECT_TRUE(r.claims.subject.empty());
    EXPECT_TRUE(r.claims.roles.empty());
  }

  static VerifyResult expectOk(const JwtVerifier& v, const std::string& token, Clock::time_point at = now()) {
    VerifyResult r = v.verify(token, at);
    EXPECT_TRUE(r.ok()) << jwtErrorName(r.error) << ": " << r.message;
    return r;
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* rsaOther_;
  static EVP_PKEY* ec_;
  static EVP_PKEY* ecOther_;
  static std::string* dir_;
};

EVP_PKEY* JwtTest::rsa_ = nullptr;
EVP_PKEY* JwtTest::rsaOther_ = nullptr;
EVP_PKEY* JwtTest::ec_ = nullptr;
EVP_PKEY* JwtTest::ecOther_ = nullptr;
std::string* JwtTest::dir_ = nullptr;

// ---- valid tokens -----------------------------------------------------------

TEST_F(JwtTest, ValidHmacAlgorithms) {
  const JwtVerifier v(hsConfig());
  for (const char* alg : {"HS256", "HS384", "HS512"}) {
    SCOPED_TRACE(alg);
    const VerifyResult r = expectOk(v, hsToken(alg, "first-secret-0123456789abcdef012", claims()));
    EXPECT_EQ(r.error, JwtError::kNone);
    EXPECT_EQ(r.claims.subject, "user-1");
    EXPECT_EQ(r.claims.accountId, "acc-9");
    EXPECT_TRUE(r.claims.roles.empty());
    EXPECT_FALSE(r.claims.isPlatformAdmin());
  }
  // Any configured secret will do (rotation).
  expectOk(v, hsToken("HS256", "second-secret-0123456789abcdef01", claims()));
}

TEST_F(JwtTest, ValidRs256) {
  const JwtVerifier v(allConfig());
  const VerifyResult r = expectOk(v, rsToken(rsa_, claims("\"role\":\"admin\"")));
  EXPECT_TRUE(r.claims.isPlatformAdmin());
}

TEST_F(JwtTest, ValidEs256) {
  const JwtVerifier v(allConfig());
  const VerifyResult r = expectOk(v, esToken(ec_, claims()));
  EXPECT_EQ(r.claims.subject, "user-1");
}

// A token without exp would be valid for ever (audit item 9).
TEST_F(JwtTest, ExpIsRequired) {
  const JwtVerifier v(hsConfig());
  auto tok = [](const std::string& payload) {
    return hsToken("HS256", "first-secret-0123456789abcdef012", payload);
  };
  expectError(v, tok("{\"sub\":\"x\"}"), JwtError::kMissingExpiry);
  expectError(v, tok("{}"), JwtError::kMissingExpiry);
  expectError(v, tok("{\"sub\":\"x\",\"role\":\"admin\",\"iat\":" + std::to_string(kNow) + "}"),
              JwtError::kMissingExpiry);
  expectError(v, tok("{\"nbf\":" + std::to_string(kNow - 10) + "}"), JwtError::kMissingExpiry);
  expectError(v, tok("{\"exp\":null}"), JwtError::kMalformed);
}

// ---- time ---------------------------------------------------------------------

TEST_F(JwtTest, ExpiryAndNotBefore) {
  const JwtVerifier v(hsConfig());  // leeway 30 s
  auto tok = [](const std::string& payload) {
    return hsToken("HS256", "first-secret-0123456789abcdef012", payload);
  };
  const std::string n = std::to_string(kNow);
  expectError(v, tok("{\"exp\":" + std::to_string(kNow - 31) + "}"), JwtError::kExpired);
  expectError(v, tok("{\"exp\":" + std::to_string(kNow - 30) + "}"), JwtError::kExpired);
  expectError(v, tok("{\"exp\":0}"), JwtError::kExpired);
  expectOk(v, tok("{\"exp\":" + std::to_string(kNow - 29) + "}"));  // within leeway
  expectOk(v, tok("{\"exp\":" + n + ".5}"));                        // fractional NumericDate
  const std::string exp = ",\"exp\":" + std::to_string(kNow + 600);
  expectError(v, tok("{\"nbf\":" + std::to_string(kNow + 31) + exp + "}"), JwtError::kNotYetValid);
  expectOk(v, tok("{\"nbf\":" + std::to_string(kNow + 30) + exp + "}"));  // within leeway
  expectOk(v, tok("{\"nbf\":" + n + ",\"exp\":" + std::to_string(kNow + 1) + "}"));
  expectError(v, tok("{\"exp\":1e300,\"nbf\":1e300}"), JwtError::kNotYetValid);
  expectError(v, tok("{\"exp\":\"" + n + "\"}"), JwtError::kMalformed);
  expectError(v, tok("{\"nbf\":null}"), JwtError::kMalformed);
  expectError(v, tok("{\"exp\":true}"), JwtError::kMalformed);
}

TEST_F(JwtTest, ZeroLeeway) {
  JwtConfig c = hsConfig();
  c.leeway = seconds(0);
  const JwtVerifier v(c);
  auto tok = [](const std::string& payload) {
    return hsToken("HS256", "first-secret-0123456789abcdef012", payload);
  };
  expectError(v, tok("{\"exp\":" + std::to_string(kNow) + "}"), JwtError::kExpired);
  expectOk(v, tok("{\"exp\":" + std::to_string(kNow + 1) + "}"));
  expectError(v, tok("{\"nbf\":" + std::to_string(kNow + 1) + ",\"exp\":" + std::to_string(kNow + 60) + "}"),
              JwtError::kNotYetValid);
  expectError(v, tok("{\"iat\":" + std::to_string(kNow + 1) + ",\"exp\":" + std::to_string(kNow + 60) + "}"),
              JwtError::kIssuedInFuture);
}

// exp - iat (or exp - now without iat) may not exceed maxLifetime (default 24 h).
TEST_F(JwtTest, LifetimeIsCapped) {
  const JwtVerifier v(hsConfig());  // leeway 30 s, max lifetime 24 h
  auto tok = [](const std::string& payload) {
    return hsToken("HS256", "first-secret-0123456789abcdef012", payload);
  };
  auto t = [](std::time_t x) { return std::to_string(x); };
  constexpr std::time_t kDay = 24 * 3600;
  // With iat: the issuer's own arithmetic, no leeway.
  expectOk(v, tok("{\"iat\":" + t(kNow) + ",\"exp\":" + t(kNow + kDay) + "}"));
  expectError(v, tok("{\"iat\":" + t(kNow) + ",\"exp\":" + t(kNow + kDay + 1) + "}"),
              JwtError::kLifetimeTooLong);
  expectOk(v, tok("{\"iat\":" + t(kNow - 3600) + ",\"exp\":" + t(kNow - 3600 + kDay) + "}"));
  expectError(v, tok("{\"iat\":" + t(kNow - 3600) + ",\"exp\":" + t(kNow + kDay) + "}"),
              JwtError::kLifetimeTooLong);
  // A backdated iat does not buy a longer life.
  expectError(v, tok("{\"iat\":-1e300,\"exp\":" + t(kNow + 60) + "}"), JwtError::kLifetimeTooLong);
  // Without iat: measured from now, with the leeway for an issuer clock ahead of ours.
  expectOk(v, tok("{\"exp\":" + t(kNow + kDay + 30) + "}"));
  expectError(v, tok("{\"exp\":" + t(kNow + kDay + 31) + "}"), JwtError::kLifetimeTooLong);
  // Far-future and out-of-range NumericDates: refused, never converted to integers.
  expectError(v, tok("{\"exp\":1e300}"), JwtError::kLifetimeTooLong);
  expectError(v, tok("{\"exp\":1e300,\"nbf\":-1e300}"), JwtError::kLifetimeTooLong);
  expectError(v, tok("{\"iat\":" + t(kNow) + ",\"exp\":1.7976931348623157e308}"), JwtError::kLifetimeTooLong);
  expectError(v, tok("{\"exp\":9223372036854775807}"), JwtError::kLifetimeTooLong);
  expectError(v, tok("{\"exp\":18446744073709551615}"), JwtError::kLifetimeTooLong);
  expectError(v, tok("{\"exp\":1e999}"), JwtError::kMalformed);
  expectError(v, tok("{\"exp\":" + std::string(400, '9') + "}"), JwtError::kMalformed);

  JwtConfig hourly = hsConfig();
  hourly.maxLifetime = seconds(3600);
  const JwtVerifier h(hourly);
  expectOk(h, tok("{\"iat\":" + t(kNow) + ",\"exp\":" + t(kNow + 3600) + "}"));
  expectError(h, tok("{\"iat\":" + t(kNow) + ",\"exp\":" + t(kNow + 3601) + "}"), JwtError::kLifetimeTooLong);
}

// iat later than now + leeway: a token from an issuer whose clock is wrong, or a
// forged lifetime; refused.
TEST_F(JwtTest, IssuedInTheFuture) {
  const JwtVerifier v(hsConfig());  // leeway 30 s
  auto tok = [](const std::string& payload) {
    return hsToken("HS256", "first-secret-0123456789abcdef012", payload);
  };
  auto t = [](std::time_t x) { return std::to_string(x); };
  expectOk(v, tok("{\"iat\":" + t(kNow + 30) + ",\"exp\":" + t(kNow + 600) + "}"));  // within leeway
  expectError(v, tok("{\"iat\":" + t(kNow + 31) + ",\"exp\":" + t(kNow + 600) + "}"),
              JwtError::kIssuedInFuture);
  expectError(v, tok("{\"iat\":1e300,\"exp\":1e300}"), JwtError::kIssuedInFuture);
  expectError(v, tok("{\"iat\":\"now\",\"exp\":" + t(kNow + 600) + "}"), JwtError::kMalformed);
  expectError(v, tok("{\"iat\":null,\"exp\":" + t(kNow + 600) + "}"), JwtError::kMalformed);
}

// ---- signatures and algorithms -----------------------------------------------

TEST_F(JwtTest, WrongSignatures) {
  const JwtVerifier v(allConfig());
  expectError(v, hsToken("HS256", "not-the-secret", claims()), JwtError::kBadSignature);
  expectError(v, rsToken(rsaOther_, claims()), JwtError::kBadSignature);
  expectError(v, esToken(ecOther_, claims()), JwtError::kBadSignature);

  // Payload swapped under a valid signature.
  const std::string good = hsToken("HS256", "first-secret-0123456789abcdef012", claims());
  const std::string evilPayload = b64(claims("\"role\":\"admin\""));
  const size_t d1 = good.find('.');
  const size_t d2 = good.find('.', d1 + 1);
  expectError(v, good.substr(0, d1 + 1) + evilPayload + good.substr(d2), JwtError::kBadSignature);

  // A flipped bit in each signature.
  for (std::string token : {good, rsToken(rsa_, claims()), esToken(ec_, claims())}) {
    std::string sig = *crypto::base64UrlDecode(token.substr(token.rfind('.') + 1));
    sig[sig.size() / 2] ^= 0x01;
    token = token.substr(0, token.rfind('.') + 1) + b64(sig);
    expectError(v, token, JwtError::kBadSignature);
  }

  // Truncated and extended signatures (still canonical base64url).
  for (const std::string& token : {good, rsToken(rsa_, claims()), esToken(ec_, claims())}) {
    const std::string input = token.substr(0, token.rfind('.') + 1);
    const std::string sig = *crypto::base64UrlDecode(token.substr(token.rfind('.') + 1));
    expectError(v, input + b64(sig.substr(0, sig.size() - 1)), JwtError::kBadSignature);
    expectError(v, input + b64(sig + '\0'), JwtError::kBadSignature);
    expectError(v, input + b64("x"), JwtError::kBadSignature);
  }
}

TEST_F(JwtTest, Es256DerSignatureIsRejected) {
  const JwtVerifier v(allConfig());
  const std::string input = signingInput("{\"alg\":\"ES256\"}", claims());
  expectError(v, input + "." + b64(digestSign(ec_, input)), JwtError::kBadSignature);
}

TEST_F(JwtTest, AlgNoneInAnyCase) {
  const JwtVerifier v(allConfig());
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    const std::string input = signingInput(std::string("{\"alg\":\"") + alg + "\"}", claims());
    expectError(v, input + ".", JwtError::kBadAlgorithm);
    expectError(v, input + "." + b64("sig"), JwtError::kBadAlgorithm);
  }
}

TEST_F(JwtTest, UnknownAlgorithms) {
  const JwtVerifier v(allConfig());
  for (const char* alg : {"hs256", "HS1024", "RS512", "PS256", "ES384", "EdDSA", "", "HS256 "}) {
    SCOPED_TRACE(alg);
    const std::string input = signingInput(std::string("{\"alg\":\"") + alg + "\"}", claims());
    expectError(
        v,
        input + "." + b64(crypto::hmac(crypto::Digest::kSha256, "first-secret-0123456789abcdef012", input)),
        JwtError::kBadAlgorithm);
  }
}

TEST_F(JwtTest, HmacWithPublicKeyAsSecretIsRejected) {
  const std::string pem = publicPem(rsa_);
  // The attacker knows the public PEM and uses it as the HMAC secret.
  const std::string forged = hsToken("HS256", pem, claims("\"role\":\"admin\""));
  {
    const JwtVerifier v(allConfig());  // has both secrets and PEM keys
    expectError(v, forged, JwtError::kBadSignature);
  }
  {
    JwtConfig c;
    c.publicKeyPems = {pem};  // public keys only: HS* is not even enabled
    const JwtVerifier v(c);
    expectError(v, forged, JwtError::kBadAlgorithm);
  }
  {
    // Same with the PEM minus its trailing newline, a common variant.
    JwtConfig c = allConfig();
    const JwtVerifier v(c);
    expectError(v, hsToken("HS256", pem.substr(0, pem.size() - 1), claims()), JwtError::kBadSignature);
  }
  {
    // Configuring the public key as a secret is refused outright.
    JwtConfig c;
    c.hmacSecrets = {pem};
    EXPECT_THROW(JwtVerifier{c}, std::runtime_error);
  }
}

TEST_F(JwtTest, AsymmetricAlgsNeverUseSecrets) {
  JwtConfig c = hsConfig();  // secrets only
  const JwtVerifier v(c);
  // An "RS256" token whose signature is an HMAC under a configured secret.
  const std::string input = signingInput("{\"alg\":\"RS256\"}", claims());
  expectError(
      v, input + "." + b64(crypto::hmac(crypto::Digest::kSha256, "first-secret-0123456789abcdef012", input)),
      JwtError::kBadAlgorithm);
  expectError(v, rsToken(rsa_, claims()), JwtError::kBadAlgorithm);
  expectError(v, esToken(ec_, claims()), JwtError::kBadAlgorithm);
}

TEST_F(JwtTest, KeyTypeMustFitAlg) {
  JwtConfig rsaOnly;
  rsaOnly.publicKeyPems = {publicPem(rsa_)};
  const JwtVerifier v(rsaOnly);
  expectError(v, esToken(ec_, claims()), JwtError::kBadAlgorithm);
  expectOk(v, rsToken(rsa_, claims()));
}

// ---- JWKS and kid -------------------------------------------------------------

TEST_F(JwtTest, KidSelectsJwksKey) {
  const std::string jwks = "{\"keys\":[" + rsaJwk(rsa_, "rsa-1", ",\"use\":\"sig\",\"alg\":\"RS256\"") + "," +
                           rsaJwk(rsaOther_, "rsa-2") + "," + ecJwk(ec_, "ec-1", ",\"alg\":\"ES256\"") + "]}";
  JwtConfig c;
  c.jwksPath = writeFile("jwks.json", jwks);
  const JwtVerifier v(c);

  expectOk(v, rsToken(rsa_, claims(), ",\"kid\":\"rsa-1\""));
  expectOk(v, rsToken(rsaOther_, claims(), ",\"kid\":\"rsa-2\""));
  expectOk(v, esToken(ec_, claims(), ",\"kid\":\"ec-1\""));
  // Without kid every key of the right type is tried.
  expectOk(v, rsToken(rsaOther_, claims()));
  expectOk(v, esToken(ec_, claims()));

  // kid names a real key, but not the signer.
  expectError(v, rsToken(rsa_, claims(), ",\"kid\":\"rsa-2\""), JwtError::kBadSignature);
  // Unknown, near-miss and path-like kids.
  for (const char* kid : {"nope", "RSA-1", "rsa-1 ", "rsa", "", "../../../../etc/passwd", "/dev/null",
                          "rsa-1\\u0000", "' OR '1'='1"}) {
    SCOPED_TRACE(kid);
    expectError(v, rsToken(rsa_, claims(), std::string(",\"kid\":\"") + kid + "\""), JwtError::kUnknownKey);
  }
  // kid of an EC key on an RS256 token.
  expectError(v, rsToken(rsa_, claims(), ",\"kid\":\"ec-1\""), JwtError::kBadAlgorithm);
  expectError(v, esToken(ec_, claims(), ",\"kid\":\"rsa-1\""), JwtError::kBadAlgorithm);
  // kid must be a string.
  expectError(v, rsToken(rsa_, claims(), ",\"kid\":1"), JwtError::kMalformed);
}

TEST_F(JwtTest, JwksSkipsKeysItCannotUse) {
  const std::string jwks = "{\"keys\":[" + rsaJwk(rsa_, "enc", ",\"use\":\"enc\"") + "," +
                           rsaJwk(rsa_, "ps", ",\"alg\":\"PS256\"") + "," +
                           "{\"kty\":\"oct\",\"kid\":\"sym\",\"k\":\"c2VjcmV0\"}," +
                           "{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"p384\",\"x\":\"AA\",\"y\":\"AA\"}," +
                           "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"AA\"}," +
                           ecJwk(ec_, "ec-1") + "]}";
  JwtConfig c;
  c.jwksPath = writeFile("jwks-mixed.json", jwks);
  const JwtVerifier v(c);
  expectOk(v, esToken(ec_, claims(), ",\"kid\":\"ec-1\""));
  expectError(v, rsToken(rsa_, claims(), ",\"kid\":\"enc\""), JwtError::kBadAlgorithm);  // no RSA key at all
  expectError(v, hsToken("HS256", "secret", claims(), ",\"kid\":\"sym\""), JwtError::kBadAlgorithm);
}

TEST_F(JwtTest, KidWithoutJwksTriesConfiguredKeys) {
  const JwtVerifier v(allConfig());
  expectOk(v, rsToken(rsa_, claims(), ",\"kid\":\"whatever\""));
  expectOk(v, hsToken("HS256", "first-secret-0123456789abcdef012", claims(), ",\"kid\":\"k1\""));
}

TEST_F(JwtTest, BadKeyConfigurationThrows) {
  auto throwsWith = [](const JwtConfig& c, const std::string& needle) {
    try {
      JwtVerifier v(c);
      ADD_FAILURE() << "no exception, wanted one mentioning " << needle;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  JwtConfig c;
  c.jwksPath = *dir_ + "/does-not-exist.json";
  throwsWith(c, "does-not-exist.json");

  c.jwksPath = writeFile("not-json.json", "{keys: nope");
  throwsWith(c, "not a JSON object");

  c.jwksPath = writeFile("no-keys.json", "{\"keys\":[]}");
  throwsWith(c, "no usable");

  c.jwksPath = writeFile("dup.json", "{\"keys\":[" + rsaJwk(rsa_, "a") + "," + ecJwk(ec_, "a") + "]}");
  throwsWith(c, "duplicate kid");

  c.jwksPath = writeFile(
      "bad-ec.json", "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"x\",\"x\":\"" +
                         b64(std::string(32, '\1')) + "\",\"y\":\"" + b64(std::string(32, '\2')) + "\"}]}");
  throwsWith(c, "keys[0]");  // not a point on the curve

  JwtConfig p;
  p.publicKeyPems = {*dir_ + "/missing.pem"};
  throwsWith(p, "missing.pem");

  p.publicKeyPems = {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"};
  throwsWith(p, "publicKeyPems[0]");

  PkeyPtr small = generateRsa(1024);
  p.publicKeyPems = {publicPem(small.get())};
  throwsWith(p, "2048");

  JwtConfig s;
  s.hmacSecrets = {""};
  throwsWith(s, "hmacSecrets[0]");

  JwtConfig claimsConfig = hsConfig();
  claimsConfig.roleClaim = "";
  throwsWith(claimsConfig, "roleClaim");
  claimsConfig = hsConfig();
  claimsConfig.platformAdminRole = "";
  throwsWith(claimsConfig, "platformAdminRole");
  claimsConfig = hsConfig();
  claimsConfig.maxLifetime = seconds(0);
  throwsWith(claimsConfig, "maxLifetime");
}

TEST_F(JwtTest, PublicKeyFromFile) {
  JwtConfig c;
  c.publicKeyPems = {writeFile("ec.pem", publicPem(ec_))};
  const JwtVerifier v(c);
  expectOk(v, esToken(ec_, claims()));
  EXPECT_TRUE(v.hasKeys());
  EXPECT_FALSE(JwtVerifier(JwtConfig{}).hasKeys());
}

// ---- iss / aud ----------------------------------------------------------------

TEST_F(JwtTest, IssuerAndAudience) {
  JwtConfig c = hsConfig();
  c.issuer = "https://id.example";
  c.audience = "recgw";
  const JwtVerifier v(c);
  auto tok = [](const std::string& extra) {
    return hsToken("HS256", "first-secret-0123456789abcdef012", claims(extra));
  };
  expectOk(v, tok("\"iss\":\"https://id.example\",\"aud\":\"recgw\""));
  expectOk(v, tok("\"iss\":\"https://id.example\",\"aud\":[\"other\",\"recgw\"]"));
  expectError(v, tok("\"iss\":\"https://evil.example\",\"aud\":\"recgw\""), JwtError::kBadIssuer);
  expectError(v, tok("\"aud\":\"recgw\""), JwtError::kBadIssuer);
  expectError(v, tok("\"iss\":[\"https://id.example\"],\"aud\":\"recgw\""), JwtError::kBadIssuer);
  expectError(v, tok("\"iss\":\"https://id.example\",\"aud\":\"other\""), JwtError::kBadAudience);
  expectError(v, tok("\"iss\":\"https://id.example\",\"aud\":[\"other\"]"), JwtError::kBadAudience);
  expectError(v, tok("\"iss\":\"https://id.example\",\"aud\":[]"), JwtError::kBadAudience);
  expectError(v, tok("\"iss\":\"https://id.example\""), JwtError::kBadAudience);
  expectError(v, tok("\"iss\":\"https://id.example\",\"aud\":\"RECGW\""), JwtError::kBadAudience);

  // Unconfigured: not checked at all.
  const JwtVerifier open(hsConfig());
  expectOk(open, tok("\"iss\":\"anyone\",\"aud\":42"));
}

// ---- claims -------------------------------------------------------------------

TEST_F(JwtTest, Roles) {
  const JwtVerifier v(hsConfig());
  auto roles = [&](const std::string& extra) {
    return expectOk(v, hsToken("HS256", "first-secret-0123456789abcdef012", claims(extra))).claims;
  };
  EXPECT_TRUE(roles("\"role\":\"admin\"").isPlatformAdmin());
  EXPECT_FALSE(roles("\"role\":\"viewer\"").isPlatformAdmin());
  EXPECT_FALSE(roles("\"role\":\"Admin\"").isPlatformAdmin());
  EXPECT_FALSE(roles("\"role\":\"administrator\"").isPlatformAdmin());
  EXPECT_FALSE(roles("\"role\":true").isPlatformAdmin());
  EXPECT_FALSE(roles("\"admin\":true").isPlatformAdmin());

  const JwtClaims multi = roles("\"roles\":[\"viewer\",\"admin\",7,\"viewer\"]");
  EXPECT_TRUE(multi.isPlatformAdmin());
  EXPECT_EQ(multi.roles, (std::vector<std::string>{"viewer", "admin"}));

  const JwtClaims both = roles("\"role\":\"ops\",\"roles\":[\"viewer\"]");
  EXPECT_EQ(both.roles, (std::vector<std::string>{"ops", "viewer"}));
  EXPECT_FALSE(both.isPlatformAdmin());

  EXPECT_TRUE(roles("\"role\":[\"admin\"]").isPlatformAdmin());
  EXPECT_TRUE(roles("\"roles\":\"admin\"").isPlatformAdmin());
}

// Roles come only from the configured claim (audit item 4): an identity provider with a
// namespaced role claim often lets users write `role` or `roles` in their own metadata.
TEST_F(JwtTest, CustomClaims) {
  JwtConfig c = hsConfig();
  c.roleClaim = "https://example.com/roles";
  c.accountClaim = "tenant";
  const JwtVerifier v(c);
  auto parsed = [&](const std::string& members) {
    const std::string payload =
        "{\"exp\":" + std::to_string(kNow + 600) + (members.empty() ? "" : "," + members) + "}";
    return expectOk(v, hsToken("HS256", "first-secret-0123456789abcdef012", payload)).claims;
  };
  const JwtClaims a = parsed("\"https://example.com/roles\":[\"admin\"],\"tenant\":\"t-1\"");
  EXPECT_TRUE(a.isPlatformAdmin());
  EXPECT_EQ(a.accountId, "t-1");
  EXPECT_TRUE(parsed("\"https://example.com/roles\":\"admin\"").isPlatformAdmin());
  for (const char* other : {"\"role\":\"admin\"", "\"roles\":[\"admin\"]", "\"roles\":\"admin\"",
                            "\"role\":[\"admin\"],\"roles\":[\"admin\"]"}) {
    SCOPED_TRACE(other);
    const JwtClaims ignored = parsed(other);
    EXPECT_FALSE(ignored.isPlatformAdmin());
    EXPECT_TRUE(ignored.roles.empty());
  }
  const JwtClaims mixed = parsed("\"role\":\"admin\",\"https://example.com/roles\":[\"viewer\"]");
  EXPECT_FALSE(mixed.isPlatformAdmin());
  EXPECT_EQ(mixed.roles, (std::vector<std::string>{"viewer"}));
  EXPECT_EQ(parsed("\"tenant\":12345").accountId, "12345");
  EXPECT_EQ(parsed("\"tenant\":18446744073709551615").accountId, "18446744073709551615");
  EXPECT_EQ(parsed("\"tenant\":{\"id\":1}").accountId, "");
  EXPECT_EQ(parsed("\"account_id\":\"x\"").accountId, "");
  EXPECT_EQ(parsed("").subject, "");
  expectError(v,
              hsToken("HS256", "first-secret-0123456789abcdef012",
                      "{\"sub\":5,\"exp\":" + std::to_string(kNow + 600) + "}"),
              JwtError::kMalformed);

  // A role claim literally named `roles` is read alone too.
  JwtConfig r = hsConfig();
  r.roleClaim = "roles";
  const JwtVerifier rolesOnly(r);
  auto rolesOf = [&](const std::string& extra) {
    return expectOk(rolesOnly, hsToken("HS256", "first-secret-0123456789abcdef012", claims(extra))).claims;
  };
  EXPECT_TRUE(rolesOf("\"roles\":[\"admin\"]").isPlatformAdmin());
  EXPECT_FALSE(rolesOf("\"role\":\"admin\"").isPlatformAdmin());
}

// Only jwt.platform_admin_role acts across accounts; "admin" is then an ordinary role.
TEST_F(JwtTest, PlatformAdminRole) {
  JwtConfig c = hsConfig();
  c.roleClaim = "https://example.com/roles";
  c.platformAdminRole = "platform-admin";
  const JwtVerifier v(c);
  auto parsed = [&](const std::string& extra) {
    return expectOk(v, hsToken("HS256", "first-secret-0123456789abcdef012", claims(extra))).claims;
  };
  const JwtClaims accountAdmin = parsed("\"https://example.com/roles\":[\"admin\"]");
  EXPECT_FALSE(accountAdmin.isPlatformAdmin());
  EXPECT_EQ(accountAdmin.roles, (std::vector<std::string>{"admin"}));
  EXPECT_EQ(accountAdmin.accountId, "acc-9");
  EXPECT_TRUE(parsed("\"https://example.com/roles\":[\"viewer\",\"platform-admin\"]").isPlatformAdmin());
  EXPECT_FALSE(parsed("\"https://example.com/roles\":[\"Platform-Admin\"]").isPlatformAdmin());
  EXPECT_FALSE(parsed("\"role\":\"platform-admin\"").isPlatformAdmin());  // not the configured claim
}

// ---- malformed ----------------------------------------------------------------

TEST_F(JwtTest, MalformedTokens) {
  const JwtVerifier v(allConfig());
  const std::string secret = "first-secret-0123456789abcdef012";
  const std::string good = hsToken("HS256", secret, claims());
  auto signHs = [&](const std::string& headerB64, const std::string& payloadB64) {
    const std::string input = headerB64 + "." + payloadB64;
    return input + "." + b64(crypto::hmac(crypto::Digest::kSha256, secret, input));
  };
  const std::string hdr = b64("{\"alg\":\"HS256\"}");

  expectError(v, "", JwtError::kMalformed);
  expectError(v, "abc", JwtError::kMalformed);
  expectError(v, good.substr(0, good.rfind('.')), JwtError::kMalformed);  // 2 parts
  expectError(v, good + ".x", JwtError::kMalformed);                      // 4 parts
  expectError(v, good + ".", JwtError::kMalformed);
  expectError(v, "..", JwtError::kMalformed);
  expectError(v, ".." + good, JwtError::kMalformed);
  expectError(v, "!!!." + b64(claims()) + ".abc", JwtError::kMalformed);      // bad base64 header
  expectError(v, hdr + ".%%%." + b64("x"), JwtError::kMalformed);             // bad base64 payload
  expectError(v, hdr + "." + b64(claims()) + ".a+b/", JwtError::kMalformed);  // standard alphabet
  expectError(v, b64("{\"alg\":\"HS256\"}") + "=." + b64(claims()) + ".abc", JwtError::kMalformed);
  expectError(v, good.substr(0, good.rfind('.') + 1), JwtError::kMalformed);  // empty signature
  expectError(v, hdr + ".." + b64("sig"), JwtError::kMalformed);              // empty payload
  expectError(v, "eyJ" + good, JwtError::kMalformed);
  expectError(v, "Bearer " + good, JwtError::kMalformed);

  // Header that is not a JSON object.
  for (const char* h : {"[]", "\"HS256\"", "123", "null", "{", "{\"alg\":\"HS256\",}", "", "\xff\xfe"}) {
    SCOPED_TRACE(h);
    expectError(v, signHs(b64(h), b64(claims())), JwtError::kMalformed);
  }
  // Header fields.
  expectError(v, signHs(b64("{}"), b64(claims())), JwtError::kMalformed);
  expectError(v, signHs(b64("{\"alg\":256}"), b64(claims())), JwtError::kMalformed);
  expectError(v, signHs(b64("{\"alg\":null}"), b64(claims())), JwtError::kMalformed);
  expectError(v, signHs(b64("{\"alg\":\"HS256\",\"alg\":\"none\"}"), b64(claims())), JwtError::kMalformed);
  expectError(v, signHs(b64("{\"alg\":\"none\",\"alg\":\"HS256\"}"), b64(claims())), JwtError::kMalformed);
  expectError(v, signHs(b64("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}"), b64(claims())),
              JwtError::kMalformed);

  // Correctly signed, but the payload is not a JSON object.
  for (const char* p : {"[]", "\"claims\"", "42", "null", "{\"exp\":", "not json", "{\"a\":1,\"a\":2}"}) {
    SCOPED_TRACE(p);
    expectError(v, signHs(hdr, b64(p)), JwtError::kMalformed);
  }

  // Non-canonical base64url: the last character carries stray low bits.
  // A 32-byte MAC is 43 characters whose last one has two unused low bits.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string stray = good;
  const size_t index = alphabet.find(stray.back());
  ASSERT_EQ(index % 4, 0u);
  stray.back() = alphabet[index + 1];
  expectError(v, stray, JwtError::kMalformed);
}

TEST_F(JwtTest, SizeLimit) {
  const JwtVerifier v(hsConfig());
  const std::string secret = "first-secret-0123456789abcdef012";
  // Under the limit: fine. A padded claim pushes it over.
  std::string fits = hsToken("HS256", secret, claims("\"pad\":\"" + std::string(5000, 'a') + "\""));
  ASSERT_LE(fits.size(), JwtVerifier::kMaxTokenBytes);
  expectOk(v, fits);
  const std::string huge = hsToken("HS256", secret, claims("\"pad\":\"" + std::string(7000, 'a') + "\""));
  ASSERT_GT(huge.size(), JwtVerifier::kMaxTokenBytes);
  expectError(v, huge, JwtError::kMalformed);
  expectError(v, std::string(1 << 20, 'a'), JwtError::kMalformed);
  expectError(v, std::string(1 << 20, '.'), JwtError::kMalformed);
}

TEST(JwtErrorName, AllNamed) {
  EXPECT_EQ(jwtErrorName(JwtError::kNone), "none");
  EXPECT_EQ(jwtErrorName(JwtError::kMalformed), "malformed");
  EXPECT_EQ(jwtErrorName(JwtError::kBadAlgorithm), "bad_algorithm");
  EXPECT_EQ(jwtErrorName(JwtError::kBadSignature), "bad_signature");
  EXPECT_EQ(jwtErrorName(JwtError::kExpired), "expired");
  EXPECT_EQ(jwtErrorName(JwtError::kNotYetValid), "not_yet_valid");
  EXPECT_EQ(jwtErrorName(JwtError::kBadIssuer), "bad_issuer");
  EXPECT_EQ(jwtErrorName(JwtError::kBadAudience), "bad_audience");
  EXPECT_EQ(jwtErrorName(JwtError::kUnknownKey), "unknown_key");
  EXPECT_EQ(jwtErrorName(JwtError::kMissingExpiry), "missing_exp");
  EXPECT_EQ(jwtErrorName(JwtError::kLifetimeTooLong), "lifetime_too_long");
  EXPECT_EQ(jwtErrorName(JwtError::kIssuedInFuture), "issued_in_future");
}

// ---- bearerToken ----------------------------------------------------------------

TEST(JwtBearerToken, Table) {
  EXPECT_EQ(bearerToken("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(bearerToken("bearer abc"), "abc");
  EXPECT_EQ(bearerToken("BEARER abc"), "abc");
  EXPECT_EQ(bearerToken("BeArEr   abc  "), "abc");
  EXPECT_EQ(bearerToken("  Bearer\tabc\t"), "abc");
  EXPECT_FALSE(bearerToken(""));
  EXPECT_FALSE(bearerToken("Bearer"));
  EXPECT_FALSE(bearerToken("Bearer "));
  EXPECT_FALSE(bearerToken("Bearer    "));
  EXPECT_FALSE(bearerToken("Bearerabc"));
  EXPECT_FALSE(bearerToken("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(bearerToken("Bearer a b"));
  EXPECT_FALSE(bearerToken("Bearer a\r\nX: y"));
  EXPECT_FALSE(bearerToken("Token abc"));
  EXPECT_FALSE(bearerToken("abc"));
}

}  // namespace
}  // namespace recgw::handlers
