#include "reactor/http_exchange.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/queue.h>  // TAILQ_* for evhttp's header queue (event2/keyvalq_struct.h)
#include <sys/socket.h>

#include "reactor/callback_guard.h"
#include "reactor/http_server.h"
#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "reactor/request_target.h"

namespace recgw::reactor {

const char* methodString(HttpMethod m) {
  switch (m) {
    case kGet:
      return "GET";
    case kHead:
      return "HEAD";
    case kPost:
      return "POST";
    case kPut:
      return "PUT";
    case kDelete:
      return "DELETE";
    case kOptions:
      return "OPTIONS";
    case kPatch:
      return "PATCH";
  }
  return "OTHER";
}

HttpExchange::HttpExchange(HttpServer& server, evhttp_request* req, uint64_t id, std::string requestId)
    : server_(server),
      req_(req),
      method_(static_cast<HttpMethod>(evhttp_request_get_command(req))),
      id_(id),
      requestId_(std::move(requestId)) {}

HttpMethod HttpExchange::method() const { return method_; }

std::string_view HttpExchange::methodName() const { return methodString(method()); }

const char* HttpExchange::header(const char* name) const {
  if (!req_) return nullptr;
  return evhttp_find_header(evhttp_request_get_input_headers(req_), name);
}

std::string HttpExchange::queryParam(std::string_view name) const { return findQueryParam(query_, name); }

std::string_view HttpExchange::body() {
  if (!bodyRead_ && req_) {
    evbuffer* in = evhttp_request_get_input_buffer(req_);
    size_t n = evbuffer_get_length(in);
    bodyCache_.resize(n);
    if (n) evbuffer_copyout(in, bodyCache_.data(), n);
    bodyRead_ = true;
  }
  return bodyCache_;
}

std::string HttpExchange::peerAddress() const {
  if (!req_) return {};
  evhttp_connection* evcon = evhttp_request_get_connection(req_);
  if (!evcon) return {};
  const char* addr = nullptr;
  ev_uint16_t port = 0;
  evhttp_connection_get_peer(evcon, const_cast<char**>(&addr), &port);
  return addr ? addr : "";
}

namespace {

// The output headers evhttp itself looks up while it frames a response
// (evhttp_make_header_response, evhttp_maybe_add_content_length_header in libevent 2.1).
bool readByEvhttp(std::string_view name) {
  // Told apart by length first: a response adds a dozen headers, most of them not these.
  switch (name.size()) {
    case 10:
      return strncasecmp(name.data(), "Connection", 10) == 0;
    case 14:
      return strncasecmp(name.data(), "Content-Length", 14) == 0;
    case 17:
      return strncasecmp(name.data(), "Transfer-Encoding", 17) == 0;
    default:
      return false;
  }
}

bool splitsALine(std::string_view text) {
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

}  // namespace

void HttpExchange::addHeader(const char* name, std::string_view value) {
  if (!req_) return;
  std::string_view nameView(name);
  if (nameView.size() == 13 && strncasecmp(name, "Content-Range", 13) == 0) {
    contentRange_ = value;
  } else if (nameView.size() == 14 && strncasecmp(name, "Content-Length", 14) == 0) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc() && end == value.data() + value.size()) contentLength_ = n;
  }
  if (!readByEvhttp(nameView)) {
    // evhttp would copy each header into three allocations and later format it with its
    // own printf (~1.3 k instructions a header, a dozen a response): the headers it never
    // reads are kept here as the lines they will be, and given to it as one entry.
    if (splitsALine(nameView) || splitsALine(value)) return;
    // One of each: a later value replaces the earlier (an error answer's JSON type
    // replaces the recording's; a handler's own Date replaces the server's).
    if (nameView.size() == 12 && strncasecmp(name, "Content-Type", 12) == 0) {
      contentType_.assign(value);
      return;
    }
    if (nameView.size() == 4 && strncasecmp(name, "Date", 4) == 0) {
      date_.assign(value);
      return;
    }
    if (extraHeaders_.empty()) extraHeaders_.reserve(384);
    extraHeaders_.append("\r\n").append(name).append(": ").append(value);
    return;
  }
  // evhttp wants a C string; most values fit on the stack.
  char shortValue[256];
  std::string longValue;
  const char* text = shortValue;
  if (value.size() < sizeof shortValue) {
    std::memcpy(shortValue, value.data(), value.size());
    shortValue[value.size()] = '\0';
  } else {
    longValue.assign(value);
    text = longValue.c_str();
  }
  evhttp_add_header(evhttp_request_get_output_headers(req_), name, text);
}

