#pragma once
// Threads for blocking calls (libmongoc). A job runs on a worker thread and returns a
// completion that runs back on the loop thread, woken through an eventfd.
//
// Workers never touch loop objects: a job captures only plain values, and its completion
// (run on the loop) does the rest. The queue is bounded; submit() refuses when full so
// the caller can answer 503 instead of queueing without end.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "reactor/libevent_handles.h"
#include "reactor/event_loop.h"

namespace recgw::reactor {

class WorkerPool {
 public:
  using Completion = std::function<void()>;  // runs on the loop thread
  using Job = std::function<Completion()>;   // runs on a worker thread

  WorkerPool(EventLoop& loop, size_t threads, size_t maxQueued);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Joins the threads; jobs still queued are dropped and their completions never run.
  ~WorkerPool();

  // Stops and joins the threads (idempotent). Call before destroying what jobs use.
  void shutdown();
  bool submit(Job job);
  size_t queued() const;
  size_t threads() const { return threads_.size(); }

 private:
  static void onWake(evutil_socket_t fd, short, void* arg) noexcept;
  void workerMain();
  void drainCompletions();

  EventLoop& loop_;
  size_t maxQueued_;
  int wakeFd_ = -1;
  EventPtr wakeEvent_;
  mutable std::mutex mutex_;
  std::condition_variable hasJob_;
  std::deque<Job> jobs_;
  std::deque<Completion> completions_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace recgw::reactor
