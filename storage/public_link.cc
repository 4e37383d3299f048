#include "storage/public_link.h"

#include "storage/uri_encoding.h"
#include "storage/url_parts.h"

namespace recgw::storage {

std::string buildPublicRecordingUrl(std::string_view host, std::string_view token) {
  host = trimSpace(host);
  while (!host.empty() && host.back() == '/') host.remove_suffix(1);
  std::string out;
  if (splitUrl(host).scheme.empty()) out.append("https://");
  out.append(host);
  out.append("/api/v1/public/recordings/");
  // Minted tokens are base64url and pass through unchanged; encoding guards hand-made ones.
  out.append(uriEncode(token, /*keepSlash=*/false));
  return out;
}

LinkState linkStateOf(const CallRecord& record, int64_t nowMs) {
  if (record.linkRevoked) return LinkState::kRevoked;
  if (record.outcome == CallRecord::Outcome::kNoCall || record.outcome == CallRecord::Outcome::kUnavailable)
    return LinkState::kPlayable;
  if (record.accessExpiresAtMs > 0 && nowMs >= record.accessExpiresAtMs) return LinkState::kExpired;
  const std::string& s = record.recordingStatus;
  if (s == "processing" || s == "uploading") return LinkState::kNotReady;
  if (s == "deleted" || record.recordingDeleted) return LinkState::kDeleted;
  if (s == "failed") return LinkState::kFailed;
  return LinkState::kPlayable;
}

const char* linkStateError(LinkState state) {
  switch (state) {
    case LinkState::kRevoked:
      return "link_revoked";
    case LinkState::kExpired:
      return "link_expired";
    case LinkState::kNotReady:
      return "recording_not_ready";
    case LinkState::kDeleted:
      return "recording_deleted";
    case LinkState::kFailed:
      return "recording_failed";
    case LinkState::kPlayable:
      break;
  }
  return "";
}

bool isTransientRecordingStatus(std::string_view status) {
  return status == "processing" || status == "uploading" || status == "deleted" || status == "failed";
}

}  // namespace recgw::storage
