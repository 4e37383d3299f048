#pragma once
// An async Redis client on the loop (hiredis 0.14 + its libevent adapter), with what
// hiredis lacks: a connect timeout, a deadline per command, a cap on commands in flight,
// and reconnection with backoff on a fresh context. Loop thread only.
//
// Every command's callback fires exactly once: with the reply, an error, or a timeout —
// and never after the RedisClient is destroyed. No exception leaves a hiredis callback: what
// a command's callback throws is logged and ends with that command; a throw while handling a
// reply fails that command with an error; a throw in the connect or disconnect handling is
// logged and the client reconnects.
//
// On each new connection the client first sends AUTH (when a password is set), SELECT (when
// the database is not 0) and PING, and counts itself connected only once all of them
// answered OK: a refused AUTH, a missing password (NOAUTH) or a bad database keeps it
// disconnected with Redis' reason in lastError(), and it retries with backoff.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "reactor/status.h"

struct redisAsyncContext;
struct redisContext;
struct redisReply;

namespace recgw::storage {

struct RedisReply {
  enum class Kind { kError, kNil, kString, kInteger, kArray, kStatus };
  Kind kind = Kind::kError;
  std::string text;  // string, status or error message
  int64_t integer = 0;
  std::vector<RedisReply> elements;
  bool ok() const { return kind != Kind::kError; }
};

struct RedisAddress {
  std::string host;  // an IP: hiredis would resolve names with a blocking call on the loop
  int port = 6379;
  std::string unixPath;
  int database = 0;
  std::string username;  // an ACL user (AUTH username password); empty = AUTH password
  std::string password;
};

// Parses redis://[[user]:password@]host[:port][/db] and unix:///path; user and password may
// be percent-encoded; "localhost" becomes 127.0.0.1.
Expected<RedisAddress> parseRedisUrl(const std::string& url);

// The configuration keys that override parts of the URL (redis.username, redis.password,
// redis.database), so that a secret need not sit in a URL. Empty strings and a negative
// database leave the URL's value.
struct RedisOverrides {
  std::string username;
  std::string password;
  int64_t database = -1;
};
Expected<RedisAddress> parseRedisUrl(const std::string& url, const RedisOverrides& overrides);

// The commands that open a connection, in order: AUTH [user] password (when a password is
// set), SELECT db (when db is not 0). Shared by the async client and `recgw warm`.
std::vector<std::vector<std::string>> redisHandshake(const RedisAddress& address);

// Redis Sentinel: the client asks these sentinels for the master's address instead of using
// the address' host and port (its user, password and database still apply to the master).
struct RedisSentinelSettings {
  std::vector<RedisAddress> sentinels;  // host, port and password (redis.sentinel_password)
  std::string masterName;
};

// redis.sentinels entries ("ip:port", "[v6]:port", "localhost:port"); the password is the
// sentinels' own. The error names the bad entry.
Expected<std::vector<RedisAddress>> parseSentinels(const std::vector<std::string>& entries,
                                                   const std::string& password);

// The master's address from a reply to SENTINEL get-master-addr-by-name: `master` with the
// host and port the sentinel named (its user, password and database kept). Fails on an
// unknown master name, a hostname, a malformed reply.
Expected<RedisAddress> masterFromSentinelReply(const RedisReply& reply, RedisAddress master);

// For `recgw warm`: asks each sentinel in turn (blocking, each within `timeout`) and returns
// `master` with the host and port named. The error names each sentinel's failure.
Expected<RedisAddress> askSentinelsBlocking(const RedisSentinelSettings& settings,
                                            std::chrono::milliseconds timeout, RedisAddress master);

// One command on a blocking hiredis context (CLIs): the reply, or an error reply saying why
// there is none.
RedisReply redisCommandBlocking(redisContext* context, const std::vector<std::string>& args);

// "AUTH" for the AUTH command of a handshake, else the command's name: names the step
// that failed without showing its arguments (the password).
std::string redisHandshakeStepName(const std::vector<std::string>& command);

class RedisClient {
 public:
  using Callback = std::function<void(const RedisReply&)>;

  RedisClient(reactor::EventLoop& loop, RedisAddress address, std::chrono::milliseconds timeout,
              size_t maxInFlight = 10000);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Before start(): find the master through Redis Sentinel. The client asks the sentinels at
  // start, every second, when its connection is lost and when Redis answers READONLY, and
  // moves to a new master as soon as one is named.
  void useSentinels(RedisSentinelSettings settings);

