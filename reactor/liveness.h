#pragma once
// "Is the object that started this still alive?" for work that comes back on a later loop
// pass (a deferred task, a curl or Redis completion). The owner holds a Liveness member
// (declared last, so it dies first); the callback captures a LivenessWatch and checks
// alive() before touching the owner. Loop thread only.
#include <memory>

namespace recgw::reactor {

class LivenessWatch;

class Liveness {
 public:
  Liveness() = default;
  Liveness(const Liveness&) = delete;
  Liveness& operator=(const Liveness&) = delete;

  LivenessWatch watch() const;
  // Every watch taken so far reports dead from now on; later watches see the owner alive.
  void invalidate() { token_ = std::make_shared<char>(0); }

 private:
  std::shared_ptr<char> token_ = std::make_shared<char>(0);
};

class LivenessWatch {
 public:
  LivenessWatch() = default;  // watches nothing: never alive
  bool alive() const { return !token_.expired(); }
  explicit operator bool() const { return alive(); }

 private:
  friend class Liveness;
  explicit LivenessWatch(const std::shared_ptr<char>& token) : token_(token) {}
  std::weak_ptr<char> token_;
};

inline LivenessWatch Liveness::watch() const { return LivenessWatch(token_); }

}  // namespace recgw::reactor
