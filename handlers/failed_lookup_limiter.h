#pragma once
// Per-client-address token bucket of failed public lookups (README, "Operations"). It exists to keep
// floods of unknown tokens off MongoDB: public lookups are charged only when they would
// reach MongoDB (nothing in L1 or Redis), and refunded when MongoDB finds the call, so
// valid links — and anything the caches answer — are never refused.
//
// The buckets live in a FailedLookupTable: a fixed-size table that the supervisor maps
// shared before it forks, so every worker process of one gateway spends the same budget
// (with N workers a scanner still gets `burst` lookups, not N × burst). A private table
// (unit tests, the diagnose route) works the same within one process.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace recgw::handlers {

// Token buckets keyed by a keyed 64-bit hash of the address, in sets of a few slots; a
// set's slots are guarded by a process-shared spinlock whose critical section is a few
// arithmetic steps (no system call, no allocation). A lock whose holder died is taken
// over; one held by a live but descheduled process is waited for briefly, then the caller
// fails open (the lookup is allowed uncharged) rather than block its event loop.
class FailedLookupTable {
 public:
  // Anonymous MAP_SHARED memory: create it before fork() and every child shares it.
  // Throws std::runtime_error when the mapping fails.
  static std::shared_ptr<FailedLookupTable> createShared(size_t maxAddresses);
  // Same layout, visible to this process only.
  static std::shared_ptr<FailedLookupTable> createPrivate(size_t maxAddresses);

  ~FailedLookupTable();
  FailedLookupTable(const FailedLookupTable&) = delete;
  FailedLookupTable& operator=(const FailedLookupTable&) = delete;

  size_t tracked() const;
  size_t capacity() const;
  // Calls that gave up waiting for a set's lock in this process (and so failed open).
  uint64_t lockTimeouts() const { return lockTimeouts_; }

 private:
  friend class FailedLookupLimiter;
  friend struct FailedLookupTableTestPeer;
  struct Bucket {
    double tokens;
    int64_t updatedNs;  // steady clock (CLOCK_MONOTONIC: one clock for every process)
  };
  // Runs `update` on the address's bucket under its set's lock. `create`: make a bucket
  // (starting from `fresh`) when the address has none, evicting the fullest bucket of the
  // set if it is full; otherwise `update` is not called for an unknown address. `refill`
  // brings any bucket up to date before eviction compares them. Returns false when the
  // lock could not be taken (see the class comment).
  // Defined in the .cc, the only place it is used.
  template <typename Update, typename Refill>
  bool withBucket(const std::string& address, bool create, Bucket fresh, Refill&& refill, Update&& update);

  struct Layout;
  struct Set;
  static std::shared_ptr<FailedLookupTable> create(size_t maxAddresses, bool shared);
  FailedLookupTable(void* memory, size_t bytes, size_t sets, size_t ways);
  Set& setFor(uint64_t key) const;
  uint64_t keyOf(const std::string& address) const;

  void* memory_;
  size_t bytes_;
  size_t sets_;
  size_t ways_;
  uint64_t lockTimeouts_ = 0;
};

// For tests of the lock's recovery: takes (or frees) every set's lock as this process.
struct FailedLookupTableTestPeer {
  static void holdEveryLock(FailedLookupTable& table);
  static void releaseEveryLock(FailedLookupTable& table);
};

class FailedLookupLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  // A private table sized for maxAddresses (one process).
  FailedLookupLimiter(double perMinute, double burst, size_t maxAddresses = 100000);
  // Buckets in `table`, which other processes may share.
  FailedLookupLimiter(std::shared_ptr<FailedLookupTable> table, double perMinute, double burst);

  // Seconds until the next failure would be allowed; 0 when the address may look up now.
  int retryAfter(const std::string& address, Clock::time_point now = Clock::now());
  void recordFailure(const std::string& address, Clock::time_point now = Clock::now());
  // retryAfter and recordFailure as one step under the bucket's lock, so workers deciding
  // at the same moment cannot both spend the last unit: 0 = allowed and charged one unit;
  // otherwise the seconds to wait (nothing charged).
  int tryCharge(const std::string& address, Clock::time_point now = Clock::now());
  // Gives back a unit charged by tryCharge/recordFailure. Public lookups are charged when
  // they are about to query MongoDB and refunded when it finds the call, so lookups still
  // in flight count against the bucket and a scanner sending in parallel — to any worker —
  // cannot outrun it.
  void refund(const std::string& address, Clock::time_point now = Clock::now());
  void configure(double perMinute, double burst) {
    ratePerSecond_ = perMinute / 60.0;
    burst_ = burst;
  }
  size_t tracked() const { return table_->tracked(); }
  uint64_t lockTimeouts() const { return table_->lockTimeouts(); }

 private:
  void refill(FailedLookupTable::Bucket& b, int64_t nowNs) const;
  int waitSeconds(double tokens) const;

  std::shared_ptr<FailedLookupTable> table_;
  double ratePerSecond_;
  double burst_;
};

// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
std::string clientAddress(const std::string& peer, const char* forwardedFor,
                          const std::vector<std::string>& trustedProxies);

}  // namespace recgw::handlers
