#pragma once
// Owning handles for libmongoc and libbson objects (each has exactly one owner and is freed on
// every path), and a guard that returns a pooled client.
#include <mongoc/mongoc.h>

#include <memory>
#include <utility>

#include "reactor/owned_handle.h"

namespace recgw::storage {

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
using MongocUriPtr = OwnedHandle<mongoc_uri_t, mongoc_uri_destroy>;
using MongocClientPtr = OwnedHandle<mongoc_client_t, mongoc_client_destroy>;
using MongocPoolPtr = OwnedHandle<mongoc_client_pool_t, mongoc_client_pool_destroy>;
using MongocDatabasePtr = OwnedHandle<mongoc_database_t, mongoc_database_destroy>;
using MongocCollectionPtr = OwnedHandle<mongoc_collection_t, mongoc_collection_destroy>;
using MongocCursorPtr = OwnedHandle<mongoc_cursor_t, mongoc_cursor_destroy>;
using MongocReadPrefsPtr = OwnedHandle<mongoc_read_prefs_t, mongoc_read_prefs_destroy>;

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
