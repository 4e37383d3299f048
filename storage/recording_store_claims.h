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
#include <functional>
#include <string>
#include <string_view>

#include "storage/recording_store.h"

namespace recgw::storage {

class ExitClaim {
 public:
  enum class State {
    kTaken,  // ours: commit() or it is released when this object goes
    kLost,   // another run holds it (heldTo() names the state it claimed for)
    kError,  // MongoDB failed: error()
  };

  // Claims `claimId` for the exit of `rec` from `from` to `to`. A claim older than the
  // stale limit is taken over when `stillThere()` (the recording is still in the state).
  ExitClaim(mongoc_client_t* client, const RecordingCollections& names, std::string claimId,
            const Recording& rec, std::string_view from, std::string_view to, TimePoint now,
            const std::function<bool()>& stillThere);
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
  void release() noexcept;

  mongoc_client_t* client_;
  const RecordingCollections& names_;
  std::string claimId_;
  State state_ = State::kError;
  std::string error_;
  std::string heldTo_;
  bool committed_ = false;
};

}  // namespace recgw::storage
