#pragma once
// Owning handles for libevent objects: each has exactly one owner and is freed on every path.
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "reactor/owned_handle.h"

namespace recgw::reactor {

using EventBasePtr = OwnedHandle<event_base, event_base_free>;
using EventConfigPtr = OwnedHandle<event_config, event_config_free>;
using EventPtr = OwnedHandle<event, event_free>;
using EvbufferPtr = OwnedHandle<evbuffer, evbuffer_free>;
using EvhttpPtr = OwnedHandle<evhttp, evhttp_free>;
using EvconnlistenerPtr = OwnedHandle<evconnlistener, evconnlistener_free>;

}  // namespace recgw::reactor
