#pragma once
// Owning handles for libmongoc and libbson objects (each has exactly one owner and is freed on
// every path), and a guard that returns a pooled client.
#include <mongoc/mongoc.h>

#include <memory>
#include <utility>

namespace recgw::storage {

struct MongocUriFree {
  void operator()(mongoc_uri_t* u) const noexcept { mongoc_uri_destroy(u); }
};
struct MongocClientFree {
  void operator()(mongoc_client_t* c) const noexcept { mongoc_client_destroy(c); }
};
struct MongocPoolFree {
  void operator()(mongoc_client_pool_t* p) const noexcept { mongoc_client_pool_destroy(p); }
};
struct MongocDatabaseFree {
  void operator()(mongoc_database_t* d) const noexcept { mongoc_database_destroy(d); }
};
struct MongocCollectionFree {
  void operator()(mongoc_collection_t* c) const noexcept { mongoc_collection_destroy(c); }
};
struct MongocCursorFree {
  void operator()(mongoc_cursor_t* c) const noexcept { mongoc_cursor_destroy(c); }
};
struct MongocReadPrefsFree {
  void operator()(mongoc_read_prefs_t* r) const noexcept { mongoc_read_prefs_destroy(r); }
};

// A heap bson_t (bson_new, or one libbson hands over). Not a unique_ptr: bson_t's alignment
// attribute is dropped in template arguments.
class OwnedBson {
 public:
  explicit OwnedBson(bson_t* doc = nullptr) : doc_(doc) {}
  ~OwnedBson() {
    if (doc_) bson_destroy(doc_);
  }
  OwnedBson(OwnedBson&& other) noexcept : doc_(other.doc_) { other.doc_ = nullptr; }
  OwnedBson& operator=(OwnedBson&& other) noexcept {
    std::swap(doc_, other.doc_);
    return *this;
  }
  OwnedBson(const OwnedBson&) = delete;
  OwnedBson& operator=(const OwnedBson&) = delete;
  bson_t* get() const { return doc_; }

 private:
  bson_t* doc_;
};
using MongocUriPtr = std::unique_ptr<mongoc_uri_t, MongocUriFree>;
using MongocClientPtr = std::unique_ptr<mongoc_client_t, MongocClientFree>;
using MongocPoolPtr = std::unique_ptr<mongoc_client_pool_t, MongocPoolFree>;
using MongocDatabasePtr = std::unique_ptr<mongoc_database_t, MongocDatabaseFree>;
using MongocCollectionPtr = std::unique_ptr<mongoc_collection_t, MongocCollectionFree>;
using MongocCursorPtr = std::unique_ptr<mongoc_cursor_t, MongocCursorFree>;
using MongocReadPrefsPtr = std::unique_ptr<mongoc_read_prefs_t, MongocReadPrefsFree>;

// A client popped from the pool for the length of one job; pushed back on every path.
class PooledClient {
 public:
  explicit PooledClient(mongoc_client_pool_t* pool) : pool_(pool), client_(mongoc_client_pool_pop(pool)) {}
  ~PooledClient() {
    if (client_) mongoc_client_pool_push(pool_, client_);
  }
  PooledClient(const PooledClient&) = delete;
  PooledClient& operator=(const PooledClient&) = delete;
  mongoc_client_t* get() const { return client_; }

 private:
  mongoc_client_pool_t* pool_;
  mongoc_client_t* client_;
};

// A stack bson_t, destroyed at scope end.
class ScopedBson {
 public:
  ScopedBson() { bson_init(&doc_); }
  ~ScopedBson() { bson_destroy(&doc_); }
  ScopedBson(const ScopedBson&) = delete;
  ScopedBson& operator=(const ScopedBson&) = delete;
  bson_t* get() { return &doc_; }

 private:
  bson_t doc_;
};

}  // namespace recgw::storage
