#include "handlers/failed_lookup_limiter.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>

namespace recgw::handlers {

// The mapping: a header, then `sets` sets of `ways` slots. Plain data only (it is shared by
// processes); the lock word is the one atomic.
struct FailedLookupTable::Layout {
  uint64_t seed;  // keys the address hash, so nobody can aim addresses at one set
};

struct FailedLookupTable::Set {
  static constexpr size_t kMaxWays = 8;
  // pid of the process holding the set, 0 when free.
  std::atomic<int32_t> holder;
  struct Slot {
    uint64_t key;  // 0 = empty
    Bucket bucket;
  } slots[kMaxWays];
};

namespace {

static_assert(std::atomic<int32_t>::is_always_lock_free, "the set lock must work across processes");

int64_t steadyNs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

uint64_t mix(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Takes a set's lock; never blocks for long. A holder that died mid-update (SIGKILL, crash)
// left the set consistent enough — each field is written whole — so its lock is taken over.
class SetLock {
 public:
  // How long a caller waits for a live holder before it gives up (fails open).
  static constexpr std::chrono::milliseconds kPatience{2};

  explicit SetLock(std::atomic<int32_t>& word) : word_(word) {
    const int32_t self = static_cast<int32_t>(::getpid());
    const auto giveUp = std::chrono::steady_clock::now() + kPatience;
    bool holderChecked = false;
    for (int attempt = 0;; ++attempt) {
      int32_t expected = 0;
      if (word_.compare_exchange_weak(expected, self, std::memory_order_acquire, std::memory_order_relaxed)) {
        held_ = true;
        return;
      }
      if (attempt < 16) continue;
      // The critical section is a few instructions: a holder still there after a few
      // rounds was descheduled (or died), so give it the CPU.
      ::sched_yield();
      if (attempt % 16 != 0) continue;
      bool late = std::chrono::steady_clock::now() >= giveUp;
      if ((late || !holderChecked) && expected != 0 && expected != self && ::kill(expected, 0) != 0 &&
          errno == ESRCH) {
        if (word_.compare_exchange_strong(expected, self, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
          held_ = true;
          return;
        }
      }
      holderChecked = true;
      if (late) return;
    }
  }
  ~SetLock() {
    if (held_) word_.store(0, std::memory_order_release);
  }
  SetLock(const SetLock&) = delete;
  SetLock& operator=(const SetLock&) = delete;
  bool held() const { return held_; }

 private:
  std::atomic<int32_t>& word_;
  bool held_ = false;
};

}  // namespace

FailedLookupTable::FailedLookupTable(void* memory, size_t bytes, size_t sets, size_t ways)
    : memory_(memory), bytes_(bytes), sets_(sets), ways_(ways) {}

FailedLookupTable::~FailedLookupTable() { ::munmap(memory_, bytes_); }

std::shared_ptr<FailedLookupTable> FailedLookupTable::createShared(size_t maxAddresses) {
  return create(maxAddresses, true);
}

std::shared_ptr<FailedLookupTable> FailedLookupTable::createPrivate(size_t maxAddresses) {
  return create(maxAddresses, false);
}

std::shared_ptr<FailedLookupTable> FailedLookupTable::create(size_t maxAddresses, bool shared) {
  size_t ways = std::clamp<size_t>(maxAddresses, 1, Set::kMaxWays);
  size_t sets = std::max<size_t>(1, (maxAddresses + ways - 1) / ways);
  size_t bytes = sizeof(Set) * (sets + 1);  // the first Set-sized block holds the Layout
  static_assert(sizeof(Layout) <= sizeof(Set));
  // Anonymous memory starts zeroed; the placement-news below begin the objects' lifetimes
  // (every set unlocked, every slot empty).
  void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    throw std::runtime_error(std::string("failed-lookup table: mmap: ") + std::strerror(errno));
  }
  auto* layout = new (memory) Layout{};
  if (::getrandom(&layout->seed, sizeof layout->seed, 0) != sizeof layout->seed) {
    layout->seed = mix(static_cast<uint64_t>(steadyNs(std::chrono::steady_clock::now())) ^
                       static_cast<uint64_t>(::getpid()));
  }
  auto* first = reinterpret_cast<Set*>(static_cast<char*>(memory) + sizeof(Set));
  for (size_t i = 0; i < sets; ++i) new (first + i) Set{};
  return std::shared_ptr<FailedLookupTable>(new FailedLookupTable(memory, bytes, sets, ways));
}

uint64_t FailedLookupTable::keyOf(const std::string& address) const {
  // FNV-1a over the address, keyed by the table's random seed, then mixed: a 64-bit key
  // stands for the address (two addresses sharing one is not a practical concern).
  uint64_t h = 0xcbf29ce484222325ULL ^ static_cast<const Layout*>(memory_)->seed;
  for (unsigned char c : address) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h = mix(h);
  return h == 0 ? 1 : h;
}

FailedLookupTable::Set& FailedLookupTable::setFor(uint64_t key) const {
  auto* first = reinterpret_cast<Set*>(static_cast<char*>(memory_) + sizeof(Set));
  return first[(key >> 7) % sets_];
}

// Defined here and used only by FailedLookupLimiter below, so the layout stays private.
template <typename Update, typename Refill>
bool FailedLookupTable::withBucket(const std::string& address, bool create, Bucket fresh, Refill&& refill,
                                   Update&& update) {
  const uint64_t key = keyOf(address);
  Set& set = setFor(key);
  SetLock lock(set.holder);
  if (!lock.held()) {
    ++lockTimeouts_;
    return false;
  }
  Set::Slot* slots = set.slots;
  for (size_t i = 0; i < ways_; ++i) {
    if (slots[i].key == key) {
      update(slots[i].bucket);
      return true;
    }
  }
  if (!create) return true;
  // An empty slot, else the fullest bucket: a full one carries no state worth keeping, and
  // an address being limited (nearly empty) is the last to lose its bucket.
  Set::Slot* victim = nullptr;
  for (size_t i = 0; i < ways_ && !victim; ++i) {
    if (slots[i].key == 0) victim = &slots[i];
  }
  if (!victim) {
    for (size_t i = 0; i < ways_; ++i) {
      refill(slots[i].bucket);
      if (!victim || slots[i].bucket.tokens > victim->bucket.tokens) victim = &slots[i];
    }
  }
  victim->key = key;
  victim->bucket = fresh;
  update(victim->bucket);
  return true;
}

size_t FailedLookupTable::tracked() const {
  auto* first = reinterpret_cast<const Set*>(static_cast<const char*>(memory_) + sizeof(Set));
  size_t n = 0;
  for (size_t s = 0; s < sets_; ++s) {
    for (size_t i = 0; i < ways_; ++i) n += first[s].slots[i].key != 0;
  }
  return n;
}

size_t FailedLookupTable::capacity() const { return sets_ * ways_; }

void FailedLookupTableTestPeer::holdEveryLock(FailedLookupTable& table) {
  const auto self = static_cast<int32_t>(::getpid());
  for (size_t s = 0; s < table.sets_; ++s) table.setFor(s << 7).holder.store(self);
}

void FailedLookupTableTestPeer::releaseEveryLock(FailedLookupTable& table) {
  for (size_t s = 0; s < table.sets_; ++s) table.setFor(s << 7).holder.store(0);
}

FailedLookupLimiter::FailedLookupLimiter(double perMinute, double burst, size_t maxAddresses)
    : FailedLookupLimiter(FailedLookupTable::createPrivate(maxAddresses), perMinute, burst) {}

FailedLookupLimiter::FailedLookupLimiter(std::shared_ptr<FailedLookupTable> table, double perMinute,
                                         double burst)
    : table_(std::move(table)), ratePerSecond_(perMinute / 60.0), burst_(burst) {}

void FailedLookupLimiter::refill(FailedLookupTable::Bucket& b, int64_t nowNs) const {
  double elapsed = static_cast<double>(nowNs - b.updatedNs) / 1e9;
  if (elapsed > 0) b.tokens = std::min(burst_, b.tokens + elapsed * ratePerSecond_);
  // Buckets are shared: another process may have stamped a slightly later time.
  b.updatedNs = std::max(b.updatedNs, nowNs);
  b.tokens = std::min(burst_, b.tokens);  // the burst may have been lowered by a reload
}

int FailedLookupLimiter::waitSeconds(double tokens) const {
  if (tokens >= 1.0) return 0;
  return std::max(1, static_cast<int>(std::ceil((1.0 - tokens) / ratePerSecond_)));
}

int FailedLookupLimiter::retryAfter(const std::string& address, Clock::time_point now) {
  if (ratePerSecond_ <= 0) return 0;  // 0 per minute = no limit
  int64_t nowNs = steadyNs(now);
  int wait = 0;
  table_->withBucket(
      address, false, {}, [](FailedLookupTable::Bucket&) {},
      [&](FailedLookupTable::Bucket& b) {
        refill(b, nowNs);
        wait = waitSeconds(b.tokens);
      });
  return wait;
}

void FailedLookupLimiter::recordFailure(const std::string& address, Clock::time_point now) {
  if (ratePerSecond_ <= 0) return;
  int64_t nowNs = steadyNs(now);
  table_->withBucket(
      address, true, {burst_, nowNs}, [&](FailedLookupTable::Bucket& b) { refill(b, nowNs); },
      [&](FailedLookupTable::Bucket& b) {
        refill(b, nowNs);
        b.tokens = std::max(0.0, b.tokens - 1.0);
      });
}

int FailedLookupLimiter::tryCharge(const std::string& address, Clock::time_point now) {
  if (ratePerSecond_ <= 0) return 0;
  int64_t nowNs = steadyNs(now);
  int wait = 0;
  table_->withBucket(
      address, true, {burst_, nowNs}, [&](FailedLookupTable::Bucket& b) { refill(b, nowNs); },
      [&](FailedLookupTable::Bucket& b) {
        refill(b, nowNs);
        wait = waitSeconds(b.tokens);
        if (wait == 0) b.tokens -= 1.0;
      });
  return wait;
}

void FailedLookupLimiter::refund(const std::string& address, Clock::time_point now) {
  int64_t nowNs = steadyNs(now);
  table_->withBucket(
      address, false, {}, [](FailedLookupTable::Bucket&) {},
      [&](FailedLookupTable::Bucket& b) {
        refill(b, nowNs);
        b.tokens = std::min(burst_, b.tokens + 1.0);
      });
}

std::string clientAddress(const std::string& peer, const char* forwardedFor,
                          const std::vector<std::string>& trustedProxies) {
  auto trusted = [&](const std::string& a) {
    return std::find(trustedProxies.begin(), trustedProxies.end(), a) != trustedProxies.end();
  };
  if (!forwardedFor || !trusted(peer)) return peer;
  std::vector<std::string> hops;
  std::stringstream ss(forwardedFor);
  std::string hop;
  while (std::getline(ss, hop, ',')) {
    size_t b = hop.find_first_not_of(" \t");
    size_t e = hop.find_last_not_of(" \t");
    if (b != std::string::npos) hops.push_back(hop.substr(b, e - b + 1));
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!trusted(*it)) return *it;
  }
  return peer;
}

}  // namespace recgw::handlers
