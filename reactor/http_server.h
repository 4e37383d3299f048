#pragma once
// evhttp behind our own SO_REUSEPORT listener, a route table, and one HttpExchange per
// request. Loop thread only.
//
// Lifetimes: the server owns every HttpExchange until its response is complete; then the
// exchange is freed on the next loop pass (EventLoop::defer). Asynchronous work must not
// hold an HttpExchange* across loop passes: it keeps the exchange's id and asks
// HttpServer::find(id) when it comes back — nullptr means the request is gone.
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reactor/libevent_handles.h"
#include "reactor/event_loop.h"
#include "reactor/metrics.h"
#include "reactor/request_target.h"

namespace recgw::reactor {

class HttpServer;

struct HttpLimits {
  size_t maxHeaderBytes = 16 * 1024;
  size_t maxBodyBytes = 1024 * 1024;
  std::chrono::seconds clientTimeout{30};  // idle keep-alive and request read/write
  size_t maxConnections = 10000;
  // From the first byte of a request to its last header byte; a client trickling its
  // headers slower than this (slow-loris) is disconnected.
  std::chrono::milliseconds headerTimeout{10000};
};

enum HttpMethod : uint16_t {
  kGet = EVHTTP_REQ_GET,
  kHead = EVHTTP_REQ_HEAD,
  kPost = EVHTTP_REQ_POST,
  kPut = EVHTTP_REQ_PUT,
  kDelete = EVHTTP_REQ_DELETE,
  kOptions = EVHTTP_REQ_OPTIONS,
  kPatch = EVHTTP_REQ_PATCH,
};

class HttpExchange {
 public:
  HttpExchange(HttpServer& server, evhttp_request* req, uint64_t id, std::string requestId);
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  uint64_t id() const { return id_; }
  const std::string& requestId() const { return requestId_; }
  HttpServer& server() { return server_; }
  evhttp_request* raw() { return req_; }

  HttpMethod method() const;
  bool isHead() const { return method() == kHead; }
  std::string_view methodName() const;
  const std::string& path() const { return path_; }
  const std::string& query() const { return query_; }
  std::string queryParam(std::string_view name) const;
  // nullptr when absent
  const char* header(const char* name) const;
  std::string_view body();
  std::string peerAddress() const;
  const std::vector<std::string>& pathParams() const { return pathParams_; }
  const std::string& route() const { return route_; }

  void addHeader(const char* name, std::string_view value);
  void removeHeader(const char* name);

  // A whole response. HEAD sends the headers (with the body's Content-Length) only.
  void reply(int status, std::string_view body, std::string_view contentType = "application/json");
  // {"error": code, "message": message}
  void replyError(int status, std::string_view code, std::string_view message);

  // Streaming: start (headers out), chunks, end. sendChunk's onDrained fires when the
  // connection's output buffer has emptied (evhttp keeps only the last one registered).
  // drainLowWatermark: the drain callback fires once unsent bytes fall to this level.
  // While streaming, only the write (idle client) timeout applies: a paused upstream or a
  // slow origin must not trip evhttp's read timer.
  void startStream(int status, size_t drainLowWatermark = 0);
  // Headers only, for HEAD and 304: Content-Length as given (or none when nullopt).
  void replyHeadersOnly(int status, std::optional<uint64_t> contentLength);
  // A response that declared its Content-Length never carries more or fewer bytes: a chunk
  // that would overrun it is cut at the declared length and the connection is closed (the
  // excess would otherwise be read as the next response on a keep-alive connection), and
  // endStream() before the declared length truncates instead. False once the response is
  // over, e.g. after such a cut.
  bool sendChunk(evbuffer* data, std::function<void()> onDrained);
  size_t pendingOutputBytes() const;
  void endStream();
  // Close the connection without a clean end, so the client sees a truncated body.
  void abortStream();
  bool streaming() const { return streaming_; }
  bool done() const { return done_; }
  bool clientGone() const { return clientGone_; }

  // Fires once if the client disconnects while a stream is in flight.
  void setOnClientGone(std::function<void()> callback) { onClientGone_ = std::move(callback); }

  // Access-log annotations.
  void noteLookupSource(std::string_view source) { lookupSource_ = source; }
  void noteOrigin(std::string_view origin) { origin_ = origin; }
  void noteUpstreamFirstByte(std::chrono::steady_clock::duration d) { upstreamTtfb_ = d; }
  void noteBodyBytes(size_t n) { bodyBytes_ += n; }
  void noteReason(std::string_view reason) { reason_ = reason; }

 private:
  friend class HttpServer;
  void addCommonHeaders();  // X-Request-Id, nosniff, the server's decorator
  void complete(int status);
  void onConnectionClosed();
  void finishStreamedRequest(bool clean);
  static void onChunkDrained(evhttp_connection*, void* arg) noexcept;