  // Before start(): this connection only listens. After the handshake (the same AUTH,
  // SELECT, PING and, with Sentinel, ROLE as any connection) it sends SUBSCRIBE channel and
  // counts itself connected once Redis confirmed it; every new connection (a restarted
  // Redis, a failover) subscribes again, with the usual reconnect backoff. Each published
  // message is handed to onMessage (what it throws is logged and dropped). command() is
  // refused on such a client: a subscribed connection takes no ordinary commands.
  void subscribe(std::string channel, std::function<void(const std::string& message)> onMessage);

  void start();
  bool connected() const { return connected_; }
  // host:port (or the socket path) of the server in use; with Sentinel, the master last named.
  std::string describeAddress() const;
  bool usesSentinels() const { return !sentinel_.sentinels.empty(); }
  // Why the client is not connected (Redis' own words for a refused AUTH or SELECT).
  const std::string& lastError() const { return lastError_; }
  // The last connection attempt reached Redis but it refused our credentials.
  bool authRefused() const { return !connected_ && authRefused_; }
  size_t inFlight() const { return pending_.size(); }

  // Not connected, or too many in flight: the callback gets an error on the next pass.
  void command(std::vector<std::string> args, Callback callback);

  // Called on every connected/disconnected transition (for logs and metrics).
  void setOnStateChange(std::function<void(bool connected, const std::string& reason)> cb) {
    onStateChange_ = std::move(cb);
  }

 private:
  struct Pending {
    Callback callback;
    std::unique_ptr<reactor::Timer> deadline;
  };
  static void onConnect(const redisAsyncContext* ac, int status) noexcept;
  static void onDisconnect(const redisAsyncContext* ac, int status) noexcept;
  static void onReply(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  static void onSubscriptionReply(redisAsyncContext* ac, void* reply, void* privdata) noexcept;
  void sendSubscribe();
  void handleSubscriptionReply(uint64_t generation, const RedisReply& reply);
  void handleConnect(int status, const std::string& error);
  void handleDisconnect(int status, const std::string& error);
  // After a throw out of a hiredis callback's handling: the client carries on (reconnecting).
  void recoverFromThrow(const char* where, const char* what) noexcept;
  // Calls a command's callback: what it throws is logged and ends there (it had its reply).
  void deliver(const Callback& callback, const RedisReply& reply) noexcept;

  void connect();
  void beginHandshake();
  // Fails with the reason a handshake step's reply stops the connection.
  Status checkHandshakeStep(const std::string& step, const RedisReply& reply);
  void handshakeStepDone(uint64_t generation, const std::string& step, const RedisReply& reply);
  void dropConnection(uint64_t generation, const std::string& reason);
  void send(std::vector<std::string> args, Callback callback);
  void askSentinels();
  void askSentinel(size_t index, std::string errors);
  void onMasterNamed(const RedisAddress& master, size_t sentinelIndex);
  void onReadOnly();
  void scheduleReconnect(const std::string& reason);
  void setState(bool connected, const std::string& reason);
  void complete(uint64_t id, const RedisReply& reply);
  void failSoon(Callback callback, std::string message);

  reactor::EventLoop& loop_;
  RedisAddress address_;
  std::chrono::milliseconds timeout_;
  size_t maxInFlight_;
  redisAsyncContext* ctx_ = nullptr;  // owned; hiredis frees it itself after a disconnect
  bool connected_ = false;
  bool everReported_ = false;
  bool authRefused_ = false;
  // Counts connection attempts, so replies and deferred work of an earlier connection are
  // told apart from the current one.
  uint64_t generation_ = 0;
  size_t handshakeRemaining_ = 0;
  std::string handshakeFailure_;  // set once a step failed; wins over hiredis' disconnect reason
  std::string lastError_ = "not connected yet";
  std::chrono::milliseconds backoff_{100};
  reactor::Timer connectTimer_;
  reactor::Timer reconnectTimer_;
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  std::function<void(bool, const std::string&)> onStateChange_;
  std::string subscribeChannel_;  // empty: an ordinary client
  std::function<void(const std::string&)> onMessage_;
  // Shared with the privdata of commands in flight, so a late hiredis callback can tell
  // that this client is gone.
  reactor::Liveness alive_;

  // Sentinel mode (empty = off). One plain client per sentinel, for the queries.
  RedisSentinelSettings sentinel_;
  std::vector<std::unique_ptr<RedisClient>> sentinelClients_;
  std::unique_ptr<reactor::Timer> sentinelPoll_;
  bool masterKnown_ = false;
  bool askingSentinels_ = false;
  bool readOnlySeen_ = false;  // per connection: one READONLY is enough to ask again
  std::string logName_ = "redis";
};

}  // namespace recgw::storage
