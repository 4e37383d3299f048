#pragma once
// JWT (JWS compact) verification for the admin and tenant routes (README, "Auth").
//
// Keys are loaded once at construction (start-up); verify() is const, touches
// no shared mutable state and is safe to call concurrently from any thread or
// loop. verify() never throws and never puts the token into its messages.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace recgw::handlers {

struct JwtConfig {
  // Shared secrets for HS256/HS384/HS512. Only these are ever used as HMAC
  // keys; a value that looks like a PEM key is refused at construction.
  std::vector<std::string> hmacSecrets;
  // RSA (>= 2048 bits) or EC P-256 public keys for RS256/ES256: PEM text
  // (SubjectPublicKeyInfo or PKCS#1 "RSA PUBLIC KEY"), or a path to a PEM file
  // when the value holds no "-----BEGIN" line.
  std::vector<std::string> publicKeyPems;
  // Optional JWKS file with RSA (n, e) and EC P-256 (x, y) keys, picked by
  // `kid`. Keys for other uses, algorithms, curves or types are skipped.
  std::string jwksPath;
  std::chrono::seconds leeway{30};  // applied to exp, nbf and iat
  // `exp` is required, and a token may live at most this long: exp - iat, or
  // exp - now (+ leeway) when there is no `iat`.
  std::chrono::seconds maxLifetime{24 * 3600};
  std::string issuer;    // empty = not checked
  std::string audience;  // empty = not checked; `aud` may be a string or an array
  // The only claim roles are read from (a string or an array of strings). With
  // the default "role", a `roles` claim is read as well (README, "Auth"); any other
  // name is read alone, so an identity provider that lets users set `role` in
  // their own metadata cannot grant roles through it.
  std::string roleClaim = "role";
  std::string accountClaim = "account_id";  // string or integer
  // The role that may act across accounts (admin routes, any X-Account-ID).
  // Any other role, "admin" included when this is set to something else, is
  // bound to the token's account.
  std::string platformAdminRole = "admin";
};

enum class JwtError {
  kNone,
  kMalformed,
  kBadAlgorithm,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kBadIssuer,
  kBadAudience,
  kUnknownKey,
  kMissingExpiry,     // no `exp`: tokens must expire
  kLifetimeTooLong,   // exp - iat (or now) above maxLifetime
  kIssuedInFuture,    // `iat` later than now + leeway
};

// Stable lower-case name for logs and metric labels ("malformed", ...).
std::string_view jwtErrorName(JwtError error);

struct JwtClaims {
  std::string subject;    // `sub`, empty if absent
  std::string accountId;  // the configured account claim, empty if absent
  // From the configured role claim (plus `roles` when that is the default
  // `role`), de-duplicated, in order of appearance.
  std::vector<std::string> roles;
  // `roles` holds the configured platform admin role: the token may act on any
  // account. Every other token is bound to `accountId`.
  bool platformAdmin = false;

  bool isPlatformAdmin() const { return platformAdmin; }
};

struct VerifyResult {
  JwtError error = JwtError::kMalformed;
  std::string message;  // for logs and the 401 body; never contains the token
  JwtClaims claims;     // filled only when ok()

  bool ok() const { return error == JwtError::kNone; }
};

class JwtVerifier {
 public:
  // Loads and checks every key. Throws std::runtime_error naming the offending
  // entry on an unreadable or unusable key file, a PEM that is not an RSA or
  // EC P-256 public key, an RSA key under 2048 bits, an empty secret, a
  // malformed JWKS or duplicate `kid`s in it.
  explicit JwtVerifier(JwtConfig config);
  ~JwtVerifier();
  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Checks, in order: size (<= 8 KiB) and shape, header, algorithm, signature,
  // then exp (required), nbf and iat (with leeway), the lifetime, iss and aud.
  // Claims are read only from a token whose signature verified.
  VerifyResult verify(std::string_view token, std::chrono::system_clock::time_point now) const;

  // False when no secret and no public key is configured: every token fails.
  bool hasKeys() const;

  static constexpr size_t kMaxTokenBytes = 8 * 1024;

 private:
  struct PublicKey;  // OpenSSL handle, kept out of this header

  JwtConfig config_;
  std::vector<PublicKey> publicKeys_;
};

// The credentials of an `Authorization: Bearer <token>` header (scheme
// case-insensitive); nullopt for other schemes or an empty/space-broken token.
// The view points into `authorizationHeader`.
std::optional<std::string_view> bearerToken(std::string_view authorizationHeader);

}  // namespace recgw::handlers
