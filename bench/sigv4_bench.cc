// Cost of signing on the request path: one presigned URL, or one set of S3 request
// headers, per iteration, with the signer's per-day key cache warm as in production.
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>
#include <vector>

#include "storage/presigner.h"
#include "storage/s3_addressing.h"
#include "storage/sigv4_signer.h"

namespace {

using recgw::storage::Addressing;
using recgw::storage::HttpHeader;
using recgw::storage::ObjectTarget;
using recgw::storage::S3Location;
using recgw::storage::SigV4Signer;

const S3Location kLocation{"https://nyc3.digitaloceanspaces.com", "recordings", "nyc3", Addressing::kAuto, ""};
constexpr char kKey[] = "2024/06/01/session-0f8c2a6e-4a1b/recording part 1.ogg";

SigV4Signer makeSigner() {
  return SigV4Signer("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "nyc3");
}

void BM_Presign(benchmark::State& state) {
  SigV4Signer signer = makeSigner();
  const auto now = std::chrono::system_clock::now();
  for (auto _ : state) {
    ObjectTarget target = recgw::storage::objectTarget(kLocation, kKey);
    auto url = signer.presign("GET", target, 86400, now);
    benchmark::DoNotOptimize(url);
  }
}
BENCHMARK(BM_Presign);

void BM_PresignWithOverrides(benchmark::State& state) {
  SigV4Signer signer = makeSigner();
  const auto now = std::chrono::system_clock::now();
  const std::vector<recgw::storage::QueryParam> extra = {
      {"response-content-disposition", "inline; filename=\"recording part 1.ogg\""},
      {"response-content-type", "audio/ogg"}};
  for (auto _ : state) {
    ObjectTarget target = recgw::storage::objectTarget(kLocation, kKey);
    auto url = signer.presign("GET", target, 300, now, extra);
    benchmark::DoNotOptimize(url);
  }
}
BENCHMARK(BM_PresignWithOverrides);

void BM_SignHeaders(benchmark::State& state) {
  SigV4Signer signer = makeSigner();
  const auto now = std::chrono::system_clock::now();
  const ObjectTarget target = recgw::storage::objectTarget(kLocation, kKey);
  const std::vector<HttpHeader> range = {{"range", "bytes=1048576-"}};
  for (auto _ : state) {
    auto headers = signer.signHeaders("GET", target, range, now);
    benchmark::DoNotOptimize(headers);
  }
}
BENCHMARK(BM_SignHeaders);

// The same with a cold key every time: what a per-call signer (the one-shot helpers) costs.
void BM_SignHeadersColdKey(benchmark::State& state) {
  const auto now = std::chrono::system_clock::now();
  const ObjectTarget target = recgw::storage::objectTarget(kLocation, kKey);
  for (auto _ : state) {
    SigV4Signer signer = makeSigner();
    auto headers = signer.signHeaders("GET", target, {}, now);
    benchmark::DoNotOptimize(headers);
  }
}
BENCHMARK(BM_SignHeadersColdKey);

void BM_OneShotSignedUrl(benchmark::State& state) {
  const recgw::storage::S3Credentials credentials{"AKIAIOSFODNN7EXAMPLE",
                                                  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  const auto now = std::chrono::system_clock::now();
  for (auto _ : state) {
    auto url = recgw::storage::generateSignedUrl(kLocation, credentials, kKey, 86400, now);
    benchmark::DoNotOptimize(url);
  }
}
BENCHMARK(BM_OneShotSignedUrl);

}  // namespace
