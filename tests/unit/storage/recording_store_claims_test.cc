// ExitClaim over a fake ledger: taken claims are kept only when committed, and released on
// every other way out of the scope; a lost or failed claim is never released.
#include "storage/recording_store_claims.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

namespace recgw::storage {
namespace {

using namespace std::chrono_literals;

class FakeLedger : public ClaimLedger {
 public:
  std::map<std::string, Held> claims;
  bool failing = false;
  int releases = 0;

  ClaimState insert(const std::string& claimId, const Recording&, std::string_view, std::string_view to,
                    TimePoint now, std::string& error) override {
    if (failing) {
      error = "MongoDB is down (fake)";
      return ClaimState::kError;
    }
    if (claims.count(claimId)) return ClaimState::kLost;
    claims[claimId] = Held{now, std::string(to)};
    return ClaimState::kTaken;
  }
  bool find(const std::string& claimId, std::optional<Held>& held, std::string&) override {
    auto it = claims.find(claimId);
    if (it != claims.end()) held = it->second;
    return true;
  }
  bool removeHeldAt(const std::string& claimId, std::optional<TimePoint> at, std::string&) override {
    auto it = claims.find(claimId);
    if (it != claims.end() && (!at || it->second.at == at)) claims.erase(it);
    return true;
  }
  void release(const std::string& claimId) noexcept override {
    ++releases;
    claims.erase(claimId);
  }
};

class ExitClaimTest : public ::testing::Test {
 protected:
  ExitClaimTest() {
    rec.id = "rec_1";
    rec.tenantId = "acme";
    rec.status = RecordingStatus::kRecording;
  }
  std::function<bool()> stillThere = [this] { return recordingStillRecording; };
  FakeLedger ledger;
  Recording rec;
  bool recordingStillRecording = true;
  TimePoint now = std::chrono::system_clock::now();
};

TEST_F(ExitClaimTest, ATakenClaimThatIsNotCommittedIsReleased) {
  {
    ExitClaim claim(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
    EXPECT_EQ(claim.state(), ClaimState::kTaken);
    EXPECT_TRUE(ledger.claims.count("rec_1:recording"));
  }
  EXPECT_FALSE(ledger.claims.count("rec_1:recording"));
  EXPECT_EQ(ledger.releases, 1);
  // The exit is free again: the next run takes it.
  ExitClaim again(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
  EXPECT_EQ(again.state(), ClaimState::kTaken);
}

TEST_F(ExitClaimTest, ACommittedClaimStaysAsTheAuditEntry) {
  {
    ExitClaim claim(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
    claim.commit();
  }
  ASSERT_TRUE(ledger.claims.count("rec_1:recording"));
  EXPECT_EQ(ledger.claims["rec_1:recording"].to, "processing");
  EXPECT_EQ(ledger.releases, 0);
}

TEST_F(ExitClaimTest, AClaimIsReleasedWhenTheScopeEndsByAnException) {
  try {
    ExitClaim claim(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
    throw std::runtime_error("the update could not be built");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(ledger.claims.count("rec_1:recording"));
}

TEST_F(ExitClaimTest, AFreshClaimOfAnotherRunIsLostAndLeftToIt) {
  ledger.claims["rec_1:ready"] = {now - 10s, "archived"};
  {
    ExitClaim claim(ledger, "rec_1:ready", rec, "ready", "archived", now, stillThere);
    EXPECT_EQ(claim.state(), ClaimState::kLost);
    EXPECT_EQ(claim.heldTo(), "archived");
  }
  ASSERT_TRUE(ledger.claims.count("rec_1:ready"));
  EXPECT_EQ(ledger.claims["rec_1:ready"].at, now - 10s);
  EXPECT_EQ(ledger.releases, 0);
}

TEST_F(ExitClaimTest, AStaleClaimIsTakenOverWhileTheRecordingIsStillInTheState) {
  ledger.claims["rec_1:recording"] = {now - ExitClaim::kStale - 1s, "processing"};
  ExitClaim claim(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
  EXPECT_EQ(claim.state(), ClaimState::kTaken);
  EXPECT_EQ(ledger.claims["rec_1:recording"].at, now);
}

TEST_F(ExitClaimTest, AStaleClaimIsLeftWhenTheRecordingMovedOn) {
  ledger.claims["rec_1:recording"] = {now - ExitClaim::kStale - 1s, "processing"};
  recordingStillRecording = false;
  {
    ExitClaim claim(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
    EXPECT_EQ(claim.state(), ClaimState::kLost);
  }
  EXPECT_EQ(ledger.claims["rec_1:recording"].at, now - ExitClaim::kStale - 1s);
}

TEST_F(ExitClaimTest, AFailedClaimReportsTheErrorAndReleasesNothing) {
  ledger.failing = true;
  {
    ExitClaim claim(ledger, "rec_1:recording", rec, "recording", "processing", now, stillThere);
    EXPECT_EQ(claim.state(), ClaimState::kError);
    EXPECT_NE(claim.error().find("MongoDB is down"), std::string::npos);
  }
  EXPECT_EQ(ledger.releases, 0);
}

}  // namespace
}  // namespace recgw::storage
