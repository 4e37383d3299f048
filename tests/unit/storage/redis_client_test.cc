// RedisClient: the pure parts (URLs, the handshake, Sentinel replies), then the client itself on
// a real EventLoop against a tiny in-process RESP server.
#include "storage/redis_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/libevent_handles.h"

namespace recgw::storage {
namespace {

RedisAddress parseOk(const std::string& url) {
  Expected<RedisAddress> a = parseRedisUrl(url);
  EXPECT_TRUE(a.has_value()) << url << ": " << (a ? "" : a.error().message);
  return a.value_or(RedisAddress{});
}

void expectRejected(const std::string& url) {
  Expected<RedisAddress> a = parseRedisUrl(url);
  EXPECT_FALSE(a.has_value()) << url << " accepted as host=" << a->host << " port=" << a->port;
  if (!a) {
    EXPECT_NE(a.error().message, "") << url;
  }
}

TEST(RedisUrlTest, HostPortAndDatabase) {
  RedisAddress a = parseOk("redis://127.0.0.1:6380/2");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.database, 2);
  EXPECT_TRUE(a.password.empty());
  EXPECT_TRUE(a.unixPath.empty());
}

TEST(RedisUrlTest, Defaults) {
  RedisAddress a = parseOk("redis://10.1.2.3");
  EXPECT_EQ(a.host, "10.1.2.3");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.database, 0);
  a = parseOk("redis://10.1.2.3/");
  EXPECT_EQ(a.database, 0);
}

TEST(RedisUrlTest, LocalhostBecomesLoopbackIp) {
  RedisAddress a = parseOk("redis://localhost:6379");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(parseOk("redis://localhost").host, "127.0.0.1");
}

TEST(RedisUrlTest, Password) {
  RedisAddress a = parseOk("redis://:s3cret@127.0.0.1:6379/1");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.database, 1);
  EXPECT_EQ(parseOk("redis://user:pw@127.0.0.1").password, "pw");
}

TEST(RedisUrlTest, Ipv6InBrackets) {
  RedisAddress a = parseOk("redis://[::1]:6380");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 6380);
}

TEST(RedisUrlTest, UnixSocket) {
  RedisAddress a = parseOk("unix:///tmp/r.sock");
  EXPECT_EQ(a.unixPath, "/tmp/r.sock");
  expectRejected("unix://");
}

TEST(RedisUrlTest, EachParseStartsFresh) {
  RedisAddress a = parseOk("redis://:pw@127.0.0.1:7000/3");
  a = parseOk("unix:///tmp/r.sock");
  EXPECT_TRUE(a.password.empty());
  EXPECT_EQ(a.database, 0);
  a = parseOk("redis://127.0.0.1");
  EXPECT_TRUE(a.unixPath.empty());
  EXPECT_EQ(a.port, 6379);
}

TEST(RedisUrlTest, HostnamesAreRejected) {
  // hiredis would resolve them with a blocking call on the loop.
  expectRejected("redis://redis.example:6379");
  expectRejected("redis://redis.example");
  expectRejected("redis://cache");
}

TEST(RedisUrlTest, BadInput) {
  expectRejected("redis://127.0.0.1:abc");
  expectRejected("redis://127.0.0.1:/0");
  expectRejected("redis://127.0.0.1/notanumber");
  expectRejected("redis://");
  expectRejected("http://127.0.0.1:6379");
  expectRejected("foo");
  expectRejected("");
}

// Regression: the port was read with std::stoi and never range-checked, so trailing junk
// and out-of-range ports were accepted.
TEST(RedisUrlTest, PortMustBeAValidPortNumber) {
  expectRejected("redis://127.0.0.1:99999");
  expectRejected("redis://127.0.0.1:-1");
  expectRejected("redis://127.0.0.1:0");
  expectRejected("redis://127.0.0.1:6379abc");
  expectRejected("redis://127.0.0.1:6379/2x");
}

// Regression: "looks like an IP" only checked the characters [0-9a-fA-F.:[]], so hostnames
// spelled with hex letters passed and hiredis then resolved them with a blocking
// getaddrinfo on the loop.
TEST(RedisUrlTest, HexLetterHostnamesAreRejected) {
  expectRejected("redis://db:6379");
  expectRejected("redis://cafe.bad:6379");
  expectRejected("redis://1.2.3.4.5");
}

