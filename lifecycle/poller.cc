#include "lifecycle/poller.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "reactor/logger.h"

namespace recgw::lifecycle {

Poller::Poller(reactor::EventLoop& loop, LifecycleService& service, int batch)
    : service_(service), batch_(std::max(1, batch)), timer_(loop, [this] { runPass(); }) {}

Poller::~Poller() = default;

void Poller::start(std::chrono::milliseconds period) { timer_.startPeriodic(period); }

// Runs `f` only while this poller is alive and the pass that made the callback is still the
// current one: a pass ended early (an exception) must not have its late answers counted
// against the next one.
template <typename F>
auto Poller::guarded(F f) {
  reactor::LivenessWatch alive = alive_;
  uint64_t pass = pass_;
  return [this, alive, pass, f](auto&&... args) mutable {
    if (alive.expired() || pass != pass_ || !running_) return;
    try {
      f(std::forward<decltype(args)>(args)...);
    } catch (const std::exception& e) {
      reactor::logError("lifecycle poll step failed", {{"error", e.what()}});
      endPass("error");
    }
  };
}

void Poller::runPass() {
  if (running_ || !service_.providerConfigured()) return;
  running_ = true;
  ++pass_;
  inFlight_ = 0;
  roomsLeft_ = 0;
  pending_.clear();
  int64_t batch = batch_;
  service_.pollCandidates(
      true, linkedCursor_, batch, guarded([this, batch](storage::RecordingPage page) {
        if (!page.error.empty()) {
          reactor::logWarn("lifecycle poll: cannot read recordings", {{"error", page.error}});
          return endPass("store_error");
        }
        linkedCursor_ = static_cast<int64_t>(page.items.size()) < batch ? "" : page.items.back().id;
        for (auto& r : page.items) pending_.push_back(std::move(r));
        pump();
      }));
}

void Poller::pump() {
  while (inFlight_ < kMaxInFlight && !pending_.empty()) {
    Recording rec = std::move(pending_.front());
    pending_.pop_front();
    ++inFlight_;
    service_.followProvider(rec, guarded([this](Status step) {
                              if (!step) throw std::runtime_error(step.error().message);
                              --inFlight_;
                              pump();
                            }));
  }
  if (inFlight_ == 0 && pending_.empty()) linkedDone();
}

void Poller::linkedDone() {
  service_.pollCandidates(false, unlinkedCursor_, kMaxUnlinked,
                          guarded([this](storage::RecordingPage page) { linkRooms(std::move(page)); }));
}

// Phase 2: rooms with recordings that have no provider id yet.
void Poller::linkRooms(storage::RecordingPage page) {
  if (!page.error.empty()) {
    reactor::logWarn("lifecycle poll: cannot read unlinked recordings", {{"error", page.error}});
    return endPass("store_error");
  }
  std::set<std::pair<std::string, std::string>> rooms;  // (tenant, room)
  std::string lastTaken;
  bool cut = false;
  for (const auto& r : page.items) {
    if (!rooms.count({r.tenantId, r.roomId}) && rooms.size() >= kMaxRoomsPerPass) {
      cut = true;
      break;
    }
    rooms.insert({r.tenantId, r.roomId});
    lastTaken = r.id;
  }
  // Items come in _id order: the next pass goes on after the last one taken.
  unlinkedCursor_ = cut || static_cast<int64_t>(page.items.size()) == kMaxUnlinked ? lastTaken : "";
  if (rooms.empty()) return endPass("ok");
  roomsLeft_ = static_cast<int>(rooms.size());
  for (const auto& [tenant, room] : rooms) {
    service_.linkRoom(tenant, room, guarded([this](Status step) {
                        if (!step) throw std::runtime_error(step.error().message);
                        roomDone();
                      }));
  }
}

void Poller::roomDone() {
  if (--roomsLeft_ > 0) return;
  endPass("ok");
}

void Poller::endPass(std::string_view outcome) {
  running_ = false;
  inFlight_ = 0;
  pending_.clear();
  service_.count("recgw_lifecycle_poll_passes_total", "outcome", outcome);
}

}  // namespace recgw::lifecycle
