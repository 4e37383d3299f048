#include "reactor/curl_multi.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <new>
#include <stdexcept>

#include "reactor/callback_guard.h"
#include "reactor/http1_upstream.h"

namespace recgw::reactor {

struct CurlMulti::Transfer {
  Transfer(EventLoop& loop, std::function<void()> onFirstByteTimeout)
      : firstByte(loop, std::move(onFirstByteTimeout)) {}
  TransferId id = 0;
  CurlEasyPtr easy;
  CurlSlistPtr headerList;
  TransferCallbacks callbacks;
  ExchangeRef servedRequest;
  UpstreamResponse response;
  const std::vector<std::string_view>* keepHeaders = nullptr;
  bool headersDone = false;
  bool paused = false;
  bool cancelled = false;
  Timer firstByte;
  std::string body;  // the request body; curl reads it in place until the transfer ends
  std::shared_ptr<const std::string> sharedBody;  // or this one, likewise
  char errorBuffer[CURL_ERROR_SIZE] = {0};

  // One line of the response head; false to abort the transfer.
  bool headerLine(std::string_view line);
};

struct CurlMulti::SocketWatch {
  EventPtr event;
};

const std::string* UpstreamResponse::find(std::string_view lowerName) const {
  for (const auto& [name, value] : headers) {
    if (name == lowerName) return &value;
  }
  return nullptr;
}

bool isCertificateError(std::string_view error) {
  return error.rfind(kCertificateUnverified, 0) == 0 || error.rfind(kCaBundleUnusable, 0) == 0;
}

namespace {

std::string describeFailure(CURLcode result, const char* detail) {
  std::string error;
  switch (result) {
    case CURLE_PEER_FAILED_VERIFICATION:
      error = kCertificateUnverified;
      break;
    case CURLE_SSL_CACERT_BADFILE:
      error = kCaBundleUnusable;
      break;
    default:
      error = curl_easy_strerror(result);
  }
  if (detail && *detail) error += std::string(": ") + detail;
  return error;
}

std::string_view requestIdOf(const ExchangeRef& exchange) {
  const HttpExchange* served = exchange.get();
  return served ? std::string_view(served->requestId()) : std::string_view();
}

}  // namespace

bool environmentNamesProxy(const std::function<const char*(const char*)>& get) {
  for (const char* name : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* value = get(name);
    if (value && *value) return true;
  }
  return false;
}

CurlMulti::CurlMulti(EventLoop& loop, long bufferSize)
    : loop_(loop),
      bufferSize_(bufferSize),
      proxyFromEnvironment_(environmentNamesProxy([](const char* name) { return std::getenv(name); })),
      multi_(curl_multi_init()),
      share_(curl_share_init()) {
  if (!multi_ || !share_) throw std::runtime_error("curl_multi_init failed");
  curl_share_setopt(share_.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(share_.get(), CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETFUNCTION, &CurlMulti::onSocket);
  curl_multi_setopt(multi_.get(), CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERFUNCTION, &CurlMulti::onTimer);
  curl_multi_setopt(multi_.get(), CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, 256L);
  timer_.reset(evtimer_new(loop.base(), &CurlMulti::onTimeout, this));
  http1_ = std::make_unique<Http1Upstream>(loop, static_cast<size_t>(bufferSize));
}

void CurlMulti::useCurlOnly() { http1_.reset(); }

size_t CurlMulti::active() const { return transfers_.size() + (http1_ ? http1_->active() : 0); }

CurlMulti::~CurlMulti() {
  http1_.reset();
  for (auto& [id, t] : transfers_) {
    t->cancelled = true;
    curl_multi_remove_handle(multi_.get(), t->easy.get());
  }
  transfers_.clear();
  idleEasy_.clear();
  // Cleaning the multi handle closes pooled sockets, which calls onSocket(REMOVE).
  multi_.reset();
  timer_.reset();
}

Expected<TransferId> CurlMulti::start(const UpstreamRequest& request, TransferCallbacks callbacks,
                                      ExchangeRef servedRequest) {
  bool bodiless = request.headOnly || request.method.empty() || request.method == "GET";
  if (http1_ && bodiless && !proxyFromEnvironment_) {
    if (auto origin = http1OriginOf(request.url)) {
      TransferId id = nextId_++;
      if (auto started = http1_->start(id, std::move(*origin), request, std::move(callbacks), servedRequest);
          !started)
        return tl::unexpected(started.error());
      return id;
    }
  }
  TransferId id = nextId_++;
  auto t = std::make_unique<Transfer>(loop_, [this, id] {
    auto it = transfers_.find(id);
    if (it == transfers_.end() || it->second->headersDone) return;
    // We are inside this transfer's own timer: release it on the next pass.
    finish(*it->second, "no response headers within the first-byte timeout", true);
  });
  t->id = id;
  t->callbacks = std::move(callbacks);
  t->keepHeaders = request.keepHeaders;
  t->servedRequest = servedRequest;
  if (!idleEasy_.empty()) {
    t->easy = std::move(idleEasy_.back());
    idleEasy_.pop_back();
  } else {
    t->easy.reset(curl_easy_init());
  }
  if (!t->easy) return fail("curl_easy_init failed");
  CURL* e = t->easy.get();
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  // Send the path exactly as built (and signed): curl would otherwise squash "." and ".."
  // segments of a stored key and leave the bucket or the fleet's /recordings/ prefix.
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connectTimeout.count()));
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, request.lowSpeedBytes);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(request.lowSpeedTime.count()));
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, bufferSize_);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_SHARE, share_.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errorBuffer);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  if (!proxyFromEnvironment_) curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  if (!request.caFile.empty()) {
    // The bundle replaces the system store (libcurl's default CA directory included), so
    // what is trusted for this origin is exactly what the operator configured.
    curl_easy_setopt(e, CURLOPT_CAINFO, request.caFile.c_str());
    curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlMulti::onWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &CurlMulti::onHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  if (request.headOnly) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  if (!request.headOnly && !request.method.empty()) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "POST" || request.method == "PUT") {
      const std::string* body = &request.body;
      if (request.sharedBody) {
        t->sharedBody = request.sharedBody;
        body = t->sharedBody.get();
      } else {
        t->body = request.body;
        body = &t->body;
      }
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data());
    }
  }
  curl_slist* list = nullptr;
  // curl adds "Accept: */*" by default; origins do not need it.
  list = curl_slist_append(list, "Accept:");
  std::string line;  // one buffer for every header line: curl copies each
  for (const auto& [name, value] : request.headers) {
    line.clear();
    line.reserve(name.size() + 2 + value.size());
    line.append(name).append(": ").append(value);
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (!next) break;
    list = next;
  }
  t->headerList.reset(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);

  Transfer* raw = t.get();
  auto firstByteBudget = request.firstByteTimeout + request.connectTimeout;
  raw->firstByte.startOnce(std::chrono::duration_cast<std::chrono::milliseconds>(firstByteBudget));

  CURLMcode rc = curl_multi_add_handle(multi_.get(), e);
  if (rc != CURLM_OK) return fail(curl_multi_strerror(rc));
  transfers_.emplace(id, std::move(t));
  return id;
}