TEST(RedisUrlTest, AclUserAndPassword) {
  RedisAddress a = parseOk("redis://cache-user:pw@127.0.0.1:6379/3");
  EXPECT_EQ(a.username, "cache-user");
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.database, 3);
  EXPECT_TRUE(parseOk("redis://:pw@127.0.0.1").username.empty());
}

TEST(RedisUrlTest, UserinfoIsPercentDecoded) {
  // Generated passwords hold '@', ':' and '/'; a URL can only carry them encoded.
  RedisAddress a = parseOk("redis://us%40er:p%40ss%3Aw%2Ford@127.0.0.1:6380/1");
  EXPECT_EQ(a.username, "us@er");
  EXPECT_EQ(a.password, "p@ss:w/ord");
  EXPECT_EQ(a.port, 6380);
  expectRejected("redis://:bad%zzpct@127.0.0.1");
}

TEST(RedisUrlTest, ConfigKeysOverrideTheUrl) {
  auto a = parseRedisUrl("redis://u:urlpw@127.0.0.1:6379/2", RedisOverrides{"acl", "keypw", 5});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->username, "acl");
  EXPECT_EQ(a->password, "keypw");
  EXPECT_EQ(a->database, 5);
  // Unset keys leave the URL's values; database 0 from the keys beats the URL's 2.
  a = parseRedisUrl("redis://u:urlpw@127.0.0.1:6379/2", RedisOverrides{"", "", 0});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->username, "u");
  EXPECT_EQ(a->password, "urlpw");
  EXPECT_EQ(a->database, 0);
  a = parseRedisUrl("unix:///tmp/r.sock", RedisOverrides{"", "pw", 3});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->password, "pw");
  EXPECT_EQ(a->database, 3);
  // An ACL user without a password cannot AUTH.
  a = parseRedisUrl("redis://127.0.0.1", RedisOverrides{"acl", "", -1});
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("needs a password"), std::string::npos) << a.error().message;
  EXPECT_TRUE(parseRedisUrl("redis://127.0.0.1", RedisOverrides{"", "pw", -1}));
  // A bad URL is reported as such, overrides or not.
  EXPECT_FALSE(parseRedisUrl("redis://cache", RedisOverrides{"", "pw", -1}));
}

TEST(RedisHandshakeTest, AuthThenSelectOnlyWhenNeeded) {
  RedisAddress a = parseOk("redis://127.0.0.1:6379");
  EXPECT_TRUE(redisHandshake(a).empty());
  a = parseOk("redis://:pw@127.0.0.1:6379/3");
  auto steps = redisHandshake(a);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0], (std::vector<std::string>{"AUTH", "pw"}));
  EXPECT_EQ(steps[1], (std::vector<std::string>{"SELECT", "3"}));
  a = parseOk("redis://acl:pw@127.0.0.1:6379");
  steps = redisHandshake(a);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0], (std::vector<std::string>{"AUTH", "acl", "pw"}));
  // The step's name, used in logs and errors, never carries the password.
  EXPECT_EQ(redisHandshakeStepName(steps[0]), "AUTH");
}

TEST(RedisSentinelTest, SentinelListEntries) {
  auto parsed = parseSentinels({"127.0.0.1:26379", "[::1]:26380", "localhost:26381"}, "spw");
  ASSERT_TRUE(parsed);
  const std::vector<RedisAddress>& out = *parsed;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].host, "127.0.0.1");
  EXPECT_EQ(out[0].port, 26379);
  EXPECT_EQ(out[0].password, "spw");
  EXPECT_EQ(out[1].host, "::1");
  EXPECT_EQ(out[2].host, "127.0.0.1");
  for (const char* bad :
       {"sentinel.example:26379", "127.0.0.1:0", "127.0.0.1:26379/2", "u:p@127.0.0.1:1", ""}) {
    auto refused = parseSentinels({bad}, "");
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find(std::string("\"") + bad + "\""), std::string::npos)
        << refused.error().message;
  }
}

