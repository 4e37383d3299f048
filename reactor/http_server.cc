#include "reactor/http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <random>
#include <stdexcept>

#include "reactor/socket_address.h"
#include "reactor/callback_guard.h"
#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "reactor/request_framing.h"

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

HttpServer::HttpServer(EventLoop& loop, Metrics& metrics, HttpLimits limits)
    : loop_(loop),
      metrics_(metrics),
      limits_(limits),
      http_(evhttp_new(loop.base())),
      headerWatches_(loop, metrics) {
  if (!http_) throw std::runtime_error("evhttp_new failed");
  std::random_device rd;
  requestIdSeed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
  evhttp_set_allowed_methods(http_.get(), kGet | kHead | kPost | kPut | kDelete | kOptions | kPatch);
  evhttp_set_default_content_type(http_.get(), nullptr);
  evhttp_set_gencb(http_.get(), &HttpServer::onRequest, this);
  evhttp_set_bevcb(http_.get(), &HttpServer::makeBufferevent, this);
  adoptEvent_.reset(event_new(
      loop.base(), -1, 0,
      [](evutil_socket_t, short, void* arg) {
        guardCallback("connection adoption", {},
                      [arg] { static_cast<HttpServer*>(arg)->adoptAcceptedConnections(); });
      },
      this));
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
  headerWatches_.setTimeouts(limits.clientTimeout, limits.headerTimeout);
  evhttp_set_max_headers_size(http_.get(), static_cast<ev_ssize_t>(limits.maxHeaderBytes));
  evhttp_set_max_body_size(http_.get(), static_cast<ev_ssize_t>(limits.maxBodyBytes));
  timeval tv = toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(limits.clientTimeout));
  evhttp_set_timeout_tv(http_.get(), &tv);
}

void HttpServer::listen(const std::string& host, uint16_t port) {
  auto address = parseSocketAddress(host, port);
  if (!address) throw std::runtime_error("listen address: " + address.error().message);
  // Our own listener: evhttp_bind_socket does not set SO_REUSEPORT, and we want the
  // accept callback to count and bound connections.
  listener_ = evconnlistener_new_bind(
      loop_.base(), nullptr, nullptr,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC, 1024,
      address->get(), static_cast<int>(address->length));
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
  guardCallback("accept error", {}, [arg] { static_cast<HttpServer*>(arg)->pauseAcceptingAfterError(); });
}

void HttpServer::pauseAcceptingAfterError() {
  int err = EVUTIL_SOCKET_ERROR();
  logWarn("accept failed; pausing the listener for 100 ms", {{"error", evutil_socket_error_to_string(err)}});
  // EMFILE would make the listener spin: back off briefly, then accept again.
  if (!listener_) return;
  evconnlistener_disable(listener_);
  acceptPaused_ = true;
  timeval tv{0, 100000};
  event_base_once(
      loop_.base(), -1, EV_TIMEOUT,
      [](evutil_socket_t, short, void* server) {
        guardCallback("accept resumption", {}, [server] {
          auto* s = static_cast<HttpServer*>(server);
          s->acceptPaused_ = false;
          if (s->listener_) evconnlistener_enable(s->listener_);
          s->updateAcceptState();
        });
      },
      this, &tv);
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
    self->headerWatches_.watch(bev);
    self->metrics_.inc("recgw_http_connections_accepted_total");
    self->acceptedNotAdopted_.push_back(bev);
    bufferevent_incref(bev);  // released in adoptAcceptedConnections
    if (self->acceptedNotAdopted_.size() == 1) event_active(self->adoptEvent_.get(), 0, 0);
    self->updateAcceptState();
  } catch (const std::exception& e) {
    // The connection is still served; it is only not counted or header-watched.
    logError("cannot track a new connection", {{"error", e.what()}});
  } catch (...) {
    logError("cannot track a new connection", {});
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
      headerWatches_.forget(bev);
    }
    bufferevent_decref(bev);
  }
  metrics_.set("recgw_http_open_connections", {}, static_cast<double>(connections_.size()));
  updateAcceptState();
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

