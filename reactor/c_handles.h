#pragma once
// One place for the deleters of every C handle the reactor owns, so each handle has
// exactly one owner and is freed on every path (see STYLE.md, "C handles").
#include <curl/curl.h>
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
struct CurlEasyFree {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct CurlMultiFree {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
struct CurlShareFree {
  void operator()(CURLSH* share) const noexcept { curl_share_cleanup(share); }
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseFree>;
using EventPtr = std::unique_ptr<event, EventFree>;
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpFree>;
using EvconnlistenerPtr = std::unique_ptr<evconnlistener, EvconnlistenerFree>;
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyFree>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiFree>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistFree>;
using CurlSharePtr = std::unique_ptr<CURLSH, CurlShareFree>;

}  // namespace recgw::reactor