RedisReply text(RedisReply::Kind kind, std::string value) {
  RedisReply r;
  r.kind = kind;
  r.text = std::move(value);
  return r;
}

TEST(RedisSentinelTest, MasterFromReply) {
  RedisReply reply;
  reply.kind = RedisReply::Kind::kArray;
  reply.elements = {text(RedisReply::Kind::kString, "127.0.0.1"), text(RedisReply::Kind::kString, "6380")};
  const RedisAddress known = parseOk("redis://:pw@10.0.0.1:6379/3");
  auto master = masterFromSentinelReply(reply, known);
  ASSERT_TRUE(master);
  EXPECT_EQ(master->host, "127.0.0.1");
  EXPECT_EQ(master->port, 6380);
  EXPECT_EQ(master->password, "pw");  // the master keeps its credentials and database
  EXPECT_EQ(master->database, 3);
  reply.elements[0].text = "::1";
  master = masterFromSentinelReply(reply, known);
  ASSERT_TRUE(master);
  EXPECT_EQ(master->host, "::1");

  // unknown master name, an error, a hostname (blocking resolve), junk: refused with a reason
  auto refusedWithReason = [&](const RedisReply& r) {
    auto refused = masterFromSentinelReply(r, known);
    return !refused && !refused.error().message.empty();
  };
  EXPECT_TRUE(refusedWithReason(text(RedisReply::Kind::kNil, "")));
  RedisReply noAuth = text(RedisReply::Kind::kError, "NOAUTH Authentication required.");
  EXPECT_TRUE(refusedWithReason(noAuth));
  reply.elements[0].text = "redis-master.internal";
  EXPECT_TRUE(refusedWithReason(reply));
  reply.elements[0].text = "127.0.0.1";
  reply.elements[1].text = "65536";
  EXPECT_TRUE(refusedWithReason(reply));
  reply.elements.pop_back();
  EXPECT_TRUE(refusedWithReason(reply));
}

// ---- RedisClient against a tiny in-process RESP server ------------------------------------

using namespace std::chrono_literals;
using Command = std::vector<std::string>;

// A Redis stand-in on the test's own loop: a loopback listener that reads RESP commands and
// answers them from a script. By default it behaves like Redis for AUTH, SELECT, PING, GET
// and SET; a test's script decides first, and may answer anything, stay silent, or close
// the connection.
class TinyRespServer {
 public:
  struct Answer {
    enum class Kind { kReply, kSilent, kClose };
    Kind kind = Kind::kReply;
    std::string resp;
    static Answer reply(std::string resp) { return {Kind::kReply, std::move(resp)}; }
    static Answer silent() { return {Kind::kSilent, {}}; }
    static Answer close() { return {Kind::kClose, {}}; }
  };
  // nullopt: the default behaviour.
  using Script = std::function<std::optional<Answer>(const Command&)>;

