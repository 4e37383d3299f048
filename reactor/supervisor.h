#pragma once
// The parent of `--workers N`: forks N single-threaded worker processes (each runs its own
// loop and binds the port with SO_REUSEPORT), restarts one that dies, forwards SIGHUP, and
// on SIGTERM/SIGINT forwards it and waits for the workers to drain.
// Runs in the parent only, with no event loop: it blocks in sigwaitinfo.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "reactor/status.h"

namespace recgw::reactor {

struct SupervisorOptions {
  int workers = 1;
  // How long after forwarding SIGTERM the workers get before SIGKILL.
  std::chrono::milliseconds killAfter{15000};
};

// "" when host:port is free for the workers, else one line saying why not. Workers bind with
// SO_REUSEPORT, which would quietly share a port another process already listens on; this
// check binds without SO_REUSEPORT, so such a port is refused. It never calls listen():
// a probe that connected to a check socket would then see the port refuse connections
// until a worker listens. Port 0 is always free.
Status checkPortFree(const std::string& host, uint16_t port);

// workerMain runs in each child and returns its exit code. Returns the parent's exit code.
int superviseWorkers(const SupervisorOptions& options, const std::function<int(int workerIndex)>& workerMain);

}  // namespace recgw::reactor
