#include "handlers/stream_relay.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <charconv>

#include "handlers/relay_decisions.h"
#include "reactor/allocator.h"
#include "reactor/libevent_handles.h"
#include "reactor/liveness.h"
#include "reactor/logger.h"
#include "storage/s3_objects.h"

namespace recgw::handlers {

using reactor::HttpExchange;
using reactor::Metrics;

namespace {
// Every origin response header the relay, its tap (the object cache) and the credential retry
// read; the rest of an origin's headers are not copied.
const std::vector<std::string_view> kRelayResponseHeaders = {
    "content-length", "content-range", "content-type", "content-encoding", "etag", "last-modified",
    "x-minio-error-code"};
}  // namespace

ClientConditions ClientConditions::from(HttpExchange& ex) {
  ClientConditions c;
  c.head = ex.isHead();
  // Two Range headers amount to a multi-range list, which is ignored (200, full body).
  int ranges = 0;
  const evkeyvalq* headers = evhttp_request_get_input_headers(ex.raw());
  for (const evkeyval* h = headers->tqh_first; h; h = h->next.tqe_next) {
    if (evutil_ascii_strcasecmp(h->key, "Range") == 0) ++ranges;
  }
  if (const char* range = ex.header("Range"); range && ranges == 1) c.range = parseRangeHeader(range);
  if (const char* v = ex.header("If-None-Match")) c.ifNoneMatch = v;
  if (const char* v = ex.header("If-Modified-Since")) c.ifModifiedSince = v;
  if (const char* v = ex.header("If-Range")) c.ifRange = v;
  return c;
}

// What a parked stream leaves queued on its client's connection: enough for the client's
// next read to produce a socket write (and so the drain callback), little enough that a
// thousand parked streams hold a few MiB.
constexpr size_t kParkedTailBytes = 4 * 1024;

void addEntityHeaders(HttpExchange& ex, const std::string& key, const std::string* originType,
                      const std::string& etag, const std::string& lastModified,
                      const std::string* contentEncoding, std::string_view disposition) {
  const std::string type = servedContentType(originType, key);
  ex.addHeader("Content-Type", type);
  ex.addHeader("Content-Disposition", !disposition.empty()
                                          ? std::string(disposition)
                                          : contentDisposition(key, !isPlayableMediaType(type)));
  // A recording opened as a page (a hostile stored type, an old browser) runs no script
  // and loads nothing but itself. Not `sandbox`, nor a bare `default-src 'none'`: either
  // stops Chromium's own media document from playing a link opened directly.
  ex.addHeader("Content-Security-Policy", "default-src 'none'; media-src 'self'");
  ex.addHeader("Accept-Ranges", "bytes");
  if (!etag.empty()) ex.addHeader("ETag", etag);
  if (!lastModified.empty()) ex.addHeader("Last-Modified", lastModified);
  if (contentEncoding) ex.addHeader("Content-Encoding", *contentEncoding);
}

class StreamRelay {
 public:
  StreamRelay(RelayRegistry& registry, HttpExchange& ex, fleet::SourceChain chain,
              ClientConditions conditions, std::function<void(const std::string&)> onSourceFound,
              std::shared_ptr<RelayTap> tap)
      : registry_(registry),
        server_(ex.server()),
        exchangeId_(ex.id()),
        requestId_(ex.requestId()),
        chain_(std::move(chain)),
        cond_(std::move(conditions)),
        onSourceFound_(std::move(onSourceFound)),
        tap_(std::move(tap)),
        chunk_(evbuffer_new()),
        window_(registry.limits_.highWatermark, registry.limits_.lowWatermark),
        parkTimer_(registry.loop_, [this] { park(); }) {}

  ~StreamRelay() { cancelTransfer(); }

  void begin() {
    HttpExchange* ex = exchange();
    if (!ex) return finish();
    ex->setOnClientGone([this] { onClientGone(); });
    attempt(0);
  }

  size_t unsentBytes() {
    HttpExchange* ex = exchange();
    return ex ? ex->pendingOutputBytes() : 0;
  }
  bool paused() const { return flow_.paused(); }
  bool parked() const { return parked_; }

 private:
  HttpExchange* exchange() { return finished_ ? nullptr : server_.find(exchangeId_); }
  Metrics& metrics() { return registry_.metrics_; }
  const fleet::Source& source() const { return chain_.sources()[sourceIndex_]; }