  explicit TinyRespServer(reactor::EventLoop& loop, Script script = {})
      : loop_(loop), script_(std::move(script)) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT_GE(listenFd_, 0);
    int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listenFd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptEvent_.reset(
        event_new(loop_.base(), listenFd_, EV_READ | EV_PERSIST, &TinyRespServer::onAccept, this));
    event_add(acceptEvent_.get(), nullptr);
  }
  ~TinyRespServer() {
    for (auto& c : connections_) closeConnection(*c);
    acceptEvent_.reset();
    ::close(listenFd_);
  }
  TinyRespServer(const TinyRespServer&) = delete;
  TinyRespServer& operator=(const TinyRespServer&) = delete;

  RedisAddress address() const {
    RedisAddress a;
    a.host = "127.0.0.1";
    a.port = port_;
    return a;
  }
  // Every command received, in order, across connections.
  const std::vector<Command>& commands() const { return commands_; }
  size_t accepted() const { return connections_.size(); }
  // Writes raw RESP to the newest open connection (a reply that comes late).
  void sendLate(const std::string& resp) {
    for (auto it = connections_.rbegin(); it != connections_.rend(); ++it) {
      if ((*it)->fd >= 0) return write(**it, resp);
    }
    ADD_FAILURE() << "no open connection to send to";
  }

 private:
  struct Connection {
    TinyRespServer* server = nullptr;
    int fd = -1;
    reactor::EventPtr readEvent;
    std::string input;
  };

  static void onAccept(evutil_socket_t fd, short, void* arg) {
    auto* self = static_cast<TinyRespServer*>(arg);
    int client = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (client < 0) return;
    auto c = std::make_unique<Connection>();
    c->server = self;
    c->fd = client;
    c->readEvent.reset(
        event_new(self->loop_.base(), client, EV_READ | EV_PERSIST, &TinyRespServer::onRead, c.get()));
    event_add(c->readEvent.get(), nullptr);
    self->connections_.push_back(std::move(c));
  }

  static void onRead(evutil_socket_t, short, void* arg) {
    auto* c = static_cast<Connection*>(arg);
    TinyRespServer* self = c->server;
    char buf[4096];
    ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
    if (n <= 0) return self->closeConnection(*c);
    c->input.append(buf, static_cast<size_t>(n));
    while (c->fd >= 0) {
      std::optional<Command> command = takeCommand(c->input);
      if (!command) return;
      self->commands_.push_back(*command);
      Answer answer = self->answer(*command);
      if (answer.kind == Answer::Kind::kClose) return self->closeConnection(*c);
      if (answer.kind == Answer::Kind::kReply) self->write(*c, answer.resp);
    }
  }

  // One complete "*N\r\n$len\r\narg\r\n..." command off the front of `input`, if there is one.
  static std::optional<Command> takeCommand(std::string& input) {
    size_t pos = 0;
    auto line = [&]() -> std::optional<std::string> {
      size_t end = input.find("\r\n", pos);
      if (end == std::string::npos) return std::nullopt;
      std::string text = input.substr(pos, end - pos);
      pos = end + 2;
      return text;
    };
    auto header = line();
    if (!header) return std::nullopt;
    EXPECT_EQ(header->front(), '*') << *header;
    size_t count = std::stoul(header->substr(1));
    Command command;
    for (size_t i = 0; i < count; ++i) {
      auto size = line();
      if (!size) return std::nullopt;
      size_t length = std::stoul(size->substr(1));
      if (input.size() < pos + length + 2) return std::nullopt;
      command.push_back(input.substr(pos, length));
      pos += length + 2;
    }
    input.erase(0, pos);
    return command;
  }

  Answer answer(const Command& command) {
    if (script_) {
      if (std::optional<Answer> scripted = script_(command)) return *scripted;
    }
    const std::string& name = command.front();
    if (name == "AUTH" || name == "SELECT") return Answer::reply("+OK\r\n");
    if (name == "PING") return Answer::reply("+PONG\r\n");
    if (name == "SET" && command.size() >= 3) {
      values_[command[1]] = command[2];
      return Answer::reply("+OK\r\n");
    }
    if (name == "GET" && command.size() == 2) {
      auto it = values_.find(command[1]);
      if (it == values_.end()) return Answer::reply("$-1\r\n");
      return Answer::reply("$" + std::to_string(it->second.size()) + "\r\n" + it->second + "\r\n");
    }
    return Answer::reply("-ERR unknown command '" + name + "'\r\n");
  }

  void write(Connection& c, const std::string& resp) {
    size_t sent = 0;
    while (sent < resp.size()) {
      ssize_t n = ::send(c.fd, resp.data() + sent, resp.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "the RESP server could not write";
      sent += static_cast<size_t>(n);
    }
  }

  void closeConnection(Connection& c) {
    c.readEvent.reset();
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
  }

  reactor::EventLoop& loop_;
  Script script_;
  int listenFd_ = -1;
  int port_ = 0;
  reactor::EventPtr acceptEvent_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Command> commands_;
  std::map<std::string, std::string> values_;
};

// Runs the loop until `done` holds or `limit` passes; returns whether it holds.
bool runUntil(reactor::EventLoop& loop, const std::function<bool()>& done,
              std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  reactor::Timer check(loop, [&] {
    if (done() || std::chrono::steady_clock::now() > deadline) loop.stop();
  });
  check.startPeriodic(1ms);
  loop.run();
  return done();
}