void CurlMulti::resume(TransferId id) {
  if (http1_ && http1_->owns(id)) return http1_->resume(id);
  auto it = transfers_.find(id);
  if (it == transfers_.end() || !it->second->paused || it->second->cancelled) return;
  if (callbackDepth_ > 0) {
    loop_.defer([this, id] { resume(id); });
    return;
  }
  it->second->paused = false;
  // curl_easy_pause runs the write callback (and the socket/timer ones) before it returns,
  // and the write callback may pause again.
  ++callbackDepth_;
  curl_easy_pause(it->second->easy.get(), CURLPAUSE_CONT);
  --callbackDepth_;
  drainFinished();
}

bool CurlMulti::paused(TransferId id) const {
  if (http1_ && http1_->owns(id)) return http1_->paused(id);
  auto it = transfers_.find(id);
  return it != transfers_.end() && it->second->paused;
}

void CurlMulti::cancel(TransferId id) {
  if (http1_ && http1_->owns(id)) return http1_->cancel(id);
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  Transfer& t = *it->second;
  t.cancelled = true;
  t.firstByte.cancel();
  if (callbackDepth_ > 0) {
    // Inside a curl callback we may not remove the handle, and the callback calling us may
    // be one of this transfer's own: keep its closure alive (the cancelled flag stops any
    // further call) and release everything on the next pass.
    loop_.defer([this, id] { release(id); });
    return;
  }
  release(id);
}

void CurlMulti::release(TransferId id) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  CurlEasyPtr easy = std::move(it->second->easy);
  curl_multi_remove_handle(multi_.get(), easy.get());
  transfers_.erase(it);
  // A fresh easy handle costs an allocation and zeroing of several KiB plus its buffers; a
  // reset one keeps them (connections live in the multi handle either way).
  if (easy && idleEasy_.size() < kIdleEasyHandles) {
    curl_easy_reset(easy.get());
    idleEasy_.push_back(std::move(easy));
  }
}

void CurlMulti::finish(Transfer& t, const std::string& error, bool deferRelease) {
  TransferId id = t.id;
  auto done = std::move(t.callbacks.onDone);
  ExchangeRef servedRequest = t.servedRequest;
  bool notify = !t.cancelled;
  t.cancelled = true;
  t.callbacks = {};
  if (callbackDepth_ > 0 || deferRelease) {
    loop_.defer([this, id] { release(id); });
  } else {
    release(id);
  }
  if (!notify || !done) return;
  // We may be inside a libevent callback (drainFinished from a socket or timer event).
  if (!guardCallback("curl completion callback", requestIdOf(servedRequest), [&] { done(error); }))
    servedRequest.failInternal();
}

