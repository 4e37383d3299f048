#pragma once
// RFC 9112 framing checks evhttp does not make. A message failing them is refused with 400
// and its connection closed, so a front proxy that framed it differently cannot be
// desynchronised from us (request smuggling).
#include <event2/http.h>

#include "reactor/header_watch.h"
#include "reactor/status.h"

namespace recgw::reactor {

// The failure names what is wrong ("more than one Content-Length"); `watch` may be nullptr.
Status checkRequestFraming(evhttp_request* req, const HeaderWatch* watch);

}  // namespace recgw::reactor