  std::string originKey() const { return fleet::breakerOriginName(source().label, source().baseUrl); }

  // Transport errors, timeouts and 5xx open the breaker; any other answer is the origin
  // working as it should.
  void noteOriginHealth(bool healthy) {
    if (!registry_.breakers_) return;
    if (healthy)
      registry_.breakers_->recordSuccess(originKey());
    else
      registry_.breakers_->recordFailure(originKey());
  }

  void attempt(size_t index) {
    if (finished_) return;
    HttpExchange* ex = exchange();
    if (!ex) return finish();
    if (ex->clientGone()) {
      ex->abortStream();
      return finish();
    }
    if (index >= chain_.sources().size()) return exhausted();
    sourceIndex_ = index;
    if (++attempts_ > maxUpstreamRequests(chain_.sources().size())) {
      noteFailure("too_many_attempts", std::to_string(attempts_ - 1) + " upstream requests for one response");
      return exhausted();
    }
    if (registry_.breakers_ && !registry_.breakers_->allow(originKey())) {
      noteFailure("breaker_open", "circuit breaker open; skipping for its cool-down");
      return attempt(index + 1);
    }
    std::vector<std::pair<std::string, std::string>> headers;
    sentRange_.reset();
    if (body_.resuming()) {
      sentRange_ = body_.resumeRange();
      headers.emplace_back("If-Match", body_.etag());
    } else if (!cond_.head && cond_.range && !ignoreRange_) {
      sentRange_ = cond_.range;
    }
    if (sentRange_) headers.emplace_back("Range", rangeHeaderValue(*sentRange_));
    if (tap_ && !body_.resuming() && !sizeProbe_ && !ignoreRange_ && !tap_->revalidateEtag().empty() &&
        source().kind == fleet::Source::Kind::kStorage)
      headers.emplace_back("If-None-Match", tap_->revalidateEtag());
    bool headOnly = cond_.head && !body_.resuming() && source().kind == fleet::Source::Kind::kStorage;
    reactor::UpstreamRequest request = chain_.request(index, headers, headOnly);
    request.keepHeaders = &kRelayResponseHeaders;
    attemptStart_ = std::chrono::steady_clock::now();
    reactor::TransferCallbacks callbacks;
    callbacks.onHeaders = [this](const reactor::UpstreamResponse& r) { return onHeaders(r); };
    callbacks.onData = [this](const char* data, size_t n) { return onData(data, n); };
    callbacks.onBodyBuffer = [this](evbuffer* body) { return onBodyBuffer(body); };
    if (registry_.limits_.spliceBodies) {
      callbacks.spliceTarget = [this] { return spliceTarget(); };
      callbacks.onSpliced = [this](size_t n) { onSpliced(n); };
    }
    callbacks.onDone = [this](const std::string& error) { onDone(error); };
    auto started =
        registry_.curl_.start(request, std::move(callbacks), reactor::ExchangeRef(server_, exchangeId_));
    transfer_ = started.value_or(0);
    if (!started) {
      noteFailure("curl_error", started.error().message);
      return attempt(index + 1);
    }
  }

  // From inside a curl callback we may not start another transfer: go on next pass.
  void attemptLater(size_t index) {
    reactor::LivenessWatch alive = alive_;
    registry_.loop_.defer([this, alive, index] {
      if (alive.expired()) return;
      attempt(index);
    });
  }

  void noteFailure(const std::string& reason, const std::string& detail) {
    if (reason != "not_found") anyError_ = true;
    if (reason == "bad_response") badResponse_ = true;
    metrics().inc("recgw_source_fallbacks_total",
                  Metrics::label("source", source().label) + "," + Metrics::label("reason", reason));
    // A skipped origin is already logged once, when its breaker opened.
    if (reason != "not_found" && reason != "breaker_open") {
      reactor::Logger::log(reactor::LogLevel::kWarn, requestId_, "source failed; trying the next",
                           {{"source", source().label}, {"reason", reason}, {"detail", detail}});
    }
  }

  // The origin answered something that does not fit what it was asked (a range it was not
  // asked for, lengths that disagree, another object on resume): relaying it would make
  // the response say one thing and carry another, so the source counts as failed.
  bool originFault(const std::string& detail) {
    noteFailure("bad_response", detail);
    attemptLater(sourceIndex_ + 1);
    return false;
  }

