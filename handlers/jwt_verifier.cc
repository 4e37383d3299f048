#include "handlers/jwt_verifier.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "reactor/json_reader.h"
#include "storage/crypto.h"
#include "storage/openssl_handles.h"

namespace recgw::handlers {
namespace {

using storage::BignumPtr;
using storage::DecoderCtxPtr;
using storage::EcdsaSigPtr;
using storage::EvpMdCtxPtr;
using storage::EvpPkeyCtxPtr;
using storage::EvpPkeyPtr;
using storage::OpensslBytesPtr;
using storage::ParamBldPtr;
using storage::ParamPtr;

constexpr size_t kMaxKeyFileBytes = 1024 * 1024;
// The default role claim also accepts a `roles` array (README, "Auth").
constexpr std::string_view kDefaultRoleClaim = "role";
constexpr int kMinRsaBits = 2048;
constexpr size_t kEs256CoordinateBytes = 32;

enum class Alg { kHs256, kHs384, kHs512, kRs256, kEs256 };

enum class KeyType { kRsa, kEcP256 };

bool isHmac(Alg alg) { return alg == Alg::kHs256 || alg == Alg::kHs384 || alg == Alg::kHs512; }

// JWS `alg` values are case-sensitive (RFC 7515 §4.1.1): "hs256" is unknown.
std::optional<Alg> algFromName(std::string_view name) {
  if (name == "HS256") return Alg::kHs256;
  if (name == "HS384") return Alg::kHs384;
  if (name == "HS512") return Alg::kHs512;
  if (name == "RS256") return Alg::kRs256;
  if (name == "ES256") return Alg::kEs256;
  return std::nullopt;
}

bool isNoneAlg(std::string_view name) {
  if (name.size() != 4) return false;
  for (size_t i = 0; i < 4; ++i) {
    const char c = name[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != "none"[i]) return false;
  }
  return true;
}

crypto::Digest hmacDigest(Alg alg) {
  switch (alg) {
    case Alg::kHs384:
      return crypto::Digest::kSha384;
    case Alg::kHs512:
      return crypto::Digest::kSha512;
    default:
      return crypto::Digest::kSha256;
  }
}

std::string readFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("jwt: cannot read " + std::string(what) + " file '" + path + "'");
  std::string data;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxKeyFileBytes) {
      throw std::runtime_error("jwt: " + std::string(what) + " file '" + path + "' is larger than 1 MiB");
    }
  }
  if (in.bad()) throw std::runtime_error("jwt: error reading " + std::string(what) + " file '" + path + "'");
  return data;
}

// The key's OpenSSL errors are not useful to the operator and would linger
// on the thread's error queue; drop them.
void clearOpensslErrors() { ERR_clear_error(); }

// Throws unless the key is an RSA key of at least 2048 bits or an EC P-256 key
// whose public part passes OpenSSL's consistency checks.
KeyType checkPublicKey(EVP_PKEY* pkey, const std::string& where) {
  KeyType type;
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (EVP_PKEY_get_bits(pkey) < kMinRsaBits) {
      throw std::runtime_error("jwt: " + where + ": RSA key shorter than 2048 bits");
    }
    type = KeyType::kRsa;
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    size_t groupLen = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &groupLen) != 1 ||
        std::string_view(group, groupLen) != "prime256v1") {
      clearOpensslErrors();
      throw std::runtime_error("jwt: " + where + ": EC key is not on P-256");
    }
    type = KeyType::kEcP256;
  } else {
    throw std::runtime_error("jwt: " + where + ": not an RSA or EC P-256 public key");
  }
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    clearOpensslErrors();
    throw std::runtime_error("jwt: " + where + ": public key fails validation");
  }
  return type;
}

EvpPkeyPtr decodePem(std::string_view pem, const std::string& where) {
  EVP_PKEY* raw = nullptr;
  // The decoder takes SubjectPublicKeyInfo ("PUBLIC KEY") as well as PKCS#1
  // ("RSA PUBLIC KEY"), which PEM_read_bio_PUBKEY would not.
  DecoderCtxPtr ctx(
      OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  if (!ctx) throw std::runtime_error("jwt: " + where + ": OpenSSL decoder unavailable");
  auto data = reinterpret_cast<const unsigned char*>(pem.data());
  size_t len = pem.size();
  if (OSSL_DECODER_from_data(ctx.get(), &data, &len) != 1 || raw == nullptr) {
    clearOpensslErrors();
    EVP_PKEY_free(raw);
    throw std::runtime_error("jwt: " + where + ": not a PEM public key");
  }
  return EvpPkeyPtr(raw);
}

EvpPkeyPtr keyFromParams(const char* type, OSSL_PARAM_BLD* bld, const std::string& where) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    clearOpensslErrors();
    throw std::runtime_error("jwt: " + where + ": invalid key parameters");
  }
  return EvpPkeyPtr(raw);
}

