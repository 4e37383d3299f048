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

EventLoop::EventLoop() : base_(event_base_new()) {
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