  static std::optional<uint64_t> headerNumber(const reactor::UpstreamResponse& r, const char* name) {
    const std::string* text = r.find(name);
    if (!text) return std::nullopt;
    uint64_t value = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc() || ptr != end) return std::nullopt;
    return value;
  }

  static std::string reasonForStatus(long status) {
    if (status == 404) return "not_found";
    if (status == 401 || status == 403) return "denied";
    if (status >= 500) return "server_error";
    return "status_" + std::to_string(status);
  }

  bool onHeaders(const reactor::UpstreamResponse& r) {
    HttpExchange* ex = exchange();
    if (!ex) return false;
    auto ttfb = std::chrono::steady_clock::now() - attemptStart_;
    metrics().observe("recgw_upstream_first_byte_seconds", Metrics::label("source", source().label),
                      std::chrono::duration<double>(ttfb).count());
    noteOriginHealth(r.status < 500);
    if (body_.resuming()) return onResumeHeaders(r);
    if (r.status == 403 && source().kind == fleet::Source::Kind::kStorage && !credentialsRetried_ &&
        registry_.refreshCredentials_) {
      // Read S3's <Error> to tell refused credentials (refresh once, retry) from a denial.
      readingDenial_ = true;
      denialBody_.clear();
      if (const std::string* code = r.find("x-minio-error-code")) denialCode_ = *code;
      return true;
    }

    if (r.status == 304 && tap_ && !tap_->revalidateEtag().empty()) {
      // The cached copy is still the object: it answers the client.
      ex->noteOrigin(source().label);
      auto tap = std::move(tap_);
      finish();
      tap->notModified(*ex);
      tap->ended(false);
      return false;
    }
    if (r.status != 200 && r.status != 206) {
      if (r.status == 416) return answerUnsatisfiable(*ex, r);
      noteFailure(reasonForStatus(r.status), "HTTP " + std::to_string(r.status));
      attemptLater(sourceIndex_ + 1);
      return false;
    }
    if (r.status == 206 && !sentRange_) return originFault("206 to a request without Range");
    const std::optional<uint64_t> contentLength = headerNumber(r, "content-length");
    if (r.find("content-length") && !contentLength) return originFault("unparsable Content-Length");
    std::optional<ContentRange> contentRange;
    if (r.status == 206) {
      const std::string* cr = r.find("content-range");
      if (cr) contentRange = parseContentRange(*cr);
      if (!contentRange || !contentRangeAnswers(*sentRange_, *contentRange))
        return originFault("Content-Range does not answer the range asked for: " + (cr ? *cr : "(none)"));
      if (contentLength && *contentLength != contentRange->last - contentRange->first + 1)
        return originFault("Content-Length disagrees with Content-Range");
    }
    ex->noteUpstreamFirstByte(ttfb);
    ex->noteOrigin(source().label);
    if (onSourceFound_) onSourceFound_(source().label);
    const std::string* etag = r.find("etag");
    const std::string* lastModified = r.find("last-modified");
    body_.setEtag(etag ? *etag : "");
    std::string lm = lastModified ? *lastModified : "";

    bool notModified = false;
    if (!cond_.ifNoneMatch.empty())
      notModified = ifNoneMatchMatches(cond_.ifNoneMatch, body_.etag());
    else if (!cond_.ifModifiedSince.empty() && !lm.empty())
      notModified = notModifiedSince(cond_.ifModifiedSince, lm);
    if (notModified) {
      if (!body_.etag().empty()) ex->addHeader("ETag", body_.etag());
      if (!lm.empty()) ex->addHeader("Last-Modified", lm);
      ex->replyHeadersOnly(304, std::nullopt);
      finish();
      return false;
    }
    if (r.status == 206 && !cond_.ifRange.empty() && !ifRangeAllows(cond_.ifRange, body_.etag(), lm)) {
      // The client's copy is stale: it gets the whole current object instead.
      ignoreRange_ = true;
      attemptLater(sourceIndex_);
      return false;
    }

    if (sizeProbe_) return answerHead(*ex, contentLength);
    setEntityHeaders(*ex, r);
    if (cond_.head) return answerHead(*ex, contentLength);

    int status = 200;
    std::optional<uint64_t> bodyLength = contentLength;
    if (contentRange) {
      status = 206;
      body_.startRange(*contentRange);
      ex->addHeader("Content-Range",
                    std::string("bytes ") + std::to_string(contentRange->first) + "-" +
                        std::to_string(contentRange->last) + "/" +
                        (contentRange->completeLength ? std::to_string(*contentRange->completeLength)
                                                      : std::string("*")));
      bodyLength = contentRange->last - contentRange->first + 1;
    } else {
      body_.startWhole(contentLength);
      if (tap_ && !tapping_) tapping_ = tap_->wantBody(source(), r, contentLength);
    }
    if (bodyLength) ex->addHeader("Content-Length", std::to_string(*bodyLength));
    ex->startStream(status, window_.low());
    ex->limitKernelUnsentBytes();
    headersSent_ = true;
    return true;
  }

