#pragma once
// evhttp behind our own SO_REUSEPORT listener, a route table, and one HttpExchange per
// request. Loop thread only.
//
// Lifetimes: the server owns every HttpExchange until its response is complete; then the
// exchange is freed on the next loop pass (EventLoop::deleteSoon). Asynchronous work must
// not hold an HttpExchange* across loop passes: it keeps an ExchangeRef and runs its code
// through ExchangeRef::with when it comes back, which does nothing if the request is gone.
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reactor/libevent_handles.h"
#include "reactor/event_loop.h"
#include "reactor/header_watch.h"
#include "reactor/http_exchange.h"
#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "reactor/request_target.h"

namespace recgw::reactor {

struct HttpLimits {
  size_t maxHeaderBytes = 16 * 1024;
  size_t maxBodyBytes = 1024 * 1024;
  std::chrono::seconds clientTimeout{30};  // idle keep-alive and request read/write
  size_t maxConnections = 10000;
  // From the first byte of a request to its last header byte; a client trickling its
  // headers slower than this (slow-loris) is disconnected.
  std::chrono::milliseconds headerTimeout{10000};
  // TCP_NOTSENT_LOWAT of a relayed stream's connection until its client reads; 0 = kernel default.
  size_t streamKernelUnsentBytes = 256 * 1024;
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

  // The Date header's value for a response sent now (IMF-fixdate, as evhttp writes it),
  // formatted once a second instead of by evhttp for every response.
  const char* httpDate();

 private:
  friend class HttpExchange;
  struct Route {
    std::string name;
    HttpHandler handler;
  };
  static void onRequest(evhttp_request* req, void* arg) noexcept;
  static void onAcceptError(evconnlistener*, void* arg) noexcept;
  void pauseAcceptingAfterError();
  static void onConnectionClose(evhttp_connection* evcon, void* arg) noexcept;
  static bufferevent* makeBufferevent(event_base* base, void* arg) noexcept;
  void adoptAcceptedConnections();
  void dispatch(evhttp_request* req);
  void trackConnection(evhttp_connection* evcon);
  // Cut a connection whose response cannot be finished (see HttpExchange's truncation):
  // freed on the next pass unless evhttp frees it first.
  void truncate(evhttp_connection* evcon, evhttp_request* req);
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
  time_t httpDateSecond_ = -1;
  char httpDate_[64] = {};
  HeaderWatches headerWatches_;
  uint64_t nextId_ = 1;
  uint64_t requestIdSeed_;
  // Connections cut by truncate() and not freed yet → the request they carried.
  std::unordered_map<evhttp_connection*, evhttp_request*> truncating_;
  Liveness alive_;  // last: deferred frees see the server gone before its maps are
};

}  // namespace recgw::reactor
