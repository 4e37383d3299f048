#include "storage/redis_client.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>

#include "reactor/logger.h"
#include "storage/hiredis_handles.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {
namespace {

struct CommandPrivdata {
  reactor::LivenessWatch alive;
  RedisClient* client;
  uint64_t id;
};

// hiredis keeps a subscription's callback for the life of its context and calls it once
// more with a NULL reply when the context goes (disconnect or free): that call frees this.
struct SubscriptionPrivdata {
  reactor::LivenessWatch alive;
  RedisClient* client;
  uint64_t generation;
};

RedisReply copyReply(const redisReply* r) {
  RedisReply out;
  if (r == nullptr) {
    out.kind = RedisReply::Kind::kError;
    out.text = "connection lost";
    return out;
  }
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.kind = RedisReply::Kind::kString;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = RedisReply::Kind::kStatus;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = RedisReply::Kind::kError;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = RedisReply::Kind::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_NIL:
      out.kind = RedisReply::Kind::kNil;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = RedisReply::Kind::kArray;
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copyReply(r->element[i]));
      break;
    default:
      out.kind = RedisReply::Kind::kError;
      out.text = "unexpected reply type";
  }
  return out;
}

RedisReply errorReply(std::string message) {
  RedisReply r;
  r.kind = RedisReply::Kind::kError;
  r.text = std::move(message);
  return r;
}

}  // namespace

Expected<RedisAddress> parseRedisUrl(const std::string& url) {
  RedisAddress out;
  if (url.rfind("unix://", 0) == 0) {
    out.unixPath = url.substr(7);
    if (out.unixPath.empty()) return fail("unix:// needs a socket path");
    return out;
  }
  if (url.rfind("redis://", 0) != 0) return fail("expected redis://host:port or unix:///path");
  std::string rest = url.substr(8);
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string auth = rest.substr(0, at);
    size_t colon = auth.find(':');
    auto user = percentDecode(colon == std::string::npos ? std::string() : auth.substr(0, colon));
    auto password = percentDecode(colon == std::string::npos ? auth : auth.substr(colon + 1));
    if (!user || !password) return fail("user and password must be percent-encoded");
    out.username = *user;
    out.password = *password;
    rest = rest.substr(at + 1);
  }
  auto number = [](const std::string& text, int low, int high, int& value) {
    if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
      return false;
    value = std::stoi(text);
    return value >= low && value <= high;
  };
  size_t slash = rest.find('/');
  std::string hostPort = rest.substr(0, slash);
  if (slash != std::string::npos && slash + 1 < rest.size()) {
    if (!number(rest.substr(slash + 1), 0, 65535, out.database)) return fail("database must be a number");
  }
  // [v6]:port, v4:port, or a bare host.
  if (!hostPort.empty() && hostPort.front() == '[') {
    size_t close = hostPort.find(']');
    if (close == std::string::npos) return fail("unterminated [IPv6] host");
    out.host = hostPort.substr(1, close - 1);
    std::string after = hostPort.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':' || !number(after.substr(1), 1, 65535, out.port))
        return fail("port must be 1..65535");
    }
  } else {
    size_t colon = hostPort.rfind(':');
    out.host = hostPort.substr(0, colon);
    if (colon != std::string::npos && !number(hostPort.substr(colon + 1), 1, 65535, out.port)) {
      return fail("port must be 1..65535");
    }
  }
  if (out.host == "localhost") out.host = "127.0.0.1";
  unsigned char buf[sizeof(in6_addr)];
  bool isIp =
      inet_pton(AF_INET, out.host.c_str(), buf) == 1 || inet_pton(AF_INET6, out.host.c_str(), buf) == 1;
  if (!isIp)
    return fail("host must be an IP address or localhost (hiredis resolves names with a blocking call)");
  return out;
}