  // A resume continues the bytes the client already has (BodyResume::acceptResume).
  bool onResumeHeaders(const reactor::UpstreamResponse& r) {
    BodyResume::Verdict verdict = body_.acceptResume(r.status, r.find("etag"), r.find("content-range"),
                                                     headerNumber(r, "content-length"), *sentRange_);
    if (verdict.continues) return true;
    noteFailure(r.status == 404 ? "not_found" : "resume_refused",
                "HTTP " + std::to_string(r.status) + (verdict.sameObject ? "" : ", another object"));
    attemptLater(sourceIndex_ + 1);
    return false;
  }

  void setEntityHeaders(HttpExchange& ex, const reactor::UpstreamResponse& r) {
    const std::string* lm = r.find("last-modified");
    addEntityHeaders(ex, chain_.key(), r.find("content-type"), body_.etag(), lm ? *lm : std::string(),
                     r.find("content-encoding"), cond_.contentDisposition);
  }

  bool answerHead(HttpExchange& ex, std::optional<uint64_t> size) {
    if (cond_.range && size && *size > 0) {
      RangeResolution res = resolveRange(*cond_.range, *size);
      if (res.outcome == RangeOutcome::kUnsatisfiable) {
        ex.addHeader("Content-Range", unsatisfiedContentRange(*size));
        if (sizeProbe_) {
          ex.addHeader("Accept-Ranges", "bytes");
          ex.replyError(416, "range_not_satisfiable", "the requested range is outside the recording");
        } else {
          ex.replyHeadersOnly(416, 0);
        }
      } else {
        ex.addHeader("Content-Range", contentRangeValue(res.range.first, res.range.last, *size));
        ex.replyHeadersOnly(206, res.range.last - res.range.first + 1);
      }
    } else {
      ex.replyHeadersOnly(200, size);
    }
    finish();
    return false;
  }

  bool answerUnsatisfiable(HttpExchange& ex, const reactor::UpstreamResponse& r) {
    ex.noteOrigin(source().label);
    std::optional<uint64_t> size;
    if (const std::string* cr = r.find("content-range")) {
      if (auto parsed = parseContentRange(*cr); parsed && parsed->completeLength)
        size = parsed->completeLength;
    }
    if (!size && !sizeProbe_) {
      // Some origins (MinIO) answer 416 without the size; ask for the headers alone once,
      // and answer the client's Range from them (answerHead resolves it to 416).
      sizeProbe_ = true;
      cond_.head = true;
      attemptLater(sourceIndex_);
      return false;
    }
    if (size) ex.addHeader("Content-Range", unsatisfiedContentRange(*size));
    ex.addHeader("Accept-Ranges", "bytes");
    ex.replyError(416, "range_not_satisfiable", "the requested range is outside the recording");
    finish();
    return false;
  }

  size_t onData(const char* data, size_t n) {
    return relayBody(n, [&](size_t skip) {
      if (readingDenial_) return appendDenial(data, n);
      if (skip >= n) return;
      evbuffer_add(chunk_.get(), data + skip, n - skip);
      if (tapping_) tap_->body(data + skip, n - skip);
    });
  }

