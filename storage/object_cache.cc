#include "storage/object_cache.h"

#include <algorithm>

namespace recgw::storage {

namespace {

// Keys remembered for admission and in the ghost list, whatever the budget: a key costs a
// few hundred bytes at most, so this caps their memory at a few tens of MiB in the worst case.
constexpr size_t kMaxSeenKeys = 65536;
constexpr size_t kMaxGhostKeys = 65536;

}  // namespace

size_t CachedObject::chargedBytes() const {
  return sizeof(CachedObject) + key.size() + origin.size() + bytes.size() + etag.size() +
         lastModified.size() + contentType.size() + contentEncoding.size();
}

ObjectCache::ObjectCache(ObjectCacheSettings settings, std::function<Clock::time_point()> now)
    : settings_(settings), now_(std::move(now)) {}

void ObjectCache::setSettings(ObjectCacheSettings settings) {
  settings_ = settings;
  makeRoom(0);
}

ObjectCache::Found ObjectCache::find(const std::string& key) {
  Found found;
  auto it = entries_.find(key);
  if (it == entries_.end()) return found;
  Entry& e = it->second;
  found.object = e.object;
  found.fresh = now_() - e.validated < settings_.fresh;
  if (e.frequency < 3) ++e.frequency;
  ++e.hits;
  return found;
}

std::shared_ptr<const CachedObject> ObjectCache::peek(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.object;
}

bool ObjectCache::noteMiss(const std::string& key) {
  if (!enabled()) return false;
  const Clock::time_point now = now_();
  auto it = seen_.find(key);
  if (it == seen_.end()) {
    while (seen_.size() >= kMaxSeenKeys) {
      seen_.erase(seenOrder_.back());
      seenOrder_.pop_back();
    }
    seenOrder_.push_front(key);
    it = seen_.emplace(key, std::make_pair(Seen{0, now}, seenOrder_.begin())).first;
  }
  Seen& seen = it->second.first;
  if (now - seen.windowStart >= settings_.fresh) seen = Seen{0, now};
  ++seen.count;
  // A key evicted from the small queue lately was wanted again: the ghost list vouches for it.
  return seen.count >= std::max(1u, settings_.admitAfter) || ghosts_.count(key) > 0;
}

bool ObjectCache::fits(size_t bytes) const {
  return enabled() && bytes <= settings_.maxObjectBytes &&
         bytes + sizeof(CachedObject) <= settings_.budgetBytes;
}

bool ObjectCache::insert(std::shared_ptr<const CachedObject> object) {
  if (!object || !fits(object->bytes.size())) return false;
  const size_t charge = object->chargedBytes();
  if (charge > settings_.budgetBytes) return false;
  std::vector<std::string> aliases;
  uint64_t hits = 0;
  if (auto old = entries_.find(object->key); old != entries_.end()) {
    // A replacement (the object changed) keeps the names that reach it and its popularity.
    aliases = std::move(old->second.aliases);
    hits = old->second.hits;
    for (const auto& alias : aliases) aliases_.erase(alias);
    removeEntry(old);
  }
  makeRoom(charge);
  const std::string key = object->key;
  Entry e;
  e.object = std::move(object);
  e.validated = now_();
  e.charge = charge;
  e.hits = hits;
  if (auto ghost = ghosts_.find(key); ghost != ghosts_.end()) {
    ghostOrder_.erase(ghost->second);
    ghosts_.erase(ghost);
    e.queue = Queue::kMain;
    main_.push_front(key);
    e.position = main_.begin();
  } else {
    e.queue = Queue::kSmall;
    small_.push_front(key);
    e.position = small_.begin();
    smallBytes_ += charge;
  }
  bytes_ += charge;
  auto [it, inserted] = entries_.emplace(key, std::move(e));
  for (auto& alias : aliases) {
    aliases_[alias] = key;
    chargeAlias(it->second, static_cast<std::ptrdiff_t>(alias.size()));
    it->second.aliases.push_back(std::move(alias));
  }
  makeRoom(0);
  return entries_.count(key) > 0;
}

void ObjectCache::refresh(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.validated = now_();
}

bool ObjectCache::dropObject(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return false;
  removeEntry(it);
  return true;
}

void ObjectCache::noteAlias(const std::string& alias, const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (std::find(e.aliases.begin(), e.aliases.end(), alias) != e.aliases.end()) return;
  if (e.aliases.size() >= kMaxAliasesPerEntry) return;
  if (auto other = aliases_.find(alias); other != aliases_.end() && other->second != key) {
    // The name reached another object before (a key changed): it now reaches this one.
    if (auto previous = entries_.find(other->second); previous != entries_.end()) {
      auto& list = previous->second.aliases;
      list.erase(std::remove(list.begin(), list.end(), alias), list.end());
      chargeAlias(previous->second, -static_cast<std::ptrdiff_t>(alias.size()));
    }
  }
  aliases_[alias] = key;
  e.aliases.push_back(alias);
  chargeAlias(e, static_cast<std::ptrdiff_t>(alias.size()));
  makeRoom(0);
}

bool ObjectCache::dropAlias(const std::string& alias) {
  auto it = aliases_.find(alias);
  if (it == aliases_.end()) return false;
  std::string key = it->second;
  return dropObject(key);
}

std::optional<std::string> ObjectCache::aliasTarget(const std::string& alias) const {
  auto it = aliases_.find(alias);
  if (it == aliases_.end()) return std::nullopt;
  return it->second;
}

std::vector<ObjectCache::EntryStats> ObjectCache::top(size_t limit) const {
  std::vector<EntryStats> all;
  all.reserve(entries_.size());
  const Clock::time_point now = now_();
  for (const auto& [key, e] : entries_) {
    EntryStats s;
    s.key = key;
    s.hits = e.hits;
    s.bytes = e.object->bytes.size();
    s.etag = e.object->etag;
    s.age = std::chrono::duration_cast<std::chrono::seconds>(now - e.validated);
    all.push_back(std::move(s));
  }
  const size_t n = std::min(limit, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const EntryStats& a, const EntryStats& b) {
                      return a.hits != b.hits ? a.hits > b.hits : a.key < b.key;
                    });
  all.resize(n);
  return all;
}

