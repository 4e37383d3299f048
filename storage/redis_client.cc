#include "storage/redis_client.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <arpa/inet.h>

#include "reactor/logger.h"

namespace recgw::storage {
namespace {

struct CommandPrivdata {
  std::shared_ptr<RedisClient*> client;
  uint64_t id;
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

std::string parseRedisUrl(const std::string& url, RedisAddress& out) {
  out = RedisAddress{};
  if (url.rfind("unix://", 0) == 0) {
    out.unixPath = url.substr(7);
    if (out.unixPath.empty()) return "unix:// needs a socket path";
    return "";
  }
  if (url.rfind("redis://", 0) != 0) return "expected redis://host:port or unix:///path";
  std::string rest = url.substr(8);
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string auth = rest.substr(0, at);
    size_t colon = auth.find(':');
    out.password = colon == std::string::npos ? auth : auth.substr(colon + 1);
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
    if (!number(rest.substr(slash + 1), 0, 65535, out.database)) return "database must be a number";
  }
  // [v6]:port, v4:port, or a bare host.
  if (!hostPort.empty() && hostPort.front() == '[') {
    size_t close = hostPort.find(']');
    if (close == std::string::npos) return "unterminated [IPv6] host";
    out.host = hostPort.substr(1, close - 1);
    std::string after = hostPort.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':' || !number(after.substr(1), 1, 65535, out.port))
        return "port must be 1..65535";
    }
  } else {
    size_t colon = hostPort.rfind(':');
    out.host = hostPort.substr(0, colon);
    if (colon != std::string::npos && !number(hostPort.substr(colon + 1), 1, 65535, out.port)) {
      return "port must be 1..65535";
    }
  }
  if (out.host == "localhost") out.host = "127.0.0.1";
  unsigned char buf[sizeof(in6_addr)];
  bool isIp =
      inet_pton(AF_INET, out.host.c_str(), buf) == 1 || inet_pton(AF_INET6, out.host.c_str(), buf) == 1;
  if (!isIp) return "host must be an IP address or localhost (hiredis resolves names with a blocking call)";
  return "";
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
      reconnectTimer_(loop, [this] { connect(); }),
      self_(std::make_shared<RedisClient*>(this)) {}

RedisClient::~RedisClient() {
  *self_ = nullptr;  // late hiredis callbacks see the client gone
  if (ctx_) {
    ctx_->data = nullptr;
    redisAsyncFree(ctx_);  // calls each pending callback with NULL; they find no client
    ctx_ = nullptr;
  }
}

void RedisClient::start() { connect(); }

void RedisClient::connect() {
  if (ctx_) return;
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
  self->connectTimer_.cancel();
  if (status != REDIS_OK) {
    // hiredis frees the context after a failed connect.
    std::string reason = ac->errstr;
    self->ctx_ = nullptr;
    self->scheduleReconnect(reason);
    return;
  }
  self->backoff_ = std::chrono::milliseconds(100);
  auto finishConnect = [self] { self->setState(true, "connected"); };
  if (!self->address_.password.empty() || self->address_.database != 0) {
    // AUTH / SELECT go first on the new connection; ordinary commands queue behind them.
    if (!self->address_.password.empty())
      self->command({"AUTH", self->address_.password}, [](const RedisReply&) {});
    if (self->address_.database != 0) {
      self->command({"SELECT", std::to_string(self->address_.database)}, [](const RedisReply&) {});
    }
  }
  finishConnect();
}

void RedisClient::onDisconnect(const redisAsyncContext* ac, int status) noexcept {
  auto* self = static_cast<RedisClient*>(ac->data);
  if (!self) return;
  // hiredis frees the context after this callback.
  std::string reason = status == REDIS_OK ? "disconnected" : (ac->errstr[0] ? ac->errstr : "connection lost");
  self->ctx_ = nullptr;
  self->scheduleReconnect(reason);
}

void RedisClient::setState(bool connected, const std::string& reason) {
  bool changed = connected != connected_ || !everReported_;
  connected_ = connected;
  everReported_ = true;
  if (!connected) lastError_ = reason;
  if (changed) {
    std::string where =
        address_.unixPath.empty() ? address_.host + ":" + std::to_string(address_.port) : address_.unixPath;
    if (connected)
      reactor::logInfo("redis: disconnected -> connected", {{"address", where}});
    else
      reactor::logWarn("redis: connected -> disconnected", {{"address", where}, {"reason", reason}});
    if (onStateChange_) onStateChange_(connected, reason);
  }
}

void RedisClient::scheduleReconnect(const std::string& reason) {
  setState(false, reason);
  reconnectTimer_.startOnce(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
}

void RedisClient::failSoon(Callback callback, std::string message) {
  // Never call back from inside command(): the caller may not be ready for re-entry.
  loop_.defer([callback = std::move(callback), message = std::move(message), alive = std::weak_ptr(self_)] {
    auto self = alive.lock();
    if (!self || !*self) return;
    callback(errorReply(message));
  });
}

void RedisClient::command(std::vector<std::string> args, Callback callback) {
  if (!connected_ || !ctx_) return failSoon(std::move(callback), "redis not connected: " + lastError_);
  if (pending_.size() >= maxInFlight_)
    return failSoon(std::move(callback), "too many redis commands in flight");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  uint64_t id = nextId_++;
  auto* priv = new CommandPrivdata{self_, id};
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
  RedisClient* self = *priv->client;
  if (!self) return;
  try {
    self->complete(priv->id, copyReply(static_cast<redisReply*>(reply)));
  } catch (const std::exception& e) {
    reactor::logError("redis callback threw", {{"error", e.what()}});
  }
}

void RedisClient::complete(uint64_t id, const RedisReply& reply) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // already timed out
  Callback cb = std::move(it->second.callback);
  // The timer may be the caller: free it after this pass.
  loop_.defer([timer = std::shared_ptr<reactor::Timer>(std::move(it->second.deadline))] {});
  pending_.erase(it);
  cb(reply);
}

}  // namespace recgw::storage