  // The same, for bytes the built-in client read into evbuffer chains: the chains move to
  // the client's connection, uncopied.
  size_t onBodyBuffer(evbuffer* body) {
    size_t n = evbuffer_get_length(body);
    return relayBody(n, [&](size_t skip) {
      if (readingDenial_) {
        char head[kMaxDenialBody];
        ev_ssize_t copied = evbuffer_copyout(body, head, std::min(n, kMaxDenialBody));
        if (copied > 0) appendDenial(head, static_cast<size_t>(copied));
        evbuffer_drain(body, n);
        return;
      }
      evbuffer_drain(body, skip);
      if (skip >= n) return;
      if (tapping_) {
        int count = evbuffer_peek(body, -1, nullptr, nullptr, 0);
        std::vector<evbuffer_iovec> pieces(static_cast<size_t>(std::max(count, 0)));
        evbuffer_peek(body, -1, nullptr, pieces.data(), count);
        for (const evbuffer_iovec& piece : pieces) tap_->body(static_cast<const char*>(piece.iov_base), piece.iov_len);
      }
      evbuffer_add_buffer(chunk_.get(), body);
    });
  }

  // Body bytes may go from the origin's socket to the client's inside the kernel while the
  // client keeps up (nothing queued for it) and each byte goes to it unchanged: not a denial
  // being read, not bytes the client already has (a resume's skip), not bytes the object
  // cache keeps a copy of. At most the stream's window at a time: what the client's socket
  // does not take comes back into memory, and a client known to be slow has a small window.
  reactor::SpliceTarget spliceTarget() {
    if (readingDenial_ || tapping_ || body_.skipping() || flow_.paused()) return {};
    HttpExchange* ex = exchange();
    if (!ex) return {};
    reactor::SpliceTarget target = ex->spliceTarget();
    target.budget = std::min<uint64_t>(target.budget, window_.high());
    return target;
  }

  void onSpliced(size_t n) {
    metrics().inc("recgw_stream_spliced_bytes_total", {}, static_cast<double>(n));
    body_.take(n);
    if (HttpExchange* ex = exchange()) ex->noteSplicedBody(n);
  }

  static constexpr size_t kMaxDenialBody = 4096;
  void appendDenial(const char* data, size_t n) {
    if (denialBody_.size() < kMaxDenialBody)
      denialBody_.append(data, std::min(n, kMaxDenialBody - denialBody_.size()));
  }

  // `n` body bytes arrived; `take(skip)` hands on all but the first `skip` of them (bytes the
  // client already has, after a resume). Returns what the transfer callbacks return.
  template <class Take>
  size_t relayBody(size_t n, Take take) {
    if (readingDenial_) {
      take(n);
      return n;
    }
    HttpExchange* ex = exchange();
    if (!ex || ex->done() || ex->clientGone()) return 0;
    switch (flow_.onChunk(ex->pendingOutputBytes(), n, window_.high())) {
      case RelayFlow::Step::kPause:
        metrics().inc("recgw_stream_pauses_total");
        pausedAt_ = std::chrono::steady_clock::now();
        if (registry_.limits_.parkAfter.count() > 0 && body_.resumable())
          parkTimer_.startOnce(registry_.limits_.parkAfter);
        return reactor::CurlMulti::kPause;
      case RelayFlow::Step::kStayPaused:
        return reactor::CurlMulti::kPause;
      case RelayFlow::Step::kRelay:
        break;
    }
    size_t skip = body_.take(n);
    if (skip == n) {
      take(n);  // nothing to relay; an evbuffer is drained all the same
      return n;
    }
    take(skip);
    if (!ex->sendChunk(chunk_.get(), [this] { onDrained(); })) {
      // The origin sent more than the response declared; the exchange cut the connection.
      noteFailure("bad_response", "body longer than declared");
      finish();
    }
    return n;
  }

  void onDrained() {
    if (finished_) return;
    if (parked_) return unpark();
    if (transfer_ == 0) return;
    if (flow_.onDrained()) {
      parkTimer_.cancel();
      // Drained in well under the park delay: this client keeps up with a larger window.
      if (window_.high() < registry_.limits_.highWatermark &&
          std::chrono::steady_clock::now() - pausedAt_ < registry_.limits_.parkAfter / 4) {
        window_.grow();
        if (HttpExchange* ex = exchange()) ex->setDrainLowWatermark(window_.low());
      }
      registry_.curl_.resume(transfer_);
    }
  }