Expected<RedisAddress> parseRedisUrl(const std::string& url, const RedisOverrides& overrides) {
  Expected<RedisAddress> out = parseRedisUrl(url);
  if (!out) return out;
  if (!overrides.username.empty()) out->username = overrides.username;
  if (!overrides.password.empty()) out->password = overrides.password;
  if (overrides.database >= 0) out->database = static_cast<int>(overrides.database);
  if (!out->username.empty() && out->password.empty())
    return fail("an ACL user (redis.username) needs a password");
  return out;
}

std::vector<std::vector<std::string>> redisHandshake(const RedisAddress& address) {
  std::vector<std::vector<std::string>> steps;
  if (!address.password.empty()) {
    if (address.username.empty())
      steps.push_back({"AUTH", address.password});
    else
      steps.push_back({"AUTH", address.username, address.password});
  }
  if (address.database != 0) steps.push_back({"SELECT", std::to_string(address.database)});
  return steps;
}

std::string redisHandshakeStepName(const std::vector<std::string>& command) {
  return command.empty() ? std::string("(empty)") : command.front();
}

namespace {

std::string hostPort(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

RedisReply runBlocking(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  RedisReplyPtr raw(
      static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
  if (!raw) return errorReply(c->errstr[0] ? c->errstr : "connection lost");
  return copyReply(raw.get());
}

}  // namespace

RedisReply redisCommandBlocking(redisContext* context, const std::vector<std::string>& args) {
  return runBlocking(context, args);
}

Expected<std::vector<RedisAddress>> parseSentinels(const std::vector<std::string>& entries,
                                                   const std::string& password) {
  std::vector<RedisAddress> out;
  for (const auto& entry : entries) {
    Expected<RedisAddress> a = parseRedisUrl("redis://" + entry);
    if (a && (entry.find('/') != std::string::npos || entry.find('@') != std::string::npos))
      a = fail("expected ip:port");
    if (!a) return fail("\"" + entry + "\": " + a.error().message);
    a->password = password;
    out.push_back(std::move(*a));
  }
  return out;
}

Expected<RedisAddress> masterFromSentinelReply(const RedisReply& reply, RedisAddress master) {
  if (reply.kind == RedisReply::Kind::kError) return fail(reply.text);
  if (reply.kind == RedisReply::Kind::kNil) return fail("the sentinel monitors no master of that name");
  if (reply.kind != RedisReply::Kind::kArray || reply.elements.size() != 2 ||
      reply.elements[0].kind != RedisReply::Kind::kString ||
      reply.elements[1].kind != RedisReply::Kind::kString)
    return fail("unexpected reply to SENTINEL get-master-addr-by-name");
  const std::string& ip = reply.elements[0].text;
  const std::string& port = reply.elements[1].text;
  std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  Expected<RedisAddress> parsed = parseRedisUrl("redis://" + host + ":" + port);
  if (!parsed) return fail("the sentinel named " + ip + " port " + port + ": " + parsed.error().message);
  master.host = parsed->host;
  master.port = parsed->port;
  master.unixPath.clear();
  return master;
}

Expected<RedisAddress> askSentinelsBlocking(const RedisSentinelSettings& settings,
                                            std::chrono::milliseconds timeout, RedisAddress master) {
  std::string errors;
  auto note = [&](const RedisAddress& sentinel, const std::string& why) {
    errors += (errors.empty() ? "" : "; ") + hostPort(sentinel.host, sentinel.port) + ": " + why;
  };
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  for (const auto& sentinel : settings.sentinels) {
    RedisContextPtr c(redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port, tv));
    if (!c || c->err) {
      note(sentinel, c ? c->errstr : "out of memory");
      continue;
    }
    redisSetTimeout(c.get(), tv);
    std::string failure;
    for (const auto& step : redisHandshake(sentinel)) {
      RedisReply r = runBlocking(c.get(), step);
      if (!r.ok()) {
        failure = redisHandshakeStepName(step) + " refused: " + r.text;
        break;
      }
    }
    if (failure.empty()) {
      RedisReply r = runBlocking(c.get(), {"SENTINEL", "get-master-addr-by-name", settings.masterName});
      Expected<RedisAddress> named = masterFromSentinelReply(r, master);
      if (named) return named;
      failure = named.error().message;
    }
    note(sentinel, failure);
  }
  return fail("no sentinel named the master \"" + settings.masterName + "\": " + errors);
}

RedisClient::RedisClient(reactor::EventLoop& loop, RedisAddress address, std::chrono::milliseconds timeout,
                         size_t maxInFlight)
    : loop_(loop),
      address_(std::move(address)),
      timeout_(timeout),
      maxInFlight_(maxInFlight),
      connectTimer_(loop,
                    [this] {
                      if (connected_ || !ctx_) return;
                      // Freeing a context that never connected calls no callback of ours.
                      redisAsyncContext* ctx = ctx_;
                      ctx_ = nullptr;
                      ctx->data = nullptr;
                      redisAsyncFree(ctx);
                      scheduleReconnect("connect timed out");
                    }),
      reconnectTimer_(loop, [this] { connect(); }) {}

RedisClient::~RedisClient() {
  alive_.invalidate();  // late hiredis callbacks see the client gone
  if (ctx_) {
    ctx_->data = nullptr;
    redisAsyncFree(ctx_);  // calls each pending callback with NULL; they find no client
    ctx_ = nullptr;
  }
}

void RedisClient::useSentinels(RedisSentinelSettings settings) { sentinel_ = std::move(settings); }

void RedisClient::subscribe(std::string channel, std::function<void(const std::string&)> onMessage) {
  subscribeChannel_ = std::move(channel);
  onMessage_ = std::move(onMessage);
  logName_ = "redis subscriber";
}

std::string RedisClient::describeAddress() const {
  if (!sentinel_.sentinels.empty() && !masterKnown_)
    return "master \"" + sentinel_.masterName + "\" (not named yet)";
  return address_.unixPath.empty() ? hostPort(address_.host, address_.port) : address_.unixPath;
}

void RedisClient::start() {
  if (sentinel_.sentinels.empty()) return connect();
  for (const auto& sentinel : sentinel_.sentinels) {
    auto client = std::make_unique<RedisClient>(loop_, sentinel, timeout_, 64);
    client->logName_ = "redis sentinel";
    // The first sentinel to connect is asked at once, not at the next poll.
    client->setOnStateChange([this](bool up, const std::string&) {
      if (up && !masterKnown_) askSentinels();
    });
    sentinelClients_.push_back(std::move(client));
  }
  for (auto& client : sentinelClients_) client->start();
  // Polling rather than a +switch-master subscription: hiredis 0.14 gives a subscription no
  // timeout, so a silent sentinel would go unnoticed, while a poll every second bounds how
  // long a failover goes unseen and needs no second kind of connection.
  sentinelPoll_ = std::make_unique<reactor::Timer>(loop_, [this] { askSentinels(); });
  sentinelPoll_->startPeriodic(std::chrono::seconds(1));
  setState(false, "asking the sentinels for master \"" + sentinel_.masterName + "\"");
}

void RedisClient::askSentinels() {
  if (askingSentinels_ || sentinelClients_.empty()) return;
  askingSentinels_ = true;
  askSentinel(0, "");
}

void RedisClient::askSentinel(size_t index, std::string errors) {
  if (index >= sentinelClients_.size()) {
    askingSentinels_ = false;
    if (!masterKnown_)
      setState(false, "no sentinel named master \"" + sentinel_.masterName + "\": " + errors);
    return;
  }
  sentinelClients_[index]->command(
      {"SENTINEL", "get-master-addr-by-name", sentinel_.masterName},
      [this, index, errors = std::move(errors)](const RedisReply& reply) {
        Expected<RedisAddress> master = masterFromSentinelReply(reply, RedisAddress{});
        if (!master) {
          std::string more = errors + (errors.empty() ? "" : "; ") +
                             sentinelClients_[index]->describeAddress() + ": " + master.error().message;
          return askSentinel(index + 1, std::move(more));
        }
        askingSentinels_ = false;
        onMasterNamed(*master, index);
      });
}

void RedisClient::onMasterNamed(const RedisAddress& master, size_t sentinelIndex) {
  if (masterKnown_ && master.host == address_.host && master.port == address_.port) return;
  std::string previous = masterKnown_ ? describeAddress() : "none";
  address_.host = master.host;
  address_.port = master.port;
  masterKnown_ = true;
  reactor::logWarn("redis: master named by sentinel",
                   {{"master", describeAddress()},
                    {"previous", previous},
                    {"sentinel", sentinelClients_[sentinelIndex]->describeAddress()}});
  // Move at once: this runs in a sentinel's callback, never in one of this connection's.
  backoff_ = std::chrono::milliseconds(100);
  reconnectTimer_.cancel();
  if (ctx_) {
    redisAsyncContext* ctx = ctx_;
    ctx_ = nullptr;
    ctx->data = nullptr;
    redisAsyncFree(ctx);  // pending commands fail ("connection lost"): lookups go to MongoDB
    setState(false, "master moved to " + describeAddress());
  }
  connect();
}

void RedisClient::onReadOnly() {
  // A replica answered: the master we know is stale (a failover happened). Ask again and
  // leave this connection; the ROLE check keeps us off replicas on reconnect.
  if (sentinelClients_.empty() || readOnlySeen_) return;
  readOnlySeen_ = true;
  askSentinels();
  loop_.defer([this, alive = reactor::LivenessWatch(alive_), generation = generation_] {
    if (!alive.alive()) return;
    dropConnection(generation, "READONLY: the server is a replica now");
  });
}

void RedisClient::connect() {
  if (ctx_) return;
  if (!sentinelClients_.empty() && !masterKnown_) return askSentinels();  // connects once named
  readOnlySeen_ = false;
  ++generation_;
  handshakeRemaining_ = 0;
  handshakeFailure_.clear();
  redisAsyncContext* ctx = address_.unixPath.empty() ? redisAsyncConnect(address_.host.c_str(), address_.port)
                                                     : redisAsyncConnectUnix(address_.unixPath.c_str());
  if (ctx == nullptr) {
    scheduleReconnect("out of memory");
    return;
  }
  if (ctx->err) {
    std::string reason = ctx->errstr;
    redisAsyncFree(ctx);
    scheduleReconnect(reason);
    return;
  }
  ctx->data = this;
  redisLibeventAttach(ctx, loop_.base());
  redisAsyncSetConnectCallback(ctx, &RedisClient::onConnect);
  redisAsyncSetDisconnectCallback(ctx, &RedisClient::onDisconnect);
  ctx_ = ctx;
  connectTimer_.startOnce(timeout_ * 4);
}

void RedisClient::onConnect(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  try {
    self->handleConnect(status, ac->errstr);
  } catch (const std::exception& e) {
    self->recoverFromThrow("connect", e.what());
  } catch (...) {
    self->recoverFromThrow("connect", "an exception that is not a std::exception");
  }
}

void RedisClient::handleConnect(int status, const std::string& error) {
  connectTimer_.cancel();
  if (status != REDIS_OK) {
    // hiredis frees the context after a failed connect.
    ctx_ = nullptr;
    scheduleReconnect(error);
    return;
  }
  beginHandshake();
}

void RedisClient::recoverFromThrow(const char* where, const char* what) noexcept {
  try {
    reactor::logError(logName_ + ": handling a hiredis callback threw",
                      {{"callback", where}, {"error", what}, {"address", describeAddress()}});
    // Leave the connection from the loop, not from inside hiredis' callback. When hiredis
    // already freed the context (a disconnect), dropConnection finds it gone.
    loop_.defer([client = this, alive = reactor::LivenessWatch(alive_), generation = generation_,
                 reason = std::string(what)] {
      if (!alive.alive()) return;
      if (client->ctx_)
        client->dropConnection(generation, "internal error: " + reason);
      else if (!client->reconnectTimer_.pending())
        client->scheduleReconnect("internal error: " + reason);
    });
  } catch (...) {
    // Out of memory while logging: the reconnect timer still brings the client back.
    if (!ctx_ && !reconnectTimer_.pending()) reconnectTimer_.startOnce(backoff_);
  }
}

void RedisClient::beginHandshake() {
  // Ordinary commands are refused until the handshake is done, so none can run on a
  // connection that is not yet authenticated or still on database 0. PING closes it so that
  // a server that wants a password we do not have says so now (NOAUTH), not on every lookup.
  auto steps = redisHandshake(address_);
  steps.push_back({"PING"});
  // A sentinel's answer can be stale (an old master back as a replica): write only to a master.
  if (!sentinelClients_.empty()) steps.push_back({"ROLE"});
  handshakeRemaining_ = steps.size();
  const uint64_t generation = generation_;
  for (auto& step : steps) {
    std::string name = redisHandshakeStepName(step);
    send(std::move(step),
         [this, generation, name](const RedisReply& reply) { handshakeStepDone(generation, name, reply); });
  }
}

Status RedisClient::checkHandshakeStep(const std::string& step, const RedisReply& reply) {
  auto startsWith = [&](const char* prefix) { return reply.text.rfind(prefix, 0) == 0; };
  if (step == "ROLE") {
    // A user that may not run ROLE is let through: a READONLY reply still tells.
    if (!reply.ok()) return startsWith("NOPERM") ? ok() : fail("ROLE failed: " + reply.text);
    bool hasRole = reply.kind == RedisReply::Kind::kArray && !reply.elements.empty();
    std::string role = hasRole ? reply.elements[0].text : std::string("unknown");
    if (role == "master") return ok();
    askSentinels();
    return fail(describeAddress() + " is a " + role + ", not the master");
  }
  if (reply.ok()) return ok();
  // Redis' error text names the problem and never echoes the password.
  if (startsWith("NOAUTH"))
    return fail("Redis requires a password (redis.password or the URL): " + reply.text);
  return fail(step + " refused: " + reply.text);
}

void RedisClient::handshakeStepDone(uint64_t generation, const std::string& step, const RedisReply& reply) {
  if (generation != generation_ || handshakeRemaining_ == 0 || !handshakeFailure_.empty()) return;
  if (Status passed = checkHandshakeStep(step, reply); !passed) {
    std::string problem = std::move(passed.error().message);
    auto startsWith = [&](const char* prefix) { return reply.text.rfind(prefix, 0) == 0; };
    authRefused_ = !reply.ok() && (step == "AUTH" || startsWith("NOAUTH") || startsWith("WRONGPASS") ||
                                   startsWith("NOPERM"));
    handshakeFailure_ = problem;
    handshakeRemaining_ = 0;
    // Not from inside a hiredis callback: freeing the context there would pull it from
    // under hiredis.
    loop_.defer([this, alive = reactor::LivenessWatch(alive_), generation, problem] {
      if (!alive.alive()) return;
      dropConnection(generation, problem);
    });
    return;
  }
  if (--handshakeRemaining_ > 0) return;
  authRefused_ = false;
  // A subscriber is up only once Redis confirmed the subscription (the backoff is reset
  // then, so a refused SUBSCRIBE keeps backing off).
  if (!subscribeChannel_.empty()) return sendSubscribe();
  backoff_ = std::chrono::milliseconds(100);
  setState(true, "connected");
}

void RedisClient::sendSubscribe() {
  if (!ctx_) return;
  // A dead peer is otherwise unnoticed on a connection that only listens.
  redisEnableKeepAlive(&ctx_->c);
  const char* argv[] = {"SUBSCRIBE", subscribeChannel_.c_str()};
  size_t lens[] = {9, subscribeChannel_.size()};
  auto* priv = new SubscriptionPrivdata{alive_, this, generation_};
  if (redisAsyncCommandArgv(ctx_, &RedisClient::onSubscriptionReply, priv, 2, argv, lens) != REDIS_OK) {
    delete priv;  // refused: hiredis keeps no callback
    loop_.defer([this, alive = reactor::LivenessWatch(alive_), generation = generation_] {
      if (!alive.alive()) return;
      dropConnection(generation, "SUBSCRIBE could not be sent");
    });
  }
}

void RedisClient::onSubscriptionReply(redisAsyncContext*, void* reply, void* privdata) noexcept {
  auto* priv = static_cast<SubscriptionPrivdata*>(privdata);
  if (reply == nullptr) {  // the context is going: hiredis will not call this again
    delete priv;
    return;
  }
  if (!priv->alive.alive()) return;
  try {
    priv->client->handleSubscriptionReply(priv->generation, copyReply(static_cast<redisReply*>(reply)));
  } catch (const std::exception& e) {
    priv->client->recoverFromThrow("subscription", e.what());
  } catch (...) {
    priv->client->recoverFromThrow("subscription", "an exception that is not a std::exception");
  }
}

void RedisClient::handleSubscriptionReply(uint64_t generation, const RedisReply& reply) {
  if (generation != generation_ || reply.kind != RedisReply::Kind::kArray || reply.elements.size() < 3)
    return;
  const std::string& kind = reply.elements[0].text;
  if (kind == "subscribe") {
    backoff_ = std::chrono::milliseconds(100);
    setState(true, "subscribed to " + subscribeChannel_);
  } else if (kind == "message" && onMessage_) {
    try {
      onMessage_(reply.elements[2].text);
    } catch (const std::exception& e) {
      reactor::logError(logName_ + ": a message handler threw", {{"error", e.what()}});
    }
  }
}

void RedisClient::dropConnection(uint64_t generation, const std::string& reason) {
  if (generation != generation_ || !ctx_) return;  // already gone (onDisconnect ran)
  redisAsyncContext* ctx = ctx_;
  ctx_ = nullptr;
  ctx->data = nullptr;
  redisAsyncFree(ctx);  // the handshake's callbacks get "connection lost" and are ignored
  scheduleReconnect(reason);
}

void RedisClient::onDisconnect(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  // hiredis frees the context after this callback, whatever happens below.
  self->ctx_ = nullptr;
  try {
    self->handleDisconnect(status, ac->errstr);
  } catch (const std::exception& e) {
    self->recoverFromThrow("disconnect", e.what());
  } catch (...) {
    self->recoverFromThrow("disconnect", "an exception that is not a std::exception");
  }
}

void RedisClient::handleDisconnect(int status, const std::string& error) {
  std::string reason = status == REDIS_OK ? "disconnected" : (!error.empty() ? error : "connection lost");
  if (!handshakeFailure_.empty()) reason = handshakeFailure_;
  scheduleReconnect(reason);
}

void RedisClient::setState(bool connected, const std::string& reason) {
  bool changed = connected != connected_ || !everReported_;
  // A new reason while down (e.g. from "connection refused" to a refused AUTH) is worth a
  // line; the same reason on every retry is not.
  bool newReason = !connected && reason != lastError_;
  connected_ = connected;
  everReported_ = true;
  if (!connected) lastError_ = reason;
  if (!changed && !newReason) return;
  std::string where = describeAddress();
  if (connected)
    reactor::logInfo(logName_ + ": disconnected -> connected", {{"address", where}});
  else
    reactor::logWarn(logName_ + (changed ? ": connected -> disconnected" : ": still disconnected"),
                     {{"address", where}, {"reason", reason}});
  if (changed && onStateChange_) onStateChange_(connected, reason);
}

void RedisClient::scheduleReconnect(const std::string& reason) {
  setState(false, reason);
  askSentinels();  // with Sentinel: the master may have moved
  reconnectTimer_.startOnce(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
}

void RedisClient::failSoon(Callback callback, std::string message) {
  // Never call back from inside command(): the caller may not be ready for re-entry.
  reactor::LivenessWatch alive = alive_;
  loop_.defer([this, callback = std::move(callback), message = std::move(message), alive] {
    if (!alive.alive()) return;
    deliver(callback, errorReply(message));
  });
}

void RedisClient::command(std::vector<std::string> args, Callback callback) {
  if (!subscribeChannel_.empty())
    return failSoon(std::move(callback), "a subscriber connection takes no commands");
  if (!connected_ || !ctx_) return failSoon(std::move(callback), "redis not connected: " + lastError_);
  send(std::move(args), std::move(callback));
}

void RedisClient::send(std::vector<std::string> args, Callback callback) {
  if (!ctx_) return failSoon(std::move(callback), "redis not connected: " + lastError_);
  if (pending_.size() >= maxInFlight_)
    return failSoon(std::move(callback), "too many redis commands in flight");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  uint64_t id = nextId_++;
  auto* priv = new CommandPrivdata{alive_, this, id};
  int rc = redisAsyncCommandArgv(ctx_, &RedisClient::onReply, priv, static_cast<int>(argv.size()),
                                 argv.data(), lens.data());
  if (rc != REDIS_OK) {
    delete priv;  // hiredis will not call back for a refused command
    return failSoon(std::move(callback), "redis refused the command (disconnecting)");
  }
  Pending p;
  p.callback = std::move(callback);
  p.deadline =
      std::make_unique<reactor::Timer>(loop_, [this, id] { complete(id, errorReply("redis timeout")); });
  p.deadline->startOnce(timeout_);
  pending_.emplace(id, std::move(p));
}

void RedisClient::onReply(redisAsyncContext*, void* reply, void* privdata) noexcept {
  std::unique_ptr<CommandPrivdata> priv(static_cast<CommandPrivdata*>(privdata));
  if (!priv->alive.alive()) return;
  RedisClient* self = priv->client;
  std::string failure;
  try {
    self->complete(priv->id, copyReply(static_cast<redisReply*>(reply)));
    return;
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "an exception that is not a std::exception";
  }
  // The reply could not be handed over: the command gets an error instead (when it is still
  // waiting), and the connection stays, since hiredis parsed the reply fine.
  try {
    reactor::logError(self->logName_ + ": handling a reply threw", {{"error", failure}});
    self->complete(priv->id, errorReply("redis reply could not be handled: " + failure));
  } catch (...) {
    // Out of memory twice over: the command's deadline still fails it.
  }
}

void RedisClient::deliver(const Callback& callback, const RedisReply& reply) noexcept {
  try {
    callback(reply);
  } catch (const std::exception& e) {
    reactor::logError(logName_ + ": a command's callback threw", {{"error", e.what()}});
  } catch (...) {
    reactor::logError(logName_ + ": a command's callback threw",
                      {{"error", "an exception that is not a std::exception"}});
  }
}

void RedisClient::complete(uint64_t id, const RedisReply& reply) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // already timed out
  Callback cb = std::move(it->second.callback);
  std::unique_ptr<reactor::Timer> deadline = std::move(it->second.deadline);
  pending_.erase(it);
  try {
    loop_.deleteSoon(std::move(deadline));  // the timer may be the caller
    if (reply.kind == RedisReply::Kind::kError && reply.text.rfind("READONLY", 0) == 0) onReadOnly();
  } catch (...) {
    deliver(cb, reply);  // its one call, before the caller hears of the throw
    throw;
  }
  deliver(cb, reply);
}

}  // namespace recgw::storage
