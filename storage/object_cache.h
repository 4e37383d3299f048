#pragma once
// Hot recordings in memory (docs/architecture.md, "The object cache"): whole objects of at
// most maxObjectBytes, keyed by their storage key, within a byte budget. Knows nothing of
// HTTP: handlers/object_serving.h fills it from the relayed stream and answers from it.
//
// Policy: S3-FIFO (a small FIFO for newcomers, a main FIFO for objects read again while in
// the small one, a ghost list of keys recently evicted from the small one). A burst of
// objects read once (a cold scan, a bulk export) passes through the small queue without
// pushing the hot objects out of the main one, which plain LRU would do; FIFO queues need
// no reordering on a hit (one counter increment). On top of that an object is admitted
// only at its admitAfter-th request within `fresh`, so one-off downloads never cost a copy.
//
// Entries are immutable and shared: a response that references the bytes holds a
// shared_ptr, so an entry evicted or dropped meanwhile stays alive until the last response
// that references it has been written.
//
// Memory is charged per entry as CachedObject::chargedBytes() (the bytes, every string the
// entry holds and the fixed size of the structures that hold it); bytes() never exceeds the
// budget. Loop thread only.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace recgw::storage {

struct ObjectCacheSettings {
  size_t budgetBytes = 256ULL * 1024 * 1024;  // 0 turns the cache off
  size_t maxObjectBytes = 8ULL * 1024 * 1024;
  std::chrono::seconds fresh{30};
  unsigned admitAfter = 2;
};

// One whole object as storage last answered it.
struct CachedObject {
  std::string key;     // the storage key
  std::string origin;  // where it came from (storage endpoint and bucket): another origin is a miss
  std::string bytes;
  std::string etag;  // strong, as storage sent it (quoted)
  std::string lastModified;
  std::string contentType;  // as storage sent it; empty when it sent none
  std::string contentEncoding;
  bool hasContentType = false;

  size_t chargedBytes() const;
};

class ObjectCache {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ObjectCache(ObjectCacheSettings settings, std::function<Clock::time_point()> now = Clock::now);

  bool enabled() const { return settings_.budgetBytes > 0; }
  const ObjectCacheSettings& settings() const { return settings_; }
  // A smaller budget evicts at once; 0 empties the cache.
  void setSettings(ObjectCacheSettings settings);

  struct Found {
    std::shared_ptr<const CachedObject> object;
    bool fresh = false;  // validated within `fresh`; otherwise revalidate before serving
  };
  // A request for `key` (counted as a hit when found; never changes order).
  Found find(const std::string& key);
  // The entry for `key`, without counting a request.
  std::shared_ptr<const CachedObject> peek(const std::string& key) const;
  // A request that found nothing: counts toward admission. True when the object is now
  // admitted (this is at least its admitAfter-th request within `fresh`).
  bool noteMiss(const std::string& key);
  // Whether `bytes` may be cached at all (under maxObjectBytes and the budget).
  bool fits(size_t bytes) const;
  // Inserts or replaces; evicts to make room. False (and nothing stored) when it cannot fit.
  bool insert(std::shared_ptr<const CachedObject> object);
  // Storage confirmed the entry (304): fresh again for `fresh`.
  void refresh(const std::string& key);

  // Drops the entry for a storage key at once (an object changed, moved or deleted; the
  // invalidation of every worker calls this). Responses already referencing it finish.
  bool dropObject(const std::string& key);
  // Another name that reached this object (a lookup cache key, never a raw token): dropAlias
  // drops the object it reached.
  void noteAlias(const std::string& alias, const std::string& key);
  bool dropAlias(const std::string& alias);
  std::optional<std::string> aliasTarget(const std::string& alias) const;

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  uint64_t evictions() const { return evictions_; }

  struct EntryStats {
    std::string key;
    uint64_t hits = 0;
    size_t bytes = 0;
    std::string etag;
    std::chrono::seconds age{0};  // since last validated
  };
  // The `limit` entries with the most hits, most first.
  std::vector<EntryStats> top(size_t limit) const;

  // Told of each entry evicted for room (not dropped): its key.
  void setOnEvict(std::function<void(const std::string&)> onEvict) { onEvict_ = std::move(onEvict); }

 private:
  enum class Queue { kSmall, kMain };
  struct Entry {
    std::shared_ptr<const CachedObject> object;
    Queue queue = Queue::kSmall;
    std::list<std::string>::iterator position;
    uint8_t frequency = 0;  // 0..3, S3-FIFO's
    uint64_t hits = 0;
    Clock::time_point validated;
    std::vector<std::string> aliases;
    size_t charge = 0;
  };
  struct Seen {
    unsigned count = 0;
    Clock::time_point windowStart;
  };

  void chargeAlias(Entry& e, std::ptrdiff_t delta);  // an alias added or taken away
  void makeRoom(size_t needed);
  void evictOne();
  void removeEntry(std::unordered_map<std::string, Entry>::iterator it);
  void rememberGhost(const std::string& key);
  size_t smallTarget() const { return settings_.budgetBytes / 10; }

  ObjectCacheSettings settings_;
  std::function<Clock::time_point()> now_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> small_, main_;  // front = newest
  size_t smallBytes_ = 0;
  size_t bytes_ = 0;
  uint64_t evictions_ = 0;
  std::list<std::string> ghostOrder_;
  std::unordered_map<std::string, std::list<std::string>::iterator> ghosts_;
  std::list<std::string> seenOrder_;
  std::unordered_map<std::string, std::pair<Seen, std::list<std::string>::iterator>> seen_;
  std::unordered_map<std::string, std::string> aliases_;  // alias -> key
  std::function<void(const std::string&)> onEvict_;
  static constexpr size_t kMaxAliasesPerEntry = 16;
};

}  // namespace recgw::storage
