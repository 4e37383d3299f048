// libFuzzer target for loadConfig on arbitrary TOML files (app/config).
// The input is written to a temporary file and loaded without environment. Beyond "no
// crash and nothing but ConfigError escapes", a config that loads must render to TOML that
// loads back to the same rendering (secrets are already masked in both), unless one of
// its strings holds a control character (renderConfig does not escape those; reported).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "app/config.h"

using namespace recgw::app;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::string& tempPath() {
  static const std::string path = "/tmp/recgw_config_fuzz_" + std::to_string(::getpid()) + ".toml";
  return path;
}

void writeFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
}

bool hasControl(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool anyStringHasControl(const Config& c) {
  std::vector<const std::string*> strings = {&c.server.listen,
                                             &c.server.publicBaseUrl,
                                             &c.server.logLevel,
                                             &c.mongo.uri,
                                             &c.mongo.callsCollection,
                                             &c.mongo.settingsCollection,
                                             &c.redis.url,
                                             &c.s3.endpoint,
                                             &c.s3.accessKey,
                                             &c.s3.secretKey,
                                             &c.s3.bucket,
                                             &c.s3.region,
                                             &c.s3.addressing,
                                             &c.fleet.secret,
                                             &c.fleet.secretHeader,
                                             &c.jwt.hs256Secret,
                                             &c.jwt.jwksFile,
                                             &c.jwt.issuer,
                                             &c.jwt.audience,
                                             &c.jwt.roleClaim,
                                             &c.jwt.accountClaim};
  for (const auto* list :
       {&c.server.corsOrigins, &c.server.trustedProxies, &c.fleet.urls, &c.jwt.publicKeyFiles}) {
    for (const auto& s : *list) strings.push_back(&s);
  }
  for (const auto* s : strings) {
    if (hasControl(*s)) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  writeFile(tempPath(), data, size);
  std::optional<Config> config;
  try {
    config = loadConfig(tempPath(), nullptr);
  } catch (const ConfigError& e) {
    check(e.what()[0] != '\0');
    return 0;
  }
  // Loaded: the rendering is a config file that loads back to itself.
  std::string rendered = renderConfig(*config);
  (void)diffConfig(Config{}, *config);
  if (anyStringHasControl(*config)) return 0;
  writeFile(tempPath(), reinterpret_cast<const uint8_t*>(rendered.data()), rendered.size());
  try {
    Config again = loadConfig(tempPath(), nullptr);
    check(renderConfig(again) == rendered);
  } catch (const ConfigError&) {
    check(false);
  }
  return 0;
}
