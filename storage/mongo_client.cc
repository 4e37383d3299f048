#include "storage/mongo_client.h"

#include <stdexcept>
#include <string_view>

#include "storage/url_redaction.h"

namespace recgw::storage {

std::string withTimeouts(const std::string& uri, std::chrono::milliseconds timeout, size_t maxPoolSize) {
  std::string out = uri;
  auto hasOption = [&](const std::string& name) {
    auto q = out.find('?');
    if (q == std::string::npos) return false;
    std::string query = "&" + out.substr(q + 1);
    std::string lowerQuery, lowerName = "&" + name + "=";
    for (char c : query) lowerQuery += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : lowerName) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lowerQuery.find(lowerName) != std::string::npos;
  };
  auto add = [&](const std::string& name, const std::string& value) {
    if (hasOption(name)) return;
    if (out.find('?') == std::string::npos) {
      // A query needs the "/" before it, even without a database name.
      auto scheme = out.find("://");
      auto slash = out.find('/', scheme == std::string::npos ? 0 : scheme + 3);
      if (slash == std::string::npos) out += "/";
      out += "?";
    } else if (out.back() != '?' && out.back() != '&') {
      out += "&";
    }
    out += name + "=" + value;
  };
  std::string ms = std::to_string(timeout.count());
  add("serverSelectionTimeoutMS", ms);
  add("connectTimeoutMS", ms);
  add("socketTimeoutMS", std::to_string(timeout.count() * 2));
  add("waitQueueTimeoutMS", ms);
  add("maxPoolSize", std::to_string(maxPoolSize));
  return out;
}

namespace {
constexpr uint32_t kMongoUnauthorized = 13;  // server error code: the command needs a login

// Empty unless the server refuses a listing of `database` for want of a login.
std::string loginRequiredReason(mongoc_client_t* client, const std::string& database) {
  ScopedBson list, reply;
  BSON_APPEND_INT32(list.get(), "listCollections", 1);
  BSON_APPEND_BOOL(list.get(), "nameOnly", true);
  bson_error_t error;
  if (mongoc_client_command_simple(client, database.c_str(), list.get(), nullptr, reply.get(), &error) ||
      error.domain != MONGOC_ERROR_SERVER || error.code != kMongoUnauthorized) {
    return {};
  }
  return "MongoDB requires authentication, and mongo.uri has no user name and password: add "
         "user:password@ and authSource to it; MongoDB says: " +
         std::string(error.message);
}

}  // namespace

std::string explainMongoError(uint32_t domain, uint32_t code, const std::string& message) {
  auto mentions = [&](std::string_view needle) { return message.find(needle) != std::string::npos; };
  // Error API v2: a server's refusal is MONGOC_ERROR_SERVER with the server's code (18 is
  // AuthenticationFailed); the driver's own is MONGOC_ERROR_CLIENT_AUTHENTICATE.
  bool authentication = (domain == MONGOC_ERROR_CLIENT && code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
                        (domain == MONGOC_ERROR_SERVER && code == 18) || mentions("Authentication failed");
  if (authentication) {
    return "MongoDB refused the credentials (authentication failed): check the user name and password in "
           "mongo.uri and authSource (the database that holds the user, often admin); libmongoc says: " +
           message;
  }
  // Only verification failures: a TLS handshake can fail for other reasons (a server that
  // does not speak TLS), and those are better shown as libmongoc words them.
  if (mentions("certificate verify failed") || mentions("unable to get local issuer certificate") ||
      mentions("self-signed certificate") || mentions("self signed certificate") ||
      mentions("certificate has expired")) {
    return "the TLS certificate of MongoDB could not be verified: if a private CA signed it, add "
           "tlsCAFile=<PEM bundle of that CA> to mongo.uri; libmongoc says: " +
           message;
  }
  if (mentions("Failed to look up SRV")) {
    return "the mongodb+srv:// host name could not be resolved (DNS SRV lookup): " + message;
  }
  return message;
}

MongoClient::MongoClient(reactor::WorkerPool& workers, const std::string& uri,
                         std::chrono::milliseconds timeout, size_t maxPoolSize)
    : workers_(workers), uri_(uri) {
  bson_error_t error;
  std::string full = withTimeouts(uri, timeout, maxPoolSize);
  MongocUriPtr parsed(mongoc_uri_new_with_error(full.c_str(), &error));
  // libmongoc may quote the password it rejects; the message ends up in the log.
  if (!parsed) throw std::runtime_error("mongo.uri: " + redactUrlSecretsIn(error.message, uri));
  hasCredentials_ = mongoc_uri_get_username(parsed.get()) != nullptr ||
                    mongoc_uri_get_auth_mechanism(parsed.get()) != nullptr;
  const char* db = mongoc_uri_get_database(parsed.get());
  database_ = db && *db ? db : "cxb";
  // For mongodb+srv:// this resolves the SRV record now (libmongoc does it synchronously);
  // a failed lookup is named here instead of a bare "cannot create a client pool".
  pool_.reset(mongoc_client_pool_new_with_error(parsed.get(), &error));
  if (!pool_) {
    std::string reason = explainMongoError(error.domain, error.code, error.message);
    throw std::runtime_error("mongo.uri: cannot create a client pool: " + redactUrlSecretsIn(reason, uri));
  }
  mongoc_client_pool_set_error_api(pool_.get(), MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_set_appname(pool_.get(), "recgw");
}

MongoClient::~MongoClient() = default;

bool MongoClient::run(std::function<reactor::WorkerPool::Completion(mongoc_client_t*)> job) {
  mongoc_client_pool_t* pool = pool_.get();
  return workers_.submit([pool, job = std::move(job)]() -> reactor::WorkerPool::Completion {
    PooledClient client(pool);
    return job(client.get());
  });
}

void MongoClient::ping(std::function<void(MongoStatus)> done) {
  std::string db = database_;
  std::string uri = uri_;
  bool hasCredentials = hasCredentials_;
  auto job = [db, uri, hasCredentials,
              done](mongoc_client_t* client) mutable -> reactor::WorkerPool::Completion {
    MongoStatus status;
    if (!client) {
      status.reason = "no client available from the pool";
    } else {
      ScopedBson cmd, reply;
      BSON_APPEND_INT32(cmd.get(), "ping", 1);
      bson_error_t error;
      if (mongoc_client_command_simple(client, "admin", cmd.get(), nullptr, reply.get(), &error)) {
        status.ok = true;
        status.reason = "ping ok";
        // ping needs no login, so a server that requires one answers it while refusing every
        // lookup. Without credentials in the URI, ask for something that does need one.
        if (!hasCredentials) {
          std::string refused = loginRequiredReason(client, db);
          if (!refused.empty()) status = {false, refused};
        }
      } else {
        status.reason = redactUrlSecretsIn(explainMongoError(error.domain, error.code, error.message), uri);
      }
    }
    return [done = std::move(done), status] { done(status); };
  };
  bool queued = run(std::move(job));
  if (!queued) done(MongoStatus{false, "mongo worker queue is full"});  // `done` was not moved: run() refused
}

}  // namespace recgw::storage