  // The client has not drained since the upstream paused: let go of the transfer (and the
  // bytes curl holds for it). The bytes already handed to the client connection stay there;
  // body_.nextOffset() is the first byte it does not have. A loop timer, never inside a
  // curl callback, so cancelling is allowed.
  void park() {
    if (finished_ || parked_ || transfer_ == 0 || !flow_.paused() || !body_.resumable()) return;
    HttpExchange* ex = exchange();
    if (!ex || ex->done() || ex->clientGone()) return;
    cancelTransfer();
    flow_.onTransferEnded();
    // This client reads slowly if at all: when it reads again, it gets a smaller window.
    window_.shrink();
    ex->setDrainLowWatermark(window_.low());
    // Take back what the client's connection holds beyond a small tail: the tail's write,
    // once the client reads, fires the drain callback that unparks the stream.
    size_t keep = std::min(kParkedTailBytes, window_.low() / 2);
    size_t withdrawn = ex->withdrawUnsentBody(keep);
    body_.rewind(withdrawn);
    if (tapping_ && withdrawn > 0) tap_->rewind(withdrawn);
    if (withdrawn > 0) registry_.returnFreedMemorySoon();
    parked_ = true;
    metrics().inc("recgw_stream_parks_total");
    reactor::Logger::log(reactor::LogLevel::kDebug, requestId_, "client stalled; stream parked",
                         {{"source", source().label},
                          {"offset", std::to_string(body_.nextOffset())},
                          {"withdrawn_bytes", std::to_string(withdrawn)}});
  }

  // The parked stream's client drained: continue from where it stopped, same source
  // first. A park is the client's pause, not the origin's failure, so the resume gets a
  // fresh budget of upstream requests.
  void unpark() {
    parked_ = false;
    metrics().inc("recgw_stream_unparks_total");
    attempts_ = 0;
    attempt(body_.resumeAfterPark(sourceIndex_));
  }

  void onDone(const std::string& error) {
    transfer_ = 0;
    flow_.onTransferEnded();
    if (finished_) return;
    HttpExchange* ex = exchange();
    if (!ex) return finish();
    if (readingDenial_) return onDenied();
    if (!headersSent_) {
      noteOriginHealth(false);
      noteFailure(error.find("timeout") != std::string::npos ? "timeout" : "transport", error);
      return attempt(sourceIndex_ + 1);
    }
    if (body_.complete(error.empty())) {
      ex->endStream();
      wholeBodySent_ = true;
      return finish();
    }
    // The body broke off: continue from the next byte, same source first, then the rest.
    if (!error.empty()) noteOriginHealth(false);
    if (!body_.resumable()) {
      noteFailure("resume_refused", "no strong ETag to resume against");
      return exhausted();
    }
    metrics().inc("recgw_stream_resumes_total", Metrics::label("source", source().label));
    reactor::Logger::log(reactor::LogLevel::kWarn, requestId_, "source failed mid-body; resuming",
                         {{"source", source().label},
                          {"offset", std::to_string(body_.nextOffset())},
                          {"error", error.empty() ? "short body" : error}});
    attempt(body_.resumeSource(sourceIndex_));
  }

  // The codes S3 (and MinIO) answer for credentials that expired, were revoked or rotated.
  static bool refusesCredentials(const std::string& code) {
    return code == "ExpiredToken" || code == "InvalidToken" || code == "InvalidTokenId" ||
           code == "InvalidAccessKeyId";
  }

  // A 403 from storage, its body read: refused credentials get one forced refresh and one
  // retry of the same source; any other denial moves on to the next source.
  void onDenied() {
    readingDenial_ = false;
    std::string code = storage::S3Objects::parseError(denialBody_).first;
    if (code.empty()) code = denialCode_;
    // A HEAD answer has no body to read the code from: with temporary credentials, expiry is
    // the likely cause.
    bool unknownOnHead =
        code.empty() && denialBody_.empty() && chain_.signer() && chain_.signer()->hasSessionToken();
    if (!refusesCredentials(code) && !unknownOnHead) {
      noteFailure("denied", "HTTP 403" + (code.empty() ? std::string() : " " + code));
      return attempt(sourceIndex_ + 1);
    }
    credentialsRetried_ = true;
    metrics().inc("recgw_s3_credential_retries_total");
    reactor::Logger::log(reactor::LogLevel::kWarn, requestId_, "storage refused the credentials; refreshing",
                         {{"code", code.empty() ? "(HEAD, none)" : code}});
    reactor::LivenessWatch alive = alive_;
    registry_.refreshCredentials_(chain_.signer().get(),
                                  [this, alive, code](std::shared_ptr<storage::SigV4Signer> fresh) {
                                    if (alive.expired() || finished_) return;
                                    if (!fresh) {
                                      noteFailure("denied", "HTTP 403 " + code + "; no fresh credentials");
                                      return attempt(sourceIndex_ + 1);
                                    }
                                    chain_.replaceSigner(std::move(fresh));
                                    attempt(sourceIndex_);
                                  });
  }

