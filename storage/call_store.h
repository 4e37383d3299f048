#pragma once
// Calls in MongoDB, looked up by public token or by session id, on the MongoDB worker pool.
// Only what is needed is projected. Callbacks run on the loop thread.
#include <functional>
#include <string>

#include "storage/mongo_client.h"

namespace recgw::storage {

enum class LookupField { kToken, kSessionId };

struct CallRecord {
  enum class Outcome { kFound, kNoCall, kNoKey, kUnavailable };
  Outcome outcome = Outcome::kUnavailable;
  std::string key;
  std::string keyDerivation;  // "recording_key" / "recording_url"
  std::string sessionId;
  std::string accountId;
  std::string recordingStatus;
  bool hasRecordingKey = false;
  bool hasRecordingUrl = false;
  std::string error;  // for kUnavailable: why (safe to log)
};

class CallStore {
 public:
  CallStore(MongoClient& mongo, std::string collection) : mongo_(mongo), collection_(std::move(collection)) {}

  // The callback runs exactly once on the loop thread (synchronously if the queue is full).
  void find(LookupField field, const std::string& value, std::function<void(CallRecord)> done);

  // Blocking variant for worker threads and CLIs.
  static CallRecord findBlocking(mongoc_client_t* client, const std::string& database,
                                 const std::string& collection, LookupField field, const std::string& value);

 private:
  MongoClient& mongo_;
  std::string collection_;
};

}  // namespace recgw::storage