  HttpServer& server_;
  evhttp_request* req_;
  HttpMethod method_;
  evhttp_connection* evcon_ = nullptr;  // identity only; may be stale after close
  uint64_t id_;
  std::string requestId_;
  std::string path_;
  std::string query_;
  std::string route_ = "unmatched";
  std::vector<std::string> pathParams_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int status_ = 0;
  size_t bodyBytes_ = 0;
  std::string lookupSource_;
  std::string origin_;
  std::string reason_;
  std::chrono::steady_clock::duration upstreamTtfb_{-1};
  std::function<void()> onClientGone_;
  std::function<void()> onDrained_;
  bool streaming_ = false;
  std::optional<uint64_t> declaredLength_;  // the streamed response's Content-Length
  uint64_t streamedBytes_ = 0;
  bool done_ = false;
  bool clientGone_ = false;
  std::string bodyCache_;
  bool bodyRead_ = false;
};

using HttpHandler = std::function<void(HttpExchange&)>;

class HttpServer {
 public:
  HttpServer(EventLoop& loop, Metrics& metrics, HttpLimits limits);
  ~HttpServer();

  // Binds host:port with SO_REUSEPORT (so several worker processes share it).
  // Throws std::runtime_error at start-up on failure.
  void listen(const std::string& host, uint16_t port);
  uint16_t boundPort() const { return boundPort_; }

  // Pattern segments: literal or "{name}"; params come back in order. Routes are matched
  // in the order added; a path that matches with another method gives 405 + Allow. A
  // guard lets routes of one pattern split its paths (see RouteTable).
  void route(uint16_t methods, std::string_view pattern, std::string name, HttpHandler handler,
             RouteGuard guard = nullptr);

  HttpExchange* find(uint64_t id);
  size_t inFlight() const { return exchanges_.size(); }
  size_t openConnections() const { return connections_.size(); }
  // Bytes written by handlers that the kernel has not taken yet, over all connections.
  // A drain must wait for these too: a finished stream may still be flushing.
  size_t unsentBytes() const;

  // Stop accepting new connections; in-flight requests go on.
  void stopAccepting();
  void setLimits(HttpLimits limits);
  // Headers added to every response (e.g. CORS); set by the application.
  void setResponseDecorator(std::function<void(HttpExchange&)> decorator) {
    decorator_ = std::move(decorator);
  }

  EventLoop& loop() { return loop_; }
  Metrics& metrics() { return metrics_; }

 private:
  friend class HttpExchange;
  struct Route {
    std::string name;
    HttpHandler handler;
  };
  static void onRequest(evhttp_request* req, void* arg) noexcept;
  static void onAcceptError(evconnlistener*, void* arg) noexcept;
  static void onConnectionClose(evhttp_connection* evcon, void* arg) noexcept;
  static bufferevent* makeBufferevent(event_base* base, void* arg) noexcept;
  void adoptAcceptedConnections();
  static void onInputChanged(evbuffer* input, const evbuffer_cb_info* info, void* arg) noexcept;
  void sweepHeaderWatches();
  void dispatch(evhttp_request* req);
  void trackConnection(evhttp_connection* evcon);
  void updateAcceptState();
  void completed(HttpExchange& exchange);
  std::string makeRequestId(const char* offered);

  EventLoop& loop_;
  Metrics& metrics_;
  HttpLimits limits_;
  EvhttpPtr http_;
  // Owned by evhttp once bound (evhttp_free or evhttp_del_accept_socket frees it).
  evconnlistener* listener_ = nullptr;
  evhttp_bound_socket* boundSocket_ = nullptr;
  bool acceptPaused_ = false;
  uint16_t boundPort_ = 0;
  RouteTable routeTable_;
  std::vector<Route> routes_;  // by RouteTable index
  std::unordered_map<uint64_t, std::unique_ptr<HttpExchange>> exchanges_;
  // evhttp_connection → the exchange currently streaming on it (0 if none). Every accepted
  // connection is here from the loop turn after its accept until evhttp frees it, whether or
  // not it ever sends a request, so server.max_connections bounds idle and slow-loris ones too.
  std::unordered_map<evhttp_connection*, uint64_t> connections_;
  // Bufferevents made for connections accepted in this loop turn. evhttp creates the
  // evhttp_connection only after makeBufferevent returns, so it is looked up one turn later
  // (the bufferevent's callback argument); a reference keeps the bufferevent valid meanwhile.
  std::vector<bufferevent*> acceptedNotAdopted_;
  EventPtr adoptEvent_;
  std::function<void(HttpExchange&)> decorator_;
  // Header deadline per connection, keyed by its input buffer. Entries are erased when the
  // connection closes; one whose connection was never adopted (evhttp failed it within its
  // accept) is swept once idle. Keys are only looked up, never dereferenced.
  struct HeaderWatch {
    bufferevent* bev = nullptr;
    bool awaitingHeaders = true;
    std::chrono::steady_clock::time_point requestStarted{};  // epoch = no byte yet
    std::chrono::steady_clock::time_point lastActivity{};
    // Offsets in the connection's byte stream: how much evhttp has consumed, and where the
    // first NUL seen in a request head is. evhttp keeps header values as C strings (a NUL
    // would silently cut them), so a request whose head held one is refused; a NUL further
    // on (a pipelined request) is only held against that request.
    uint64_t consumed = 0;
    std::optional<uint64_t> nulAt;
  };
  // RFC 9112 framing checks evhttp does not make; a message failing them is refused with
  // 400 and the connection closed, so a front proxy cannot be desynchronised (smuggling).
  std::string framingViolation(evhttp_request* req, const HeaderWatch* watch) const;
  std::unordered_map<evbuffer*, HeaderWatch> headerWatches_;
  EventPtr sweepTimer_;
  uint64_t nextId_ = 1;
  uint64_t requestIdSeed_;
};

}  // namespace recgw::reactor
