#include "storage/api_key_store.h"

#include <algorithm>

#include "storage/bson_fields.h"
#include "storage/crypto.h"

namespace recgw::storage {
namespace {

using fields::getDate;
using fields::getString;
using fields::putDate;
using fields::putString;

bool isBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

ApiKeyRecord recordFromDocument(const bson_t* doc) {
  ApiKeyRecord r;
  r.keySha256 = getString(doc, "key_sha256");
  r.accountId = getString(doc, "account_id");
  r.name = getString(doc, "name");
  r.createdAt = getDate(doc, "created_at").value_or(std::chrono::system_clock::time_point{});
  r.revokedAt = getDate(doc, "revoked_at");
  // A key is revoked once revoked_at holds anything but null: a revocation written by hand
  // or by a script as a string or a number must not leave the key working.
  bson_iter_t it;
  if (!r.revokedAt && bson_iter_init_find(&it, doc, "revoked_at") && bson_iter_type(&it) != BSON_TYPE_NULL)
    r.revokedAt = std::chrono::system_clock::time_point{};
  return r;
}

// Hashes starting with `prefix`: a range on the hex string (no regex needed).
void appendPrefixFilter(bson_t* filter, const std::string& prefix) {
  bson_t range;
  BSON_APPEND_DOCUMENT_BEGIN(filter, "key_sha256", &range);
  putString(&range, "$gte", prefix);
  putString(&range, "$lt", prefix + "g");  // 'g' sorts after every hex digit
  bson_append_document_end(filter, &range);
}

std::vector<ApiKeyRecord> findMany(mongoc_collection_t* coll, bson_t* filter, int64_t limit,
                                   std::string& error) {
  ScopedBson opts;
  bson_t sort;
  BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "sort", &sort);
  BSON_APPEND_INT32(&sort, "created_at", 1);
  bson_append_document_end(opts.get(), &sort);
  if (limit > 0) BSON_APPEND_INT64(opts.get(), "limit", limit);
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll, filter, opts.get(), nullptr));
  std::vector<ApiKeyRecord> out;
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor.get(), &doc)) out.push_back(recordFromDocument(doc));
  bson_error_t err;
  if (mongoc_cursor_error(cursor.get(), &err)) error = err.message;
  return out;
}

}  // namespace

std::string mintApiKey() {
  constexpr size_t kKeyBytes = 32;
  return std::string(kApiKeyPrefix) + crypto::base64UrlEncode(crypto::randomBytes(kKeyBytes));
}

bool looksLikeApiKey(std::string_view text) {
  if (text.size() != kApiKeyLength || text.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) return false;
  std::string_view body = text.substr(kApiKeyPrefix.size());
  if (!std::all_of(body.begin(), body.end(), isBase64UrlChar)) return false;
  // 43 characters carry 258 bits for 256: the last one holds 4 key bits and 2 zero bits, so
  // its alphabet index is a multiple of 4 and each key has exactly one spelling.
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  return kAlphabet.find(body.back()) % 4 == 0;
}

std::string apiKeyHash(std::string_view key) { return crypto::sha256Hex(key); }

