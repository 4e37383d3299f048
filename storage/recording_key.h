#pragma once
// Key derivation (README, "Routes"): a non-empty recording_key wins; else the last path segment of
// recording_url (query and fragment dropped, percent-decoded). Pure.
#include <optional>
#include <string>
#include <string_view>

namespace recgw::storage {

struct DerivedKey {
  std::string key;
  std::string how;  // "recording_key" or "recording_url"
};

std::optional<DerivedKey> deriveRecordingKey(std::string_view recordingKey, std::string_view recordingUrl);

}  // namespace recgw::storage
