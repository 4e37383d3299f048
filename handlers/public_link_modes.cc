#include "handlers/public_link_modes.h"

#include <algorithm>

#include <memory>
#include <vector>

#include "handlers/http_semantics.h"
#include "handlers/recordings.h"
#include "reactor/exchange_ref.h"
#include "reactor/http_server.h"
#include "reactor/logger.h"
#include "reactor/metrics.h"
#include "storage/s3_addressing.h"

namespace recgw::handlers {

int64_t redirectTtlFor(int64_t configuredTtlS, int64_t linkExpiresAtMs,
                       std::chrono::system_clock::time_point now) {
  if (linkExpiresAtMs <= 0) return configuredTtlS;
  int64_t nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t leftS = (linkExpiresAtMs - nowMs) / 1000;  // rounded down: never past the expiry
  return std::clamp<int64_t>(leftS, 1, configuredTtlS);
}
namespace {

std::string_view lastSegment(std::string_view key) {
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? key : key.substr(slash + 1);
}

std::string extensionOf(std::string_view key) {
  std::string_view base = lastSegment(key);
  size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  return std::string(base.substr(dot + 1));
}

void appendSafe(std::string& out, std::string_view value) {
  for (unsigned char c : value)
    out.push_back(c < 0x20 || c == 0x7f || c == '/' || c == '\\' ? '_' : static_cast<char>(c));
}

bool flagSet(const reactor::HttpExchange& ex, std::string_view name) {
  std::string v = ex.queryParam(name);
  return v == "1" || v == "true";
}

}  // namespace

std::string downloadFileName(std::string_view pattern, const storage::CallRecord& record) {
  std::string out;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern[i] == '{') {
      size_t close = pattern.find('}', i);
      if (close != std::string_view::npos) {
        std::string_view name = pattern.substr(i + 1, close - i - 1);
        bool known = true;
        if (name == "session_id")
          appendSafe(out, record.sessionId);
        else if (name == "account_id")
          appendSafe(out, record.accountId);
        else if (name == "ext")
          appendSafe(out, extensionOf(record.key));
        else if (name == "key")
          appendSafe(out, lastSegment(record.key));
        else
          known = false;
        if (known) {
          i = close + 1;
          continue;
        }
      }
    }
    appendSafe(out, pattern.substr(i, 1));
    ++i;
  }
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  return out.empty() ? std::string("recording") : out;
}

PublicDelivery publicDeliveryFor(const reactor::HttpExchange& ex, const PublicLinkSettings& settings,
                                 const storage::CallRecord& record) {
  PublicDelivery d;
  d.redirect = settings.redirectAlways || flagSet(ex, "redirect");
  if (flagSet(ex, "download"))
    d.contentDisposition = contentDisposition(downloadFileName(settings.downloadName, record), true);
  return d;
}

void redirectOrStream(reactor::HttpExchange& ex, RecordingsContext& ctx, const storage::CallRecord& record,
                      const std::string& hint, const PublicDelivery& delivery,
                      std::function<void(reactor::HttpExchange&)> stream) {
  // Last seen on a fleet host: storage had nothing then, and bytes from there stream anyway.
  if (!ctx.curl || hint.rfind("fleet:", 0) == 0) return stream(ex);
  fleet::SourceChain chain = makeSourceChain(ctx, record.key);
  if (chain.sources().empty() || chain.sources()[0].kind != fleet::Source::Kind::kStorage) return stream(ex);
  reactor::UpstreamRequest head = chain.request(0, {}, /*headOnly=*/true);
  auto status = std::make_shared<long>(0);
  reactor::ExchangeRef request(ex);
  reactor::TransferCallbacks cb;
  cb.onHeaders = [status](const reactor::UpstreamResponse& r) {
    *status = r.status;
    return true;
  };
  cb.onData = [](const char*, size_t) -> size_t { return 0; };
  RecordingsContext* context = &ctx;
  std::string key = record.key;
  int64_t linkExpiresAtMs = record.accessExpiresAtMs;
  cb.onDone = [request, status, context, key, linkExpiresAtMs, delivery, stream](const std::string&) {
    request.with([&](reactor::HttpExchange& ex) {
      storage::SigV4Signer* signer = context->signer->get();
      if (*status != 200 || !signer) return stream(ex);  // a fleet host may have it; the relay knows
      std::vector<storage::QueryParam> extra;
      if (!delivery.contentDisposition.empty())
        extra.push_back({"response-content-disposition", delivery.contentDisposition});
      storage::ObjectTarget target = storage::objectTarget(context->signer->settings().location(), key);
      auto now = std::chrono::system_clock::now();
      // The URL must not outlive the link: an expiring link caps it at its expiry.
      int64_t ttl = redirectTtlFor(context->publicLinks.redirectTtlS, linkExpiresAtMs, now);
      storage::PresignedUrl url = signer->presign("GET", target, ttl, now, extra);
      if (!url.ok()) {
        reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(),
                             "presigning a redirect failed; streaming", {{"error", url.error}});
        return stream(ex);
      }
      ex.noteReason("redirect");
      ex.server().metrics().inc("recgw_public_redirects_total");
      ex.addHeader("Location", url.url);
      // The URL expires: neither the client nor a proxy may reuse this answer.
      ex.addHeader("Cache-Control", "no-store");
      ex.reply(302, "");
    });
  };
  if (auto started = context->curl->start(head, std::move(cb), request); !started) stream(ex);
}

}  // namespace recgw::handlers