// evhttp writes each entry with evbuffer_add_printf("%s: %s\r\n", key, value): one entry
// named Date whose value is the date followed by "\r\nName: value" for every other header
// it never reads is written by that one printf, byte for byte as separate entries would be,
// and evhttp, finding a Date, adds none of its own. Every joined value was checked for CR,
// LF and NUL, so no line can end early. Content-Type is among them: evhttp reads it only to
// add its default type, which HttpServer turns off. The queue and entry are libevent's
// public structs (event2/keyvalq_struct.h), allocated with malloc as evhttp frees them.
void HttpExchange::packOutputHeaders() {
  static constexpr std::string_view kContentType = "\r\nContent-Type: ";
  std::string_view date = date_.empty() ? std::string_view(server_.httpDate()) : std::string_view(date_);
  const size_t length = date.size() + extraHeaders_.size() +
                        (contentType_.empty() ? 0 : kContentType.size() + contentType_.size());
  auto* entry = static_cast<evkeyval*>(std::calloc(1, sizeof(evkeyval)));
  char* key = strdup("Date");
  char* value = static_cast<char*>(std::malloc(length + 1));
  if (!entry || !key || !value) {
    std::free(entry);
    std::free(key);
    std::free(value);
    return;  // out of memory: the head goes without them rather than not at all
  }
  char* at = value;
  auto put = [&at](std::string_view text) {
    std::memcpy(at, text.data(), text.size());
    at += text.size();
  };
  put(date);
  put(extraHeaders_);
  if (!contentType_.empty()) {
    put(kContentType);
    put(contentType_);
  }
  *at = '\0';
  entry->key = key;
  entry->value = value;
  TAILQ_INSERT_TAIL(evhttp_request_get_output_headers(req_), entry, next);
  extraHeaders_.clear();
  contentType_.clear();
  date_.clear();
}

void HttpExchange::addCommonHeaders() {
  // The Date goes with the other headers when the head is packed (packOutputHeaders).
  addHeader("X-Request-Id", requestId_);
  // Nothing recgw serves is a document: a body is never sniffed into one.
  addHeader("X-Content-Type-Options", "nosniff");
  if (server_.decorator_) server_.decorator_(*this);
}

void HttpExchange::reply(int status, std::string_view body, std::string_view contentType) {
  if (done_) return;
  if (!req_) {
    complete(499);
    return;
  }
  evkeyvalq* out = evhttp_request_get_output_headers(req_);
  contentType_.clear();
  if (!contentType.empty()) addHeader("Content-Type", contentType);
  addCommonHeaders();
  if (status == 204 || status == 304) {
    packOutputHeaders();
    evhttp_send_reply(req_, status, nullptr, nullptr);
  } else if (isHead()) {
    // evhttp would send a body on HEAD; give the length and send nothing.
    evhttp_remove_header(out, "Content-Length");
    addHeader("Content-Length", std::to_string(body.size()));
    packOutputHeaders();
    evhttp_send_reply(req_, status, nullptr, nullptr);
  } else {
    EvbufferPtr buf(evbuffer_new());
    evbuffer_add(buf.get(), body.data(), body.size());
    bodyBytes_ += body.size();
    packOutputHeaders();
    evhttp_send_reply(req_, status, nullptr, buf.get());
  }
  req_ = nullptr;  // evhttp owns and frees it from here on
  complete(status);
}

void HttpExchange::replyError(int status, std::string_view code, std::string_view message) {
  JsonWriter w;
  w.beginObject().field("error", code).field("message", message).endObject();
  reply(status, w.str());
}

void HttpExchange::failInternal() noexcept {
  if (done_) return;
  guardCallback("failing a request", requestId_, [this] {
    if (streaming_)
      abortStream();
    else
      replyError(500, "internal", "internal error");
  });
}

