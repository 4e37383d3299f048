// JWT verification: once per admin/tenant request (HS256 with a shared secret, the common
// deployment). The token is built here with the same HMAC and base64url helpers.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "handlers/jwt_verifier.h"
#include "storage/crypto.h"

namespace {

using recgw::handlers::JwtConfig;
using recgw::handlers::JwtVerifier;

constexpr char kSecret[] = "bench-hs256-secret-0123456789abcdef0123456789abcdef";

std::string makeHs256(const std::string& payloadJson, const std::string& secret) {
  using namespace recgw::crypto;
  std::string signingInput =
      base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + base64UrlEncode(payloadJson);
  auto mac = hmacSha256(secret, signingInput);
  return signingInput + "." +
         base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::string payload(std::chrono::system_clock::time_point now) {
  long long t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  return R"({"sub":"user-42","role":"admin","account_id":"acct-1","iat":)" + std::to_string(t) +
         R"(,"nbf":)" + std::to_string(t - 5) + R"(,"exp":)" + std::to_string(t + 3600) +
         R"(,"iss":"cxb","aud":"recgw"})";
}

JwtVerifier makeVerifier() {
  JwtConfig c;
  c.hmacSecrets = {kSecret};
  c.issuer = "cxb";
  c.audience = "recgw";
  return JwtVerifier(std::move(c));
}

void BM_JwtVerifyHs256(benchmark::State& state) {
  const JwtVerifier verifier = makeVerifier();
  const auto now = std::chrono::system_clock::now();
  const std::string token = makeHs256(payload(now), kSecret);
  if (!verifier.verify(token, now).ok()) {
    state.SkipWithError("benchmark token does not verify");
    return;
  }
  for (auto _ : state) {
    auto r = verifier.verify(token, now);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_JwtVerifyHs256);

// A forged signature: rejected after the HMAC, before any claim is read.
void BM_JwtVerifyHs256BadSignature(benchmark::State& state) {
  const JwtVerifier verifier = makeVerifier();
  const auto now = std::chrono::system_clock::now();
  const std::string token = makeHs256(payload(now), "not-the-secret");
  for (auto _ : state) {
    auto r = verifier.verify(token, now);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_JwtVerifyHs256BadSignature);

// Garbage: rejected on shape alone.
void BM_JwtVerifyMalformed(benchmark::State& state) {
  const JwtVerifier verifier = makeVerifier();
  const auto now = std::chrono::system_clock::now();
  const std::string token = "not.a.jwt-at-all";
  for (auto _ : state) {
    auto r = verifier.verify(token, now);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_JwtVerifyMalformed);

}  // namespace