// The reply a command gets, once it got one.
struct Outcome {
  std::optional<RedisReply> reply;
  int calls = 0;
};

RedisClient::Callback recordInto(Outcome& outcome) {
  return [&outcome](const RedisReply& r) {
    outcome.reply = r;
    ++outcome.calls;
  };
}

// A command run to its reply on a connected client.
RedisReply roundTrip(reactor::EventLoop& loop, RedisClient& client, Command command) {
  Outcome outcome;
  client.command(std::move(command), recordInto(outcome));
  EXPECT_TRUE(runUntil(loop, [&] { return outcome.calls > 0; })) << "no reply";
  return outcome.reply.value_or(RedisReply{});
}

constexpr auto kCommandTimeout = 300ms;

class RedisClientTest : public ::testing::Test {
 protected:
  // Starts a client on `server` (with `password` / `database` when given) and waits until it
  // is connected.
  std::unique_ptr<RedisClient> connectedClient(TinyRespServer& server, std::string password = "",
                                               int database = 0) {
    RedisAddress address = server.address();
    address.password = std::move(password);
    address.database = database;
    auto client = std::make_unique<RedisClient>(loop_, address, kCommandTimeout);
    client->start();
    EXPECT_TRUE(runUntil(loop_, [&] { return client->connected(); })) << client->lastError();
    return client;
  }

  reactor::EventLoop loop_;
};

TEST_F(RedisClientTest, AuthThenSelectThenPingBeforeAnyCommand) {
  TinyRespServer server(loop_);
  auto client = connectedClient(server, "s3cret", 4);
  ASSERT_TRUE(client->connected());
  EXPECT_EQ(roundTrip(loop_, *client, {"SET", "k", "v"}).text, "OK");
  std::vector<Command> expected = {{"AUTH", "s3cret"}, {"SELECT", "4"}, {"PING"}, {"SET", "k", "v"}};
  EXPECT_EQ(server.commands(), expected);
}

TEST_F(RedisClientTest, RefusedAuthKeepsTheClientDisconnectedWithRedisReason) {
  TinyRespServer server(loop_, [](const Command& c) -> std::optional<TinyRespServer::Answer> {
    if (c.front() == "AUTH")
      return TinyRespServer::Answer::reply("-WRONGPASS invalid username-password pair\r\n");
    return std::nullopt;
  });
  RedisAddress address = server.address();
  address.password = "pw-7f3a";
  address.database = 2;
  RedisClient client(loop_, address, kCommandTimeout);
  client.start();
  ASSERT_TRUE(runUntil(loop_, [&] { return client.authRefused(); })) << client.lastError();
  EXPECT_FALSE(client.connected());
  EXPECT_NE(client.lastError().find("AUTH refused: WRONGPASS"), std::string::npos) << client.lastError();
  EXPECT_EQ(client.lastError().find("pw-7f3a"), std::string::npos)
      << "the password leaked: " << client.lastError();
  // Nothing of ours ran on the unauthenticated connection.
  Outcome refused;
  client.command({"GET", "k"}, recordInto(refused));
  ASSERT_TRUE(runUntil(loop_, [&] { return refused.calls > 0; }));
  EXPECT_FALSE(refused.reply->ok());
  for (const auto& c : server.commands()) EXPECT_NE(c.front(), "GET");
}

