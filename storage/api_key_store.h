#pragma once
// API keys for tenant routes (`Authorization: Bearer rgw_…`), kept in MongoDB collection
// `api_keys` as {key_sha256, account_id, name, created_at, revoked_at}. The key itself is
// shown once when created and never stored: lookups and revocation go by its SHA-256.
// Blocking functions: MongoDB worker threads and the CLI only.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/mongo_handles.h"

namespace recgw::storage {

// "rgw_" + 32 random bytes in base64url (43 characters, no padding).
inline constexpr std::string_view kApiKeyPrefix = "rgw_";
inline constexpr size_t kApiKeyLength = 4 + 43;
// The id `api-key list` shows and `api-key revoke` takes: the first hex digits of the hash.
inline constexpr size_t kApiKeyIdLength = 16;

std::string mintApiKey();
// Shape only: the prefix, the length and the base64url alphabet of a minted key. Pure.
bool looksLikeApiKey(std::string_view text);
// Lower-case hex SHA-256 of the whole key (prefix included): what is stored. Pure.
std::string apiKeyHash(std::string_view key);

struct ApiKeyRecord {
  std::string keySha256;
  std::string accountId;
  std::string name;
  std::chrono::system_clock::time_point createdAt;
  std::optional<std::chrono::system_clock::time_point> revokedAt;
  std::string id() const { return keySha256.substr(0, kApiKeyIdLength); }
};

struct ApiKeyLookup {
  enum class Outcome { kActive, kRevoked, kUnknown, kUnavailable, kRefused };  // kRefused: not asked
  Outcome outcome = Outcome::kUnavailable;
  std::string accountId;  // kActive only
  std::string error;      // kUnavailable: why (safe to log; never the key)
};

class ApiKeyStore {
 public:
  // Inserts a key (and the unique index on key_sha256 when missing). false + error on failure.
  static bool createBlocking(mongoc_client_t* client, const std::string& database,
                             const std::string& collection, const ApiKeyRecord& record, std::string& error);
  static ApiKeyLookup findBlocking(mongoc_client_t* client, const std::string& database,
                                   const std::string& collection, const std::string& keySha256);
  // Every key (of one account when `accountId` is set), oldest first.
  static std::vector<ApiKeyRecord> listBlocking(mongoc_client_t* client, const std::string& database,
                                                const std::string& collection, const std::string& accountId,
                                                std::string& error);
  // Revokes the one key whose hash starts with `idPrefix` (at least 8 hex digits). Returns the
  // key as it is now; nullopt + error when none, several, or MongoDB failed. Revoking a revoked
  // key keeps its first revoked_at.
  static std::optional<ApiKeyRecord> revokeBlocking(mongoc_client_t* client, const std::string& database,
                                                    const std::string& collection,
                                                    const std::string& idPrefix,
                                                    std::chrono::system_clock::time_point now,
                                                    std::string& error);
};

}  // namespace recgw::storage
