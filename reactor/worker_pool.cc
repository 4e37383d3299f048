#include "reactor/worker_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>

#include "reactor/callback_guard.h"
#include "reactor/logger.h"

namespace recgw::reactor {

WorkerPool::WorkerPool(EventLoop& loop, size_t threads, size_t maxQueued)
    : loop_(loop), maxQueued_(maxQueued) {
  wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) throw std::runtime_error("eventfd failed");
  wakeEvent_.reset(event_new(loop.base(), wakeFd_, EV_READ | EV_PERSIST, &WorkerPool::onWake, this));
  event_add(wakeEvent_.get(), nullptr);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { workerMain(); });
}

WorkerPool::~WorkerPool() {
  shutdown();
  wakeEvent_.reset();
  if (wakeFd_ >= 0) ::close(wakeFd_);
}

void WorkerPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  hasJob_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool WorkerPool::submit(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || jobs_.size() >= maxQueued_) return false;
    jobs_.push_back(std::move(job));
  }
  hasJob_.notify_one();
  return true;
}

size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return jobs_.size();
}

void WorkerPool::workerMain() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      hasJob_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Completion done;
    try {
      done = job();
    } catch (const std::exception& e) {
      // A job must report its own failures; this only keeps the thread alive.
      std::string what = e.what();
      done = [what] { logError("worker job threw", {{"error", what}}); };
    } catch (...) {
      done = [] { logError("worker job threw", {{"error", "an exception that is not a std::exception"}}); };
    }
    if (!done) continue;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      completions_.push_back(std::move(done));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
  }
}

void WorkerPool::onWake(evutil_socket_t fd, short, void* arg) noexcept {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(fd, &count, sizeof count);
  guardCallback("worker pool wake-up", {}, [arg] { static_cast<WorkerPool*>(arg)->drainCompletions(); });
}

void WorkerPool::drainCompletions() {
  std::deque<Completion> ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready.swap(completions_);
  }
  for (auto& done : ready) guardCallback("worker completion", {}, done);
}

}  // namespace recgw::reactor
