#include "storage/call_indexes.h"

#include <memory>

#include "storage/mongo_client.h"

namespace recgw::storage {

const std::vector<NeededIndex>& neededCallIndexes() {
  // sparse: calls without a token yet must not collide on a missing field.
  static const std::vector<NeededIndex> kNeeded = {
      {{"recgw_recording_access_token", {{"recording_access_token", 1}}, true, true}, "public links", false},
      {{"recgw_session_id", {{"session_id", 1}}, false, false}, "admin lookups by session id", false},
      {{"recgw_created_at", {{"created_at", -1}}, false, false}, "warm --since", true},
  };
  return kNeeded;
}

bool indexServes(const IndexSpec& existing, const NeededIndex& needed) {
  if (existing.keys.empty() || needed.spec.keys.empty()) return false;
  if (existing.keys.front().first != needed.spec.keys.front().first) return false;
  // A hashed or text index (direction 0) answers equality at best, never `created_at >= x`.
  if (existing.keys.front().second == 0 && needed.ordered) return false;
  return !needed.spec.unique || existing.unique;
}

std::vector<NeededIndex> missingCallIndexes(const std::vector<IndexSpec>& existing) {
  std::vector<NeededIndex> missing;
  for (const NeededIndex& needed : neededCallIndexes()) {
    bool served = false;
    for (const IndexSpec& index : existing) served = served || indexServes(index, needed);
    if (!served) missing.push_back(needed);
  }
  return missing;
}

std::string describeMissing(const std::vector<NeededIndex>& missing) {
  std::string out;
  for (const NeededIndex& m : missing) {
    if (!out.empty()) out += ", ";
    out += m.spec.keys.front().first + " (" + (m.spec.unique ? "unique; " : "") + m.purpose + ")";
  }
  return out;
}

Expected<CallIndexReport> checkCallIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                   const std::string& collection) {
  auto existing = listIndexesBlocking(client, database, collection);
  if (!existing) return tl::unexpected(existing.error());
  if (!existing->collectionExists) return CallIndexReport{false, {}};
  return CallIndexReport{true, missingCallIndexes(existing->indexes)};
}

void checkCallIndexes(MongoClient& mongo, const std::string& collection,
                      std::function<void(Expected<CallIndexReport>)> done) {
  auto shared = std::make_shared<std::function<void(Expected<CallIndexReport>)>>(std::move(done));
  bool queued = mongo.run([shared, database = mongo.databaseName(),
                           collection](mongoc_client_t* client) -> reactor::WorkerPool::Completion {
    Expected<CallIndexReport> result =
        client ? checkCallIndexesBlocking(client, database, collection)
               : Expected<CallIndexReport>(fail("no client available from the pool"));
    return [shared, result = std::move(result)] { (*shared)(result); };
  });
  if (!queued) (*shared)(fail("mongo worker queue is full"));
}

Expected<EnsureOutcome> ensureCallIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                  const std::string& collection) {
  auto report = checkCallIndexesBlocking(client, database, collection);
  if (!report) return tl::unexpected(report.error());
  // An absent collection gets every index (createIndexes creates the collection).
  const std::vector<NeededIndex> missing = report->collectionExists ? report->missing : neededCallIndexes();
  EnsureOutcome outcome;
  for (const NeededIndex& needed : neededCallIndexes()) {
    bool isMissing = false;
    for (const NeededIndex& m : missing) isMissing = isMissing || m.spec.name == needed.spec.name;
    if (!isMissing) {
      outcome.present.push_back(needed.spec.keys.front().first);
      continue;
    }
    if (auto made = createIndexBlocking(client, database, collection, needed.spec); !made)
      return tl::unexpected(made.error());
    outcome.created.push_back(needed.spec.name);
  }
  return outcome;
}

}  // namespace recgw::storage
