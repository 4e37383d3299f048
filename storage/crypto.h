#pragma once
// Thin, allocation-light wrappers over OpenSSL's one-shot digests and HMAC.
// Pure functions: safe from any thread.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace recgw::crypto {

enum class Digest { kSha256, kSha384, kSha512 };

using Sha256 = std::array<unsigned char, 32>;

Sha256 sha256(std::string_view data);
std::string sha256Hex(std::string_view data);

// Raw MAC bytes (32, 48 or 64 of them depending on the digest).
std::string hmac(Digest digest, std::string_view key, std::string_view data);
Sha256 hmacSha256(std::string_view key, std::string_view data);

// HMAC-SHA256 under one key, many messages: the key schedule (two compressions and the
// provider's set-up) is paid once, not per message. One object per thread.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(std::string_view key);  // throws std::runtime_error on OpenSSL failure
  ~HmacSha256Key();
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;
  Sha256 mac(std::string_view data);

 private:
  void* ctx_;  // EVP_MAC_CTX holding the key
};

std::string hexLower(std::string_view bytes);
std::string hexLower(const Sha256& bytes);

std::string base64UrlEncode(std::string_view bytes);  // no padding
std::string base64Encode(std::string_view bytes);     // standard alphabet, padded (Content-MD5)
// Accepts unpadded and padded input; nullopt on any non-alphabet byte.
std::optional<std::string> base64UrlDecode(std::string_view text);
std::optional<std::string> base64Decode(std::string_view text);  // standard alphabet

// MD5, fed piece by piece: S3 names an object part by the MD5 of its bytes (its ETag, and
// Content-MD5), so a streamed copy can be checked against what S3 stored. Not for security.
class Md5 {
 public:
  Md5();  // throws std::runtime_error when OpenSSL has no MD5
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void update(std::string_view data);
  std::string finish();  // the 16 raw bytes; the object is then reset for a new input
 private:
  void* ctx_;  // EVP_MD_CTX
};
std::string md5(std::string_view data);  // 16 raw bytes

// Constant-time comparison for MACs and secrets.
bool equalConstantTime(std::string_view a, std::string_view b);

// Bytes from OpenSSL's CSPRNG; throws std::runtime_error if the CSPRNG fails.
std::string randomBytes(size_t count);

}  // namespace recgw::crypto