TEST_F(RedisClientTest, RepliesOfEachKind) {
  TinyRespServer server(loop_, [](const Command& c) -> std::optional<TinyRespServer::Answer> {
    if (c.front() == "INCR") return TinyRespServer::Answer::reply(":42\r\n");
    if (c.front() == "MGET") return TinyRespServer::Answer::reply("*2\r\n$1\r\na\r\n$-1\r\n");
    if (c.front() == "HGET") return TinyRespServer::Answer::reply("-WRONGTYPE Operation against a key\r\n");
    return std::nullopt;
  });
  auto client = connectedClient(server);

  RedisReply set = roundTrip(loop_, *client, {"SET", "greeting", "hello world"});
  EXPECT_EQ(set.kind, RedisReply::Kind::kStatus);
  EXPECT_EQ(set.text, "OK");

  RedisReply get = roundTrip(loop_, *client, {"GET", "greeting"});
  EXPECT_EQ(get.kind, RedisReply::Kind::kString);
  EXPECT_EQ(get.text, "hello world");

  RedisReply nil = roundTrip(loop_, *client, {"GET", "absent"});
  EXPECT_EQ(nil.kind, RedisReply::Kind::kNil);
  EXPECT_TRUE(nil.ok());

  RedisReply error = roundTrip(loop_, *client, {"HGET", "greeting", "f"});
  EXPECT_EQ(error.kind, RedisReply::Kind::kError);
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.text, "WRONGTYPE Operation against a key");
  EXPECT_TRUE(client->connected()) << "an error reply is an answer, not a broken connection";

  RedisReply number = roundTrip(loop_, *client, {"INCR", "n"});
  EXPECT_EQ(number.kind, RedisReply::Kind::kInteger);
  EXPECT_EQ(number.integer, 42);

  RedisReply array = roundTrip(loop_, *client, {"MGET", "a", "b"});
  ASSERT_EQ(array.kind, RedisReply::Kind::kArray);
  ASSERT_EQ(array.elements.size(), 2u);
  EXPECT_EQ(array.elements[0].text, "a");
  EXPECT_EQ(array.elements[1].kind, RedisReply::Kind::kNil);
  EXPECT_EQ(client->inFlight(), 0u);
}

TEST_F(RedisClientTest, ServerClosingMidCommandFailsItAndTheClientReconnects) {
  TinyRespServer server(loop_, [](const Command& c) -> std::optional<TinyRespServer::Answer> {
    if (c.front() == "GET" && c[1] == "hangs-up") return TinyRespServer::Answer::close();
    return std::nullopt;
  });
  auto client = connectedClient(server);
  ASSERT_EQ(roundTrip(loop_, *client, {"SET", "k", "v"}).text, "OK");

  RedisReply lost = roundTrip(loop_, *client, {"GET", "hangs-up"});
  EXPECT_EQ(lost.kind, RedisReply::Kind::kError);
  EXPECT_EQ(client->inFlight(), 0u);

  ASSERT_TRUE(runUntil(loop_, [&] { return client->connected() && server.accepted() == 2; }))
      << client->lastError();
  RedisReply after = roundTrip(loop_, *client, {"GET", "k"});
  EXPECT_EQ(after.kind, RedisReply::Kind::kString);
  EXPECT_EQ(after.text, "v");
}

TEST_F(RedisClientTest, ACallbackThatThrowsEndsOnlyItsOwnCommand) {
  TinyRespServer server(loop_);
  auto client = connectedClient(server);
  ASSERT_EQ(roundTrip(loop_, *client, {"SET", "k", "v"}).text, "OK");

  // Three commands in flight at once: the first callback throws a std::exception, the second
  // something else; the third, behind them on the same connection, still gets its reply.
  int thrown = 0;
  Outcome third;
  client->command({"GET", "k"}, [&](const RedisReply&) {
    ++thrown;
    throw std::runtime_error("handler bug");
  });
  client->command({"GET", "k"}, [&](const RedisReply&) {
    ++thrown;
    throw 42;
  });
  client->command({"GET", "k"}, recordInto(third));
  ASSERT_TRUE(runUntil(loop_, [&] { return third.calls > 0; }));
  EXPECT_EQ(thrown, 2);
  EXPECT_EQ(third.reply->text, "v");
  EXPECT_EQ(third.calls, 1);

  // The client lives on, on the same connection, and the next command works.
  EXPECT_TRUE(client->connected());
  EXPECT_EQ(client->inFlight(), 0u);
  RedisReply next = roundTrip(loop_, *client, {"GET", "k"});
  EXPECT_EQ(next.text, "v");
  EXPECT_EQ(server.accepted(), 1u);
}

