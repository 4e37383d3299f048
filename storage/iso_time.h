#pragma once
// ISO 8601 / RFC 3339 instants as warm-up scripts send them: "2024-05-01",
// "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123+02:00". Pure.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace recgw::storage {

std::optional<std::chrono::system_clock::time_point> parseIsoInstant(std::string_view text);
// "2024-05-01T10:00:00.123Z" (UTC, milliseconds) for milliseconds since the epoch.
std::string formatIsoMillis(int64_t epochMs);

}  // namespace recgw::storage
