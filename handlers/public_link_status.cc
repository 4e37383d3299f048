#include "handlers/public_link_status.h"

#include <string>

#include "reactor/http_server.h"
#include "reactor/metrics.h"
#include "storage/public_link.h"

namespace recgw::handlers {

bool answerLinkState(reactor::HttpExchange& ex, const storage::CallRecord& record,
                     const PublicLinkSettings& settings, int64_t nowMs) {
  using storage::LinkState;
  LinkState state = storage::linkStateOf(record, nowMs);
  if (state == LinkState::kPlayable) return false;
  const char* code = storage::linkStateError(state);
  ex.noteReason(code);
  ex.server().metrics().inc("recgw_public_link_refusals_total", reactor::Metrics::label("reason", code));
  switch (state) {
    case LinkState::kRevoked:
      ex.replyError(410, code, "this link was revoked");
      break;
    case LinkState::kExpired:
      ex.replyError(410, code, "this link has expired");
      break;
    case LinkState::kNotReady:
      ex.addHeader("Retry-After", std::to_string(settings.retryAfterS));
      ex.replyError(503, code, "the recording is still being processed; retry later");
      break;
    case LinkState::kDeleted:
      ex.replyError(410, code, "the recording was deleted");
      break;
    case LinkState::kFailed:
      ex.replyError(410, code, "the recording failed and will not become available");
      break;
    case LinkState::kPlayable:
      return false;
  }
  return true;
}

}  // namespace recgw::handlers
