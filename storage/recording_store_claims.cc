#include "storage/recording_store_claims.h"

#include "storage/recording_store_bson.h"

namespace recgw::storage {

using namespace store_detail;

MongoClaimLedger::MongoClaimLedger(mongoc_client_t* client, const RecordingCollections& names)
    : transitions_(collection(client, names, names.transitions)) {}

ClaimState MongoClaimLedger::insert(const std::string& claimId, const Recording& rec, std::string_view from,
                                    std::string_view to, TimePoint now, std::string& error) {
  ScopedBson doc;
  putString(doc.get(), "_id", claimId);
  putString(doc.get(), "recording_id", rec.id);
  putString(doc.get(), "tenant_id", rec.tenantId);
  putString(doc.get(), "from", from);
  putString(doc.get(), "to", to);
  putDate(doc.get(), "at", now);
  bson_error_t err;
  if (mongoc_collection_insert_one(transitions_.get(), doc.get(), nullptr, nullptr, &err))
    return ClaimState::kTaken;
  if (err.code == kDuplicateKey) return ClaimState::kLost;
  error = err.message;
  return ClaimState::kError;
}

bool MongoClaimLedger::find(const std::string& claimId, std::optional<Held>& held, std::string& error) {
  ScopedBson filter, opts;
  putString(filter.get(), "_id", claimId);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  return findMany(
      transitions_.get(), filter.get(), opts.get(),
      [&](const bson_t* doc) { held = Held{getDate(doc, "at"), getString(doc, "to")}; }, error);
}

bool MongoClaimLedger::removeHeldAt(const std::string& claimId, std::optional<TimePoint> at,
                                    std::string& error) {
  ScopedBson del;
  putString(del.get(), "_id", claimId);
  if (at) putDate(del.get(), "at", *at);
  bson_error_t err;
  if (mongoc_collection_delete_one(transitions_.get(), del.get(), nullptr, nullptr, &err)) return true;
  error = err.message;
  return false;
}

void MongoClaimLedger::release(const std::string& claimId) noexcept {
  try {
    ScopedBson del;
    putString(del.get(), "_id", claimId);
    mongoc_collection_delete_one(transitions_.get(), del.get(), nullptr, nullptr, nullptr);
  } catch (...) {
  }
}

ExitClaim::ExitClaim(ClaimLedger& ledger, std::string claimId, const Recording& rec, std::string_view from,
                     std::string_view to, TimePoint now, const std::function<bool()>& stillThere)
    : ledger_(ledger), claimId_(std::move(claimId)) {
  state_ = take(rec, from, to, now, stillThere);
}

ExitClaim::~ExitClaim() {
  if (state_ == State::kTaken && !committed_) ledger_.release(claimId_);
}

ExitClaim::State ExitClaim::take(const Recording& rec, std::string_view from, std::string_view to,
                                 TimePoint now, const std::function<bool()>& stillThere) {
  State s = ledger_.insert(claimId_, rec, from, to, now, error_);
  if (s != State::kLost) return s;
  // The holder may have died between its claim and its update, which would block this
  // exit for ever: a claim older than kStale on a recording still in the state is taken
  // over. Deleting it names its time, so only one taker removes it; the insert that
  // follows decides between takers.
  std::optional<ClaimLedger::Held> held;
  if (!ledger_.find(claimId_, held, error_)) return State::kError;
  if (held) heldTo_ = held->to;
  if (held && held->at && *held->at + kStale > now) return State::kLost;
  if (!stillThere()) return State::kLost;
  if (held && !ledger_.removeHeldAt(claimId_, held->at, error_)) return State::kError;
  return ledger_.insert(claimId_, rec, from, to, now, error_);
}

}  // namespace recgw::storage
