// The background poll of the media provider (lifecycle.poll_period_s). One pass: (1) a
// batch of linked recordings still recording/processing → ask the provider about each (at
// most a few at once) → apply the transitions it implies, unless the answer names a room
// that is not the recording's (storage::linkedProviderRoomAccepted: then it is logged and
// left alone); (2) a batch of processing recordings without a provider id → list their rooms
// at the provider, by storage::providerRoomId → link (never import). Each phase walks the
// collection in _id order with a cursor kept here, starting over after a short batch, so
// every recording gets its turn and the poll writes nothing but transitions and links.
#pragma once

#include <chrono>
#include <memory>

#include "handlers/lifecycle.h"

namespace recgw::handlers {

struct LifecycleRuntime;

class LifecyclePoller {
 public:
  // The runtime owns the poller; callbacks that outlive it check the weak pointer.
  LifecyclePoller(LifecycleContext& ctx, std::weak_ptr<LifecycleRuntime> runtime);
  ~LifecyclePoller();
  LifecyclePoller(const LifecyclePoller&) = delete;
  LifecyclePoller& operator=(const LifecyclePoller&) = delete;

  void start(std::chrono::milliseconds period);

 private:
  class Passes;
  std::unique_ptr<Passes> passes_;
};

}  // namespace recgw::handlers