void CurlMulti::drainFinished() {
  if (callbackDepth_ > 0) return;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    if (!t) continue;
    CURLcode result = msg->data.result;
    std::string error;
    if (result != CURLE_OK) {
      error = describeFailure(result, t->errorBuffer);
    } else if (!t->headersDone) {
      error = "the origin closed without a response";
    }
    finish(*t, error);
  }
}

size_t CurlMulti::onHeader(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  if (t->cancelled) return 0;
  size_t taken = 0;
  if (!guardCallback("curl header callback", requestIdOf(t->servedRequest),
                     [&] { taken = t->headerLine(std::string_view(ptr, n)) ? n : 0; })) {
    t->servedRequest.failInternal();
    return 0;
  }
  return taken;
}

// S3-compatible origins send 12-20 headers (MinIO 16 for a GET): room for them at once instead
// of five reallocations of the vector as they arrive.
constexpr size_t kExpectedResponseHeaders = 16;

bool CurlMulti::Transfer::headerLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    response = UpstreamResponse{};
    response.headers.reserve(kExpectedResponseHeaders);
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos)
      response.status = std::strtol(std::string(line.substr(sp + 1, 3)).c_str(), nullptr, 10);
    return true;
  }
  if (line.empty()) {
    if (response.status >= 100 && response.status < 200) return true;  // interim response
    headersDone = true;
    firstByte.cancel();
    if (callbacks.onHeaders && !callbacks.onHeaders(response)) {
      cancelled = true;
      return false;
    }
    return true;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return true;
  if (keepHeaders) {
    std::string_view rawName = line.substr(0, colon);
    bool kept = std::any_of(keepHeaders->begin(), keepHeaders->end(), [&](std::string_view wanted) {
      return wanted.size() == rawName.size() &&
             std::equal(wanted.begin(), wanted.end(), rawName.begin(),
                        [](char w, char c) { return w == std::tolower(static_cast<unsigned char>(c)); });
    });
    if (!kept) return true;
  }
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  response.headers.emplace_back(std::move(name), std::string(value));
  return true;
}

size_t CurlMulti::onWrite(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  if (t->cancelled || !t->callbacks.onData) return 0;
  size_t taken = 0;
  if (!guardCallback("curl write callback", requestIdOf(t->servedRequest),
                     [&] { taken = t->callbacks.onData(ptr, n); })) {
    t->servedRequest.failInternal();
    return 0;
  }
  if (taken == kPause) {
    t->paused = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  return taken;
}

int CurlMulti::onSocket(CURL*, curl_socket_t s, int what, void* userp, void* socketp) noexcept {
  auto* self = static_cast<CurlMulti*>(userp);
  auto* watch = static_cast<SocketWatch*>(socketp);
  if (what == CURL_POLL_REMOVE) {
    delete watch;  // frees its event
    curl_multi_assign(self->multi_.get(), s, nullptr);
    return 0;
  }
  short kind = EV_PERSIST;
  if (what & CURL_POLL_IN) kind |= EV_READ;
  if (what & CURL_POLL_OUT) kind |= EV_WRITE;
  if (!watch) {
    watch = new (std::nothrow) SocketWatch;
    if (!watch) return -1;  // curl fails the transfers on this socket
    curl_multi_assign(self->multi_.get(), s, watch);
  }
  watch->event.reset(event_new(self->loop_.base(), s, kind, &CurlMulti::onSocketEvent, self));
  event_add(watch->event.get(), nullptr);
  return 0;
}

int CurlMulti::onTimer(CURLM*, long timeoutMs, void* userp) noexcept {
  auto* self = static_cast<CurlMulti*>(userp);
  if (timeoutMs < 0) {
    evtimer_del(self->timer_.get());
    return 0;
  }
  timeval tv = toTimeval(std::chrono::milliseconds(timeoutMs));
  evtimer_add(self->timer_.get(), &tv);
  return 0;
}

void CurlMulti::onSocketEvent(evutil_socket_t fd, short events, void* arg) noexcept {
  auto* self = static_cast<CurlMulti*>(arg);
  int action = ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
  // Each transfer's own callbacks are guarded further in; this catches the rest.
  guardCallback("curl socket event", {}, [&] { self->socketAction(fd, action); });
}

void CurlMulti::onTimeout(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<CurlMulti*>(arg);
  guardCallback("curl timer", {}, [self] { self->socketAction(CURL_SOCKET_TIMEOUT, 0); });
}

void CurlMulti::socketAction(curl_socket_t fd, int events) {
  int running = 0;
  ++callbackDepth_;
  curl_multi_socket_action(multi_.get(), fd, events, &running);
  --callbackDepth_;
  drainFinished();
}

}  // namespace recgw::reactor
