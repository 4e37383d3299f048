// The object cache on a fake clock: admission, the byte budget, S3-FIFO eviction (a scan
// does not push out a hot object), freshness, drops by key and by alias, and entries that
// stay alive for their readers after they were evicted.
#include "storage/object_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

namespace recgw::storage {
namespace {

using std::chrono::seconds;

struct FakeClock {
  ObjectCache::Clock::time_point now{};
  std::function<ObjectCache::Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

std::shared_ptr<const CachedObject> object(const std::string& key, size_t size,
                                           const std::string& etag = "\"e1\"") {
  auto o = std::make_shared<CachedObject>();
  o->key = key;
  o->origin = "http://127.0.0.1:9000/recordings";
  o->bytes.assign(size, 'x');
  o->etag = etag;
  o->lastModified = "Mon, 07 Dec 2026 05:00:00 GMT";
  o->contentType = "audio/mpeg";
  o->hasContentType = true;
  return o;
}

ObjectCacheSettings settings(size_t budget, unsigned admitAfter = 2) {
  ObjectCacheSettings s;
  s.budgetBytes = budget;
  s.maxObjectBytes = 64 * 1024;
  s.fresh = seconds(30);
  s.admitAfter = admitAfter;
  return s;
}

TEST(ObjectCacheTest, AdmitsOnTheSecondRequestWithinTheFreshWindow) {
  FakeClock clock;
  ObjectCache cache(settings(1 << 20), clock.fn());
  EXPECT_FALSE(cache.noteMiss("a"));
  clock.now += seconds(10);
  EXPECT_TRUE(cache.noteMiss("a"));

  EXPECT_FALSE(cache.noteMiss("b"));
  clock.now += seconds(31);  // the first request is too old to count
  EXPECT_FALSE(cache.noteMiss("b"));
  EXPECT_TRUE(cache.noteMiss("b"));
}

TEST(ObjectCacheTest, OffWhenTheBudgetIsZero) {
  FakeClock clock;
  ObjectCache cache(settings(0, 1), clock.fn());
  EXPECT_FALSE(cache.enabled());
  EXPECT_FALSE(cache.noteMiss("a"));
  EXPECT_FALSE(cache.insert(object("a", 10)));
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(ObjectCacheTest, RefusesObjectsOverTheMaximumSize) {
  FakeClock clock;
  ObjectCache cache(settings(1 << 20), clock.fn());
  EXPECT_FALSE(cache.fits(64 * 1024 + 1));
  EXPECT_FALSE(cache.insert(object("big", 64 * 1024 + 1)));
  EXPECT_TRUE(cache.insert(object("ok", 64 * 1024)));
  EXPECT_EQ(cache.entries(), 1u);
}

TEST(ObjectCacheTest, ChargesEveryByteAndStaysWithinTheBudget) {
  FakeClock clock;
  const auto sample = object("k000", 10000);
  const size_t perEntry = sample->chargedBytes();
  EXPECT_EQ(perEntry, sizeof(CachedObject) + 4 + sample->origin.size() + 10000 + 4 +
                          sample->lastModified.size() + sample->contentType.size());
  const size_t budget = perEntry * 5 + perEntry / 2;
  ObjectCache cache(settings(budget), clock.fn());
  for (int i = 0; i < 50; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%03d", i);
    ASSERT_TRUE(cache.insert(object(key, 10000)));
    ASSERT_LE(cache.bytes(), budget);
    ASSERT_EQ(cache.bytes(), cache.entries() * perEntry);
  }
  EXPECT_EQ(cache.entries(), 5u);
  EXPECT_EQ(cache.evictions(), 45u);
  cache.setSettings(settings(perEntry * 2));
  EXPECT_EQ(cache.entries(), 2u);
  EXPECT_LE(cache.bytes(), perEntry * 2);
}

TEST(ObjectCacheTest, AScanDoesNotEvictAHotObject) {
  FakeClock clock;
  const size_t perEntry = object("k000", 10000)->chargedBytes();
  ObjectCache cache(settings(perEntry * 20), clock.fn());
  ASSERT_TRUE(cache.insert(object("hot", 10000)));
  cache.find("hot");
  cache.find("hot");
  for (int i = 0; i < 200; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%03d", i);
    ASSERT_TRUE(cache.insert(object(key, 10000)));
    // Read now and then, but less often than the budget turns over: plain LRU loses it.
    if (i % 30 == 0) cache.find("hot");
  }
  EXPECT_NE(cache.find("hot").object, nullptr);
  EXPECT_LE(cache.bytes(), perEntry * 20);
}

TEST(ObjectCacheTest, AnEvictedEntryStaysAliveWhileAResponseHoldsIt) {
  FakeClock clock;
  const size_t perEntry = object("a", 1000)->chargedBytes();
  ObjectCache cache(settings(perEntry), clock.fn());
  ASSERT_TRUE(cache.insert(object("a", 1000)));
  std::shared_ptr<const CachedObject> held = cache.find("a").object;
  std::weak_ptr<const CachedObject> watch = held;
  ASSERT_TRUE(cache.insert(object("b", 1000)));  // evicts "a"
  EXPECT_EQ(cache.find("a").object, nullptr);
  EXPECT_EQ(cache.evictions(), 1u);
  ASSERT_FALSE(watch.expired());
  EXPECT_EQ(held->bytes, std::string(1000, 'x'));
  held.reset();
  EXPECT_TRUE(watch.expired());
}

TEST(ObjectCacheTest, FreshForTheWindowThenStaleUntilRefreshed) {
  FakeClock clock;
  ObjectCache cache(settings(1 << 20), clock.fn());
  ASSERT_TRUE(cache.insert(object("a", 100)));
  EXPECT_TRUE(cache.find("a").fresh);
  clock.now += seconds(30);
  auto found = cache.find("a");
  ASSERT_NE(found.object, nullptr);
  EXPECT_FALSE(found.fresh);
  cache.refresh("a");
  EXPECT_TRUE(cache.find("a").fresh);
}

TEST(ObjectCacheTest, ReplacingKeepsOneEntryAndItsAliases) {
  FakeClock clock;
  ObjectCache cache(settings(1 << 20), clock.fn());
  ASSERT_TRUE(cache.insert(object("a", 100, "\"e1\"")));
  cache.noteAlias("tok:abc", "a");
  const size_t withAlias = cache.bytes();
  ASSERT_TRUE(cache.insert(object("a", 100, "\"e2\"")));
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), withAlias);
  EXPECT_EQ(cache.find("a").object->etag, "\"e2\"");
  EXPECT_TRUE(cache.dropAlias("tok:abc"));
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ObjectCacheTest, DropByKeyOrAliasAndTheAccountGoesBackToZero) {
  FakeClock clock;
  ObjectCache cache(settings(1 << 20), clock.fn());
  ASSERT_TRUE(cache.insert(object("a", 100)));
  ASSERT_TRUE(cache.insert(object("b", 100)));
  cache.noteAlias("sid:s1", "b");
  cache.noteAlias("sid:s1", "b");  // once
  EXPECT_EQ(cache.bytes(), object("a", 100)->chargedBytes() + object("b", 100)->chargedBytes() + 6);
  EXPECT_TRUE(cache.dropObject("a"));
  EXPECT_FALSE(cache.dropObject("a"));
  EXPECT_FALSE(cache.dropAlias("sid:unknown"));
  EXPECT_TRUE(cache.dropAlias("sid:s1"));
  EXPECT_FALSE(cache.dropAlias("sid:s1"));
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
  EXPECT_EQ(cache.evictions(), 0u);  // drops are not evictions for room
}

TEST(ObjectCacheTest, TopListsByHits) {
  FakeClock clock;
  ObjectCache cache(settings(1 << 20), clock.fn());
  ASSERT_TRUE(cache.insert(object("a", 10)));
  ASSERT_TRUE(cache.insert(object("b", 20)));
  ASSERT_TRUE(cache.insert(object("c", 30)));
  for (int i = 0; i < 3; ++i) cache.find("b");
  cache.find("c");
  auto top = cache.top(2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].key, "b");
  EXPECT_EQ(top[0].hits, 3u);
  EXPECT_EQ(top[0].bytes, 20u);
  EXPECT_EQ(top[1].key, "c");
}

TEST(ObjectCacheTest, AGhostIsAdmittedAtOnceAndGoesToTheMainQueue) {
  FakeClock clock;
  const size_t perEntry = object("k000", 1000)->chargedBytes();
  ObjectCache cache(settings(perEntry * 10), clock.fn());
  for (int i = 0; i < 20; ++i) {
    char key[8];
    std::snprintf(key, sizeof key, "k%03d", i);
    ASSERT_TRUE(cache.insert(object(key, 1000)));
  }
  ASSERT_EQ(cache.find("k000").object, nullptr);
  EXPECT_TRUE(cache.noteMiss("k000"));  // first miss in this window, but a recent ghost
}

}  // namespace
}  // namespace recgw::storage
