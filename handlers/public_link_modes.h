#pragma once
// Download and redirect modes of the public route (README, "Download and redirect"):
//   ?download=1   Content-Disposition: attachment with a file name built from the call
//                 (public.download_name; RFC 6266 filename plus RFC 5987 filename*);
//   ?redirect=1   (or public.mode = "redirect") 302 to a fresh presigned URL of storage
//                 (public.redirect_ttl_s; with response-content-disposition when
//                 downloading) when storage has the object; streamed as usual when only a
//                 fleet host has it, or storage cannot be asked.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "handlers/public_link_status.h"
#include "reactor/curl_multi.h"
#include "reactor/http_exchange.h"
#include "storage/call_store.h"

namespace recgw::handlers {

class StorageSigner;
struct RecordingsContext;

// The file name public.download_name gives for a call. Pure. Placeholders are replaced
// with the call's values, each with '/', '\' and control characters made '_'; a name
// that would end in "." (a key without extension) loses it; an empty result is "recording".
std::string downloadFileName(std::string_view pattern, const storage::CallRecord& record);

// What one public request asks for, from its query string and the settings.
struct PublicDelivery {
  bool redirect = false;
  std::string contentDisposition;  // non-empty: ?download=1
};
PublicDelivery publicDeliveryFor(const reactor::HttpExchange& ex, const PublicLinkSettings& settings,
                                 const storage::CallRecord& record);

// Redirect mode: asks storage (signed HEAD) whether it has the object and answers 302 to a
// presigned URL if so; otherwise, or when storage is not configured or fails, calls
// `stream(ex)`. A lookup hint naming a fleet host streams at once. The exchange may be gone
// when the HEAD answers (nothing happens then).
void redirectOrStream(reactor::HttpExchange& ex, RecordingsContext& ctx, const storage::CallRecord& record,
                      const std::string& hint, const PublicDelivery& delivery,
                      std::function<void(reactor::HttpExchange&)> stream);

// The lifetime of a redirect's presigned URL: public.redirect_ttl_s, but never past the link's
// own expiry (recording_access_expires_at, 0 = none); at least 1 s. Already-issued URLs
// cannot be revoked: they are why redirect_ttl_s stays short.
int64_t redirectTtlFor(int64_t configuredTtlS, int64_t linkExpiresAtMs,
                       std::chrono::system_clock::time_point now);

}  // namespace recgw::handlers
