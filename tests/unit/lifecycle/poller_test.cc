// The background poll through LifecycleService, over the fakes of tests/unit/lifecycle/fakes.h.
#include "lifecycle/poller.h"

#include <gtest/gtest.h>

#include <memory>

#include "reactor/event_loop.h"
#include "reactor/metrics.h"
#include "tests/unit/lifecycle/fakes.h"

namespace recgw::lifecycle {
namespace {

using namespace std::chrono_literals;
using testing::Deferred;
using testing::FakeArchive;
using testing::FakeProvider;
using testing::FakeStore;

const std::string kTenant = "acme";
const std::string kRoom = "standup";

class PollerTest : public ::testing::Test {
 protected:
  PollerTest() { store.addRoom(kTenant, kRoom); }

  Recording& seed(std::string id, RecordingStatus status, std::string providerId) {
    Recording r;
    r.id = std::move(id);
    r.tenantId = kTenant;
    r.roomId = kRoom;
    r.status = status;
    r.providerRecordingId = std::move(providerId);
    r.startedAt = Clock::now() - 5min;
    return store.put(r);
  }

  fleet::ProviderRecording& offer(std::string id, std::string room, std::string status) {
    fleet::ProviderRecording p;
    p.id = std::move(id);
    p.roomId = std::move(room);
    p.status = std::move(status);
    p.startedAt = Clock::now() - 5min;
    return provider.add(p);
  }

  double passes(std::string_view outcome) {
    return metrics.value("recgw_lifecycle_poll_passes_total", reactor::Metrics::label("outcome", outcome));
  }

  reactor::EventLoop eventLoop;
  Deferred loop;
  FakeStore store{loop};
  FakeProvider provider{loop};
  FakeArchive archive{loop};
  LifecycleSettings settings;
  reactor::Metrics metrics;
  LifecycleService service{store, provider, archive, settings, &metrics};
  Poller poller{eventLoop, service, 50};
};

TEST_F(PollerTest, APassMovesLinkedRecordingsOnAndLinksUnlinkedOnes) {
  seed("rec_a", RecordingStatus::kRecording, "p-a");
  auto& ready = offer("p-a", storage::providerRoomId(kTenant, kRoom), "ready");
  ready.key = "calls/a.ogg";
  ready.bucket = FakeArchive::kHotBucket;
  ready.sizeBytes = 1234;
  seed("rec_b", RecordingStatus::kProcessing, "");
  offer("p-b", storage::providerRoomId(kTenant, kRoom), "processing");

  poller.runPass();
  EXPECT_TRUE(poller.running());
  loop.drain();
  EXPECT_FALSE(poller.running());

  const Recording& a = store.recordings["rec_a"];
  EXPECT_EQ(a.status, RecordingStatus::kReady);  // recording → processing → ready
  ASSERT_TRUE(a.storage);
  EXPECT_EQ(a.storage->key, "calls/a.ogg");
  EXPECT_EQ(a.sizeBytes, 1234);
  EXPECT_EQ(store.recordings["rec_b"].providerRecordingId, "p-b");
  EXPECT_EQ(store.recordings.size(), 2u);  // the poll links, it never imports
  EXPECT_EQ(passes("ok"), 1);
}

TEST_F(PollerTest, ARecordingFiledUnderASharedBareRoomIdIsLeftAlone) {
  store.addRoom("globex", kRoom);
  seed("rec_shared", RecordingStatus::kProcessing, "p-shared");
  auto& p = offer("p-shared", kRoom, "ready");
  p.key = "calls/shared.ogg";
  poller.runPass();
  loop.drain();
  EXPECT_EQ(store.recordings["rec_shared"].status, RecordingStatus::kProcessing);
  EXPECT_EQ(metrics.value("recgw_lifecycle_provider_calls_total", reactor::Metrics::label("op", "not_bound")),
            1);
}

TEST_F(PollerTest, TheProviderDownLeavesEverythingAndThePassStillEnds) {
  seed("rec_a", RecordingStatus::kProcessing, "p-a");
  offer("p-a", storage::providerRoomId(kTenant, kRoom), "failed");
  provider.down = true;
  poller.runPass();
  loop.drain();
  EXPECT_FALSE(poller.running());
  EXPECT_EQ(store.recordings["rec_a"].status, RecordingStatus::kProcessing);
  EXPECT_EQ(passes("ok"), 1);

  provider.down = false;  // the next pass catches up
  poller.runPass();
  loop.drain();
  EXPECT_EQ(store.recordings["rec_a"].status, RecordingStatus::kFailed);
  EXPECT_EQ(passes("ok"), 2);
}

TEST_F(PollerTest, AStoreFailureEndsThePassAsStoreError) {
  store.unavailable = true;
  poller.runPass();
  loop.drain();
  EXPECT_FALSE(poller.running());
  EXPECT_EQ(passes("store_error"), 1);
  EXPECT_EQ(provider.calls, 0);
}

TEST_F(PollerTest, NoPassWithoutAProviderOrWhileOneRuns) {
  seed("rec_a", RecordingStatus::kProcessing, "p-a");
  provider.isConfigured = false;
  poller.runPass();
  EXPECT_FALSE(poller.running());
  EXPECT_EQ(loop.pending(), 0u);

  provider.isConfigured = true;
  poller.runPass();
  size_t queued = loop.pending();
  poller.runPass();  // overlapping: ignored
  EXPECT_EQ(loop.pending(), queued);
  loop.drain();
  EXPECT_EQ(passes("ok"), 1);
}

}  // namespace
}  // namespace recgw::lifecycle
