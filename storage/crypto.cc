#include "storage/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "storage/openssl_handles.h"

namespace recgw::crypto {
namespace {

const char* digestName(Digest digest) {
  switch (digest) {
    case Digest::kSha256:
      return "SHA2-256";
    case Digest::kSha384:
      return "SHA2-384";
    case Digest::kSha512:
      return "SHA2-512";
  }
  return "SHA2-256";
}

using storage::EvpMacCtxPtr;
using storage::EvpMacPtr;
using storage::EvpMdCtxPtr;
using storage::EvpMdPtr;

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64Value(unsigned char c, bool url) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (url ? c == '-' : c == '+') return 62;
  if (url ? c == '_' : c == '/') return 63;
  return -1;
}

std::optional<std::string> decode(std::string_view text, bool url) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : text) {
    int v = base64Value(c, url);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

namespace {

// OpenSSL 3's one-shot SHA256() and HMAC() fetch the algorithm from the provider on every
// call (a name lookup under a lock), which cost more than hashing a SigV4 string to sign.
// Each thread keeps the fetched algorithms and a context it resets per use.
struct DigestState {
  EvpMdPtr sha256{EVP_MD_fetch(nullptr, "SHA2-256", nullptr)};
  EvpMdCtxPtr digestCtx{EVP_MD_CTX_new()};
  EvpMacPtr hmac{EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
  EvpMacCtxPtr hmacCtx[3];  // by Digest
  DigestState() {
    if (!sha256 || !digestCtx || !hmac) throw std::runtime_error("OpenSSL: SHA-256/HMAC unavailable");
  }
  EVP_MAC_CTX* hmacFor(Digest digest) {
    auto& slot = hmacCtx[static_cast<size_t>(digest)];
    if (!slot) {
      slot.reset(EVP_MAC_CTX_new(hmac.get()));
      char* name = const_cast<char*>(digestName(digest));
      OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name, 0),
                             OSSL_PARAM_construct_end()};
      if (!slot || EVP_MAC_CTX_set_params(slot.get(), params) != 1) {
        slot.reset();
        throw std::runtime_error("OpenSSL: cannot set up HMAC");
      }
    }
    return slot.get();
  }
};

DigestState& digestState() {
  thread_local DigestState state;
  return state;
}

size_t macInto(Digest digest, std::string_view key, std::string_view data, unsigned char* out, size_t cap) {
  EVP_MAC_CTX* ctx = digestState().hmacFor(digest);
  // An empty key is valid HMAC; OpenSSL wants a non-null pointer for it.
  static const unsigned char kEmpty = 0;
  const auto* keyBytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  size_t len = 0;
  if (EVP_MAC_init(ctx, keyBytes, key.size(), nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out, &len, cap) != 1) {
    throw std::runtime_error("OpenSSL HMAC failed");
  }
  return len;
}

}  // namespace

Sha256 sha256(std::string_view data) {
  DigestState& st = digestState();
  Sha256 out{};
  if (EVP_DigestInit_ex2(st.digestCtx.get(), st.sha256.get(), nullptr) != 1 ||
      EVP_DigestUpdate(st.digestCtx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(st.digestCtx.get(), out.data(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  return out;
}

std::string sha256Hex(std::string_view data) { return hexLower(sha256(data)); }

std::string hmac(Digest digest, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = macInto(digest, key, data, out, sizeof out);
  return std::string(reinterpret_cast<char*>(out), len);
}

Sha256 hmacSha256(std::string_view key, std::string_view data) {
  Sha256 out{};
  macInto(Digest::kSha256, key, data, out.data(), out.size());
  return out;
}

HmacSha256Key::HmacSha256Key(std::string_view key) : ctx_(nullptr) {
  EvpMacCtxPtr ctx{EVP_MAC_CTX_dup(digestState().hmacFor(Digest::kSha256))};
  static const unsigned char kEmpty = 0;
  const auto* keyBytes = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (!ctx || EVP_MAC_init(ctx.get(), keyBytes, key.size(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL: cannot key HMAC-SHA256");
  }
  ctx_ = ctx.release();
}

HmacSha256Key::~HmacSha256Key() { EVP_MAC_CTX_free(static_cast<EVP_MAC_CTX*>(ctx_)); }

Sha256 HmacSha256Key::mac(std::string_view data) {
  auto* ctx = static_cast<EVP_MAC_CTX*>(ctx_);
  Sha256 out{};
  size_t len = 0;
  // A null key restarts the MAC with the key already set.
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size()) {
    throw std::runtime_error("OpenSSL HMAC failed");
  }
  return out;
}

namespace {

// Two hex digits per byte value, so each byte is one table read (three digests a request).
struct HexPairs {
  char pair[256][2] = {};
  constexpr HexPairs() {
    constexpr char kHex[] = "0123456789abcdef";
    for (int b = 0; b < 256; ++b) {
      pair[b][0] = kHex[b >> 4];
      pair[b][1] = kHex[b & 0xF];
    }
  }
};
constexpr HexPairs kHexPairs;

}  // namespace

std::string hexLower(std::string_view bytes) {
  std::string out(bytes.size() * 2, '\0');
  char* digits = out.data();
  for (size_t i = 0; i < bytes.size(); ++i)
    std::memcpy(digits + 2 * i, kHexPairs.pair[static_cast<unsigned char>(bytes[i])], 2);
  return out;
}

std::string hexLower(const Sha256& bytes) {
  return hexLower(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64Url[(acc >> bits) & 0x3F]);
    }
  }
  if (bits > 0) out.push_back(kBase64Url[(acc << (6 - bits)) & 0x3F]);
  return out;
}

std::string base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(v >> shift) & 0x3F]);
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out.push_back(kAlphabet[(v >> 18) & 0x3F]);
    out.push_back(kAlphabet[(v >> 12) & 0x3F]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64UrlDecode(std::string_view text) { return decode(text, true); }
std::optional<std::string> base64Decode(std::string_view text) { return decode(text, false); }

Md5::Md5() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex2(static_cast<EVP_MD_CTX*>(ctx_), EVP_md5(), nullptr) != 1) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
    throw std::runtime_error("OpenSSL: MD5 unavailable");
  }
}

Md5::~Md5() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Md5::update(std::string_view data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1)
    throw std::runtime_error("OpenSSL MD5 failed");
}

std::string Md5::finish() {
  unsigned char out[16];
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  if (EVP_DigestFinal_ex(ctx, out, nullptr) != 1 || EVP_DigestInit_ex2(ctx, EVP_md5(), nullptr) != 1)
    throw std::runtime_error("OpenSSL MD5 failed");
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

std::string md5(std::string_view data) {
  Md5 m;
  m.update(data);
  return m.finish();
}

bool equalConstantTime(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string randomBytes(size_t count) {
  std::string out(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    throw std::runtime_error("OpenSSL CSPRNG failed");
  }
  return out;
}

}  // namespace recgw::crypto
