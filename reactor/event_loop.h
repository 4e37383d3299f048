#pragma once
// The one event_base of a worker process. Everything that touches libevent, evhttp,
// curl or hiredis objects runs on the thread that calls run().
#include <event2/event.h>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "reactor/libevent_handles.h"

namespace recgw::reactor {

class EventLoop {
 public:
  EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  event_base* base() const { return base_.get(); }

  void run();
  void stop();  // from a loop callback: leave run() after the current pass

  // Runs `task` at the fixed point of the next loop pass. A task that throws is logged and
  // the other tasks still run.
  void defer(std::function<void()> task);
  // Frees `object` at the next loop pass, for an object that is (or whose callback is) still
  // on the stack when its owner lets go of it.
  template <class T>
  void deleteSoon(std::unique_ptr<T> object) {
    if (object) defer([doomed = std::shared_ptr<T>(std::move(object))] {});
  }

 private:
  static void onDeferred(evutil_socket_t, short, void* arg) noexcept;
  EventBasePtr base_;
  EventPtr deferredEvent_;
  std::vector<std::function<void()>> deferred_;
};

// A one-shot or periodic timer owned by the caller; the callback never fires after the
// Timer is destroyed or cancelled.
class Timer {
 public:
  Timer(EventLoop& loop, std::function<void()> callback);
  void startOnce(std::chrono::milliseconds delay);
  void startPeriodic(std::chrono::milliseconds period);
  void cancel();
  bool pending() const;

 private:
  static void onFire(evutil_socket_t, short, void* arg) noexcept;
  EventLoop& loop_;
  std::function<void()> callback_;
  EventPtr event_;
};

// A signal watched by the loop (libevent turns it into a normal callback).
class SignalWatcher {
 public:
  SignalWatcher(EventLoop& loop, int signal, std::function<void()> callback);

 private:
  static void onSignal(evutil_socket_t, short, void* arg) noexcept;
  std::function<void()> callback_;
  EventPtr event_;
};

timeval toTimeval(std::chrono::milliseconds ms);

}  // namespace recgw::reactor