BignumPtr bignumFrom(std::string_view bytes) {
  return BignumPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                             static_cast<int>(bytes.size()), nullptr));
}

// Strict base64url for token parts: no padding, no stray bits, nothing empty.
// Rejecting non-canonical encodings keeps one token one string.
std::optional<std::string> decodeTokenPart(std::string_view part) {
  if (part.empty() || part.find('=') != std::string_view::npos) return std::nullopt;
  auto decoded = crypto::base64UrlDecode(part);
  if (!decoded || crypto::base64UrlEncode(*decoded) != part) return std::nullopt;
  return decoded;
}

// JWT parsers must reject or take the last of duplicate members (RFC 7519
// §4); we reject, so no two parsers can disagree about `alg` or `exp`.
bool hasDuplicateMembers(simdjson::dom::object object) {
  std::set<std::string_view> seen;
  for (auto field : object) {
    if (!seen.insert(field.key).second) return true;
  }
  return false;
}

std::optional<simdjson::dom::object> parseObject(simdjson::dom::parser& parser, const std::string& json) {
  auto object = reactor::parseJsonObject(parser, json);
  if (!object || hasDuplicateMembers(*object)) return std::nullopt;
  return object;
}

// A member that may be absent, or present with the wrong JSON type.
struct OptionalString {
  bool present = false;
  bool wrongType = false;
  std::string_view value;
};

OptionalString stringMember(simdjson::dom::object object, std::string_view name) {
  OptionalString out;
  simdjson::dom::element element;
  if (object.at_key(name).get(element) != simdjson::SUCCESS) return out;
  out.present = true;
  if (element.get_string().get(out.value) != simdjson::SUCCESS) out.wrongType = true;
  return out;
}

struct OptionalNumber {
  bool present = false;
  bool wrongType = false;
  double value = 0;
};

OptionalNumber numberMember(simdjson::dom::object object, std::string_view name) {
  OptionalNumber out;
  simdjson::dom::element element;
  if (object.at_key(name).get(element) != simdjson::SUCCESS) return out;
  out.present = true;
  // simdjson refuses out-of-range literals such as 1e999; the finiteness check
  // keeps that guarantee local, since the time checks below rely on it.
  if (element.get_double().get(out.value) != simdjson::SUCCESS || !std::isfinite(out.value)) {
    out.wrongType = true;
  }
  return out;
}

void addRoles(simdjson::dom::object payload, std::string_view claim, std::vector<std::string>& roles) {
  simdjson::dom::element element;
  if (payload.at_key(claim).get(element) != simdjson::SUCCESS) return;
  auto add = [&roles](std::string_view role) {
    if (!role.empty() && std::find(roles.begin(), roles.end(), role) == roles.end()) roles.emplace_back(role);
  };
  std::string_view single;
  if (element.get_string().get(single) == simdjson::SUCCESS) {
    add(single);
    return;
  }
  simdjson::dom::array array;
  if (element.get_array().get(array) != simdjson::SUCCESS) return;
  for (auto item : array) {
    std::string_view role;
    if (item.get_string().get(role) == simdjson::SUCCESS) add(role);
  }
}

bool verifyWithKey(EVP_PKEY* pkey, std::string_view signingInput, std::string_view signature) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size()) == 1;
  clearOpensslErrors();
  return ok;
}

// JWS carries ES256 signatures as raw r||s (RFC 7518 §3.4); OpenSSL verifies
// DER-encoded ECDSA-Sig-Value.
std::optional<std::string> es256ToDer(std::string_view raw) {
  if (raw.size() != 2 * kEs256CoordinateBytes) return std::nullopt;
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BignumPtr r = bignumFrom(raw.substr(0, kEs256CoordinateBytes));
  BignumPtr s = bignumFrom(raw.substr(kEs256CoordinateBytes));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release();  // owned by sig now
  (void)s.release();
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  OpensslBytesPtr owned(der);
  if (len <= 0) return std::nullopt;
  return std::string(reinterpret_cast<char*>(der), static_cast<size_t>(len));
}