void HttpExchange::startStream(int status, size_t drainLowWatermark) {
  if (done_ || streaming_) return;
  status_ = status;
  streaming_ = true;
  if (!req_) return;
  addCommonHeaders();
  evkeyvalq* out = evhttp_request_get_output_headers(req_);
  if (req_->major == 1 && req_->minor == 0 && !evhttp_find_header(out, "Content-Length")) {
    // HTTP/1.0 has no chunked encoding: a body of unknown length ends when the connection
    // does. evhttp would instead answer a keep-alive 1.0 request with `Content-Length: 0`
    // (its buffer is empty now) and keep the connection, so the body would be read as the
    // next response. Dropping the request's keep-alive makes the body close-delimited.
    evhttp_remove_header(evhttp_request_get_input_headers(req_), "Connection");
  }
  packOutputHeaders();
  evhttp_send_reply_start(req_, status, nullptr);
  // Read after evhttp framed the headers, so a length it added is enforced too.
  declaredLength_.reset();
  if (const char* length = evhttp_find_header(out, "Content-Length")) {
    uint64_t value = 0;
    const char* end = length + std::strlen(length);
    if (auto [ptr, ec] = std::from_chars(length, end, value); ec == std::errc() && ptr == end)
      declaredLength_ = value;
  }
  if (evhttp_connection* evcon = evhttp_request_get_connection(req_)) {
    if (bufferevent* bev = evhttp_connection_get_bufferevent(evcon)) {
      bufferevent_setwatermark(bev, EV_WRITE, drainLowWatermark, 0);
      // libevent sends at most 16 KiB per send() by default: a body moving at GB/s would
      // cost a system call and a loop pass per 16 KiB.
      bufferevent_set_max_single_write(bev, kStreamMaxSingleWrite);
      timeval idle =
          toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(server_.limits_.clientTimeout));
      bufferevent_set_timeouts(bev, nullptr, &idle);
    }
  }
}

bufferevent* HttpExchange::clientBufferevent() const {
  if (!req_ || clientGone_) return nullptr;
  evhttp_connection* evcon = evhttp_request_get_connection(req_);
  return evcon ? evhttp_connection_get_bufferevent(evcon) : nullptr;
}

int HttpExchange::clientFd() const {
  bufferevent* bev = clientBufferevent();
  return bev ? bufferevent_getfd(bev) : -1;
}

void HttpExchange::limitKernelUnsentBytes() {
  // Without a limit the kernel accepts whatever its send buffer grows to (up to 4 MiB per
  // connection by net.ipv4.tcp_wmem): a stalled client then pins megabytes of kernel memory
  // that parking cannot take back, and a thousand of them push the whole machine into TCP
  // memory pressure, which slows every socket on it. Bytes in flight are not counted, so a
  // client on a long path keeps its window. A fast client would pay more wake-ups and
  // smaller sends for nothing, so the limit is lifted once the client has taken more than a
  // stalled one ever could (liftKernelUnsentLimitIfReading). A body that fits under the
  // limit needs no system call.
  const size_t limit = server_.limits_.streamKernelUnsentBytes;
  const int fd = clientFd();
  if (limit == 0 || fd < 0 || kernelUnsentLimited_ || (declaredLength_ && *declaredLength_ <= limit)) return;
  int value = static_cast<int>(std::min<size_t>(limit, INT_MAX));
  // Not TCP (a Unix socket): nothing to limit.
  kernelUnsentLimited_ = ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &value, sizeof value) == 0;
}

void HttpExchange::restoreKernelUnsentDefault() {
  if (!kernelUnsentLimited_) return;
  kernelUnsentLimited_ = false;
  const int fd = clientFd();
  if (fd < 0) return;
  int systemDefault = 0;  // 0: net.ipv4.tcp_notsent_lowat, unlimited unless an operator set it
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &systemDefault, sizeof systemDefault);
}

void HttpExchange::liftKernelUnsentLimitIfReading() {
  if (!kernelUnsentLimited_) return;
  // A client that does not read has taken at most the limit plus its receive window (the
  // kernel grows that window only while the application reads); one that took several
  // megabytes is reading.
  const uint64_t readingClientBytes =
      std::max<uint64_t>(kReadingClientBytes, 4 * server_.limits_.streamKernelUnsentBytes);
  if (streamedBytes_ >= readingClientBytes + pendingOutputBytes()) restoreKernelUnsentDefault();
}

