#include "storage/recording_store_claims.h"

#include "storage/recording_store_bson.h"

namespace recgw::storage {
namespace {

using namespace store_detail;

constexpr auto kStaleClaim = std::chrono::seconds(60);

ExitClaim::State insertClaim(mongoc_collection_t* coll, const std::string& claimId, const Recording& rec,
                             std::string_view from, std::string_view to, TimePoint now, std::string& error) {
  ScopedBson doc;
  putString(doc.get(), "_id", claimId);
  putString(doc.get(), "recording_id", rec.id);
  putString(doc.get(), "tenant_id", rec.tenantId);
  putString(doc.get(), "from", from);
  putString(doc.get(), "to", to);
  putDate(doc.get(), "at", now);
  bson_error_t err;
  if (mongoc_collection_insert_one(coll, doc.get(), nullptr, nullptr, &err)) return ExitClaim::State::kTaken;
  if (err.code == kDuplicateKey) return ExitClaim::State::kLost;
  error = err.message;
  return ExitClaim::State::kError;
}

}  // namespace

ExitClaim::ExitClaim(mongoc_client_t* client, const RecordingCollections& names, std::string claimId,
                     const Recording& rec, std::string_view from, std::string_view to, TimePoint now,
                     const std::function<bool()>& stillThere)
    : client_(client), names_(names), claimId_(std::move(claimId)) {
  state_ = take(rec, from, to, now, stillThere);
}

ExitClaim::~ExitClaim() {
  if (state_ == State::kTaken && !committed_) release();
}

ExitClaim::State ExitClaim::take(const Recording& rec, std::string_view from, std::string_view to,
                                 TimePoint now, const std::function<bool()>& stillThere) {
  auto coll = collection(client_, names_, names_.transitions);
  State s = insertClaim(coll.get(), claimId_, rec, from, to, now, error_);
  if (s != State::kLost) return s;
  // The holder may have died between its claim and its update, which would block this
  // exit for ever: a claim older than kStaleClaim on a recording still in the state is
  // taken over. Deleting it names its time, so only one taker removes it; the insert
  // that follows decides between takers.
  ScopedBson filter, opts;
  putString(filter.get(), "_id", claimId_);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  std::optional<TimePoint> at;
  bool found = false;
  if (!findMany(
          coll.get(), filter.get(), opts.get(),
          [&](const bson_t* doc) {
            found = true;
            at = getDate(doc, "at");
            heldTo_ = getString(doc, "to");
          },
          error_)) {
    return State::kError;
  }
  if (found && at && *at + kStaleClaim > now) return State::kLost;
  if (!stillThere()) return State::kLost;
  if (found) {
    ScopedBson del;
    putString(del.get(), "_id", claimId_);
    if (at) putDate(del.get(), "at", *at);
    bson_error_t err;
    if (!mongoc_collection_delete_one(coll.get(), del.get(), nullptr, nullptr, &err)) {
      error_ = err.message;
      return State::kError;
    }
  }
  return insertClaim(coll.get(), claimId_, rec, from, to, now, error_);
}

// The update did not happen (the recording was not in the state after all, or MongoDB
// failed): the exit is free again. Best effort: a claim left behind goes stale and is taken over.
void ExitClaim::release() noexcept {
  try {
    auto coll = collection(client_, names_, names_.transitions);
    ScopedBson del;
    putString(del.get(), "_id", claimId_);
    mongoc_collection_delete_one(coll.get(), del.get(), nullptr, nullptr, nullptr);
  } catch (...) {
  }
}

}  // namespace recgw::storage
