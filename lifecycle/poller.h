#pragma once
// The background poll of the media provider (lifecycle.poll_period_s), through
// LifecycleService. One pass: (1) a batch of linked recordings still recording/processing →
// ask the provider about each (at most a few at once) and apply the transitions it implies
// (LifecycleService::followProvider); (2) a batch of processing recordings without a
// provider id → list their rooms at the provider and link (LifecycleService::linkRoom;
// never import). Each phase walks the collection in _id order with a cursor kept here,
// starting over after a short batch, so every recording gets its turn and the poll writes
// nothing but transitions and links. A pass never overlaps the previous one. Loop thread only.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "lifecycle/lifecycle_service.h"
#include "reactor/event_loop.h"
#include "reactor/liveness.h"

namespace recgw::lifecycle {

class Poller {
 public:
  Poller(reactor::EventLoop& loop, LifecycleService& service, int batch);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void start(std::chrono::milliseconds period);
  // One pass now (the timer's tick): nothing while a pass runs or without a provider.
  void runPass();
  bool running() const { return running_; }

 private:
  static constexpr int kMaxInFlight = 4;
  static constexpr int64_t kMaxUnlinked = 50;
  static constexpr size_t kMaxRoomsPerPass = 10;

  template <typename F>
  auto guarded(F f);
  void pump();
  void linkedDone();
  void linkRooms(storage::RecordingPage page);
  void roomDone();
  void endPass(std::string_view outcome);

  LifecycleService& service_;
  int batch_;
  reactor::Timer timer_;
  bool running_ = false;
  uint64_t pass_ = 0;
  int inFlight_ = 0;
  int roomsLeft_ = 0;
  std::deque<Recording> pending_;
  std::string linkedCursor_;    // last _id of the previous linked batch ("" = from the start)
  std::string unlinkedCursor_;  // the same for unlinked recordings
  reactor::Liveness alive_;
};

}  // namespace recgw::lifecycle
