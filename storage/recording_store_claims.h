#pragma once
// Exit claims: the arbiter of concurrent state changes of a recording.
//
// A recording leaves each state at most once (the state machine has no cycles), so
// "<id>:<state>" names that exit uniquely. Inserting it into the transitions collection
// is the arbiter of concurrent transitions: a unique _id is atomic on MongoDB and on
// FerretDB alike, while FerretDB's SQLite backend runs a conditional update as find, then
// update, outside a transaction (FerretDB#3040), so two findAndModify calls on the same
// expected status can both win there. The conditional update still follows. The claims
// stay as an audit log of transitions: {_id, recording_id, tenant_id, from, to, at}.
//
// ExitClaim holds one such claim for the length of a transition: commit() once the
// recording's update went through (the claim stays, as the audit entry); any other way out
// of the scope (no match, a MongoDB error, an exception) deletes it again, so the exit can
// be taken by the next request. Internal to storage/; blocking, worker threads only.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "storage/recording_store.h"

namespace recgw::storage {

enum class ClaimState {
  kTaken,  // ours: commit() or it is released when the ExitClaim goes
  kLost,   // another run holds it
  kError,  // the store failed
};

// Where the claims are kept: the transitions collection (MongoClaimLedger), or a test's fake.
class ClaimLedger {
 public:
  struct Held {
    std::optional<TimePoint> at;
    std::string to;
  };
  virtual ~ClaimLedger() = default;
  // kTaken; kLost when a claim of that id exists; kError with `error`.
  virtual ClaimState insert(const std::string& claimId, const Recording& rec, std::string_view from,
                            std::string_view to, TimePoint now, std::string& error) = 0;
  // The claim as it is held (nullopt: none); false with `error` when the store failed.
  virtual bool find(const std::string& claimId, std::optional<Held>& held, std::string& error) = 0;
  // Deletes the claim if it is still the one taken at `at`; false with `error` on failure.
  virtual bool removeHeldAt(const std::string& claimId, std::optional<TimePoint> at, std::string& error) = 0;
  // Deletes the claim; best effort (a claim left behind goes stale and is taken over).
  virtual void release(const std::string& claimId) noexcept = 0;
};

class MongoClaimLedger : public ClaimLedger {
 public:
  MongoClaimLedger(mongoc_client_t* client, const RecordingCollections& names);
  ClaimState insert(const std::string& claimId, const Recording& rec, std::string_view from,
                    std::string_view to, TimePoint now, std::string& error) override;
  bool find(const std::string& claimId, std::optional<Held>& held, std::string& error) override;
  bool removeHeldAt(const std::string& claimId, std::optional<TimePoint> at, std::string& error) override;
  void release(const std::string& claimId) noexcept override;

 private:
  MongocCollectionPtr transitions_;
};

class ExitClaim {
 public:
  using State = ClaimState;
  // A claim of the holder older than this, on a recording still in the state, belongs to a
  // run that died between its claim and its update: it is taken over.
  static constexpr std::chrono::seconds kStale{60};

  // Claims `claimId` for the exit of `rec` from `from` to `to`; a stale claim is taken over
  // when `stillThere()` (the recording is still in the state).
  ExitClaim(ClaimLedger& ledger, std::string claimId, const Recording& rec, std::string_view from,
            std::string_view to, TimePoint now, const std::function<bool()>& stillThere);
  ~ExitClaim();
  ExitClaim(const ExitClaim&) = delete;
  ExitClaim& operator=(const ExitClaim&) = delete;

  State state() const { return state_; }
  const std::string& error() const { return error_; }
  // The `to` of the claim we lost to, when it could be read.
  const std::string& heldTo() const { return heldTo_; }

  // The transition happened: keep the claim (the audit log of the exit).
  void commit() { committed_ = true; }

 private:
  State take(const Recording& rec, std::string_view from, std::string_view to, TimePoint now,
             const std::function<bool()>& stillThere);

  ClaimLedger& ledger_;
  std::string claimId_;
  State state_ = State::kError;
  std::string error_;
  std::string heldTo_;
  bool committed_ = false;
};

}  // namespace recgw::storage
