#pragma once
// Running a test's EventLoop with a deadline, so a callback that never comes fails the test
// instead of hanging it.
#include <gtest/gtest.h>

#include <chrono>

#include "reactor/event_loop.h"

namespace recgw::testing {

// Runs the loop until something calls loop.stop(), or fails the test after `limit`.
inline void runWithin(reactor::EventLoop& loop, std::chrono::milliseconds limit) {
  bool expired = false;
  reactor::Timer guard(loop, [&] {
    expired = true;
    loop.stop();
  });
  guard.startOnce(limit);
  loop.run();
  EXPECT_FALSE(expired) << "the loop was still running after " << limit.count() << " ms";
}

// Runs the loop (whose callbacks stop it when they may have set `done`) until `done`, or
// until `limit` passes; returns `done`.
inline bool runUntil(reactor::EventLoop& loop, const bool& done, std::chrono::milliseconds limit) {
  bool expired = false;
  reactor::Timer guard(loop, [&] {
    expired = true;
    loop.stop();
  });
  guard.startOnce(limit);
  while (!done && !expired) loop.run();
  return done;
}

}  // namespace recgw::testing
