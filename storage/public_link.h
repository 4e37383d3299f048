#pragma once
// The gateway's public link to a recording, built from the configured public host and the
// call's token. Pure.
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/call_store.h"

namespace recgw::storage {

// https://{host}/api/v1/public/recordings/{token}; a scheme already on `host` is kept and a
// trailing `/` dropped.
std::string buildPublicRecordingUrl(std::string_view host, std::string_view token);

// What a public link answers before any byte is looked for, from the call's record: the
// link itself (revoked, expired) first, then the recording's state (recording_status).
enum class LinkState {
  kPlayable,  // stream it (or 404 as before when there is no call or no key)
  kRevoked,   // 410 link_revoked
  kExpired,   // 410 link_expired
  kNotReady,  // 503 recording_not_ready + Retry-After (processing, uploading)
  kDeleted,   // 410 recording_deleted
  kFailed,    // 410 recording_failed
};
LinkState linkStateOf(const CallRecord& record, int64_t nowMs);
// The error code of a state that is not playable ("link_revoked", ...).
const char* linkStateError(LinkState state);
// A recording_status that may change soon (not ready, deleted, failed): cached briefly
// (public.not_ready_ttl_s) so that a recording that becomes ready plays quickly.
bool isTransientRecordingStatus(std::string_view status);

}  // namespace recgw::storage
