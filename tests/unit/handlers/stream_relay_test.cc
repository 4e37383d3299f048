// The stream relay's decisions that need no sockets (handlers/relay_decisions.h):
// watermark back-pressure, the cap on upstream requests, and resuming a broken body.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "handlers/relay_decisions.h"

namespace recgw::handlers {
namespace {

constexpr size_t kHigh = 256 * 1024;
using Step = RelayFlow::Step;

TEST(RelayFlowTest, RelaysWhileUnderTheHighWatermark) {
  RelayFlow flow;
  EXPECT_EQ(flow.onChunk(0, 16 * 1024, kHigh), Step::kRelay);
  EXPECT_EQ(flow.onChunk(kHigh - 1000, 1000, kHigh), Step::kRelay);  // reaching it is allowed
  EXPECT_FALSE(flow.paused());
}

TEST(RelayFlowTest, AChunkLargerThanTheWatermarkGoesOutAloneWhenNothingIsPending) {
  RelayFlow flow;
  EXPECT_EQ(flow.onChunk(0, 4 * kHigh, kHigh), Step::kRelay);
  EXPECT_EQ(flow.onChunk(1, 4 * kHigh, kHigh), Step::kPause);
}

TEST(RelayFlowTest, PausesBeforeAChunkWouldPassTheHighWatermarkAndResumesOnDrain) {
  RelayFlow flow;
  EXPECT_EQ(flow.onChunk(kHigh - 1000, 1001, kHigh), Step::kPause);
  EXPECT_TRUE(flow.paused());
  // curl offers the same chunk again while paused: no second pause to count.
  EXPECT_EQ(flow.onChunk(kHigh - 1000, 1001, kHigh), Step::kStayPaused);
  // The connection drained to the low watermark: resume once.
  EXPECT_TRUE(flow.onDrained());
  EXPECT_FALSE(flow.paused());
  EXPECT_FALSE(flow.onDrained());
  EXPECT_EQ(flow.onChunk(64 * 1024, 1001, kHigh), Step::kRelay);
}

TEST(RelayFlowTest, DrainWithoutAPauseResumesNothing) {
  RelayFlow flow;
  EXPECT_FALSE(flow.onDrained());
  EXPECT_EQ(flow.onChunk(10, 10, kHigh), Step::kRelay);
  EXPECT_FALSE(flow.onDrained());
}

TEST(RelayFlowTest, TheEndOfTheTransferClearsAPause) {
  RelayFlow flow;
  ASSERT_EQ(flow.onChunk(kHigh, 1, kHigh), Step::kPause);
  flow.onTransferEnded();
  EXPECT_FALSE(flow.paused());
  EXPECT_FALSE(flow.onDrained());                          // nothing left to resume
  EXPECT_EQ(flow.onChunk(kHigh, 1, kHigh), Step::kPause);  // a new transfer counts its pause
}

TEST(RelayLimitsTest, UpstreamRequestsPerResponseAreCapped) {
  // A first request, a resume and a re-request per source, plus one.
  EXPECT_EQ(maxUpstreamRequests(1), 4u);
  EXPECT_EQ(maxUpstreamRequests(3), 10u);
}

const std::string kEtag = "\"v1-etag\"";

ContentRange contentRange(uint64_t first, uint64_t last, std::optional<uint64_t> complete) {
  ContentRange r;
  r.first = first;
  r.last = last;
  r.completeLength = complete;
  return r;
}

void expectRange(const ByteRange& r, ByteRange::Kind kind, uint64_t first, uint64_t last = 0) {
  EXPECT_EQ(r.kind, kind);
  EXPECT_EQ(r.first, first);
  if (kind == ByteRange::kFromTo) {
    EXPECT_EQ(r.last, last);
  }
}

TEST(BodyResumeTest, ResumesTheWholeObjectAtTheNextByte) {
  BodyResume body;
  body.startWhole(1000);
  body.setEtag(kEtag);
  EXPECT_EQ(body.take(100), 0u);
  EXPECT_EQ(body.take(200), 0u);
  EXPECT_EQ(body.nextOffset(), 300u);
  EXPECT_FALSE(body.complete(true));  // a clean end after 300 of 1000 bytes is a short body
  EXPECT_FALSE(body.complete(false));
  ASSERT_TRUE(body.resumable());
  expectRange(body.resumeRange(), ByteRange::kFromTo, 300, 999);
  EXPECT_EQ(rangeHeaderValue(body.resumeRange()), "bytes=300-999");
}

TEST(BodyResumeTest, CompleteOnlyWhenEveryPromisedByteWasSent) {
  BodyResume body;
  body.startWhole(1000);
  body.take(999);
  EXPECT_FALSE(body.complete(true));
  body.take(1);
  EXPECT_TRUE(body.complete(true));
  EXPECT_FALSE(body.complete(false));  // a transfer error is never a complete body
}

TEST(BodyResumeTest, UnknownLengthResumesOpenEndedAndEndsCleanly) {
  BodyResume body;
  body.startWhole(std::nullopt);
  body.setEtag(kEtag);
  body.take(4096);
  EXPECT_TRUE(body.complete(true));
  EXPECT_FALSE(body.complete(false));
  expectRange(body.resumeRange(), ByteRange::kFrom, 4096);
  EXPECT_EQ(rangeHeaderValue(body.resumeRange()), "bytes=4096-");
}

TEST(BodyResumeTest, EmptyBodyIsCompleteWhenTheTransferEndsCleanly) {
  BodyResume body;
  body.startWhole(0);
  EXPECT_TRUE(body.complete(true));
  EXPECT_FALSE(body.complete(false));
}

TEST(BodyResumeTest, ARangedResponseResumesWithinItsRange) {
  // The client asked bytes=1000-1999 of a 5000-byte object and got 250 bytes of it.
  BodyResume body;
  body.startRange(contentRange(1000, 1999, 5000));
  body.setEtag(kEtag);
  body.take(250);
  EXPECT_EQ(body.nextOffset(), 1250u);
  EXPECT_FALSE(body.complete(true));
  ByteRange asked = body.resumeRange();
  expectRange(asked, ByteRange::kFromTo, 1250, 1999);

  const std::string cr = "bytes 1250-1999/5000";
  BodyResume::Verdict v = body.acceptResume(206, &kEtag, &cr, 750, asked);
  EXPECT_TRUE(v.continues);
  EXPECT_TRUE(v.sameObject);
  EXPECT_EQ(body.take(750), 0u);  // nothing of a 206 resume is skipped
  EXPECT_TRUE(body.complete(true));
}

TEST(BodyResumeTest, AnOriginThatIgnoresRangeOnResumeHasThePartTheClientHasSkipped) {
  BodyResume body;
  body.startWhole(1000);
  body.setEtag(kEtag);
  body.take(300);
  BodyResume::Verdict v = body.acceptResume(200, &kEtag, nullptr, 1000, body.resumeRange());
  ASSERT_TRUE(v.continues);
  EXPECT_EQ(body.take(200), 200u);  // bytes 0-199: the client has them
  EXPECT_EQ(body.take(200), 100u);  // 200-299 skipped, 300-399 relayed
  EXPECT_EQ(body.nextOffset(), 400u);
  EXPECT_EQ(body.take(600), 0u);
  EXPECT_TRUE(body.complete(true));
}

TEST(BodyResumeTest, AChangedEtagCutsTheResume) {
  BodyResume body;
  body.startWhole(1000);
  body.setEtag(kEtag);
  body.take(300);
  const std::string other = "\"v2-etag\"";
  const std::string cr = "bytes 300-999/1000";
  for (const std::string* etag : {&other, static_cast<const std::string*>(nullptr)}) {
    BodyResume::Verdict v = body.acceptResume(206, etag, &cr, 700, body.resumeRange());
    EXPECT_FALSE(v.continues);
    EXPECT_FALSE(v.sameObject);
    v = body.acceptResume(200, etag, nullptr, 1000, body.resumeRange());
    EXPECT_FALSE(v.continues);
  }
}

TEST(BodyResumeTest, AResumeMustAnswerExactlyTheRestOfTheSameObject) {
  BodyResume body;
  body.startRange(contentRange(1000, 1999, 5000));
  body.setEtag(kEtag);
  body.take(250);
  const ByteRange asked = body.resumeRange();
  struct Case {
    long status;
    std::optional<std::string> contentRange;
    std::optional<uint64_t> contentLength;
  };
  const Case refused[] = {
      {206, "bytes 1200-1999/5000", 800},   // not where the client is
      {206, "bytes 1250-2999/5000", 1750},  // past the range promised
      {206, "bytes 1250-1999/6000", 750},   // another complete length
      {206, "bytes 1250-1999/5000", 700},   // Content-Length disagrees
      {206, std::nullopt, 750},             // no Content-Range
      {206, "garbage", 750},
      {200, std::nullopt, 6000},  // a whole object of another length
      {404, std::nullopt, 0},
      {412, std::nullopt, 0},  // If-Match failed
  };
  for (const Case& c : refused) {
    const std::string* cr = c.contentRange ? &*c.contentRange : nullptr;
    BodyResume::Verdict v = body.acceptResume(c.status, &kEtag, cr, c.contentLength, asked);
    EXPECT_FALSE(v.continues) << c.status << " " << c.contentRange.value_or("(none)");
    EXPECT_TRUE(v.sameObject);
  }
  EXPECT_EQ(body.nextOffset(), 1250u);  // a refused answer moves nothing
  const std::string unknownTotal = "bytes 1250-1999/*";
  EXPECT_FALSE(body.acceptResume(206, &kEtag, &unknownTotal, 750, asked).continues);
}

TEST(BodyResumeTest, WithoutAStrongEtagThereIsNoResume) {
  BodyResume body;
  body.startWhole(1000);
  EXPECT_FALSE(body.resumable());  // none
  body.setEtag("W/\"weak\"");
  EXPECT_FALSE(body.resumable());
  body.setEtag(kEtag);
  EXPECT_TRUE(body.resumable());
}

TEST(BodyResumeTest, ResumesTheSameSourceOnceThenMovesOn) {
  BodyResume body;
  body.startWhole(1000);
  body.setEtag(kEtag);
  EXPECT_FALSE(body.resuming());
  EXPECT_EQ(body.resumeSource(0), 0u);  // first break: the same source again
  EXPECT_TRUE(body.resuming());
  EXPECT_EQ(body.resumeSource(0), 1u);  // it broke again: the next one
  EXPECT_EQ(body.resumeSource(1), 2u);  // the same-source retry is spent for the response
}

TEST(BodyResumeTest, AParkedStreamResumesWhereItStoppedEveryTime) {
  BodyResume body;
  body.startRange(contentRange(1000, 1999, 5000));
  body.setEtag(kEtag);
  body.take(300);
  EXPECT_EQ(body.resumeAfterPark(1), 1u);
  EXPECT_TRUE(body.resuming());
  ByteRange asked = body.resumeRange();
  expectRange(asked, ByteRange::kFromTo, 1300, 1999);
  const std::string cr = "bytes 1300-1999/5000";
  EXPECT_TRUE(body.acceptResume(206, &kEtag, &cr, 700, asked).continues);
  body.take(100);
  EXPECT_EQ(body.resumeAfterPark(1), 1u);  // a second park still goes back to its source
  expectRange(body.resumeRange(), ByteRange::kFromTo, 1400, 1999);
  // The park's resume itself failed: the next source, not the same one again.
  EXPECT_EQ(body.resumeSource(1), 2u);
}

TEST(BodyResumeTest, AParkThatResumedKeepsTheSameSourceRetryForALaterBreak) {
  BodyResume body;
  body.startWhole(10000);
  body.setEtag(kEtag);
  body.take(400);
  EXPECT_EQ(body.resumeAfterPark(0), 0u);
  body.take(600);                       // the resume delivered
  EXPECT_EQ(body.resumeSource(0), 0u);  // a later break: the same source once, as without the park
  EXPECT_EQ(body.resumeSource(0), 1u);
  // A retry already spent before a park stays spent after it.
  body.take(100);
  EXPECT_EQ(body.resumeAfterPark(1), 1u);
  body.take(100);
  EXPECT_EQ(body.resumeSource(1), 2u);
}

TEST(BodyResumeTest, AnObjectReplacedDuringAParkIsRefused) {
  BodyResume body;
  body.startWhole(1000);
  body.setEtag(kEtag);
  body.take(400);
  body.resumeAfterPark(0);
  ByteRange asked = body.resumeRange();
  const std::string otherEtag = "\"another\"";
  const std::string cr = "bytes 400-999/1000";
  BodyResume::Verdict v = body.acceptResume(206, &otherEtag, &cr, 600, asked);
  EXPECT_FALSE(v.continues);
  EXPECT_FALSE(v.sameObject);
  EXPECT_FALSE(body.acceptResume(412, nullptr, nullptr, std::nullopt, asked).continues);
}

TEST(AdaptiveWindowTest, StartsAtTheConfiguredWatermarks) {
  AdaptiveWindow w(256 * 1024, 64 * 1024);
  EXPECT_EQ(w.high(), 256u * 1024);
  EXPECT_EQ(w.low(), 64u * 1024);
  w.grow();  // never above the configured high watermark
  EXPECT_EQ(w.high(), 256u * 1024);
}

TEST(AdaptiveWindowTest, ShrinksByAQuarterPerParkDownToTheMinimum) {
  AdaptiveWindow w(256 * 1024, 64 * 1024);
  w.shrink();
  EXPECT_EQ(w.high(), 64u * 1024);
  EXPECT_EQ(w.low(), 16u * 1024);  // the drain threshold follows
  w.shrink();
  EXPECT_EQ(w.high(), AdaptiveWindow::kMinBytes);
  w.shrink();
  EXPECT_EQ(w.high(), AdaptiveWindow::kMinBytes);
  EXPECT_EQ(w.low(), AdaptiveWindow::kMinBytes / 4);
}

TEST(AdaptiveWindowTest, GrowsBackByDoublingToTheConfiguredMaximum) {
  AdaptiveWindow w(256 * 1024, 64 * 1024);
  w.shrink();
  w.shrink();
  for (int i = 0; i < 10; ++i) w.grow();
  EXPECT_EQ(w.high(), 256u * 1024);
  EXPECT_EQ(w.low(), 64u * 1024);
}

TEST(AdaptiveWindowTest, AWatermarkBelowTheMinimumIsKept) {
  AdaptiveWindow w(8 * 1024, 4 * 1024);  // an operator's tiny setting stays the ceiling
  w.shrink();
  EXPECT_EQ(w.high(), 8u * 1024);
  EXPECT_EQ(w.low(), 2u * 1024);
}

}  // namespace
}  // namespace recgw::handlers
