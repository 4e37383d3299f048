#pragma once
// The indexes recgw needs on the CXB service's `calls` collection. Without them every
// lookup that misses the caches scans the collection: fine at a thousand calls, an outage at
// a million. The collection belongs to CXB, so recgw never creates them on its own: the
// readiness probe, `check-config --probe` and `diagnose` say which are missing, and
// `recgw ensure-indexes` creates them when an operator asks.
#include <mongoc/mongoc.h>

#include <functional>
#include <string>
#include <vector>

#include "reactor/status.h"
#include "storage/mongo_indexes.h"

namespace recgw::storage {

struct NeededIndex {
  IndexSpec spec;       // what `ensure-indexes` creates
  const char* purpose;  // which lookup scans without it
  bool ordered;         // the lookup is a range or a sort, not only equality
};

// recording_access_token (unique: one call per public link), session_id, created_at
// (`warm --since`).
const std::vector<NeededIndex>& neededCallIndexes();

// Whether `existing` serves `needed`: an index whose first key is the same field (and
// unique when uniqueness is needed) does, whatever its name or direction. Pure.
bool indexServes(const IndexSpec& existing, const NeededIndex& needed);

// The needed indexes that `existing` lacks. Pure.
std::vector<NeededIndex> missingCallIndexes(const std::vector<IndexSpec>& existing);

// "recording_access_token (unique; public links), created_at (warm --since)". Pure.
std::string describeMissing(const std::vector<NeededIndex>& missing);

struct CallIndexReport {
  // False: no such collection yet, so nothing to scan (and nothing reported missing).
  bool collectionExists = true;
  std::vector<NeededIndex> missing;
};
// listIndexes on the collection, then missingCallIndexes. Blocking.
Expected<CallIndexReport> checkCallIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                   const std::string& collection);

class MongoClient;
// checkCallIndexesBlocking on a MongoDB worker; `done` runs on the loop (with an error when
// the worker queue is full).
void checkCallIndexes(MongoClient& mongo, const std::string& collection,
                      std::function<void(Expected<CallIndexReport>)> done);

struct EnsureOutcome {
  std::vector<std::string> created;  // names of the indexes created
  std::vector<std::string> present;  // fields already served by an existing index
};
// Creates each missing index. Blocking; stops at the first failure.
Expected<EnsureOutcome> ensureCallIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                  const std::string& collection);

}  // namespace recgw::storage
