#include "reactor/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "reactor/event_loop.h"
#include "tests/unit/run_loop.h"

namespace recgw::reactor {
namespace {

using namespace std::chrono_literals;

using recgw::testing::runWithin;

TEST(WorkerPoolTest, JobsRunOffTheLoopAndCompletionsOnIt) {
  EventLoop loop;
  WorkerPool pool(loop, 3, 64);
  EXPECT_EQ(pool.threads(), 3u);
  const auto loopThread = std::this_thread::get_id();
  constexpr int kJobs = 20;
  std::vector<std::thread::id> jobThreads(kJobs);
  std::vector<std::thread::id> completionThreads(kJobs);
  int completed = 0;
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(pool.submit([&, i]() -> WorkerPool::Completion {
      jobThreads[i] = std::this_thread::get_id();  // each job writes only its own slot
      int value = i * i;
      return [&, i, value] {
        completionThreads[i] = std::this_thread::get_id();
        EXPECT_EQ(value, i * i);
        if (++completed == kJobs) loop.stop();
      };
    }));
  }
  runWithin(loop, 10s);
  ASSERT_EQ(completed, kJobs);
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_NE(jobThreads[i], loopThread) << "job " << i << " ran on the loop thread";
    EXPECT_NE(jobThreads[i], std::thread::id()) << "job " << i << " did not run";
    EXPECT_EQ(completionThreads[i], loopThread) << "completion " << i << " ran off the loop thread";
  }
}

TEST(WorkerPoolTest, JobWithoutCompletionIsFine) {
  EventLoop loop;
  WorkerPool pool(loop, 1, 4);
  std::promise<void> ran;
  ASSERT_TRUE(pool.submit([&]() -> WorkerPool::Completion {
    ran.set_value();
    return {};
  }));
  EXPECT_EQ(ran.get_future().wait_for(5s), std::future_status::ready);
  // The next job's completion still arrives.
  ASSERT_TRUE(pool.submit([&] { return WorkerPool::Completion([&] { loop.stop(); }); }));
  runWithin(loop, 5s);
}

TEST(WorkerPoolTest, QueueBoundRefusesSubmissions) {
  EventLoop loop;
  WorkerPool pool(loop, 1, 2);
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  int completed = 0;
  auto finishOne = [&] {
    if (++completed == 3) loop.stop();
  };
  ASSERT_TRUE(pool.submit([&, released]() -> WorkerPool::Completion {
    started.set_value();
    released.wait();
    return finishOne;
  }));
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  // The only worker is busy: two jobs fit in the queue, the third does not.
  EXPECT_TRUE(pool.submit([&]() -> WorkerPool::Completion { return finishOne; }));
  EXPECT_TRUE(pool.submit([&]() -> WorkerPool::Completion { return finishOne; }));
  EXPECT_EQ(pool.queued(), 2u);
  EXPECT_FALSE(pool.submit([&]() -> WorkerPool::Completion {
    ADD_FAILURE() << "a refused job ran";
    return {};
  }));
  EXPECT_EQ(pool.queued(), 2u);
  release.set_value();
  runWithin(loop, 10s);
  EXPECT_EQ(completed, 3);
  EXPECT_EQ(pool.queued(), 0u);
  // Room again.
  EXPECT_TRUE(pool.submit([&]() -> WorkerPool::Completion { return [&] { loop.stop(); }; }));
  runWithin(loop, 5s);
}

TEST(WorkerPoolTest, ShutdownJoinsAndDropsQueuedJobs) {
  EventLoop loop;
  WorkerPool pool(loop, 1, 8);
  std::promise<void> started;
  std::atomic<bool> firstFinished{false};
  std::atomic<bool> queuedRan{false};
  ASSERT_TRUE(pool.submit([&]() -> WorkerPool::Completion {
    started.set_value();
    std::this_thread::sleep_for(200ms);
    firstFinished = true;
    return {};
  }));
  ASSERT_TRUE(pool.submit([&]() -> WorkerPool::Completion {
    queuedRan = true;
    return {};
  }));
  ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  pool.shutdown();
  // shutdown() returned only after the running job finished: the thread was joined.
  EXPECT_TRUE(firstFinished);
  EXPECT_FALSE(queuedRan);
  EXPECT_EQ(pool.threads(), 0u);
  EXPECT_FALSE(pool.submit([]() -> WorkerPool::Completion { return {}; }));
  pool.shutdown();  // idempotent
  EXPECT_EQ(pool.threads(), 0u);
}

TEST(WorkerPoolTest, DestructorJoins) {
  EventLoop loop;
  std::atomic<bool> finished{false};
  {
    WorkerPool pool(loop, 2, 8);
    std::promise<void> started;
    ASSERT_TRUE(pool.submit([&]() -> WorkerPool::Completion {
      started.set_value();
      std::this_thread::sleep_for(100ms);
      finished = true;
      return [] { ADD_FAILURE() << "completion ran although the loop never did"; };
    }));
    ASSERT_EQ(started.get_future().wait_for(5s), std::future_status::ready);
  }
  EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace recgw::reactor
