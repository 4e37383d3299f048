#pragma once
// The slow-header watch: per client connection, the time from a request's first byte to its
// last header byte. evhttp only times out a connection that goes silent, so a client
// trickling one header byte at a time (slow-loris) would hold its connection forever; one
// that takes longer than the header timeout is disconnected. The watch also notes where the
// first NUL byte of a request head is (see RequestFraming). Loop thread only.
#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "reactor/libevent_handles.h"
#include "reactor/event_loop.h"
#include "reactor/metrics.h"

namespace recgw::reactor {

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

  // Everything evhttp has consumed so far is the current request (and those before it).
  bool nulInConsumedBytes() const { return nulAt && *nulAt < consumed; }
};

// Watches keyed by the connection's input buffer. Entries are erased when the connection
// closes; one whose connection was never adopted (evhttp failed it within its accept) is
// swept once idle. Keys are only looked up, never dereferenced.
class HeaderWatches {
 public:
  HeaderWatches(EventLoop& loop, Metrics& metrics);
  HeaderWatches(const HeaderWatches&) = delete;
  HeaderWatches& operator=(const HeaderWatches&) = delete;

  void setTimeouts(std::chrono::seconds clientTimeout, std::chrono::milliseconds headerTimeout);

  // A new connection's bufferevent: start timing its first request's head.
  void watch(bufferevent* bev);
  void forget(bufferevent* bev);
  // evhttp parsed a request's head: stop timing it. The watch, or nullptr if none.
  const HeaderWatch* headComplete(bufferevent* bev);
  // The response is complete: time the next request's head from its first byte.
  void awaitNextRequest(bufferevent* bev, std::chrono::steady_clock::time_point now);

 private:
  static void onInputChanged(evbuffer* input, const evbuffer_cb_info* info, void* arg) noexcept;
  void inputChanged(evbuffer* input, const evbuffer_cb_info& info);
  void sweep();

  Metrics& metrics_;
  std::chrono::seconds clientTimeout_{30};
  std::chrono::milliseconds headerTimeout_{10000};
  std::unordered_map<evbuffer*, HeaderWatch> watches_;
  EventPtr sweepTimer_;
};

}  // namespace recgw::reactor
