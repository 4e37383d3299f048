#pragma once
// The answers of the public route that the call's record decides before any byte is looked
// for (README, "Public link statuses"): 410 for a revoked or expired link and for a deleted
// or failed recording, 503 + Retry-After for one still being processed or uploaded.
#include <cstdint>
#include <string>

#include "reactor/http_exchange.h"
#include "storage/call_store.h"

namespace recgw::handlers {

struct PublicLinkSettings {
  int64_t retryAfterS = 30;  // public.retry_after_s: Retry-After of recording_not_ready
  // ?download=1: the attachment's file name (public.download_name), with {session_id},
  // {account_id}, {ext} (the key's extension) and {key} (the key's last segment).
  std::string downloadName = "{session_id}.{ext}";
  bool redirectAlways = false;  // public.mode = "redirect" (else only ?redirect=1)
  int64_t redirectTtlS = 300;   // public.redirect_ttl_s: lifetime of the presigned URL
};

// Answers the request and returns true when the record says the link must not play now;
// false: go on (stream, or the usual 404 for no call / no key). `nowMs`: the wall clock.
bool answerLinkState(reactor::HttpExchange& ex, const storage::CallRecord& record,
                     const PublicLinkSettings& settings, int64_t nowMs);

}  // namespace recgw::handlers