  void exhausted() {
    HttpExchange* ex = exchange();
    if (!ex) return finish();
    if (headersSent_) {
      metrics().inc("recgw_stream_truncated_total");
      ex->noteReason("all sources failed mid-body");
      ex->abortStream();
    } else if (badResponse_) {
      ex->replyError(502, "bad_upstream_response",
                     "a source answered with a response that does not fit the request");
    } else if (anyError_) {
      ex->addHeader("Retry-After", "5");
      ex->replyError(503, "upstream_unavailable",
                     "the recording could not be fetched from any source right now");
    } else {
      ex->replyError(404, "not_found", "recording not found");
    }
    finish();
  }

  void onClientGone() {
    metrics().inc("recgw_stream_client_aborts_total");
    if (transfer_) metrics().inc("recgw_upstream_cancelled_total");
    cancelTransfer();
    if (HttpExchange* ex = exchange()) ex->abortStream();
    finish();
  }

  void cancelTransfer() {
    if (transfer_) registry_.curl_.cancel(transfer_);
    transfer_ = 0;
  }

  void finish() {
    if (finished_) return;
    parkTimer_.cancel();
    parked_ = false;
    cancelTransfer();
    finished_ = true;
    if (tap_) {
      auto tap = std::move(tap_);
      tapping_ = false;
      tap->ended(wholeBodySent_);
    }
    registry_.retire(this);
  }

  RelayRegistry& registry_;
  reactor::HttpServer& server_;
  uint64_t exchangeId_;
  std::string requestId_;
  fleet::SourceChain chain_;
  ClientConditions cond_;
  std::function<void(const std::string&)> onSourceFound_;
  std::shared_ptr<RelayTap> tap_;
  bool tapping_ = false;        // the tap is given the body
  bool wholeBodySent_ = false;  // ended cleanly with the whole body handed to the client
  reactor::EvbufferPtr chunk_;
  reactor::Liveness alive_;
  size_t sourceIndex_ = 0;
  reactor::TransferId transfer_ = 0;
  std::chrono::steady_clock::time_point attemptStart_;
  bool headersSent_ = false;
  bool finished_ = false;
  RelayFlow flow_;
  AdaptiveWindow window_;
  std::chrono::steady_clock::time_point pausedAt_{};
  BodyResume body_;
  bool ignoreRange_ = false;
  bool readingDenial_ = false;       // a 403 from storage: its body is S3's <Error>
  bool credentialsRetried_ = false;  // one forced credential refresh per request
  std::string denialBody_;
  std::string denialCode_;
  bool anyError_ = false;
  bool badResponse_ = false;
  bool sizeProbe_ = false;
  size_t attempts_ = 0;
  std::optional<ByteRange> sentRange_;  // the Range of the request in flight, if any
  reactor::Timer parkTimer_;            // armed while paused; fires park()
  bool parked_ = false;                 // no transfer until the client drains
};

