#include "storage/call_indexes.h"

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

Expected<std::vector<NeededIndex>> checkCallIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                            const std::string& collection) {
  auto existing = listIndexesBlocking(client, database, collection);
  if (!existing) return tl::unexpected(existing.error());
  return missingCallIndexes(*existing);
}

Expected<EnsureOutcome> ensureCallIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                  const std::string& collection) {
  auto missing = checkCallIndexesBlocking(client, database, collection);
  if (!missing) return tl::unexpected(missing.error());
  EnsureOutcome outcome;
  for (const NeededIndex& needed : neededCallIndexes()) {
    bool isMissing = false;
    for (const NeededIndex& m : *missing) isMissing = isMissing || m.spec.name == needed.spec.name;
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
