#include "storage/recording_key.h"
#include "storage/uri_encoding.h"


namespace recgw::storage {

std::optional<DerivedKey> deriveRecordingKey(std::string_view recordingKey, std::string_view recordingUrl) {
  if (!recordingKey.empty()) return DerivedKey{std::string(recordingKey), "recording_key"};
  std::string_view url = recordingUrl;
  url = url.substr(0, url.find_first_of("?#"));
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  // Only the path counts: "https://host" has no segment to take.
  size_t scheme = url.find("://");
  size_t pathStart = scheme == std::string_view::npos ? 0 : url.find('/', scheme + 3);
  if (pathStart == std::string_view::npos) return std::nullopt;
  std::string_view segment = url.substr(url.rfind('/') + 1);
  if (url.rfind('/') < pathStart && scheme != std::string_view::npos) return std::nullopt;
  if (segment.empty()) return std::nullopt;
  auto decoded = percentDecode(segment);
  if (!decoded || decoded->empty()) return std::nullopt;
  return DerivedKey{*decoded, "recording_url"};
}

}  // namespace recgw::storage
