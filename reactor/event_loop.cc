#include "reactor/event_loop.h"

#include <stdexcept>

#include "reactor/callback_guard.h"

namespace recgw::reactor {

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

namespace {

// With epoll, libevent applies every event_add/event_del at once (one epoll_ctl each) unless
// told to batch them until the next epoll_wait. A proxied request switches its client and
// upstream sockets between reading and writing several times within one loop pass; the
// changelist keeps only the net change. libevent's caveat (a dup()ed descriptor may get
// spurious events) does not apply: nothing here registers a dup()ed descriptor.
event_base* newEventBase() {
  EventConfigPtr config(event_config_new());
  if (!config) return nullptr;
  event_config_set_flag(config.get(), EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  return event_base_new_with_config(config.get());
}

}  // namespace

EventLoop::EventLoop() : base_(newEventBase()) {
  if (!base_) throw std::runtime_error("event_base_new failed");
  deferredEvent_.reset(event_new(base_.get(), -1, 0, &EventLoop::onDeferred, this));
}

EventLoop::~EventLoop() {
  // Not run, only destroyed: what a task captures by value is freed, and a task that would
  // call into an object already destroyed (the owners go before the loop) never runs.
  deferred_.clear();
}

void EventLoop::run() { event_base_dispatch(base_.get()); }

void EventLoop::stop() { event_base_loopbreak(base_.get()); }

void EventLoop::defer(std::function<void()> task) {
  deferred_.push_back(std::move(task));
  if (!event_pending(deferredEvent_.get(), EV_TIMEOUT, nullptr)) {
    timeval zero{0, 0};
    event_add(deferredEvent_.get(), &zero);
  }
}

void EventLoop::onDeferred(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<EventLoop*>(arg);
  auto tasks = std::move(self->deferred_);
  self->deferred_.clear();
  for (auto& task : tasks) guardCallback("deferred task", {}, task);
}

Timer::Timer(EventLoop& loop, std::function<void()> callback) : loop_(loop), callback_(std::move(callback)) {}

void Timer::startOnce(std::chrono::milliseconds delay) {
  event_.reset(event_new(loop_.base(), -1, 0, &Timer::onFire, this));
  timeval tv = toTimeval(delay);
  event_add(event_.get(), &tv);
}

void Timer::startPeriodic(std::chrono::milliseconds period) {
  event_.reset(event_new(loop_.base(), -1, EV_PERSIST, &Timer::onFire, this));
  timeval tv = toTimeval(period);
  event_add(event_.get(), &tv);
}

void Timer::cancel() { event_.reset(); }

bool Timer::pending() const { return event_ && event_pending(event_.get(), EV_TIMEOUT, nullptr); }

void Timer::onFire(evutil_socket_t, short, void* arg) noexcept {
  guardCallback("timer callback", {}, static_cast<Timer*>(arg)->callback_);
}

SignalWatcher::SignalWatcher(EventLoop& loop, int signal, std::function<void()> callback)
    : callback_(std::move(callback)),
      event_(evsignal_new(loop.base(), signal, &SignalWatcher::onSignal, this)) {
  event_add(event_.get(), nullptr);
}

void SignalWatcher::onSignal(evutil_socket_t, short, void* arg) noexcept {
  guardCallback("signal callback", {}, static_cast<SignalWatcher*>(arg)->callback_);
}

}  // namespace recgw::reactor