VerifyResult fail(JwtError error, std::string message) {
  VerifyResult result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

}  // namespace

// Kept out of the header so it does not pull in OpenSSL.
struct JwtVerifier::PublicKey {
  KeyType type;
  bool fromJwks = false;
  std::string kid;  // JWKS keys only; may be empty
  EvpPkeyPtr pkey;
};

namespace {

// Loads the JWKS keys we can use. Entries for other uses (`use` != "sig"),
// other algorithms, curves or key types are skipped, since identity
// providers publish those alongside; a usable-looking entry that is broken
// is an error, as are duplicate `kid`s, which would make selection ambiguous.
template <typename Key>
void loadJwks(const std::string& path, std::vector<Key>& out) {
  const std::string text = readFile(path, "JWKS");
  simdjson::dom::parser parser;
  auto root = parseObject(parser, text);
  if (!root) throw std::runtime_error("jwt: JWKS '" + path + "' is not a JSON object");
  simdjson::dom::array keys;
  if (root->at_key("keys").get_array().get(keys) != simdjson::SUCCESS) {
    throw std::runtime_error("jwt: JWKS '" + path + "' has no \"keys\" array");
  }
  std::set<std::string> kids;
  size_t index = 0;
  size_t usable = 0;
  for (auto entry : keys) {
    const std::string where = "JWKS '" + path + "' keys[" + std::to_string(index++) + "]";
    simdjson::dom::object jwk;
    if (entry.get_object().get(jwk) != simdjson::SUCCESS || hasDuplicateMembers(jwk)) {
      throw std::runtime_error("jwt: " + where + " is not a JSON object");
    }
    const OptionalString kty = stringMember(jwk, "kty");
    const OptionalString use = stringMember(jwk, "use");
    const OptionalString alg = stringMember(jwk, "alg");
    const OptionalString kid = stringMember(jwk, "kid");
    if (!kty.present || kty.wrongType || use.wrongType || alg.wrongType || kid.wrongType) {
      throw std::runtime_error("jwt: " + where + ": kty/use/alg/kid must be strings");
    }
    if (use.present && use.value != "sig") continue;

    Key key;
    key.fromJwks = true;
    key.kid = std::string(kid.value);
    if (kty.value == "RSA") {
      if (alg.present && alg.value != "RS256") continue;
      const OptionalString n = stringMember(jwk, "n");
      const OptionalString e = stringMember(jwk, "e");
      auto nBytes = n.wrongType ? std::nullopt : decodeTokenPart(n.value);
      auto eBytes = e.wrongType ? std::nullopt : decodeTokenPart(e.value);
      if (!nBytes || !eBytes) throw std::runtime_error("jwt: " + where + ": bad RSA n/e");
      BignumPtr bn = bignumFrom(*nBytes);
      BignumPtr be = bignumFrom(*eBytes);
      ParamBldPtr bld(OSSL_PARAM_BLD_new());
      if (!bn || !be || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
          OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1) {
        throw std::runtime_error("jwt: " + where + ": cannot build RSA key");
      }
      key.pkey = keyFromParams("RSA", bld.get(), where);
    } else if (kty.value == "EC") {
      const OptionalString crv = stringMember(jwk, "crv");
      if (crv.wrongType || crv.value != "P-256") continue;
      if (alg.present && alg.value != "ES256") continue;
      const OptionalString x = stringMember(jwk, "x");
      const OptionalString y = stringMember(jwk, "y");
      auto xBytes = x.wrongType ? std::nullopt : decodeTokenPart(x.value);
      auto yBytes = y.wrongType ? std::nullopt : decodeTokenPart(y.value);
      if (!xBytes || !yBytes || xBytes->size() != kEs256CoordinateBytes ||
          yBytes->size() != kEs256CoordinateBytes) {
        throw std::runtime_error("jwt: " + where + ": bad EC x/y");
      }
      const std::string point = std::string(1, '\x04') + *xBytes + *yBytes;  // uncompressed SEC1
      ParamBldPtr bld(OSSL_PARAM_BLD_new());
      if (!bld ||
          OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
          OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) !=
              1) {
        throw std::runtime_error("jwt: " + where + ": cannot build EC key");
      }
      key.pkey = keyFromParams("EC", bld.get(), where);
    } else {
      continue;
    }
    key.type = checkPublicKey(key.pkey.get(), where);
    if (!key.kid.empty() && !kids.insert(key.kid).second) {
      throw std::runtime_error("jwt: " + where + ": duplicate kid");
    }
    out.push_back(std::move(key));
    ++usable;
  }
  if (usable == 0) throw std::runtime_error("jwt: JWKS '" + path + "' has no usable RS256/ES256 key");
}

}  // namespace

