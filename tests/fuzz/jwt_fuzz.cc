// libFuzzer target for JwtVerifier::verify with an HS256/384/512 secret.
//
// Input modes, chosen by the first byte:
//   0x01 header '\0' payload  — the fuzzer's header and payload JSON are signed
//                               with the configured secret, so the claim and
//                               header checks behind the signature get reached;
//   anything else            — the whole input is the token.
// The message of a failed verify must never echo the token, and a failure
// must carry no claims.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "handlers/jwt_verifier.h"
#include "storage/crypto.h"

using namespace recgw::handlers;

namespace {

constexpr std::string_view kSecret = "fuzz-secret-0123456789abcdef0123";

const JwtVerifier& verifier() {
  static const JwtVerifier instance([] {
    JwtConfig c;
    c.hmacSecrets = {std::string(kSecret)};
    c.issuer = "https://id.example";
    c.audience = "recgw";
    return c;
  }());
  return instance;
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void verifyOne(std::string_view token) {
  const auto now = std::chrono::system_clock::from_time_t(1'700'000'000);
  const VerifyResult r = verifier().verify(token, now);
  if (r.ok()) {
    check(token.size() <= JwtVerifier::kMaxTokenBytes);
    check(r.message.empty());
    // The platform admin flag is exactly "the configured role (default admin) was read".
    const auto& roles = r.claims.roles;
    const bool hasAdminRole = std::find(roles.begin(), roles.end(), "admin") != roles.end();
    check(r.claims.isPlatformAdmin() == hasAdminRole);
  } else {
    check(!r.message.empty());
    check(r.claims.roles.empty() && r.claims.subject.empty() && r.claims.accountId.empty());
    check(!r.claims.isPlatformAdmin());
    // Messages are fixed texts without '.', so a token-shaped input found in
    // one was echoed; shorter or dot-free inputs can match by coincidence.
    if (token.size() >= 12 && token.find('.') != std::string_view::npos) {
      check(r.message.find(token) == std::string::npos);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && input.front() == '\x01') {
    const std::string_view rest = input.substr(1);
    const size_t split = rest.find('\0');
    const std::string_view header = rest.substr(0, split);
    const std::string_view payload = split == std::string_view::npos ? "{}" : rest.substr(split + 1);
    const std::string signingInput =
        recgw::crypto::base64UrlEncode(header) + "." + recgw::crypto::base64UrlEncode(payload);
    for (auto digest : {recgw::crypto::Digest::kSha256, recgw::crypto::Digest::kSha512}) {
      verifyOne(signingInput + "." +
                recgw::crypto::base64UrlEncode(recgw::crypto::hmac(digest, kSecret, signingInput)));
    }
    return 0;
  }
  verifyOne(input);
  if (auto bearer = bearerToken(input)) verifyOne(*bearer);
  return 0;
}
