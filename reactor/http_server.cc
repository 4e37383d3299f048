#include "reactor/http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <random>
#include <stdexcept>

#include "reactor/json_writer.h"
#include "reactor/logger.h"

namespace recgw::reactor {
namespace {

bool isSaneRequestId(const char* id) {
  if (id == nullptr) return false;
  size_t n = std::strlen(id);
  if (n == 0 || n > 64) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

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

std::string allowHeader(uint16_t methods) {
  std::string out;
  for (HttpMethod m : {kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions}) {
    if (methods & m) {
      if (!out.empty()) out += ", ";
      out += methodString(m);
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- HttpExchange

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

void HttpExchange::addHeader(const char* name, std::string_view value) {
  if (!req_) return;
  std::string v(value);
  evhttp_add_header(evhttp_request_get_output_headers(req_), name, v.c_str());
}

void HttpExchange::removeHeader(const char* name) {
  if (!req_) return;
  evhttp_remove_header(evhttp_request_get_output_headers(req_), name);
}

void HttpExchange::addCommonHeaders() {
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
  evhttp_remove_header(out, "Content-Type");
  if (!contentType.empty()) addHeader("Content-Type", contentType);
  addCommonHeaders();
  if (status == 204 || status == 304) {
    evhttp_send_reply(req_, status, nullptr, nullptr);
  } else if (isHead()) {
    // evhttp would send a body on HEAD; give the length and send nothing.
    evhttp_remove_header(out, "Content-Length");
    addHeader("Content-Length", std::to_string(body.size()));
    evhttp_send_reply(req_, status, nullptr, nullptr);
  } else {
    EvbufferPtr buf(evbuffer_new());
    evbuffer_add(buf.get(), body.data(), body.size());
    bodyBytes_ += body.size();
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

void HttpExchange::startStream(int status, size_t drainLowWatermark) {
  if (done_ || streaming_) return;
  status_ = status;
  streaming_ = true;
  if (!req_) return;
  addCommonHeaders();
  evkeyvalq* out = evhttp_request_get_output_headers(req_);
  if (!evhttp_find_header(out, "Content-Length") && req_->major == 1 && req_->minor == 0) {
    // HTTP/1.0 has no chunked encoding: a body of unknown length ends when the connection
    // does. evhttp would instead answer a keep-alive 1.0 request with `Content-Length: 0`
    // (its buffer is empty now) and keep the connection, so the body would be read as the
    // next response. Dropping the request's keep-alive makes the body close-delimited.
    evhttp_remove_header(evhttp_request_get_input_headers(req_), "Connection");
  }
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
      timeval idle =
          toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(server_.limits_.clientTimeout));
      bufferevent_set_timeouts(bev, nullptr, &idle);
    }
  }
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
  try {
    auto cb = ex->onDrained_;  // the callback may register the next one
    cb();
  } catch (const std::exception& e) {
    Logger::log(LogLevel::kError, ex->requestId_, "drain callback threw", {{"error", e.what()}});
  }
}

size_t HttpExchange::pendingOutputBytes() const {
  if (!req_ || clientGone_) return 0;
  evhttp_connection* evcon = evhttp_request_get_connection(req_);
  if (!evcon) return 0;
  bufferevent* bev = evhttp_connection_get_bufferevent(evcon);
  return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void HttpExchange::endStream() {
  if (declaredLength_ && streamedBytes_ != *declaredLength_) {
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
    evhttp_send_reply_end(req_);
    req_ = nullptr;
    complete(status_);
    return;
  }
  // Truncate: drop the connection so the client cannot mistake a short body for a whole
  // one. Freeing the connection also frees the request; do it on the next pass, outside
  // whatever callback we are in.
  server_.connections_.erase(evcon);
  evhttp_connection_set_closecb(evcon, nullptr, nullptr);
  req_ = nullptr;
  noteReason(reason_.empty() ? "truncated" : reason_);
  complete(status_);
  server_.loop_.defer([evcon] { evhttp_connection_free(evcon); });
}

void HttpExchange::onConnectionClosed() {
  if (done_) return;
  clientGone_ = true;
  // On a failed incoming connection evhttp detaches a request the handler still owns;
  // otherwise (server shutdown) it frees it right after this callback.
  if (req_ && evhttp_request_get_connection(req_) != nullptr) req_ = nullptr;
  if (onClientGone_) {
    auto cb = std::move(onClientGone_);
    onClientGone_ = nullptr;
    try {
      cb();
    } catch (const std::exception& e) {
      Logger::log(LogLevel::kError, requestId_, "client-gone callback threw", {{"error", e.what()}});
    }
  }
}

void HttpExchange::complete(int status) {
  if (done_) return;
  done_ = true;
  status_ = status;
  onDrained_ = nullptr;
  onClientGone_ = nullptr;
  server_.completed(*this);
}

// ---------------------------------------------------------------- HttpServer

HttpServer::HttpServer(EventLoop& loop, Metrics& metrics, HttpLimits limits)
    : loop_(loop), metrics_(metrics), limits_(limits), http_(evhttp_new(loop.base())) {
  if (!http_) throw std::runtime_error("evhttp_new failed");
  std::random_device rd;
  requestIdSeed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  evhttp_set_allowed_methods(http_.get(), kGet | kHead | kPost | kPut | kDelete | kOptions | kPatch);
  evhttp_set_default_content_type(http_.get(), nullptr);
  evhttp_set_gencb(http_.get(), &HttpServer::onRequest, this);
  evhttp_set_bevcb(http_.get(), &HttpServer::makeBufferevent, this);
  sweepTimer_.reset(event_new(
      loop.base(), -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) { static_cast<HttpServer*>(arg)->sweepHeaderWatches(); }, this));
  adoptEvent_.reset(event_new(
      loop.base(), -1, 0,
      [](evutil_socket_t, short, void* arg) { static_cast<HttpServer*>(arg)->adoptAcceptedConnections(); },
      this));
  timeval sweepEvery{5, 0};
  event_add(sweepTimer_.get(), &sweepEvery);
  metrics_.describe("recgw_http_slow_headers_total", Metrics::Type::kCounter,
                    "Connections closed for sending their headers slower than server.header_timeout_ms");
  metrics_.describe("recgw_http_connections_accepted_total", Metrics::Type::kCounter, "Connections accepted");
  metrics_.describe("recgw_http_framing_rejected_total", Metrics::Type::kCounter,
                    "Requests refused for RFC 9112 framing violations (smuggling attempts)");
  setLimits(limits);
  metrics_.describe("recgw_http_requests_total", Metrics::Type::kCounter,
                    "HTTP requests by route, method and status");
  metrics_.describe("recgw_http_request_duration_seconds", Metrics::Type::kHistogram,
                    "Time from request to response end, by route",
                    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  metrics_.describe("recgw_http_response_bytes_total", Metrics::Type::kCounter, "Body bytes sent, by route");
  metrics_.describe("recgw_http_open_connections", Metrics::Type::kGauge, "Client connections open");
  metrics_.describe("recgw_http_in_flight_requests", Metrics::Type::kGauge, "Requests being handled");
  metrics_.set("recgw_http_open_connections", {}, 0);
  metrics_.set("recgw_http_in_flight_requests", {}, 0);
}

HttpServer::~HttpServer() {
  // Requests still here are abandoned at shutdown: evhttp_free closes their connections.
  for (auto& [evcon, id] : connections_) evhttp_connection_set_closecb(evcon, nullptr, nullptr);
  for (bufferevent* bev : acceptedNotAdopted_) bufferevent_decref(bev);
  acceptedNotAdopted_.clear();
  http_.reset();  // frees the bound listener too
}

void HttpServer::setLimits(HttpLimits limits) {
  limits_ = limits;
  evhttp_set_max_headers_size(http_.get(), static_cast<ev_ssize_t>(limits.maxHeaderBytes));
  evhttp_set_max_body_size(http_.get(), static_cast<ev_ssize_t>(limits.maxBodyBytes));
  timeval tv = toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(limits.clientTimeout));
  evhttp_set_timeout_tv(http_.get(), &tv);
}

void HttpServer::listen(const std::string& host, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (host.find(':') != std::string::npos) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) {
      throw std::runtime_error("listen address is not an IP: " + host);
    }
    len = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) {
      throw std::runtime_error("listen address is not an IP: " + host);
    }
    len = sizeof(sockaddr_in);
  }
  // Our own listener: evhttp_bind_socket does not set SO_REUSEPORT, and we want the
  // accept callback to count and bound connections.
  listener_ = evconnlistener_new_bind(
      loop_.base(), nullptr, nullptr,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC, 1024,
      reinterpret_cast<sockaddr*>(&ss), static_cast<int>(len));
  if (!listener_) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  evconnlistener_set_error_cb(listener_, &HttpServer::onAcceptError);
  // Accepted sockets inherit TCP_NODELAY from the listener. Without it the tail of a
  // response written in two segments waits for the client's delayed ACK (~40 ms).
  int one = 1;
  setsockopt(evconnlistener_get_fd(listener_), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // evhttp accepts on it; we only pause it while at the connection limit.
  boundSocket_ = evhttp_bind_listener(http_.get(), listener_);
  if (!boundSocket_) {
    evconnlistener_free(listener_);
    listener_ = nullptr;
    throw std::runtime_error("evhttp_bind_listener failed");
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(evconnlistener_get_fd(listener_), reinterpret_cast<sockaddr*>(&bound), &blen);
  boundPort_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void HttpServer::stopAccepting() {
  if (!boundSocket_) return;
  // evhttp owns the bound listener; freeing the bound socket closes it.
  evhttp_del_accept_socket(http_.get(), boundSocket_);
  boundSocket_ = nullptr;
  listener_ = nullptr;
}

void HttpServer::updateAcceptState() {
  if (!boundSocket_) return;
  // Disabling the listener inside its accept loop also ends that loop (evconnlistener checks),
  // so a burst of queued connections cannot overshoot the limit.
  bool atLimit = connections_.size() + acceptedNotAdopted_.size() >= limits_.maxConnections;
  if (atLimit && !acceptPaused_) {
    evconnlistener_disable(listener_);
    acceptPaused_ = true;
    metrics_.inc("recgw_http_accept_paused_total");
  } else if (!atLimit && acceptPaused_) {
    evconnlistener_enable(listener_);
    acceptPaused_ = false;
  }
}

void HttpServer::onAcceptError(evconnlistener*, void* arg) noexcept {
  auto* self = static_cast<HttpServer*>(arg);
  int err = EVUTIL_SOCKET_ERROR();
  logWarn("accept failed; pausing the listener for 100 ms", {{"error", evutil_socket_error_to_string(err)}});
  // EMFILE would make the listener spin: back off briefly, then accept again.
  if (!self->listener_) return;
  evconnlistener_disable(self->listener_);
  self->acceptPaused_ = true;
  timeval tv{0, 100000};
  event_base_once(
      self->loop_.base(), -1, EV_TIMEOUT,
      [](evutil_socket_t, short, void* server) {
        auto* s = static_cast<HttpServer*>(server);
        s->acceptPaused_ = false;
        if (s->listener_) evconnlistener_enable(s->listener_);
        s->updateAcceptState();
      },
      self, &tv);
}

void HttpServer::route(uint16_t methods, std::string_view pattern, std::string name, HttpHandler handler,
                       RouteGuard guard) {
  size_t index = routeTable_.add(methods, pattern, guard);
  routes_.resize(index + 1);
  routes_[index] = Route{std::move(name), std::move(handler)};
}

size_t HttpServer::unsentBytes() const {
  size_t total = 0;
  for (const auto& [evcon, id] : connections_) {
    if (bufferevent* bev = evhttp_connection_get_bufferevent(evcon)) {
      total += evbuffer_get_length(bufferevent_get_output(bev));
    }
  }
  return total;
}

bufferevent* HttpServer::makeBufferevent(event_base* base, void* arg) noexcept {
  auto* self = static_cast<HttpServer*>(arg);
  bufferevent* bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
  if (!bev) return nullptr;
  try {
    evbuffer* input = bufferevent_get_input(bev);
    // A recycled address replaces whatever stale entry it had.
    HeaderWatch watch;
    watch.bev = bev;
    watch.lastActivity = std::chrono::steady_clock::now();
    self->headerWatches_[input] = watch;
    evbuffer_add_cb(input, &HttpServer::onInputChanged, self);
    self->metrics_.inc("recgw_http_connections_accepted_total");
    self->acceptedNotAdopted_.push_back(bev);
    bufferevent_incref(bev);  // released in adoptAcceptedConnections
    if (self->acceptedNotAdopted_.size() == 1) event_active(self->adoptEvent_.get(), 0, 0);
    self->updateAcceptState();
  } catch (const std::exception& e) {
    // The connection is still served; it is only not counted or header-watched.
    logError("cannot track a new connection", {{"error", e.what()}});
  }
  return bev;
}

void HttpServer::adoptAcceptedConnections() {
  std::vector<bufferevent*> accepted;
  accepted.swap(acceptedNotAdopted_);
  for (bufferevent* bev : accepted) {
    // evhttp sets every callback of its connection's bufferevent with the evhttp_connection as
    // argument, and bufferevent_free clears them: a null argument means evhttp already freed
    // the connection (it failed during accept) and our reference is the last one.
    bufferevent_data_cb readCb = nullptr;
    bufferevent_data_cb writeCb = nullptr;
    bufferevent_event_cb eventCb = nullptr;
    void* cbArg = nullptr;
    bufferevent_getcb(bev, &readCb, &writeCb, &eventCb, &cbArg);
    auto* evcon = static_cast<evhttp_connection*>(cbArg);
    if (evcon && evhttp_connection_get_bufferevent(evcon) == bev) {
      trackConnection(evcon);
    } else {
      headerWatches_.erase(bufferevent_get_input(bev));
    }
    bufferevent_decref(bev);
  }
  metrics_.set("recgw_http_open_connections", {}, static_cast<double>(connections_.size()));
  updateAcceptState();
}

void HttpServer::onInputChanged(evbuffer* input, const evbuffer_cb_info* info, void* arg) noexcept {
  auto* self = static_cast<HttpServer*>(arg);
  auto it = self->headerWatches_.find(input);
  if (it == self->headerWatches_.end()) return;
  HeaderWatch& w = it->second;
  w.consumed += info->n_deleted;
  if (info->n_added == 0) return;
  auto now = std::chrono::steady_clock::now();
  w.lastActivity = now;
  if (!w.awaitingHeaders) return;
  if (!w.nulAt) {
    // Look at the new bytes only.
    evbuffer_ptr from;
    size_t length = evbuffer_get_length(input);
    if (evbuffer_ptr_set(input, &from, length - std::min(length, info->n_added), EVBUFFER_PTR_SET) == 0) {
      evbuffer_ptr found = evbuffer_search(input, "\0", 1, &from);
      if (found.pos >= 0) w.nulAt = w.consumed + static_cast<uint64_t>(found.pos);
    }
  }
  if (w.requestStarted == std::chrono::steady_clock::time_point{}) {
    w.requestStarted = now;
    return;
  }
  if (now - w.requestStarted <= self->limits_.headerTimeout) return;
  // The connection is alive (it just delivered bytes), so its fd is still its own: shut it
  // down and let evhttp see the end of the stream and free the connection itself.
  self->metrics_.inc("recgw_http_slow_headers_total");
  evutil_socket_t fd = bufferevent_getfd(w.bev);
  self->headerWatches_.erase(it);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

std::string HttpServer::framingViolation(evhttp_request* req, const HeaderWatch* watch) const {
  // Everything evhttp has consumed so far is this request (and those before it).
  if (watch && watch->nulAt && *watch->nulAt < watch->consumed) return "a NUL byte in the request";
  int hosts = 0, lengths = 0, encodings = 0;
  const evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (const evkeyval* h = headers->tqh_first; h; h = h->next.tqe_next) {
    std::string_view name = h->key;
    for (unsigned char c : name) {
      if (c <= 0x20 || c == 0x7f || c == ':') return "a malformed header field name";
    }
    if (evutil_ascii_strcasecmp(h->key, "Host") == 0) ++hosts;
    if (evutil_ascii_strcasecmp(h->key, "Content-Length") == 0) {
      ++lengths;
      std::string_view v = h->value;
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string_view::npos) {
        return "an invalid Content-Length";
      }
    }
    if (evutil_ascii_strcasecmp(h->key, "Transfer-Encoding") == 0) {
      ++encodings;
      if (evutil_ascii_strcasecmp(h->value, "chunked") != 0) return "an unsupported Transfer-Encoding";
    }
  }
  bool http11 = req->major == 1 && req->minor >= 1;
  if (hosts > 1 || (http11 && hosts == 0)) return "an HTTP/1.1 request needs exactly one Host header";
  if (lengths > 1) return "more than one Content-Length";
  if (encodings > 1 || (encodings == 1 && lengths > 0)) return "conflicting message framing";
  return {};
}

void HttpServer::sweepHeaderWatches() {
  auto now = std::chrono::steady_clock::now();
  auto idleLimit = limits_.clientTimeout + limits_.headerTimeout + std::chrono::seconds(1);
  for (auto it = headerWatches_.begin(); it != headerWatches_.end();) {
    // A connection quiet for longer than evhttp's own read timeout is gone (or streaming a
    // response, when it needs no header watch).
    it = now - it->second.lastActivity > idleLimit ? headerWatches_.erase(it) : std::next(it);
  }
}

HttpExchange* HttpServer::find(uint64_t id) {
  auto it = exchanges_.find(id);
  return it == exchanges_.end() ? nullptr : it->second.get();
}

void HttpServer::trackConnection(evhttp_connection* evcon) {
  if (!evcon) return;
  auto [it, inserted] = connections_.emplace(evcon, 0);
  if (inserted) {
    evhttp_connection_set_closecb(evcon, &HttpServer::onConnectionClose, this);
    metrics_.set("recgw_http_open_connections", {}, static_cast<double>(connections_.size()));
    updateAcceptState();
  }
}

void HttpServer::onConnectionClose(evhttp_connection* evcon, void* arg) noexcept {
  auto* self = static_cast<HttpServer*>(arg);
  auto it = self->connections_.find(evcon);
  if (it == self->connections_.end()) return;
  uint64_t id = it->second;
  self->connections_.erase(it);
  if (bufferevent* bev = evhttp_connection_get_bufferevent(evcon))
    self->headerWatches_.erase(bufferevent_get_input(bev));
  self->metrics_.set("recgw_http_open_connections", {}, static_cast<double>(self->connections_.size()));
  self->updateAcceptState();
  if (id == 0) return;
  if (HttpExchange* ex = self->find(id)) ex->onConnectionClosed();
}

void HttpServer::onRequest(evhttp_request* req, void* arg) noexcept {
  auto* self = static_cast<HttpServer*>(arg);
  try {
    self->dispatch(req);
  } catch (const std::exception& e) {
    logError("request dispatch threw", {{"error", e.what()}});
  }
}

std::string HttpServer::makeRequestId(const char* offered) {
  if (isSaneRequestId(offered)) return offered;
  uint64_t v = splitmix64(requestIdSeed_ + nextId_);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) id[static_cast<size_t>(i)] = kHex[v & 0xF];
  return id;
}

void HttpServer::dispatch(evhttp_request* req) {
  uint64_t id = nextId_++;
  const char* offeredId = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
  auto owned = std::make_unique<HttpExchange>(*this, req, id, makeRequestId(offeredId));
  HttpExchange& ex = *owned;
  exchanges_.emplace(id, std::move(owned));
  metrics_.set("recgw_http_in_flight_requests", {}, static_cast<double>(exchanges_.size()));
  evhttp_connection* evcon = evhttp_request_get_connection(req);
  trackConnection(evcon);
  if (evcon) connections_[evcon] = id;
  ex.evcon_ = evcon;
  HeaderWatch* watch = nullptr;
  if (bufferevent* bev = evcon ? evhttp_connection_get_bufferevent(evcon) : nullptr) {
    auto it = headerWatches_.find(bufferevent_get_input(bev));
    if (it != headerWatches_.end()) {
      watch = &it->second;
      watch->awaitingHeaders = false;
      watch->lastActivity = std::chrono::steady_clock::now();
    }
  }
  if (std::string violation = framingViolation(req, watch); !violation.empty()) {
    metrics_.inc("recgw_http_framing_rejected_total");
    ex.noteReason(violation);
    // Close after the answer: what follows on this connection cannot be trusted.
    ex.addHeader("Connection", "close");
    ex.replyError(400, "bad_request", "malformed request: " + violation);
    return;
  }

  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* rawPath = uri ? evhttp_uri_get_path(uri) : nullptr;
  if (!rawPath || rawPath[0] != '/') {
    ex.replyError(400, "bad_request", "the request target is not a valid path");
    return;
  }
  const char* rawQuery = evhttp_uri_get_query(uri);
  ex.query_ = rawQuery ? rawQuery : "";
  ex.path_ = rawPath;

  RouteMatch match = routeTable_.match(ex.method(), ex.path_);
  switch (match.kind) {
    case RouteMatch::Kind::kBadEncoding:
      ex.replyError(400, "bad_request", "malformed percent-encoding in the path");
      return;
    case RouteMatch::Kind::kMethodNotAllowed:
      ex.route_ = "method_not_allowed";
      ex.addHeader("Allow", allowHeader(match.allowed));
      ex.replyError(405, "method_not_allowed", "this route does not accept " + std::string(ex.methodName()));
      return;
    case RouteMatch::Kind::kNotFound:
      ex.replyError(404, "not_found", "no such route");
      return;
    case RouteMatch::Kind::kMatched:
      break;
  }
  const Route* matched = &routes_[match.route];
  ex.route_ = matched->name;
  ex.pathParams_ = std::move(match.params);
  try {
    matched->handler(ex);
  } catch (const std::exception& e) {
    Logger::log(LogLevel::kError, ex.requestId(), "handler threw",
                {{"route", ex.route_}, {"error", e.what()}});
    if (!ex.done()) {
      if (ex.streaming())
        ex.abortStream();
      else
        ex.replyError(500, "internal", "internal error");
    }
  }
}

void HttpServer::completed(HttpExchange& ex) {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - ex.start_).count();
  std::string statusText = std::to_string(ex.status_);
  std::string labels = Metrics::label("route", ex.route_) + "," + Metrics::label("method", ex.methodName()) +
                       "," + Metrics::label("status", statusText);
  metrics_.inc("recgw_http_requests_total", labels);
  std::string routeLabel = Metrics::label("route", ex.route_);
  metrics_.observe("recgw_http_request_duration_seconds", routeLabel, seconds);
  metrics_.inc("recgw_http_response_bytes_total", routeLabel, static_cast<double>(ex.bodyBytes_));

  JsonWriter w;
  w.beginObject()
      .field("time", isoTimestampNow())
      .field("type", "access")
      .field("request_id", ex.requestId_)
      .field("method", ex.methodName())
      .field("route", ex.route_)
      .field("status", ex.status_)
      .field("bytes", static_cast<uint64_t>(ex.bodyBytes_))
      .field("duration_ms", seconds * 1000.0);
  if (!ex.lookupSource_.empty()) w.field("source", ex.lookupSource_);
  if (!ex.origin_.empty()) w.field("origin", ex.origin_);
  if (ex.upstreamTtfb_.count() >= 0) {
    w.field("upstream_ttfb_ms", std::chrono::duration<double, std::milli>(ex.upstreamTtfb_).count());
  }
  if (!ex.reason_.empty()) w.field("reason", ex.reason_);
  w.endObject();
  Logger::access(w.str());

  // The pointer is only a key: if the connection is gone its entry is gone too, and ids
  // are never reused, so a recycled address cannot match.
  auto conn = connections_.find(ex.evcon_);
  if (conn != connections_.end() && conn->second == ex.id_) {
    conn->second = 0;
    if (bufferevent* bev = evhttp_connection_get_bufferevent(ex.evcon_)) {
      auto watch = headerWatches_.find(bufferevent_get_input(bev));
      if (watch != headerWatches_.end()) {
        watch->second.awaitingHeaders = true;
        watch->second.requestStarted = {};
        watch->second.lastActivity = now;
      }
    }
  }
  auto it = exchanges_.find(ex.id_);
  if (it != exchanges_.end()) {
    // Free on the next pass: the caller is still inside the exchange.
    std::shared_ptr<HttpExchange> doomed(std::move(it->second));
    exchanges_.erase(it);
    loop_.defer([doomed] {});
  }
  metrics_.set("recgw_http_in_flight_requests", {}, static_cast<double>(exchanges_.size()));
}

}  // namespace recgw::reactor
