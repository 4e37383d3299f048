#pragma once
// Owning handles for libevent objects: each has exactly one owner and is freed on every path.
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include <memory>

namespace recgw::reactor {

struct EventBaseFree {
  void operator()(event_base* base) const noexcept { event_base_free(base); }
};
struct EventFree {
  void operator()(event* ev) const noexcept { event_free(ev); }
};
struct EvbufferFree {
  void operator()(evbuffer* buf) const noexcept { evbuffer_free(buf); }
};
struct EvhttpFree {
  void operator()(evhttp* http) const noexcept { evhttp_free(http); }
};
struct EvconnlistenerFree {
  void operator()(evconnlistener* listener) const noexcept { evconnlistener_free(listener); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpFree>;
using EvconnlistenerPtr = std::unique_ptr<evconnlistener, EvconnlistenerFree>;

}  // namespace recgw::reactor