void HttpExchange::replyHeadersOnly(int status, std::optional<uint64_t> contentLength) {
  if (done_) return;
  if (!req_) {
    complete(499);
    return;
  }
  addCommonHeaders();
  evkeyvalq* out = evhttp_request_get_output_headers(req_);
  evhttp_remove_header(out, "Content-Length");
  if (contentLength && status != 304) addHeader("Content-Length", std::to_string(*contentLength));
  packOutputHeaders();
  evhttp_send_reply(req_, status, nullptr, nullptr);
  req_ = nullptr;
  complete(status);
}

bool HttpExchange::sendChunk(evbuffer* data, std::function<void()> onDrained) {
  if (!streaming_ || done_ || !req_ || clientGone_) {
    if (data) evbuffer_drain(data, evbuffer_get_length(data));
    return false;
  }
  const size_t length = evbuffer_get_length(data);
  if (declaredLength_ && length > *declaredLength_ - streamedBytes_) {
    const size_t allowed = static_cast<size_t>(*declaredLength_ - streamedBytes_);
    if (allowed > 0) {
      EvbufferPtr head(evbuffer_new());
      evbuffer_remove_buffer(data, head.get(), allowed);
      bodyBytes_ += allowed;
      streamedBytes_ += allowed;
      evhttp_send_reply_chunk(req_, head.get());
    }
    evbuffer_drain(data, evbuffer_get_length(data));
    Logger::log(LogLevel::kWarn, requestId_, "response cut: more bytes than its Content-Length",
                {{"declared", std::to_string(*declaredLength_)}});
    noteReason("body longer than declared");
    abortStream();
    return false;
  }
  bodyBytes_ += length;
  streamedBytes_ += length;
  onDrained_ = std::move(onDrained);
  evhttp_send_reply_chunk_with_cb(req_, data, &HttpExchange::onChunkDrained, &server_);
  return true;
}

void HttpExchange::onChunkDrained(evhttp_connection* evcon, void* arg) noexcept {
  auto* server = static_cast<HttpServer*>(arg);
  auto it = server->connections_.find(evcon);
  if (it == server->connections_.end() || it->second == 0) return;
  HttpExchange* ex = server->find(it->second);
  if (!ex || ex->done_ || !ex->onDrained_) return;
  ex->liftKernelUnsentLimitIfReading();
  auto cb = ex->onDrained_;  // the callback may register the next one
  if (!guardCallback("drain callback", ex->requestId_, cb)) ex->failInternal();
}