TEST_F(RedisClientTest, ACallbackThatThrowsOnAnErrorPathIsContainedToo) {
  TinyRespServer server(loop_);
  auto client = connectedClient(server);
  client->command({"GET", "k"}, [](const RedisReply&) { throw std::runtime_error("first"); });
  ASSERT_TRUE(runUntil(loop_, [&] { return client->inFlight() == 0; }));
  // Not connected: the callback gets its error from the loop, not from hiredis, and throws there.
  RedisAddress nowhere;
  nowhere.host = "127.0.0.1";
  nowhere.port = 1;
  RedisClient offline(loop_, nowhere, kCommandTimeout);
  bool called = false;
  offline.command({"GET", "k"}, [&](const RedisReply& r) {
    called = true;
    EXPECT_FALSE(r.ok());
    throw std::runtime_error("on the error path");
  });
  ASSERT_TRUE(runUntil(loop_, [&] { return called; }));
  EXPECT_EQ(roundTrip(loop_, *client, {"PING"}).text, "PONG");
}

TEST_F(RedisClientTest, AStateChangeHandlerThatThrowsDoesNotStopReconnection) {
  // Called from hiredis' connect and disconnect callbacks: a throw there must not end the
  // process (they are noexcept) nor leave the client without a reconnect.
  TinyRespServer server(loop_, [](const Command& c) -> std::optional<TinyRespServer::Answer> {
    if (c.front() == "GET" && c[1] == "hangs-up") return TinyRespServer::Answer::close();
    return std::nullopt;
  });
  RedisClient client(loop_, server.address(), kCommandTimeout);
  int changes = 0;
  client.setOnStateChange([&](bool, const std::string&) {
    ++changes;
    throw std::runtime_error("state handler bug");
  });
  client.start();
  ASSERT_TRUE(runUntil(loop_, [&] { return client.connected(); })) << client.lastError();
  EXPECT_FALSE(roundTrip(loop_, client, {"GET", "hangs-up"}).ok());
  ASSERT_TRUE(runUntil(loop_, [&] { return client.connected() && server.accepted() == 2; }))
      << client.lastError();
  EXPECT_GE(changes, 3);  // up, down, up
  EXPECT_EQ(roundTrip(loop_, client, {"PING"}).text, "PONG");
}

TEST_F(RedisClientTest, ACommandWithoutAnAnswerTimesOutAndALateReplyIsNotMistakenForTheNext) {
  TinyRespServer server(loop_, [](const Command& c) -> std::optional<TinyRespServer::Answer> {
    if (c.front() == "GET" && c[1] == "slow") return TinyRespServer::Answer::silent();
    return std::nullopt;
  });
  auto client = connectedClient(server);
  ASSERT_EQ(roundTrip(loop_, *client, {"SET", "k", "v"}).text, "OK");

  auto sent = std::chrono::steady_clock::now();
  RedisReply slow = roundTrip(loop_, *client, {"GET", "slow"});
  auto waited = std::chrono::steady_clock::now() - sent;
  EXPECT_EQ(slow.kind, RedisReply::Kind::kError);
  EXPECT_EQ(slow.text, "redis timeout");
  EXPECT_GE(waited, kCommandTimeout - 5ms);
  EXPECT_LT(waited, kCommandTimeout * 4);
  EXPECT_EQ(client->inFlight(), 0u);

  // The answer turns up after all: hiredis hands it to the timed-out command, which is gone.
  server.sendLate("$4\r\nlate\r\n");
  RedisReply next = roundTrip(loop_, *client, {"GET", "k"});
  EXPECT_EQ(next.kind, RedisReply::Kind::kString);
  EXPECT_EQ(next.text, "v");
}

TEST_F(RedisClientTest, AServerThatNeverAnswersTheHandshakeIsLeftAndRetried) {
  TinyRespServer server(loop_, [](const Command& c) -> std::optional<TinyRespServer::Answer> {
    if (c.front() == "PING") return TinyRespServer::Answer::silent();
    return std::nullopt;
  });
  RedisClient client(loop_, server.address(), kCommandTimeout);
  client.start();
  ASSERT_TRUE(runUntil(loop_, [&] { return server.accepted() >= 2; })) << client.lastError();
  EXPECT_FALSE(client.connected());
  EXPECT_NE(client.lastError().find("redis timeout"), std::string::npos) << client.lastError();
}

}  // namespace
}  // namespace recgw::storage
