#pragma once
// Indexes of a MongoDB collection: which exist (listIndexes) and creating one
// (createIndexes). Blocking: call from a WorkerPool job or from the CLI.
#include <mongoc/mongoc.h>

#include <string>
#include <utility>
#include <vector>

#include "reactor/status.h"

namespace recgw::storage {

struct IndexSpec {
  std::string name;
  std::vector<std::pair<std::string, int>> keys;  // field, 1 or -1, in order
  bool unique = false;
  bool sparse = false;
};

struct CollectionIndexes {
  bool collectionExists = true;
  std::vector<IndexSpec> indexes;
};

// The indexes of `collection` as the server reports them. A collection that does not exist
// is not an error: it has no indexes and collectionExists is false.
Expected<CollectionIndexes> listIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                const std::string& collection);

enum class OnConflict {
  kFail,    // an index of that name or keys with other options is an error, as the server words it
  kAccept,  // ... is good enough (a helper index someone else defined differently)
};

// Creates `index` on `collection` (and the collection if absent).
Status createIndexBlocking(mongoc_client_t* client, const std::string& database,
                           const std::string& collection, const IndexSpec& index,
                           OnConflict onConflict = OnConflict::kFail);

// MongoDB's server error codes for createIndexes conflicts (an index of that name or key
// exists with other options).
inline constexpr uint32_t kIndexOptionsConflict = 85;
inline constexpr uint32_t kIndexKeySpecsConflict = 86;

}  // namespace recgw::storage
