#pragma once
// "Is the object that started this still alive?" for work that comes back on a later loop
// pass (a deferred task, a curl, Redis or worker-pool completion). The owner holds a
// Liveness member; the callback captures a LivenessWatch of it and checks before touching
// the owner:
//
//   reactor::LivenessWatch alive = alive_;
//   loop_.defer([this, alive] { if (alive.expired()) return; ... });
//
// Loop thread only.
#include <memory>

namespace recgw::reactor {

class Liveness {
 public:
  Liveness() = default;
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;

  // Every watch taken so far sees the owner gone from now on (a destructor that must stop
  // late callbacks before it frees what they would touch); later watches see it alive.
  void invalidate() { token_ = std::make_shared<char>(0); }

 private:
  friend class LivenessWatch;
  std::shared_ptr<char> token_ = std::make_shared<char>(0);
};

class LivenessWatch {
 public:
  LivenessWatch() = default;  // watches nothing: never alive
  // Implicit, so that `LivenessWatch alive = alive_;` reads as what it is.
  LivenessWatch(const Liveness& owner) : token_(owner.token_) {}  // NOLINT(google-explicit-constructor)

  bool alive() const { return !token_.expired(); }
  bool expired() const { return token_.expired(); }

 private:
  std::weak_ptr<char> token_;
};

}  // namespace recgw::reactor