std::string_view jwtErrorName(JwtError error) {
  switch (error) {
    case JwtError::kNone:
      return "none";
    case JwtError::kMalformed:
      return "malformed";
    case JwtError::kBadAlgorithm:
      return "bad_algorithm";
    case JwtError::kBadSignature:
      return "bad_signature";
    case JwtError::kExpired:
      return "expired";
    case JwtError::kNotYetValid:
      return "not_yet_valid";
    case JwtError::kBadIssuer:
      return "bad_issuer";
    case JwtError::kBadAudience:
      return "bad_audience";
    case JwtError::kUnknownKey:
      return "unknown_key";
    case JwtError::kMissingExpiry:
      return "missing_exp";
    case JwtError::kLifetimeTooLong:
      return "lifetime_too_long";
    case JwtError::kIssuedInFuture:
      return "issued_in_future";
  }
  return "unknown";
}

JwtVerifier::JwtVerifier(JwtConfig config) : config_(std::move(config)) {
  if (config_.leeway < std::chrono::seconds(0)) config_.leeway = std::chrono::seconds(0);
  if (config_.maxLifetime <= std::chrono::seconds(0)) {
    throw std::runtime_error("jwt: maxLifetime must be positive");
  }
  if (config_.roleClaim.empty()) throw std::runtime_error("jwt: roleClaim is empty");
  if (config_.platformAdminRole.empty()) throw std::runtime_error("jwt: platformAdminRole is empty");
  for (size_t i = 0; i < config_.hmacSecrets.size(); ++i) {
    const std::string& secret = config_.hmacSecrets[i];
    const std::string where = "hmacSecrets[" + std::to_string(i) + "]";
    if (secret.empty()) throw std::runtime_error("jwt: " + where + " is empty");
    // The classic algorithm-confusion setup is a public key configured as a
    // shared secret; refuse it rather than let anyone who has the public key
    // mint HS256 tokens.
    if (secret.find("-----BEGIN") != std::string::npos) {
      throw std::runtime_error("jwt: " + where + " looks like a PEM key; put public keys in publicKeyPems");
    }
  }
  for (size_t i = 0; i < config_.publicKeyPems.size(); ++i) {
    const std::string& entry = config_.publicKeyPems[i];
    std::string where = "publicKeyPems[" + std::to_string(i) + "]";
    std::string pem;
    if (entry.find("-----BEGIN") != std::string::npos) {
      pem = entry;
    } else {
      pem = readFile(entry, "public key");
      where += " ('" + entry + "')";
    }
    PublicKey key;
    key.pkey = decodePem(pem, where);
    key.type = checkPublicKey(key.pkey.get(), where);
    publicKeys_.push_back(std::move(key));
  }
  if (!config_.jwksPath.empty()) loadJwks(config_.jwksPath, publicKeys_);
}

JwtVerifier::~JwtVerifier() = default;
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;

bool JwtVerifier::hasKeys() const { return !config_.hmacSecrets.empty() || !publicKeys_.empty(); }

