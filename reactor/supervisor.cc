#include "reactor/supervisor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

#include "reactor/socket_address.h"
#include "reactor/logger.h"

#if defined(__SANITIZE_ADDRESS__)
#define RECGW_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECGW_LSAN 1
#endif
#endif
#ifdef RECGW_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace recgw::reactor {
namespace {

sigset_t supervisedSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&set, s);
  return set;
}

pid_t spawn(int index, const std::function<int(int)>& workerMain, const sigset_t& blocked) {
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    logError("fork failed", {{"error", std::strerror(errno)}});
    return -1;
  }
  if (pid == 0) {
    // A worker must not outlive its supervisor.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(0);
    sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
    int code = 1;
    try {
      code = workerMain(index);
    } catch (const std::exception& e) {
      logError("worker failed", {{"error", e.what()}});
    } catch (...) {
      logError("worker failed", {{"error", "an exception that is not a std::exception"}});
    }
    std::fflush(stdout);
#ifdef RECGW_LSAN
    // _exit skips LeakSanitizer's exit-time check: run it for the worker here.
    __lsan_do_leak_check();
#endif
    ::_exit(code);
  }
  std::string pidText = std::to_string(pid);
  std::string indexText = std::to_string(index);
  logInfo("worker started", {{"worker", indexText}, {"worker_pid", pidText}});
  return pid;
}

}  // namespace

Status checkPortFree(const std::string& host, uint16_t port) {
  if (port == 0) return ok();
  auto address = parseSocketAddress(host, port);
  if (!address) return tl::unexpected(address.error());
  int fd = ::socket(address->storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::strerror(errno));
  // SO_REUSEADDR as the workers' listeners have it: a TIME_WAIT left by the previous run
  // must not count as busy. Linux still refuses the bind while any socket listens there.
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  Status result = ok();
  if (::bind(fd, address->get(), address->length) != 0)
    result = fail(host + ":" + std::to_string(port) + ": " + std::strerror(errno));
  ::close(fd);
  return result;
}

int superviseWorkers(const SupervisorOptions& options, const std::function<int(int)>& workerMain) {
  sigset_t set = supervisedSignals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::map<pid_t, int> workers;  // pid → index
  for (int i = 0; i < options.workers; ++i) {
    pid_t pid = spawn(i, workerMain, set);
    if (pid > 0) workers[pid] = i;
  }
  bool stopping = false;
  int exitCode = 0;
  auto deadline = std::chrono::steady_clock::time_point::max();
  // Restarts are rate-limited so a worker that dies at start cannot fork-bomb the box.
  std::map<int, std::chrono::steady_clock::time_point> lastStart;

  while (!workers.empty()) {
    siginfo_t info{};
    timespec wait{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&set, &info, &wait);
    if (stopping && std::chrono::steady_clock::now() > deadline) {
      for (auto& [pid, index] : workers) ::kill(pid, SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
      exitCode = 1;
    }
    if (sig < 0) {
      // Timeout or EINTR: reap anyway, a SIGCHLD may have been coalesced.
      sig = SIGCHLD;
    }
    if (sig == SIGTERM || sig == SIGINT) {
      if (!stopping) {
        logInfo("supervisor: stopping, draining workers",
                {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
        stopping = true;
        deadline = std::chrono::steady_clock::now() + options.killAfter;
        for (auto& [pid, index] : workers) ::kill(pid, SIGTERM);
      }
      continue;
    }
    if (sig == SIGHUP) {
      for (auto& [pid, index] : workers) ::kill(pid, SIGHUP);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      auto it = workers.find(pid);
      if (it == workers.end()) continue;
      int index = it->second;
      workers.erase(it);
      std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "exit " + std::to_string(WEXITSTATUS(status));
      if (stopping) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) exitCode = 1;
        logInfo("worker stopped", {{"worker_pid", std::to_string(pid)}, {"how", how}});
        continue;
      }
      if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
        // Exit code 2 is a start-up error (bad config, cannot bind): restarting cannot help.
        logError("worker could not start; stopping", {{"worker_pid", std::to_string(pid)}});
        stopping = true;
        exitCode = 2;
        deadline = std::chrono::steady_clock::now() + options.killAfter;
        for (auto& [other, otherIndex] : workers) ::kill(other, SIGTERM);
        continue;
      }
      logWarn("worker died; restarting", {{"worker_pid", std::to_string(pid)}, {"how", how}});
      auto now = std::chrono::steady_clock::now();
      auto last = lastStart.find(index);
      if (last != lastStart.end() && now - last->second < std::chrono::seconds(1)) {
        ::usleep(500 * 1000);
      }
      lastStart[index] = std::chrono::steady_clock::now();
      pid_t fresh = spawn(index, workerMain, set);
      if (fresh > 0) workers[fresh] = index;
    }
  }
  return exitCode;
}

}  // namespace recgw::reactor
