#pragma once
// Calls in MongoDB, looked up by public token or by session id, on the MongoDB worker pool.
// Only what is needed is projected. Callbacks run on the loop thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>
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
  std::string accessToken;  // the public token; never written to Redis or logs
  // The public link's own state: revoked (the token is in the revoked-links collection, no
  // call holds it any more; outcome kNoCall) and the instant the link stops working
  // (recording_access_expires_at; 0 = never), milliseconds since the epoch.
  bool linkRevoked = false;
  int64_t accessExpiresAtMs = 0;
  // The recording was soft-deleted the way the rooms lifecycle does it (`deleted_at` set on
  // the call), whatever recording_status says.
  bool recordingDeleted = false;
  bool hasRecordingKey = false;
  bool hasRecordingUrl = false;
  std::string error;  // for kUnavailable: why (safe to log)
};

// One call found by a batch query, with the value it was found by.
struct WarmItem {
  LookupField field;
  std::string value;
  CallRecord record;
};

struct WarmBatch {
  std::vector<WarmItem> found;
  size_t missing = 0;
  std::string error;  // non-empty: MongoDB failed part-way
};

// What an upload report says about the object it uploaded.
struct UploadFacts {
  std::string sessionId;
  std::string key;
  uint64_t size = 0;
  std::string etag;
  std::string contentType;
  std::optional<double> durationS;
};

struct UploadRecorded {
  enum class Outcome { kRecorded, kNoCall, kUnavailable };
  Outcome outcome = Outcome::kUnavailable;
  CallRecord record;          // the call as it is now (kRecorded)
  bool tokenCreated = false;  // this report gave the call its token
  bool linkRevoked = false;   // the call's link was revoked: no token was minted
  std::string error;          // kUnavailable: why (safe to log)
};

class CallStore {
 public:
  CallStore(MongoClient& mongo, std::string collection) : mongo_(mongo), collection_(std::move(collection)) {}
  // Where revoked tokens are kept (by SHA-256, `_id`): a token no call holds is looked up
  // there, so a revoked link answers as such instead of as an unknown one. Empty: not asked.
  void setRevokedCollection(std::string collection) { revokedCollection_ = std::move(collection); }

  // The callback runs exactly once on the loop thread (synchronously if the queue is full).
  void find(LookupField field, const std::string& value, std::function<void(CallRecord)> done);

  // Blocking variant for worker threads and CLIs.
  // Batch lookups for warm-up, in `$in` batches of batchSize. Blocking: worker threads/CLI.
  static WarmBatch findManyBlocking(mongoc_client_t* client, const std::string& database,
                                    const std::string& collection, LookupField field,
                                    const std::vector<std::string>& values, size_t batchSize = 500);
  // Calls created at or after `since` (and before `until`, when set; newest first), at most
  // `limit`; each is returned
  // under its token and under its session id.
  static WarmBatch findSinceBlocking(mongoc_client_t* client, const std::string& database,
                                     const std::string& collection,
                                     std::chrono::system_clock::time_point since, size_t limit,
                                     std::optional<std::chrono::system_clock::time_point> until = {});

  // Sets a fresh public token on the call; returns the previous one (empty if none) in
  // `previous`. One atomic findAndModify. false + error when the call does not exist
  // (error empty) or MongoDB failed (error set).
  // `expiresAtMs` (> 0) sets recording_access_expires_at; 0 removes it (a new link starts
  // without the old one's expiry).
  static bool rotateTokenBlocking(mongoc_client_t* client, const std::string& database,
                                  const std::string& collection, const std::string& sessionId,
                                  const std::string& token, std::string& previous, std::string& error,
                                  int64_t expiresAtMs = 0);

  // Takes the public token off the call (and its expiry) and files it in `revokedCollection`
  // under its SHA-256 (`_id`, with session_id and revoked_at), so the link answers "revoked"
  // for good while the call keeps its recording. `previous` is the token revoked (empty when
  // the call had none), `storageKey` the call's recording key. false + error as above.
  static bool revokeTokenBlocking(mongoc_client_t* client, const std::string& database,
                                  const std::string& collection, const std::string& revokedCollection,
                                  const std::string& sessionId, std::string& previous,
                                  std::string& storageKey, std::string& error);
  // Whether the token was revoked (by its SHA-256); nullopt when MongoDB failed.
  static std::optional<bool> isRevokedBlocking(mongoc_client_t* client, const std::string& database,
                                               const std::string& revokedCollection,
                                               const std::string& token);

  // An upload report (POST /api/v1/fleet/recordings): sets recording_key, recording_status
  // "ready" and the object's size, ETag, content type (and duration when given) on the call,
  // then gives it `candidateToken` only if it has no public token yet, so a repeated report
  // keeps the token the first one minted. Each step is one atomic findAndModify. A call
  // whose link was revoked (a token of it filed in `revokedCollection`) gets no new token:
  // a report never brings back a link an admin took away (POST …/token mints one on purpose).
  static UploadRecorded recordUploadBlocking(mongoc_client_t* client, const std::string& database,
                                             const std::string& collection, const UploadFacts& upload,
                                             const std::string& candidateToken,
                                             const std::string& revokedCollection = {});

  static CallRecord findBlocking(mongoc_client_t* client, const std::string& database,
                                 const std::string& collection, LookupField field, const std::string& value);

 private:
  MongoClient& mongo_;
  std::string collection_;
  std::string revokedCollection_;
};

}  // namespace recgw::storage
