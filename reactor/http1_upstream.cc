#include "reactor/http1_upstream.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "reactor/callback_guard.h"
#include "reactor/char_search.h"

namespace recgw::reactor {

using SteadyClock = std::chrono::steady_clock;

struct Http1Upstream::Connection {
  Connection(Http1Upstream& owner, int fd) : owner(owner), fd(fd) {}
  ~Connection() {
    // The events go before the socket they watch.
    readEvent.reset();
    writeEvent.reset();
    timerEvent.reset();
    if (fd >= 0) ::close(fd);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Http1Upstream& owner;
  int fd;
  std::string authority;
  EventPtr readEvent;   // persistent; also watches an idle connection for the origin closing it
  EventPtr writeEvent;  // connect completion and a request head the socket could not take at once
  EventPtr timerEvent;  // the transfer's deadlines
  TransferId transfer = 0;  // 0 while idle
  bool reading = false;
  SteadyClock::time_point idleSince{};

  void stopReading() {
    if (!reading) return;
    event_del(readEvent.get());
    reading = false;
  }
  // No event of this connection fires any more (a cancelled or failing transfer's).
  void silence() {
    stopReading();
    event_del(writeEvent.get());
    event_del(timerEvent.get());
  }
};

struct Http1Upstream::Transfer {
  Transfer(bool headRequest, const std::vector<std::string_view>* keepHeaders) : parser(headRequest, keepHeaders) {}
  TransferId id = 0;
  TransferCallbacks callbacks;
  ExchangeRef servedRequest;
  Http1Origin origin;
  std::unique_ptr<Connection> connection;
  Http1ResponseParser parser;
  Phase phase = Phase::kConnecting;
  std::string requestHead;
  size_t sent = 0;
  std::unique_ptr<char[]> buffer;
  size_t begin = 0;  // unread bytes are buffer[begin, end)
  size_t end = 0;
  std::string_view pending;  // payload onData paused on, offered again by resume()
  // Body bytes for onBodyBuffer: read straight into evbuffer chains that the callee moves
  // to its client's connection, so a relayed body is never copied in user space.
  EvbufferPtr bodyIn;
  bool reused = false;       // the connection carried an earlier response
  bool retried = false;
  bool received = false;     // any byte of the response arrived
  bool paused = false;
  bool cancelled = false;
  std::chrono::milliseconds connectTimeout{0};
  SteadyClock::time_point firstByteDeadline{};
  long lowSpeedBytes = 0;
  std::chrono::seconds lowSpeedTime{0};
  uint64_t bytesThisWindow = 0;
  bool timerMeansFirstByte = false;
  bool overran = false;  // the origin sent bytes beyond the response
  bool spliceRefused = false;  // the splice target's socket refused a splice: no more tries
};

struct Http1Upstream::SplicePipe {
  SplicePipe(int readEnd, int writeEnd) : readEnd(readEnd), writeEnd(writeEnd) {}
  ~SplicePipe() {
    ::close(readEnd);
    ::close(writeEnd);
  }
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;
  int readEnd;
  int writeEnd;
  size_t capacity = 64 * 1024;  // Linux's default; raised when the kernel allows
};

namespace {

std::string_view requestIdOf(const ExchangeRef& exchange) {
  const HttpExchange* served = exchange.get();
  return served ? std::string_view(served->requestId()) : std::string_view();
}

bool hasLineBreak(std::string_view text) {
  return findAny(text, std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

std::string errnoText(int error) { return std::strerror(error); }

// Checked before a kept-alive connection carries a request, as curl checks one before reuse:
// bytes nobody asked for (an origin that sent more than its response; the last read of a
// body stops at its end, so they may still be in the socket) would be read as the next
// response, and a close or reset would fail it. The idle watch catches these only once the
// loop polls again, and a request can be started before that.
bool nothingToRead(int fd) {
  char byte;
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

// curl's wording, which callers classify (a refused origin, not a timeout).
std::string connectFailure(const Http1Origin& origin, int error) {
  return "Couldn't connect to server: Failed to connect to " + origin.hostForErrors + " port " +
         std::to_string(origin.port) + ": " + errnoText(error);
}

}  // namespace

Http1Upstream::Http1Upstream(EventLoop& loop, size_t readBufferSize)
    : loop_(loop), bufferSize_(std::max<size_t>(readBufferSize, Http1ResponseParser::kMaxHeadBytes)) {}

Http1Upstream::~Http1Upstream() {
  for (auto& [id, t] : transfers_) t->cancelled = true;
  transfers_.clear();
  idle_.clear();
}

size_t Http1Upstream::idleConnections() const { return idleCount_; }

Http1Upstream::Transfer* Http1Upstream::activeTransfer(TransferId id) {
  auto it = transfers_.find(id);
  return it == transfers_.end() || it->second->cancelled ? nullptr : it->second.get();
}

std::unique_ptr<char[]> Http1Upstream::takeBuffer() {
  if (spareBuffers_.empty()) return std::unique_ptr<char[]>(new char[bufferSize_]);
  auto buffer = std::move(spareBuffers_.back());
  spareBuffers_.pop_back();
  return buffer;
}

void Http1Upstream::returnBuffer(std::unique_ptr<char[]> buffer) {
  if (buffer && spareBuffers_.size() < kSpareBuffers) spareBuffers_.push_back(std::move(buffer));
}

Expected<std::unique_ptr<Http1Upstream::Connection>> Http1Upstream::connect(const Http1Origin& origin) {
  int fd = ::socket(origin.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("could not open a socket to " + origin.authority + ": " + errnoText(errno));
  auto c = std::make_unique<Connection>(*this, fd);
  c->authority = origin.authority;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  c->readEvent.reset(event_new(loop_.base(), fd, EV_READ | EV_PERSIST, &Http1Upstream::onReadable, c.get()));
  c->writeEvent.reset(event_new(loop_.base(), fd, EV_WRITE, &Http1Upstream::onWritable, c.get()));
  c->timerEvent.reset(evtimer_new(loop_.base(), &Http1Upstream::onTimer, c.get()));
  if (!c->readEvent || !c->writeEvent || !c->timerEvent) return fail("could not allocate the events of a connection");
  return c;
}

std::unique_ptr<Http1Upstream::Connection> Http1Upstream::takeIdle(const std::string& authority) {
  auto it = idle_.find(authority);
  if (it == idle_.end()) return nullptr;
  auto now = SteadyClock::now();
  std::unique_ptr<Connection> found;
  while (!it->second.empty() && !found) {
    std::unique_ptr<Connection> c = std::move(it->second.back());
    it->second.pop_back();
    --idleCount_;
    if (now - c->idleSince < kMaxIdleAge && nothingToRead(c->fd)) found = std::move(c);
  }
  if (it->second.empty()) idle_.erase(it);
  return found;
}

void Http1Upstream::keepIdle(std::unique_ptr<Connection> c) {
  if (idleCount_ >= kMaxIdleConnections) return;  // closed as it goes
  c->transfer = 0;
  event_del(c->timerEvent.get());
  event_del(c->writeEvent.get());
  // Watched while idle: the origin closing it (or sending what nobody asked for) makes it
  // readable, and it is closed then instead of failing the next request.
  if (!c->reading) {
    event_add(c->readEvent.get(), nullptr);
    c->reading = true;
  }
  c->idleSince = SteadyClock::now();
  ++idleCount_;
  idle_[c->authority].push_back(std::move(c));
}

void Http1Upstream::dropIdle(Connection* connection) {
  auto it = idle_.find(connection->authority);
  if (it == idle_.end()) return;
  auto& list = it->second;
  for (auto c = list.begin(); c != list.end(); ++c) {
    if (c->get() == connection) {
      list.erase(c);  // frees it: we are in its read callback, which touches nothing after
      --idleCount_;
      break;
    }
  }
  if (list.empty()) idle_.erase(it);
}

Status Http1Upstream::start(TransferId id, Http1Origin origin, const UpstreamRequest& request,
                            TransferCallbacks callbacks, ExchangeRef servedRequest) {
  auto t = std::make_unique<Transfer>(request.headOnly, request.keepHeaders);
  t->id = id;
  t->callbacks = std::move(callbacks);
  t->servedRequest = servedRequest;
  t->connectTimeout = request.connectTimeout;
  t->lowSpeedBytes = request.lowSpeedBytes;
  t->lowSpeedTime = request.lowSpeedTime;
  t->firstByteDeadline = SteadyClock::now() + request.connectTimeout + request.firstByteTimeout;

  std::string& head = t->requestHead;
  size_t estimate = origin.target.size() + origin.authority.size() + 32;
  for (const auto& [name, value] : request.headers) estimate += name.size() + value.size() + 4;
  head.reserve(estimate);
  head.append(request.headOnly ? "HEAD " : "GET ").append(origin.target).append(" HTTP/1.1\r\n");
  bool hostGiven = false;
  for (const auto& [name, value] : request.headers) {
    if (hasLineBreak(name) || hasLineBreak(value) || name.empty())
      return fail("a request header for " + origin.authority + " holds a line break");
    if (equalsIgnoreCase(name, "host")) hostGiven = true;
  }
  if (!hostGiven) head.append("Host: ").append(origin.authority).append("\r\n");
  for (const auto& [name, value] : request.headers) {
    // An empty value asks curl to leave out a header it would add itself; none is added here.
    if (value.empty()) continue;
    head.append(name).append(": ").append(value).append("\r\n");
  }
  head.append("\r\n");

  t->origin = std::move(origin);
  t->connection = takeIdle(t->origin.authority);
  if (t->connection) {
    t->reused = true;
  } else {
    auto fresh = connect(t->origin);
    if (!fresh) return tl::unexpected(fresh.error());
    t->connection = std::move(*fresh);
  }
  Transfer& raw = *t;
  transfers_.emplace(id, std::move(t));
  starting_ = true;
  beginExchange(raw);
  starting_ = false;
  return ok();
}

// Starts connecting (a fresh connection) or sending (a kept-alive one). May end the transfer.
void Http1Upstream::beginExchange(Transfer& t) {
  Connection& c = *t.connection;
  c.transfer = t.id;
  t.sent = 0;
  if (t.reused) {
    t.phase = Phase::kSending;
    sendRequest(t);
    return;
  }
  t.phase = Phase::kConnecting;
  int rc = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&t.origin.address), t.origin.addressLength);
  if (rc == 0) {
    t.phase = Phase::kSending;
    sendRequest(t);
    return;
  }
  if (errno != EINPROGRESS) {
    return failTransfer(t, connectFailure(t.origin, errno));
  }
  event_add(c.writeEvent.get(), nullptr);
  armTimer(t, SteadyClock::now() + t.connectTimeout);
}

void Http1Upstream::armTimer(Transfer& t, SteadyClock::time_point deadline) {
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  timeval tv = toTimeval(std::max(wait, std::chrono::milliseconds(0)));
  evtimer_add(t.connection->timerEvent.get(), &tv);
}

void Http1Upstream::sendRequest(Transfer& t) {
  Connection& c = *t.connection;
  while (t.sent < t.requestHead.size()) {
    ssize_t n = ::send(c.fd, t.requestHead.data() + t.sent, t.requestHead.size() - t.sent, MSG_NOSIGNAL);
    if (n > 0) {
      t.sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      event_add(c.writeEvent.get(), nullptr);
      armTimer(t, t.firstByteDeadline);
      return;
    }
    std::string why = "Send failure: " + errnoText(n < 0 ? errno : EPIPE);
    if (t.reused && !t.retried) return retryOnFreshConnection(t, why);
    return failTransfer(t, why);
  }
  t.phase = Phase::kWaitingHead;
  if (!c.reading) {
    event_add(c.readEvent.get(), nullptr);
    c.reading = true;
  }
  // curl's low-speed limit already counts while the response is awaited (a provider call
  // with a 1 s window and a 1.5 s first-byte budget gives up after 1 s of silence).
  t.bytesThisWindow = 0;
  armWaitingTimer(t);
}

// While the head is awaited the timer means whichever comes first: the first-byte deadline
// or the end of a low-speed window. Which one is decided here, not from the clock when it
// fires: libevent arms timers from its cached time, so they may fire a few ms early.
void Http1Upstream::armWaitingTimer(Transfer& t) {
  auto windowEnd = SteadyClock::now() + t.lowSpeedTime;
  t.timerMeansFirstByte = t.firstByteDeadline <= windowEnd;
  armTimer(t, t.timerMeansFirstByte ? t.firstByteDeadline : windowEnd);
}

// A kept-alive connection the origin had closed (or reset) before our request reached it:
// the request was never seen, so it goes again once on a new connection, as curl does.
void Http1Upstream::retryOnFreshConnection(Transfer& t, const std::string& why) {
  t.retried = true;
  t.reused = false;
  t.connection.reset();
  auto fresh = connect(t.origin);
  if (!fresh) return failTransfer(t, why + "; " + fresh.error().message);
  t.connection = std::move(*fresh);
  beginExchange(t);
}

void Http1Upstream::onWritable(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  Http1Upstream& self = c->owner;
  Transfer* active = self.activeTransfer(c->transfer);
  if (!active) return;
  Transfer& t = *active;
  guardCallback("origin connection writable", requestIdOf(t.servedRequest), [&] {
    if (t.phase == Phase::kConnecting) {
      int error = 0;
      socklen_t length = sizeof error;
      if (::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
      if (error != 0) {
        return self.failTransfer(t, connectFailure(t.origin, error));
      }
      t.phase = Phase::kSending;
    }
    self.sendRequest(t);
  });
}

void Http1Upstream::onReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  Http1Upstream& self = c->owner;
  if (c->transfer == 0) {
    self.dropIdle(c);  // closed or spoken to while idle: not to be trusted with a request
    return;
  }
  TransferId id = c->transfer;
  Transfer* active = self.activeTransfer(id);
  if (!active) return;
  Transfer& t = *active;
  if (!guardCallback("origin connection readable", requestIdOf(t.servedRequest), [&] { self.readResponse(t); })) {
    if (Transfer* again = self.activeTransfer(id))  // `c` may be gone by now
      self.failTransfer(*again, "internal error reading the response");
  }
}

void Http1Upstream::readResponse(Transfer& t) {
  Connection& c = *t.connection;
  if (t.paused) return;
  if (t.callbacks.onBodyBuffer && (t.phase != Phase::kBody || t.bodyIn)) return readIntoEvbuffer(t);
  if (!t.buffer) t.buffer = takeBuffer();
  for (;;) {
    if (t.begin == t.end) t.begin = t.end = 0;
    if (t.end == bufferSize_) {
      if (t.begin == 0) return failTransfer(t, "response head larger than the read buffer");
      std::memmove(t.buffer.get(), t.buffer.get() + t.begin, t.end - t.begin);
      t.end -= t.begin;
      t.begin = 0;
    }
    size_t room = bufferSize_ - t.end;
    ssize_t n = ::recv(c.fd, t.buffer.get() + t.end, room, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      std::string why = "Recv failure: " + errnoText(errno);
      if (t.reused && !t.received && !t.retried) return retryOnFreshConnection(t, why);
      return failTransfer(t, why);
    }
    if (n == 0) return closedByOrigin(t);
    t.received = true;
    t.end += static_cast<size_t>(n);
    t.bytesThisWindow += static_cast<uint64_t>(n);
    if (!process(t)) return;
    // A read that did not fill the room emptied the socket; the next one would say EAGAIN.
    if (static_cast<size_t>(n) < room) return;
  }
}

// For a caller with onBodyBuffer: recv() into evbuffer chains, the head included, so that
// a body framed by its length (or the close) reaches the caller in the chains it was read
// into, never copied. The head is parsed where it lies (one recv gives one chain); the body
// is never read past its end.
void Http1Upstream::readIntoEvbuffer(Transfer& t) {
  Connection& c = *t.connection;
  if (!t.bodyIn) {
    t.bodyIn.reset(evbuffer_new());
    if (!t.bodyIn) return failTransfer(t, "out of memory for the response");
  }
  // The read event is level-triggered: stopping after a while with bytes still in the socket
  // lets the loop serve the other connections before this one goes on.
  for (int reads = 0; reads < kReadsPerWakeup; ++reads) {
    if (t.paused) return;
    size_t buffered = evbuffer_get_length(t.bodyIn.get());
    if (t.phase == Phase::kBody && buffered == 0 && t.callbacks.spliceTarget && t.callbacks.onSpliced &&
        !t.spliceRefused && !spliceUnavailable_) {
      SpliceStep step = spliceBody(t);
      if (step == SpliceStep::kStop) return;
      if (step == SpliceStep::kMore) continue;
    }
    uint64_t limit = t.phase == Phase::kBody ? std::min<uint64_t>(t.parser.rawBodyLimit(), bufferSize_)
                                             : bufferSize_ - std::min(buffered, bufferSize_);
    if (limit == 0) return failTransfer(t, "response head larger than the read buffer");
    evbuffer_iovec space{};
    if (evbuffer_reserve_space(t.bodyIn.get(), static_cast<ev_ssize_t>(limit), &space, 1) != 1)
      return failTransfer(t, "out of memory for the response");
    size_t room = std::min<size_t>(space.iov_len, static_cast<size_t>(limit));
    ssize_t n = ::recv(c.fd, space.iov_base, room, 0);
    if (n < 0) {
      evbuffer_commit_space(t.bodyIn.get(), nullptr, 0);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      std::string why = "Recv failure: " + errnoText(errno);
      if (t.reused && !t.received && !t.retried) return retryOnFreshConnection(t, why);
      return failTransfer(t, why);
    }
    space.iov_len = static_cast<size_t>(n);
    evbuffer_commit_space(t.bodyIn.get(), &space, 1);
    if (n == 0) return closedByOrigin(t);
    t.received = true;
    t.bytesThisWindow += static_cast<uint64_t>(n);
    if (t.phase != Phase::kBody) {
      if (!headFromEvbuffer(t)) return;
    } else {
      t.parser.tookRawBody(static_cast<uint64_t>(n));
      if (!deliverBuffered(t)) return;
      if (t.parser.bodyDone()) return succeed(t);
    }
    if (static_cast<size_t>(n) < room) return;
  }
}

Http1Upstream::SplicePipe* Http1Upstream::openSplicePipe() {
  if (splicePipe_) return splicePipe_.get();
  int ends[2];
  if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) return nullptr;  // out of descriptors: not now
  splicePipe_ = std::make_unique<SplicePipe>(ends[0], ends[1]);
  // A larger pipe moves more per pair of system calls; the kernel may refuse (a per-user
  // limit on pipe memory), and the default still works.
  int granted = ::fcntl(ends[1], F_SETPIPE_SZ, static_cast<int>(kSplicePipeBytes));
  if (granted > 0) splicePipe_->capacity = static_cast<size_t>(granted);
  return splicePipe_.get();
}

// Runs one callback of the transfer's consumer. False when it threw (the request failed) or
// cancelled the transfer: the caller touches `t` no more then.
template <class Call>
bool Http1Upstream::callBack(Transfer& t, Call call) {
  ++callbackDepth_;
  bool returned = guardCallback("origin response body", requestIdOf(t.servedRequest), call);
  --callbackDepth_;
  if (t.cancelled) return false;
  if (!returned) {
    t.servedRequest.failInternal();
    release(t.id);
    return false;
  }
  return true;
}

// origin socket -> pipe -> client socket, never through user space. What the client's
// socket does not take at once leaves the pipe at once (every transfer shares it) into
// bodyIn, and goes the usual way: onBodyBuffer, the client's output buffer, flow control.
Http1Upstream::SpliceStep Http1Upstream::spliceBody(Transfer& t) {
  SpliceTarget target;
  if (!callBack(t, [&] { target = t.callbacks.spliceTarget(); })) return SpliceStep::kStop;
  if (target.fd < 0 || target.budget == 0) return SpliceStep::kNotNow;
  SplicePipe* pipe = openSplicePipe();
  if (!pipe) return SpliceStep::kNotNow;
  Connection& c = *t.connection;
  const size_t want = static_cast<size_t>(
      std::min<uint64_t>({t.parser.rawBodyLimit(), target.budget, static_cast<uint64_t>(pipe->capacity)}));
  if (want == 0) return SpliceStep::kNotNow;
  ssize_t in;
  do {
    in = ::splice(c.fd, nullptr, pipe->writeEnd, nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (in < 0 && errno == EINTR);
  if (in < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return SpliceStep::kStop;
    if (errno == EINVAL || errno == ENOSYS) {
      spliceUnavailable_ = true;  // this kernel will not splice these sockets: read them
      return SpliceStep::kNotNow;
    }
    std::string why = "Recv failure: " + errnoText(errno);
    if (t.reused && !t.received && !t.retried)
      retryOnFreshConnection(t, why);
    else
      failTransfer(t, why);
    return SpliceStep::kStop;
  }
  if (in == 0) {
    closedByOrigin(t);
    return SpliceStep::kStop;
  }
  t.received = true;
  t.bytesThisWindow += static_cast<uint64_t>(in);
  t.parser.tookRawBody(static_cast<uint64_t>(in));
  size_t moved = 0;
  while (moved < static_cast<size_t>(in)) {
    ssize_t out = ::splice(pipe->readEnd, nullptr, target.fd, nullptr, static_cast<size_t>(in) - moved,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (out > 0) {
      moved += static_cast<size_t>(out);
      continue;
    }
    if (out < 0 && errno == EINTR) continue;
    // EAGAIN: the client's socket is full. Anything else (the client left, a socket that
    // takes no splice) shows on the usual path, where the client connection's own write fails.
    if (out < 0 && errno != EAGAIN && errno != EWOULDBLOCK) t.spliceRefused = true;
    break;
  }
  for (size_t left = static_cast<size_t>(in) - moved; left > 0;) {
    int n = evbuffer_read(t.bodyIn.get(), pipe->readEnd, static_cast<int>(std::min<size_t>(left, INT_MAX)));
    if (n <= 0) {
      splicePipe_.reset();  // holding bytes of this transfer: never handed to another
      failTransfer(t, "could not take body bytes back from the splice pipe");
      return SpliceStep::kStop;
    }
    left -= static_cast<size_t>(n);
  }
  if (moved > 0 && !callBack(t, [&] { t.callbacks.onSpliced(moved); })) return SpliceStep::kStop;
  if (!deliverBuffered(t)) return SpliceStep::kStop;
  if (t.parser.bodyDone()) {
    succeed(t);
    return SpliceStep::kStop;
  }
  // Less than asked for: the origin's socket is empty for now.
  return static_cast<size_t>(in) < want ? SpliceStep::kStop : SpliceStep::kMore;
}

// Parses the head from bodyIn and hands on what follows it. False when the transfer ended,
// paused or moved to the copying path (a chunked body).
bool Http1Upstream::headFromEvbuffer(Transfer& t) {
  size_t length = evbuffer_get_length(t.bodyIn.get());
  const char* data = reinterpret_cast<const char*>(evbuffer_pullup(t.bodyIn.get(), -1));
  if (!data) {
    failTransfer(t, "out of memory for the response");
    return false;
  }
  size_t consumed = 0;
  auto result = t.parser.parseHead(std::string_view(data, length), &consumed);
  if (result == Http1ResponseParser::HeadResult::kNeedMore) return true;
  if (result == Http1ResponseParser::HeadResult::kError) {
    failTransfer(t, t.parser.error());
    return false;
  }
  evbuffer_drain(t.bodyIn.get(), consumed);
  if (!announceHead(t)) return false;
  size_t rest = evbuffer_get_length(t.bodyIn.get());
  if (t.parser.rawBody()) {
    uint64_t limit = t.parser.rawBodyLimit();
    if (rest > limit) {
      // Bytes beyond the body: dropped with the connection, never read as the next response.
      EvbufferPtr body(evbuffer_new());
      if (!body) {
        failTransfer(t, "out of memory for the response");
        return false;
      }
      evbuffer_remove_buffer(t.bodyIn.get(), body.get(), static_cast<size_t>(limit));
      t.bodyIn = std::move(body);
      t.overran = true;
      rest = static_cast<size_t>(limit);
    }
    t.parser.tookRawBody(rest);
    if (!deliverBuffered(t)) return false;
    if (t.parser.bodyDone()) {
      succeed(t);
      return false;
    }
    return true;
  }
  if (t.parser.bodyDone()) {
    t.overran = rest > 0;
    succeed(t);
    return false;
  }
  // A chunked body: decoded from the read buffer and handed to onData, copied like curl's.
  if (!t.buffer) t.buffer = takeBuffer();
  t.begin = 0;
  t.end = std::min(rest, bufferSize_);
  evbuffer_remove(t.bodyIn.get(), t.buffer.get(), t.end);
  t.bodyIn.reset();
  process(t);  // the rest of the chunked body is read on the copying path (readResponse)
  return false;
}

// Hands bodyIn to onBodyBuffer. False when the transfer paused or ended. Paused, the bytes
// stay in bodyIn and resume() offers them again.
bool Http1Upstream::deliverBuffered(Transfer& t) {
  size_t length = evbuffer_get_length(t.bodyIn.get());
  if (length == 0) return true;
  if (!handOn(t, length, [&] { return t.callbacks.onBodyBuffer(t.bodyIn.get()); }, [] {})) return false;
  if (evbuffer_get_length(t.bodyIn.get()) != 0) {  // said it took them all, and did not
    failTransfer(t, "Failed writing received data to disk/application");
    return false;
  }
  return true;
}

// Runs one body callback offered `offered` bytes and acts on its answer: all taken (true),
// kPause (false: paused, reading stops, `onPause` runs), anything else (false: the transfer
// fails), a throw (false: the request fails) or a cancel from inside (false). After false
// the transfer may be gone: only `onPause` may touch it.
template <class Offer, class OnPause>
bool Http1Upstream::handOn(Transfer& t, size_t offered, Offer offer, OnPause onPause) {
  size_t taken = 0;
  if (!callBack(t, [&] { taken = offer(); })) return false;
  if (taken == kPause) {
    t.paused = true;
    t.connection->stopReading();
    onPause();
    return false;
  }
  if (taken != offered) {
    failTransfer(t, "Failed writing received data to disk/application");
    return false;
  }
  return true;
}

// Parses what is buffered and hands it on. False when the transfer ended or paused.
bool Http1Upstream::process(Transfer& t) {
  if (t.phase != Phase::kBody) {
    size_t consumed = 0;
    auto result = t.parser.parseHead(std::string_view(t.buffer.get() + t.begin, t.end - t.begin), &consumed);
    if (result == Http1ResponseParser::HeadResult::kNeedMore) return true;
    if (result == Http1ResponseParser::HeadResult::kError) {
      failTransfer(t, t.parser.error());
      return false;
    }
    t.begin += consumed;
    if (!announceHead(t)) return false;
  }
  while (!t.parser.bodyDone()) {
    if (t.begin == t.end) return true;
    auto step = t.parser.parseBody(std::string_view(t.buffer.get() + t.begin, t.end - t.begin));
    if (t.parser.failed()) {
      failTransfer(t, t.parser.error());
      return false;
    }
    if (step.consumed == 0) return true;  // the rest of a chunk line is still on its way
    t.begin += step.consumed;
    if (!step.payload.empty() && !deliver(t, step.payload)) return false;
  }
  succeed(t);
  return false;
}

// The head is parsed: the body phase begins, and onHeaders hears of it. False when the
// transfer ended (cancelled, or refused by onHeaders).
bool Http1Upstream::announceHead(Transfer& t) {
  t.phase = Phase::kBody;
  // From here the deadline is the low-speed window, as curl's CURLOPT_LOW_SPEED_*.
  t.bytesThisWindow = 0;
  armTimer(t, SteadyClock::now() + t.lowSpeedTime);
  if (!t.callbacks.onHeaders) return true;
  UpstreamResponse response;
  response.status = t.parser.status();
  response.headers = std::move(t.parser.headers());
  bool keep = true;
  ++callbackDepth_;
  bool returned = guardCallback("origin response headers", requestIdOf(t.servedRequest),
                                [&] { keep = t.callbacks.onHeaders(response); });
  --callbackDepth_;
  if (!returned) t.servedRequest.failInternal();
  if (t.cancelled) return false;
  if (!returned || !keep) {
    release(t.id);  // the caller asked to stop: no onDone, as with curl
    return false;
  }
  return true;
}

// Hands payload to onData. False when the transfer paused or ended.
bool Http1Upstream::deliver(Transfer& t, std::string_view payload) {
  if (!t.callbacks.onData) return true;
  // Paused, the payload stays in the buffer, which stays put until resume() offers it again.
  return handOn(
      t, payload.size(), [&] { return t.callbacks.onData(payload.data(), payload.size()); },
      [&] { t.pending = payload; });
}

void Http1Upstream::closedByOrigin(Transfer& t) {
  if (t.reused && !t.received && !t.retried) return retryOnFreshConnection(t, "connection closed by the origin");
  if (t.phase == Phase::kBody) {
    if (t.parser.acceptClose()) return succeed(t);
    if (t.parser.remaining() > 0 && !t.parser.failed())
      return failTransfer(t, "transfer closed with " + std::to_string(t.parser.remaining()) +
                                 " bytes remaining to read");
    return failTransfer(t, "transfer closed with outstanding read data remaining");
  }
  failTransfer(t, t.received ? "the origin closed the connection in the middle of the response head"
                             : "Empty reply from server");
}

void Http1Upstream::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Connection*>(arg);
  Http1Upstream& self = c->owner;
  Transfer* active = self.activeTransfer(c->transfer);
  if (!active) return;
  Transfer& t = *active;
  guardCallback("origin transfer timer", requestIdOf(t.servedRequest), [&] { self.timerFired(t); });
}

void Http1Upstream::timerFired(Transfer& t) {
  switch (t.phase) {
    case Phase::kConnecting:
      return failTransfer(t, "Timeout was reached: Connection timed out after " +
                                 std::to_string(t.connectTimeout.count()) + " milliseconds");
    case Phase::kSending:
    case Phase::kWaitingHead:
      if (t.timerMeansFirstByte || t.phase == Phase::kSending)
        return failTransfer(t, "no response headers within the first-byte timeout");
      [[fallthrough]];
    case Phase::kBody: {
      // A paused transfer waits for its client, not for the origin: its window starts over.
      auto floor = static_cast<uint64_t>(t.lowSpeedBytes) * static_cast<uint64_t>(t.lowSpeedTime.count());
      if (!t.paused && t.bytesThisWindow < floor) {
        return failTransfer(t, "Operation too slow. Less than " + std::to_string(t.lowSpeedBytes) +
                                   " bytes/sec transferred the last " + std::to_string(t.lowSpeedTime.count()) +
                                   " seconds");
      }
      t.bytesThisWindow = 0;
      if (t.phase == Phase::kBody) return armTimer(t, SteadyClock::now() + t.lowSpeedTime);
      return armWaitingTimer(t);
    }
  }
}

void Http1Upstream::succeed(Transfer& t) {
  TransferId id = t.id;
  auto done = std::move(t.callbacks.onDone);
  ExchangeRef servedRequest = t.servedRequest;
  // Bytes after the end of the response were never asked for: the connection is not
  // reused, rather than hand them to the next request as its response.
  if (t.parser.reusable() && t.begin == t.end && !t.overran && t.connection) keepIdle(std::move(t.connection));
  release(id);
  if (!done) return;
  if (!guardCallback("origin transfer completion", requestIdOf(servedRequest), [&] { done(std::string()); }))
    servedRequest.failInternal();
}

void Http1Upstream::failTransfer(Transfer& t, const std::string& error) {
  TransferId id = t.id;
  if (starting_) {
    // The caller of start() has not even got the transfer's id yet.
    if (t.connection) t.connection->silence();
    loop_.defer([this, id, error] {
      if (Transfer* still = activeTransfer(id)) failTransfer(*still, error);
    });
    return;
  }
  auto done = std::move(t.callbacks.onDone);
  ExchangeRef servedRequest = t.servedRequest;
  std::string message = error;  // `error` may be the transfer's own (its parser's), freed next
  release(id);
  if (!done) return;
  if (!guardCallback("origin transfer completion", requestIdOf(servedRequest), [&] { done(message); }))
    servedRequest.failInternal();
}

void Http1Upstream::release(TransferId id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  std::unique_ptr<Transfer> t = std::move(it->second);
  transfers_.erase(it);
  t->cancelled = true;
  returnBuffer(std::move(t->buffer));
  // A connection still held here is mid-response (or failed): it closes with the transfer.
}

void Http1Upstream::cancel(TransferId id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  Transfer& t = *it->second;
  t.cancelled = true;
  if (t.connection) t.connection->silence();
  if (callbackDepth_ > 0) {
    // The callback calling us may be this transfer's own, with its frame still on the stack.
    loop_.defer([this, id] { release(id); });
    return;
  }
  release(id);
}

bool Http1Upstream::paused(TransferId id) const {
  auto it = transfers_.find(id);
  return it != transfers_.end() && it->second->paused;
}

void Http1Upstream::resume(TransferId id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end() || !it->second->paused || it->second->cancelled) return;
  if (callbackDepth_ > 0) {
    loop_.defer([this, id] { resume(id); });
    return;
  }
  Transfer& t = *it->second;
  t.paused = false;
  if (t.bodyIn) {
    if (!deliverBuffered(t)) return;
    if (t.parser.bodyDone()) return succeed(t);
  } else {
    std::string_view pending = t.pending;
    t.pending = {};
    if (!deliver(t, pending)) return;
    if (!process(t)) return;
  }
  Connection& c = *t.connection;
  if (!c.reading) {
    event_add(c.readEvent.get(), nullptr);
    c.reading = true;
  }
}

}  // namespace recgw::reactor
