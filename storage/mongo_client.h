#pragma once
// MongoDB for the loop: a thread-safe mongoc_client_pool_t used only from a WorkerPool.
// Every public call returns at once; its callback runs later on the loop thread.
// Timeouts are forced into the URI so a dead server costs a bounded wait on a worker
// thread and never anything on the loop.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "reactor/worker_pool.h"
#include "storage/mongo_handles.h"

namespace recgw::storage {

struct MongoStatus {
  bool ok = false;
  std::string reason;  // safe to log and show: never carries credentials
};

class MongoClient {
 public:
  // Throws std::runtime_error at start-up for a URI libmongoc rejects.
  MongoClient(reactor::WorkerPool& workers, const std::string& uri, std::chrono::milliseconds timeout,
              size_t maxPoolSize);
  ~MongoClient();
  MongoClient(const MongoClient&) = delete;
  MongoClient& operator=(const MongoClient&) = delete;

  const std::string& databaseName() const { return database_; }

  void ping(std::function<void(MongoStatus)> done);

  // Runs `job` with a pooled client on a worker thread; `job` returns the completion that
  // runs on the loop. False when the queue is full (answer 503).
  bool run(std::function<reactor::WorkerPool::Completion(mongoc_client_t*)> job);

  mongoc_client_pool_t* pool() { return pool_.get(); }

 private:
  reactor::WorkerPool& workers_;
  std::string uri_;  // as configured: its secrets are masked out of every reason shown
  bool hasCredentials_ = false;
  MongocPoolPtr pool_;
  std::string database_;
};

// A failed command's error worded for the operator: refused credentials and TLS certificates
// that cannot be verified name the mongo.uri options that fix them; other errors pass as
// libmongoc words them. Pure; the caller masks the URI's secrets out of the result.
std::string explainMongoError(uint32_t domain, uint32_t code, const std::string& message);

// "mongodb://u:p@h/db?x" → adds serverSelectionTimeoutMS, connectTimeoutMS, socketTimeoutMS,
// waitQueueTimeoutMS and maxPoolSize when absent. Pure; exposed for tests.
std::string withTimeouts(const std::string& uri, std::chrono::milliseconds timeout, size_t maxPoolSize);

}  // namespace recgw::storage