VerifyResult JwtVerifier::verify(std::string_view token, std::chrono::system_clock::time_point now) const {
  if (token.empty()) return fail(JwtError::kMalformed, "empty token");
  if (token.size() > kMaxTokenBytes) return fail(JwtError::kMalformed, "token longer than 8 KiB");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(JwtError::kMalformed, "token must have exactly three parts");
  }
  const std::string_view signingInput = token.substr(0, dot2);

  // ---- header ----
  auto headerJson = decodeTokenPart(token.substr(0, dot1));
  if (!headerJson) return fail(JwtError::kMalformed, "header is not base64url");
  simdjson::dom::parser parser;
  std::string algName;
  std::string kid;
  bool hasKid = false;
  {
    auto header = parseObject(parser, *headerJson);
    if (!header) return fail(JwtError::kMalformed, "header is not a JSON object");
    const OptionalString alg = stringMember(*header, "alg");
    if (!alg.present || alg.wrongType) return fail(JwtError::kMalformed, "header has no string alg");
    const OptionalString kidMember = stringMember(*header, "kid");
    if (kidMember.wrongType) return fail(JwtError::kMalformed, "header kid is not a string");
    // We implement no JWS extensions, so any critical one must fail (RFC 7515
    // §4.1.11). jku/x5u/jwk/x5c are ignored: keys come from config only.
    simdjson::dom::element ignored;
    if (header->at_key("crit").get(ignored) == simdjson::SUCCESS) {
      return fail(JwtError::kMalformed, "header crit extensions are not supported");
    }
    algName = std::string(alg.value);
    hasKid = kidMember.present;
    kid = std::string(kidMember.value);
  }
  if (isNoneAlg(algName)) return fail(JwtError::kBadAlgorithm, "unsigned tokens (alg none) are not accepted");
  const std::optional<Alg> alg = algFromName(algName);
  if (!alg) return fail(JwtError::kBadAlgorithm, "unsupported alg");
  const KeyType wantType = *alg == Alg::kEs256 ? KeyType::kEcP256 : KeyType::kRsa;
  if (isHmac(*alg) ? config_.hmacSecrets.empty()
                   : std::none_of(publicKeys_.begin(), publicKeys_.end(),
                                  [&](const PublicKey& k) { return k.type == wantType; })) {
    return fail(JwtError::kBadAlgorithm, "alg not enabled by configuration");
  }

  auto payloadJson = decodeTokenPart(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payloadJson) return fail(JwtError::kMalformed, "payload is not base64url");
  auto signature = decodeTokenPart(token.substr(dot2 + 1));
  if (!signature) return fail(JwtError::kMalformed, "signature is not base64url");

  // ---- signature ----
  // Each algorithm family sees only its own key material: secrets for HS*,
  // public keys of the matching type for RS256/ES256. That is what defeats
  // algorithm confusion.
  bool verified = false;
  if (isHmac(*alg)) {
    for (const std::string& secret : config_.hmacSecrets) {
      if (crypto::equalConstantTime(crypto::hmac(hmacDigest(*alg), secret, signingInput), *signature)) {
        verified = true;
        break;
      }
    }
  } else {
    std::string der;
    std::string_view sigBytes = *signature;
    if (*alg == Alg::kEs256) {
      auto converted = es256ToDer(*signature);
      if (!converted) return fail(JwtError::kBadSignature, "ES256 signature must be 64 bytes");
      der = std::move(*converted);
      sigBytes = der;
    }
    if (hasKid && !config_.jwksPath.empty()) {
      // kid is only ever compared for equality with the JWKS; never used as
      // a path or looked up anywhere else.
      auto it = std::find_if(publicKeys_.begin(), publicKeys_.end(), [&](const PublicKey& k) {
        return k.fromJwks && !k.kid.empty() && k.kid == kid;
      });
      if (it == publicKeys_.end()) return fail(JwtError::kUnknownKey, "no JWKS key with this kid");
      if (it->type != wantType)
        return fail(JwtError::kBadAlgorithm, "alg does not fit the key selected by kid");
      verified = verifyWithKey(it->pkey.get(), signingInput, sigBytes);
    } else {
      for (const PublicKey& key : publicKeys_) {
        if (key.type == wantType && verifyWithKey(key.pkey.get(), signingInput, sigBytes)) {
          verified = true;
          break;
        }
      }
    }
  }
  if (!verified) return fail(JwtError::kBadSignature, "signature does not verify");

  // ---- claims ----
  auto payload = parseObject(parser, *payloadJson);
  if (!payload) return fail(JwtError::kMalformed, "payload is not a JSON object");

  // NumericDates stay doubles throughout: a value such as 1e300 is compared,
  // never converted to an integer (which would be undefined behaviour).
  const double nowSeconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  const auto leeway = static_cast<double>(config_.leeway.count());
  const auto maxLifetime = static_cast<double>(config_.maxLifetime.count());
  const OptionalNumber exp = numberMember(*payload, "exp");
  const OptionalNumber nbf = numberMember(*payload, "nbf");
  const OptionalNumber iat = numberMember(*payload, "iat");
  if (exp.wrongType || nbf.wrongType || iat.wrongType) {
    return fail(JwtError::kMalformed, "exp/nbf/iat must be finite numbers");
  }
  // A token without exp would be a credential for ever; a leaked one could
  // never be contained short of rotating the key.
  if (!exp.present) return fail(JwtError::kMissingExpiry, "token has no exp claim; tokens must expire");
  if (nowSeconds >= exp.value + leeway) return fail(JwtError::kExpired, "token expired");
  if (nbf.present && nowSeconds < nbf.value - leeway)
    return fail(JwtError::kNotYetValid, "token not yet valid");
  if (iat.present && iat.value > nowSeconds + leeway)
    return fail(JwtError::kIssuedInFuture, "token issued in the future (iat)");
  // With iat the lifetime is the issuer's own arithmetic; without it we measure
  // from our clock, which may lag the issuer's by up to the leeway.
  const double lifetime = iat.present ? exp.value - iat.value : exp.value - nowSeconds;
  if (lifetime > (iat.present ? maxLifetime : maxLifetime + leeway)) {
    return fail(JwtError::kLifetimeTooLong, "token lifetime (exp - iat) exceeds the configured maximum");
  }

  if (!config_.issuer.empty()) {
    const OptionalString iss = stringMember(*payload, "iss");
    if (!iss.present || iss.wrongType || iss.value != config_.issuer) {
      return fail(JwtError::kBadIssuer, "issuer not accepted");
    }
  }
  if (!config_.audience.empty()) {
    bool audienceOk = false;
    simdjson::dom::element aud;
    if (payload->at_key("aud").get(aud) == simdjson::SUCCESS) {
      std::string_view single;
      simdjson::dom::array list;
      if (aud.get_string().get(single) == simdjson::SUCCESS) {
        audienceOk = single == config_.audience;
      } else if (aud.get_array().get(list) == simdjson::SUCCESS) {
        for (auto item : list) {
          std::string_view value;
          if (item.get_string().get(value) == simdjson::SUCCESS && value == config_.audience)
            audienceOk = true;
        }
      }
    }
    if (!audienceOk) return fail(JwtError::kBadAudience, "audience not accepted");
  }

  VerifyResult result;
  const OptionalString sub = stringMember(*payload, "sub");
  if (sub.wrongType) return fail(JwtError::kMalformed, "sub must be a string");
  result.claims.subject = std::string(sub.value);

  simdjson::dom::element account;
  if (payload->at_key(config_.accountClaim).get(account) == simdjson::SUCCESS) {
    std::string_view text;
    int64_t signedId = 0;
    uint64_t unsignedId = 0;
    // Some issuers put numeric account ids in the token; compare them as text.
    if (account.get_string().get(text) == simdjson::SUCCESS) {
      result.claims.accountId = std::string(text);
    } else if (account.get_int64().get(signedId) == simdjson::SUCCESS) {
      result.claims.accountId = std::to_string(signedId);
    } else if (account.get_uint64().get(unsignedId) == simdjson::SUCCESS) {
      result.claims.accountId = std::to_string(unsignedId);
    }
  }

  // Only the configured claim: a custom claim usually exists because the
  // issuer lets users (or other tenants' admins) write `role`/`roles`.
  addRoles(*payload, config_.roleClaim, result.claims.roles);
  if (config_.roleClaim == kDefaultRoleClaim) addRoles(*payload, "roles", result.claims.roles);
  const auto& roles = result.claims.roles;
  result.claims.platformAdmin =
      std::find(roles.begin(), roles.end(), config_.platformAdminRole) != roles.end();

  result.error = JwtError::kNone;
  return result;
}

std::optional<std::string_view> bearerToken(std::string_view authorizationHeader) {
  auto isSpace = [](char c) { return c == ' ' || c == '\t'; };
  std::string_view h = authorizationHeader;
  while (!h.empty() && isSpace(h.front())) h.remove_prefix(1);
  while (!h.empty() && isSpace(h.back())) h.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (h.size() <= kScheme.size() || !isSpace(h[kScheme.size()])) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = h[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kScheme[i]) return std::nullopt;
  }
  h.remove_prefix(kScheme.size());
  while (!h.empty() && isSpace(h.front())) h.remove_prefix(1);
  if (h.empty()) return std::nullopt;
  for (char c : h) {
    if (isSpace(c) || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return std::nullopt;
  }
  return h;
}

}  // namespace recgw::handlers
