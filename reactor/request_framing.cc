#include "reactor/request_framing.h"

#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <string_view>

namespace recgw::reactor {

Status checkRequestFraming(evhttp_request* req, const HeaderWatch* watch) {
  if (watch && watch->nulInConsumedBytes()) return fail("a NUL byte in the request");
  int hosts = 0, lengths = 0, encodings = 0;
  const evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (const evkeyval* h = headers->tqh_first; h; h = h->next.tqe_next) {
    std::string_view name = h->key;
    for (unsigned char c : name) {
      if (c <= 0x20 || c == 0x7f || c == ':') return fail("a malformed header field name");
    }
    if (evutil_ascii_strcasecmp(h->key, "Host") == 0) ++hosts;
    if (evutil_ascii_strcasecmp(h->key, "Content-Length") == 0) {
      ++lengths;
      std::string_view v = h->value;
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string_view::npos) {
        return fail("an invalid Content-Length");
      }
    }
    if (evutil_ascii_strcasecmp(h->key, "Transfer-Encoding") == 0) {
      ++encodings;
      if (evutil_ascii_strcasecmp(h->value, "chunked") != 0) return fail("an unsupported Transfer-Encoding");
    }
  }
  bool http11 = req->major == 1 && req->minor >= 1;
  if (hosts > 1 || (http11 && hosts == 0)) return fail("an HTTP/1.1 request needs exactly one Host header");
  if (lengths > 1) return fail("more than one Content-Length");
  if (encodings > 1 || (encodings == 1 && lengths > 0)) return fail("conflicting message framing");
  return ok();
}

}  // namespace recgw::reactor
