#pragma once
// How work that comes back on a later loop pass (a lookup, a curl or Redis completion, a
// timer) reaches the request it answers. It never holds an HttpExchange*: the request may
// have ended meanwhile (its client left, a timeout answered it), and its exchange is then
// freed. Loop thread only.
//
//   reactor::ExchangeRef request(ex);
//   lookup(key, [request](Record r) { request.with([&](reactor::HttpExchange& ex) { ... }); });
#include <cstdint>

#include "reactor/callback_guard.h"
#include "reactor/http_exchange.h"

namespace recgw::reactor {

class HttpServer;

class ExchangeRef {
 public:
  ExchangeRef() = default;  // refers to no request: with() never runs
  explicit ExchangeRef(HttpExchange& exchange) : server_(&exchange.server()), id_(exchange.id()) {}
  ExchangeRef(HttpServer& server, uint64_t id) : server_(&server), id_(id) {}

  // The exchange while its request is in flight, else nullptr.
  HttpExchange* get() const;
  bool alive() const { return get() != nullptr; }

  // Runs f(exchange) if the request is still in flight; false when it is gone. An exception
  // from f is logged with the request id and fails this request only: 500 when nothing was
  // sent yet, a cut connection when a streamed response had begun.
  template <class F>
  bool with(F&& f) const {
    HttpExchange* exchange = get();
    if (!exchange) return false;
    // The exchange outlives this pass even if f completes it (it is freed on the next one).
    if (!guardCallback("request callback", exchange->requestId(), [&] { f(*exchange); }))
      exchange->failInternal();
    return true;
  }

  // For a callback that threw outside with(): fail the request if it is still in flight.
  void failInternal() const;

 private:
  HttpServer* server_ = nullptr;
  uint64_t id_ = 0;
};

}  // namespace recgw::reactor
