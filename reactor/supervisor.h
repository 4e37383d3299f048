#pragma once
// The parent of `--workers N`: forks N single-threaded worker processes (each runs its own
// loop and binds the port with SO_REUSEPORT), restarts one that dies, forwards SIGHUP, and
// on SIGTERM/SIGINT forwards it and waits for the workers to drain.
// Runs in the parent only, with no event loop: it blocks in sigwaitinfo.
#include <chrono>
#include <functional>

namespace recgw::reactor {

struct SupervisorOptions {
  int workers = 1;
  // How long after forwarding SIGTERM the workers get before SIGKILL.
  std::chrono::milliseconds killAfter{15000};
};

// workerMain runs in each child and returns its exit code. Returns the parent's exit code.
int superviseWorkers(const SupervisorOptions& options, const std::function<int(int workerIndex)>& workerMain);

}  // namespace recgw::reactor
