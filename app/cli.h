#pragma once
// The CLI subcommands other than serve/check-config (presign, mint-token, extract-key, …).
#include <optional>
#include <string>
#include <vector>

namespace recgw::app {

// Returns the exit code, or -1 if `command` is not one of these.
int runToolCommand(const std::string& command, const std::vector<std::string>& args);

// check-config --probe: the storage and fleet part of `diagnose`, for the config alone; for a
// person, or one JSON document with `json` (--json).
int probeConfiguration(const std::optional<std::string>& configPath, bool json);

}  // namespace recgw::app
