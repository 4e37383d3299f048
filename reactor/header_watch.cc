#include "reactor/header_watch.h"

#include <sys/socket.h>

#include <algorithm>
#include <iterator>

#include "reactor/callback_guard.h"

namespace recgw::reactor {

HeaderWatches::HeaderWatches(EventLoop& loop, Metrics& metrics) : metrics_(metrics) {
  sweepTimer_.reset(event_new(
      loop.base(), -1, EV_PERSIST,
      [](evutil_socket_t, short, void* arg) {
        guardCallback("header watch sweep", {}, [arg] { static_cast<HeaderWatches*>(arg)->sweep(); });
      },
      this));
  timeval sweepEvery{5, 0};
  event_add(sweepTimer_.get(), &sweepEvery);
}

void HeaderWatches::setTimeouts(std::chrono::seconds clientTimeout, std::chrono::milliseconds headerTimeout) {
  clientTimeout_ = clientTimeout;
  headerTimeout_ = headerTimeout;
}

void HeaderWatches::watch(bufferevent* bev) {
  evbuffer* input = bufferevent_get_input(bev);
  // A recycled address replaces whatever stale entry it had.
  HeaderWatch watch;
  watch.bev = bev;
  watch.lastActivity = std::chrono::steady_clock::now();
  watches_[input] = watch;
  evbuffer_add_cb(input, &HeaderWatches::onInputChanged, this);
}

void HeaderWatches::forget(bufferevent* bev) { watches_.erase(bufferevent_get_input(bev)); }

const HeaderWatch* HeaderWatches::headComplete(bufferevent* bev) {
  auto it = watches_.find(bufferevent_get_input(bev));
  if (it == watches_.end()) return nullptr;
  it->second.awaitingHeaders = false;
  it->second.lastActivity = std::chrono::steady_clock::now();
  return &it->second;
}

void HeaderWatches::awaitNextRequest(bufferevent* bev, std::chrono::steady_clock::time_point now) {
  auto it = watches_.find(bufferevent_get_input(bev));
  if (it == watches_.end()) return;
  it->second.awaitingHeaders = true;
  it->second.requestStarted = {};
  it->second.lastActivity = now;
}

void HeaderWatches::onInputChanged(evbuffer* input, const evbuffer_cb_info* info, void* arg) noexcept {
  guardCallback("header watch", {}, [&] { static_cast<HeaderWatches*>(arg)->inputChanged(input, *info); });
}

void HeaderWatches::inputChanged(evbuffer* input, const evbuffer_cb_info& info) {
  auto it = watches_.find(input);
  if (it == watches_.end()) return;
  HeaderWatch& w = it->second;
  w.consumed += info.n_deleted;
  if (info.n_added == 0) return;
  auto now = std::chrono::steady_clock::now();
  w.lastActivity = now;
  if (!w.awaitingHeaders) return;
  if (!w.nulAt) {
    // Look at the new bytes only.
    evbuffer_ptr from;
    size_t length = evbuffer_get_length(input);
    if (evbuffer_ptr_set(input, &from, length - std::min(length, info.n_added), EVBUFFER_PTR_SET) == 0) {
      evbuffer_ptr found = evbuffer_search(input, "\0", 1, &from);
      if (found.pos >= 0) w.nulAt = w.consumed + static_cast<uint64_t>(found.pos);
    }
  }
  if (w.requestStarted == std::chrono::steady_clock::time_point{}) {
    w.requestStarted = now;
    return;
  }
  if (now - w.requestStarted <= headerTimeout_) return;
  // The connection is alive (it just delivered bytes), so its fd is still its own: shut it
  // down and let evhttp see the end of the stream and free the connection itself.
  metrics_.inc("recgw_http_slow_headers_total");
  evutil_socket_t fd = bufferevent_getfd(w.bev);
  watches_.erase(it);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

void HeaderWatches::sweep() {
  auto now = std::chrono::steady_clock::now();
  auto idleLimit = clientTimeout_ + headerTimeout_ + std::chrono::seconds(1);
  for (auto it = watches_.begin(); it != watches_.end();) {
    // A connection quiet for longer than evhttp's own read timeout is gone (or streaming a
    // response, when it needs no header watch).
    it = now - it->second.lastActivity > idleLimit ? watches_.erase(it) : std::next(it);
  }
}

}  // namespace recgw::reactor
