// recgw: the command line. Subcommands parse their flags here and call into the library.
#include <curl/curl.h>
#include <mongoc/mongoc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/cli.h"
#include "app/config.h"
#include "app/gateway.h"
#include "reactor/logger.h"
#include "reactor/supervisor.h"

namespace {

using recgw::app::Config;
using recgw::app::ConfigError;

// libmongoc logs through our logger; FerretDB (tests) lacks endSessions, which libmongoc
// sends at client shutdown: that warning is noise, not a problem.
void mongocLog(mongoc_log_level_t level, const char* domain, const char* message, void*) {
  if (level >= MONGOC_LOG_LEVEL_INFO) return;
  std::string_view text = message ? message : "";
  if (text.find("endSessions") != std::string_view::npos) return;
  std::initializer_list<recgw::reactor::LogField> fields = {{"domain", domain ? domain : ""},
                                                            {"detail", text}};
  if (level <= MONGOC_LOG_LEVEL_ERROR)
    recgw::reactor::Logger::log(recgw::reactor::LogLevel::kError, {}, "libmongoc", fields);
  else
    recgw::reactor::Logger::log(recgw::reactor::LogLevel::kWarn, {}, "libmongoc", fields);
}

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: recgw <command> [options]\n"
      "\n"
      "commands:\n"
      "  serve [--config FILE] [--workers N]   run the gateway\n"
      "  check-config [--config FILE] [--probe [--json]]  validate and print the effective config (secrets\n"
      "                                        masked); --probe also tries storage and each fleet host\n"
      "  diagnose TOKEN|SESSION_ID             explain how a link would be served, and what to fix\n"
      "  presign ...                           print a presigned S3 URL (recgw presign --help)\n"
      "  mint-token                            print a fresh public recording token\n"
      "  extract-key URL [--bucket B]          print the object key inside a storage URL\n"
      "  warm --since DATE [--limit N]         copy call lookups from MongoDB into Redis\n"
      "  api-key create|list|revoke ...        tenant API keys (recgw api-key --help)\n"
      "  stats SESSION_ID [--json]             per-link analytics of a call (opens, clients, bytes, leaks)\n"
      "  ensure-indexes [--check]              create (or list) the indexes recgw needs on calls\n"
      "  --version                             print the version\n"
      "\n"
      "Every config key can be set with RECGW_<SECTION>_<KEY>, e.g. RECGW_MONGO_URI.\n");
}

struct CommonFlags {
  std::optional<std::string> configPath;
  std::optional<int> workers;
};

// Returns false (after printing one line) on a bad flag.
bool parseCommon(const std::vector<std::string>& args, CommonFlags& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::fprintf(stderr, "recgw: %s needs a value\n", name);
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "--config" || a == "-c") {
      auto v = value("--config");
      if (!v) return false;
      flags.configPath = *v;
    } else if (a.rfind("--config=", 0) == 0) {
      flags.configPath = a.substr(9);
    } else if (a == "--workers") {
      auto v = value("--workers");
      if (!v) return false;
      try {
        size_t used = 0;
        int n = std::stoi(*v, &used);
        if (used != v->size() || n < 0) throw std::invalid_argument("x");
        flags.workers = n;
      } catch (...) {
        std::fprintf(stderr, "server.workers: not a number: '%s'\n", v->c_str());
        return false;
      }
    } else {
      std::fprintf(stderr, "recgw: unknown option %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

std::optional<Config> load(const CommonFlags& flags) {
  try {
    Config c = recgw::app::loadConfig(flags.configPath, environ);
    if (flags.workers) c.server.workers = *flags.workers;
    if (c.server.workers == 0)
      c.server.workers = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
    return c;
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return std::nullopt;
  }
}

int serve(const std::vector<std::string>& args) {
  CommonFlags flags;
  if (!parseCommon(args, flags)) return 2;
  auto config = load(flags);
  if (!config) return 2;
  // Workers bind with SO_REUSEPORT, which would quietly share a port another process already
  // listens on: make sure it is free first (without listening: see checkPortFree).
  using recgw::reactor::checkPortFree;
  if (auto free = checkPortFree(config->listenHost(), config->listenPort()); !free) {
    std::fprintf(stderr, "server.listen: %s\n", free.error().message.c_str());
    return 2;
  }
  if (!config->server.opsListen.empty()) {
    if (auto free = checkPortFree(config->opsListenHost(), config->opsListenPort()); !free) {
      std::fprintf(stderr, "server.ops_listen: %s\n", free.error().message.c_str());
      return 2;
    }
  }
  recgw::app::SharedByWorkers shared;
  try {
    shared = recgw::app::createSharedByWorkers();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recgw: %s\n", e.what());
    return 1;
  }
  mongoc_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  recgw::reactor::SupervisorOptions options;
  options.workers = static_cast<int>(config->server.workers);
  options.killAfter = std::chrono::milliseconds(config->server.shutdownGraceMs + 5000);
  Config cfg = *config;
  int code = recgw::reactor::superviseWorkers(
      options, [cfg, &shared](int index) { return recgw::app::runWorker(cfg, index, shared); });
  recgw::app::releaseSharedByWorkers(shared);
  mongoc_cleanup();
  return code;
}

int checkConfig(const std::vector<std::string>& args) {
  CommonFlags flags;
  std::vector<std::string> rest;
  bool probe = false;
  bool json = false;
  for (const auto& a : args) {
    if (a == "--probe")
      probe = true;
    else if (a == "--json")
      json = true;
    else
      rest.push_back(a);
  }
  if (json && !probe) {
    std::fprintf(stderr, "check-config: --json goes with --probe\n");
    return 2;
  }
  if (!parseCommon(rest, flags)) return 2;
  auto config = load(flags);
  if (!config) return 2;
  std::printf("%s", recgw::app::renderConfig(*config).c_str());
  auto missing = config->missingStorageFields();
  if (!missing.empty()) {
    std::string m;
    for (const auto& f : missing) m += " s3." + f;
    std::fprintf(stderr,
                 "note: storage settings incomplete (missing:%s); storage is skipped unless "
                 "system_settings in MongoDB completes them\n",
                 m.c_str());
  }
  if (probe) return recgw::app::probeConfiguration(flags.configPath, json);
  return 0;
}

// Debian's libmongoc 1.23 initialises itself in a library constructor, before main, and
// creates /dev/shm/mongoc-<pid> for its counters (MONGOC_DISABLE_SHM would have to be set
// before the process starts). A killed process never removes that file, and a later
// process given the same pid then prints "Falling back to malloc for counters" to stderr.
// Nothing reads our counters from outside, so the name goes at once: the mapping stays
// valid, and a SIGKILL leaves nothing behind.
void forgetLibmongocSharedMemoryName() {
  char name[64];
  std::snprintf(name, sizeof name, "/mongoc-%u", static_cast<unsigned>(::getpid()));
  ::shm_unlink(name);
}

}  // namespace

int main(int argc, char** argv) {
  forgetLibmongocSharedMemoryName();
  ::setenv("MONGOC_DISABLE_SHM", "1", 0);  // for any process we start
  mongoc_log_set_handler(&mongocLog, nullptr);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  std::string command = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "--version" || command == "version") {
    std::printf("recgw %s\n", RECGW_VERSION);
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    usage(stdout);
    return 0;
  }
  if (command == "serve") return serve(rest);
  if (command == "check-config") return checkConfig(rest);
  if (int code = recgw::app::runToolCommand(command, rest); code >= 0) return code;
  std::fprintf(stderr, "recgw: unknown command '%s' (try recgw --help)\n", command.c_str());
  return 2;
}