void HttpServer::truncate(evhttp_connection* evcon, evhttp_request* req) {
  // The close callback stays: evhttp frees the connection itself when the client's end of
  // the stream or an error comes first (in this pass, or before the deferred free in the
  // next one, since ready sockets run before timers), and a second free would then hit
  // freed memory, or a new connection given the same address.
  connections_[evcon] = 0;  // no exchange hears of the close any more
  truncating_[evcon] = req;
  LivenessWatch alive = alive_;
  loop_.defer([this, alive, evcon] {
    if (alive.expired() || truncating_.count(evcon) == 0) return;
    evhttp_connection_free(evcon);  // its close callback drops the entry
  });
}

void HttpServer::onConnectionClose(evhttp_connection* evcon, void* arg) noexcept {
  auto* self = static_cast<HttpServer*>(arg);
  uint64_t id = 0;
  guardCallback("connection close", {}, [&] {
    if (auto cut = self->truncating_.find(evcon); cut != self->truncating_.end()) {
      evhttp_request* req = cut->second;
      self->truncating_.erase(cut);
      // When evhttp fails the connection itself it detaches the unfinished request and
      // leaves it to its handler, which let go of it at the cut; when the deferred free
      // runs, the request is still attached and evhttp frees it after this callback.
      if (req && evhttp_request_get_connection(req) == nullptr) evhttp_request_free(req);
    }
    auto it = self->connections_.find(evcon);
    if (it == self->connections_.end()) return;
    id = it->second;
    self->connections_.erase(it);
    if (bufferevent* bev = evhttp_connection_get_bufferevent(evcon)) self->headerWatches_.forget(bev);
    self->metrics_.set("recgw_http_open_connections", {}, static_cast<double>(self->connections_.size()));
    self->updateAcceptState();
  });
  if (id == 0) return;
  HttpExchange* ex = self->find(id);
  if (!ex) return;
  // The client is gone, so a failure can only end the request (499), never answer it.
  if (!guardCallback("connection close", ex->requestId(), [ex] { ex->onConnectionClosed(); }))
    ex->failInternal();
}

void HttpServer::onRequest(evhttp_request* req, void* arg) noexcept {
  guardCallback("request dispatch", {}, [&] { static_cast<HttpServer*>(arg)->dispatch(req); });
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
  const HeaderWatch* watch = nullptr;
  if (bufferevent* bev = evcon ? evhttp_connection_get_bufferevent(evcon) : nullptr) {
    watch = headerWatches_.headComplete(bev);
  }
  if (Status framing = checkRequestFraming(req, watch); !framing) {
    metrics_.inc("recgw_http_framing_rejected_total");
    ex.noteReason(framing.error().message);
    // Close after the answer: what follows on this connection cannot be trusted.
    ex.addHeader("Connection", "close");
    ex.replyError(400, "bad_request", "malformed request: " + framing.error().message);
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
  if (!guardCallback("request handler", ex.requestId(), [&] { matched->handler(ex); })) ex.failInternal();
}

const char* HttpServer::httpDate() {
  const time_t now = ::time(nullptr);
  if (now != httpDateSecond_) {
    tm utc{};
    ::gmtime_r(&now, &utc);
    // libevent's own formatter: the header reads exactly as the one evhttp would add.
    evutil_date_rfc1123(httpDate_, sizeof httpDate_, &utc);
    httpDateSecond_ = now;
  }
  return httpDate_;
}

void HttpServer::completed(HttpExchange& ex) {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - ex.start_).count();
  std::string statusText = std::to_string(ex.status_);
  std::string routeLabel = Metrics::label("route", ex.route_);
  std::string labels;
  labels.reserve(routeLabel.size() + 32);
  labels.append(routeLabel).append(",").append(Metrics::label("method", ex.methodName()));
  labels.append(",").append(Metrics::label("status", statusText));
  metrics_.inc("recgw_http_requests_total", labels);
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
  Logger::access(w.take());

  // The pointer is only a key: if the connection is gone its entry is gone too, and ids
  // are never reused, so a recycled address cannot match.
  auto conn = connections_.find(ex.evcon_);
  if (conn != connections_.end() && conn->second == ex.id_) {
    conn->second = 0;
    if (bufferevent* bev = evhttp_connection_get_bufferevent(ex.evcon_))
      headerWatches_.awaitNextRequest(bev, now);
  }
  auto it = exchanges_.find(ex.id_);
  if (it != exchanges_.end()) {
    // The caller is still inside the exchange.
    loop_.deleteSoon(std::move(it->second));
    exchanges_.erase(it);
  }
  metrics_.set("recgw_http_in_flight_requests", {}, static_cast<double>(exchanges_.size()));
}

}  // namespace recgw::reactor