size_t HttpExchange::pendingOutputBytes() const {
  bufferevent* bev = clientBufferevent();
  return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

SpliceTarget HttpExchange::spliceTarget() const {
  if (!streaming_ || done_ || !declaredLength_ || streamedBytes_ >= *declaredLength_) return {};
  bufferevent* bev = clientBufferevent();
  if (!bev || evbuffer_get_length(bufferevent_get_output(bev)) != 0) return {};
  return {bufferevent_getfd(bev), *declaredLength_ - streamedBytes_};
}

void HttpExchange::noteSplicedBody(size_t n) {
  bodyBytes_ += n;
  streamedBytes_ += n;
  liftKernelUnsentLimitIfReading();
}

void HttpExchange::setDrainLowWatermark(size_t bytes) {
  if (!streaming_ || done_) return;
  if (bufferevent* bev = clientBufferevent()) bufferevent_setwatermark(bev, EV_WRITE, bytes, 0);
}

size_t HttpExchange::withdrawUnsentBody(size_t keepBytes) {
  // Without a declared length evhttp frames the body in chunks, and the queued bytes are
  // not body bytes alone: leave those responses alone.
  if (!streaming_ || done_ || !declaredLength_) return 0;
  bufferevent* bev = clientBufferevent();
  if (!bev) return 0;
  evbuffer* out = bufferevent_get_output(bev);
  const size_t pending = evbuffer_get_length(out);
  // Bytes leave in order: while any header byte is unsent, no body byte was sent, so the
  // unsent body is the tail of the buffer and at most what was streamed.
  const size_t unsentBody = static_cast<size_t>(std::min<uint64_t>(pending, streamedBytes_));
  if (unsentBody <= keepBytes) return 0;
  const size_t drop = unsentBody - keepBytes;
  EvbufferPtr front(evbuffer_new());
  if (!front) return 0;
  // A socket bufferevent freezes the start of its output (only its own writes drain it);
  // thaw it for this, as its write callback does.
  evbuffer_unfreeze(out, 1);
  evbuffer_remove_buffer(out, front.get(), pending - drop);
  evbuffer_drain(out, evbuffer_get_length(out));
  evbuffer_freeze(out, 1);
  evbuffer_add_buffer(out, front.get());
  streamedBytes_ -= drop;
  bodyBytes_ -= std::min(bodyBytes_, drop);
  return drop;
}

void HttpExchange::endStream() {
  if (done_) return;
  if (declaredLength_ && streamedBytes_ != *declaredLength_ && !clientGone_) {
    Logger::log(LogLevel::kWarn, requestId_, "response cut: fewer bytes than its Content-Length",
                {{"declared", std::to_string(*declaredLength_)}, {"sent", std::to_string(streamedBytes_)}});
    noteReason("body shorter than declared");
    finishStreamedRequest(false);
    return;
  }
  finishStreamedRequest(true);
}

void HttpExchange::abortStream() { finishStreamedRequest(false); }

void HttpExchange::finishStreamedRequest(bool clean) {
  if (done_) return;
  if (!req_) {
    complete(clientGone_ ? 499 : status_);
    return;
  }
  evhttp_connection* evcon = evhttp_request_get_connection(req_);
  if (clientGone_ || evcon == nullptr) {
    // The connection is gone and evhttp left the request to us: this frees it.
    evhttp_send_reply_end(req_);
    req_ = nullptr;
    complete(499);
    return;
  }
  if (clean) {
    // evhttp's end-of-response logic expects the drain callback at an empty buffer, and
    // the idle keep-alive connection needs its read timeout back.
    if (bufferevent* bev = evhttp_connection_get_bufferevent(evcon)) {
      bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
      timeval idle =
          toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(server_.limits_.clientTimeout));
      bufferevent_set_timeouts(bev, &idle, &idle);
    }
    // The connection's next response starts from the kernel's default.
    restoreKernelUnsentDefault();
    // With the body all written, evhttp ends the request at once: on a `Connection: close`
    // request it frees the request and the connection inside this call, and the connection's
    // close callback comes back into this exchange. The request is evhttp's from here on,
    // and that close is the end of a whole response, not a client leaving mid-stream.
    evhttp_request* req = req_;
    req_ = nullptr;
    endingReply_ = true;
    evhttp_send_reply_end(req);
    endingReply_ = false;
    complete(status_);
    return;
  }
  // Truncate: drop the connection so the client cannot mistake a short body for a whole
  // one. Freeing the connection also frees the request; the server does it on the next
  // pass, outside whatever callback we are in.
  server_.truncate(evcon, req_);
  req_ = nullptr;
  noteReason(reason_.empty() ? "truncated" : reason_);
  complete(status_);
}

void HttpExchange::onConnectionClosed() {
  if (done_) return;
  clientGone_ = true;
  if (endingReply_) return;
  // On a failed incoming connection evhttp detaches a request the handler still owns;
  // otherwise (server shutdown) it frees it right after this callback.
  if (req_ && evhttp_request_get_connection(req_) != nullptr) req_ = nullptr;
  if (onClientGone_) {
    auto cb = std::move(onClientGone_);
    onClientGone_ = nullptr;
    guardCallback("client-gone callback", requestId_, cb);
  }
}

void HttpExchange::complete(int status) {
  if (done_) return;
  done_ = true;
  status_ = status;
  onDrained_ = nullptr;
  onClientGone_ = nullptr;
  if (auto onComplete = std::move(onComplete_)) {
    onComplete_ = nullptr;
    guardCallback("request completion", requestId_, [&] { onComplete(*this); });
  }
  server_.completed(*this);
}

}  // namespace recgw::reactor