void ObjectCache::chargeAlias(Entry& e, std::ptrdiff_t delta) {
  e.charge = static_cast<size_t>(static_cast<std::ptrdiff_t>(e.charge) + delta);
  bytes_ = static_cast<size_t>(static_cast<std::ptrdiff_t>(bytes_) + delta);
  if (e.queue == Queue::kSmall)
    smallBytes_ = static_cast<size_t>(static_cast<std::ptrdiff_t>(smallBytes_) + delta);
}

void ObjectCache::makeRoom(size_t needed) {
  while (!entries_.empty() && bytes_ + needed > settings_.budgetBytes) evictOne();
}

// S3-FIFO: the small queue is evicted from while it holds more than its share (10%);
// its tail goes to the main queue when it was read again, else out (and its key to the
// ghost list). The main queue's tail gets another round while its frequency lasts.
void ObjectCache::evictOne() {
  for (;;) {
    const bool fromSmall = !small_.empty() && (smallBytes_ > smallTarget() || main_.empty());
    if (fromSmall) {
      const std::string key = small_.back();
      auto it = entries_.find(key);
      Entry& e = it->second;
      if (e.frequency > 1) {
        small_.pop_back();
        smallBytes_ -= e.charge;
        e.queue = Queue::kMain;
        e.frequency = 0;
        main_.push_front(key);
        e.position = main_.begin();
        continue;
      }
      rememberGhost(key);
      ++evictions_;
      if (onEvict_) onEvict_(key);
      removeEntry(it);
      return;
    }
    if (main_.empty()) return;
    const std::string key = main_.back();
    auto it = entries_.find(key);
    Entry& e = it->second;
    if (e.frequency > 0) {
      --e.frequency;
      main_.splice(main_.begin(), main_, e.position);
      continue;
    }
    ++evictions_;
    if (onEvict_) onEvict_(key);
    removeEntry(it);
    return;
  }
}

void ObjectCache::removeEntry(std::unordered_map<std::string, Entry>::iterator it) {
  Entry& e = it->second;
  if (e.queue == Queue::kSmall) {
    small_.erase(e.position);
    smallBytes_ -= e.charge;
  } else {
    main_.erase(e.position);
  }
  for (const auto& alias : e.aliases) {
    if (auto a = aliases_.find(alias); a != aliases_.end() && a->second == it->first) aliases_.erase(a);
  }
  bytes_ -= e.charge;
  entries_.erase(it);
}

void ObjectCache::rememberGhost(const std::string& key) {
  if (ghosts_.count(key)) return;
  while (ghosts_.size() >= kMaxGhostKeys) {
    ghosts_.erase(ghostOrder_.back());
    ghostOrder_.pop_back();
  }
  ghostOrder_.push_front(key);
  ghosts_.emplace(key, ghostOrder_.begin());
}

}  // namespace recgw::storage