bool ApiKeyStore::createBlocking(mongoc_client_t* client, const std::string& database,
                                 const std::string& collection, const ApiKeyRecord& record,
                                 std::string& error) {
  if (!client) {
    error = "no MongoDB client available";
    return false;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  // A unique index makes a (vanishingly unlikely) duplicate an error instead of two owners.
  ScopedBson command, reply;
  bson_t indexes, index, key;
  putString(command.get(), "createIndexes", collection);
  BSON_APPEND_ARRAY_BEGIN(command.get(), "indexes", &indexes);
  BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
  BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &key);
  BSON_APPEND_INT32(&key, "key_sha256", 1);
  bson_append_document_end(&index, &key);
  BSON_APPEND_UTF8(&index, "name", "key_sha256_unique");
  BSON_APPEND_BOOL(&index, "unique", true);
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(command.get(), &indexes);
  bson_error_t err;
  if (!mongoc_collection_write_command_with_opts(coll.get(), command.get(), nullptr, reply.get(), &err)) {
    error = std::string("creating the key_sha256 index: ") + err.message;
    return false;
  }
  ScopedBson doc;
  putString(doc.get(), "key_sha256", record.keySha256);
  putString(doc.get(), "account_id", record.accountId);
  putString(doc.get(), "name", record.name);
  putDate(doc.get(), "created_at", record.createdAt);
  BSON_APPEND_NULL(doc.get(), "revoked_at");
  if (!mongoc_collection_insert_one(coll.get(), doc.get(), nullptr, nullptr, &err)) {
    error = err.message;
    return false;
  }
  return true;
}

ApiKeyLookup ApiKeyStore::findBlocking(mongoc_client_t* client, const std::string& database,
                                       const std::string& collection, const std::string& keySha256) {
  ApiKeyLookup out;
  if (!client) {
    out.error = "no MongoDB client available";
    return out;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter, opts;
  putString(filter.get(), "key_sha256", keySha256);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", 2000);
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(cursor.get(), &doc)) {
    ApiKeyRecord r = recordFromDocument(doc);
    if (r.revokedAt || r.accountId.empty()) {
      out.outcome = ApiKeyLookup::Outcome::kRevoked;  // a key bound to no account is no key
    } else {
      out.outcome = ApiKeyLookup::Outcome::kActive;
      out.accountId = r.accountId;
    }
    return out;
  }
  bson_error_t err;
  if (mongoc_cursor_error(cursor.get(), &err)) {
    out.error = err.message;
    return out;
  }
  out.outcome = ApiKeyLookup::Outcome::kUnknown;
  return out;
}

std::vector<ApiKeyRecord> ApiKeyStore::listBlocking(mongoc_client_t* client, const std::string& database,
                                                    const std::string& collection,
                                                    const std::string& accountId, std::string& error) {
  if (!client) {
    error = "no MongoDB client available";
    return {};
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter;
  if (!accountId.empty()) putString(filter.get(), "account_id", accountId);
  return findMany(coll.get(), filter.get(), 0, error);
}

std::optional<ApiKeyRecord> ApiKeyStore::revokeBlocking(mongoc_client_t* client, const std::string& database,
                                                        const std::string& collection,
                                                        const std::string& idPrefix,
                                                        std::chrono::system_clock::time_point now,
                                                        std::string& error) {
  if (idPrefix.size() < 8 || idPrefix.size() > 64 || !isLowerHex(idPrefix)) {
    error = "a key id is 8 to 64 lower-case hex digits (see `recgw api-key list`)";
    return std::nullopt;
  }
  if (!client) {
    error = "no MongoDB client available";
    return std::nullopt;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter;
  appendPrefixFilter(filter.get(), idPrefix);
  std::vector<ApiKeyRecord> matches = findMany(coll.get(), filter.get(), 2, error);
  if (!error.empty()) return std::nullopt;
  if (matches.empty()) {
    error = "no API key with id " + idPrefix;
    return std::nullopt;
  }
  if (matches.size() > 1) {
    error = "the id " + idPrefix + " matches several keys: give more digits";
    return std::nullopt;
  }
  ApiKeyRecord key = matches.front();
  if (key.revokedAt) return key;
  ScopedBson exact, update;
  putString(exact.get(), "key_sha256", key.keySha256);
  bson_t set;
  BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
  putDate(&set, "revoked_at", now);
  bson_append_document_end(update.get(), &set);
  bson_error_t err;
  if (!mongoc_collection_update_one(coll.get(), exact.get(), update.get(), nullptr, nullptr, &err)) {
    error = err.message;
    return std::nullopt;
  }
  key.revokedAt = now;
  return key;
}

}  // namespace recgw::storage