RelayRegistry::RelayRegistry(reactor::EventLoop& loop, reactor::CurlMulti& curl, reactor::Metrics& metrics,
                             RelayLimits limits, fleet::BreakerBoard* breakers)
    : loop_(loop),
      curl_(curl),
      metrics_(metrics),
      limits_(limits),
      breakers_(breakers),
      trimTimer_(loop, [this] {
        lastTrim_ = std::chrono::steady_clock::now();
        reactor::releaseFreeMemory();
      }) {
  metrics_.describe("recgw_source_fallbacks_total", Metrics::Type::kCounter,
                    "Sources that did not serve a recording, by source and reason");
  metrics_.describe("recgw_upstream_first_byte_seconds", Metrics::Type::kHistogram,
                    "Upstream time to response headers, by source",
                    {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  metrics_.describe("recgw_streams_active", Metrics::Type::kGauge, "Recording streams in flight");
  metrics_.describe("recgw_streams_paused", Metrics::Type::kGauge, "Streams whose upstream is paused");
  metrics_.describe("recgw_streams_unsent_bytes", Metrics::Type::kGauge,
                    "Bytes of recordings waiting to be sent to clients, all streams");
  metrics_.describe("recgw_stream_pauses_total", Metrics::Type::kCounter, "Upstream pauses for slow clients");
  metrics_.describe("recgw_stream_spliced_bytes_total", Metrics::Type::kCounter,
                    "Body bytes moved from an origin's socket to the client's with splice(2), never copied");
  metrics_.describe("recgw_streams_parked", Metrics::Type::kGauge,
                    "Streams that released their upstream transfer until their client reads again");
  metrics_.describe("recgw_stream_parks_total", Metrics::Type::kCounter,
                    "Streams parked because their client did not drain for stream.park_after_ms");
  metrics_.describe("recgw_stream_unparks_total", Metrics::Type::kCounter,
                    "Parked streams resumed because their client drained");
  metrics_.describe("recgw_stream_client_aborts_total", Metrics::Type::kCounter,
                    "Clients that left mid-stream");
  metrics_.describe("recgw_upstream_cancelled_total", Metrics::Type::kCounter,
                    "Upstream transfers cancelled because the client left");
  metrics_.describe("recgw_stream_resumes_total", Metrics::Type::kCounter, "Mid-body resumes, by source");
  metrics_.describe("recgw_stream_truncated_total", Metrics::Type::kCounter,
                    "Streams closed short because no source could continue");
  metrics_.describe("recgw_streams_rejected_total", Metrics::Type::kCounter,
                    "Streams refused because the global unsent-bytes budget was spent");
}

RelayRegistry::~RelayRegistry() = default;

bool RelayRegistry::admit() const { return unsentBytes() < limits_.globalBudgetBytes; }

size_t RelayRegistry::unsentBytes() const {
  size_t total = 0;
  for (const auto& [ptr, relay] : relays_) total += relay->unsentBytes();
  return total;
}

size_t RelayRegistry::paused() const {
  size_t n = 0;
  for (const auto& [ptr, relay] : relays_) n += relay->paused() ? 1 : 0;
  return n;
}

size_t RelayRegistry::parked() const {
  size_t n = 0;
  for (const auto& [ptr, relay] : relays_) n += relay->parked() ? 1 : 0;
  return n;
}

void RelayRegistry::start(HttpExchange& exchange, fleet::SourceChain chain, ClientConditions conditions,
                          std::function<void(const std::string&)> onSourceFound,
                          std::shared_ptr<RelayTap> tap) {
  auto relay = std::make_unique<StreamRelay>(*this, exchange, std::move(chain), std::move(conditions),
                                             std::move(onSourceFound), std::move(tap));
  StreamRelay* raw = relay.get();
  relays_.emplace(raw, std::move(relay));
  metrics_.set("recgw_streams_active", {}, static_cast<double>(relays_.size()));
  raw->begin();
}

void RelayRegistry::retire(StreamRelay* relay) {
  auto it = relays_.find(relay);
  if (it == relays_.end()) return;
  // The relay is on the stack (a curl or evhttp callback): free it on the next pass.
  loop_.deleteSoon(std::move(it->second));
  relays_.erase(it);
  metrics_.set("recgw_streams_active", {}, static_cast<double>(relays_.size()));
  // glibc keeps the freed buffers of a burst of streams (it returns only the top of the
  // heap by itself); hand them back once the burst is over.
  if (relays_.empty()) returnFreedMemorySoon();
}

void RelayRegistry::returnFreedMemorySoon() {
  // Bursts end and streams park in waves: one trim a second after the first release covers
  // the rest of the wave. Trimming a large heap costs milliseconds: at most one every 2 s.
  if (trimTimer_.pending()) return;
  auto sinceLast = std::chrono::steady_clock::now() - lastTrim_;
  auto delay = std::max<std::chrono::steady_clock::duration>(std::chrono::seconds(1),
                                                             std::chrono::seconds(2) - sinceLast);
  trimTimer_.startOnce(std::chrono::ceil<std::chrono::milliseconds>(delay));
}

}  // namespace recgw::handlers
