#pragma once
// One CURLM per worker, driven by the loop (curl's hiperfifo pattern: a socket callback
// with one persistent event per socket, and a timer callback). Loop thread only.
//
// A transfer is owned here and named by a TransferId. Its callbacks run on the loop and
// never after cancel() returns. HTTP/1.1 only: a paused HTTP/2 stream keeps buffering
// (docs/library-notes.md, "libcurl multi on libevent"), and pausing is how backpressure reaches the origin.
#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "reactor/curl_handles.h"
#include "reactor/event_loop.h"
#include "reactor/exchange_ref.h"
#include "reactor/libevent_handles.h"
#include "reactor/status.h"

namespace recgw::reactor {

class Http1Upstream;
using TransferId = uint64_t;

struct UpstreamRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  bool headOnly = false;
  // Empty: GET (HEAD when headOnly). Otherwise sent as is ("PUT", "POST", "DELETE").
  std::string method;
  // Sent with Content-Length for POST and PUT (even when empty); ignored otherwise. Set a
  // Content-Type header yourself: curl would label it a form post.
  std::string body;
  // When set, sent instead of `body`, in place: the transfer keeps a reference rather than a
  // copy, so a large upload (an S3 part of several MiB) is held once, by whoever shares it.
  std::shared_ptr<const std::string> sharedBody;
  std::chrono::milliseconds connectTimeout{3000};
  std::chrono::milliseconds firstByteTimeout{10000};  // request sent → response headers
  long lowSpeedBytes = 1024;                          // below this rate …
  std::chrono::seconds lowSpeedTime{20};              // … for this long: give up
  // PEM bundle that verifies the server's certificate instead of the system store (an
  // origin behind a private CA). Verification itself is always on.
  std::string caFile;
  // Response headers to keep (lower-case names); null keeps them all. A caller that reads a
  // few names says which, so an origin's other headers cost no copies. Must outlive the
  // transfer (a static list).
  const std::vector<std::string_view>* keepHeaders = nullptr;
};

// How a failed transfer's error begins when the peer's certificate could not be verified
// (unknown CA, wrong host name, expired) or the CA bundle could not be loaded, so that
// logs, /readyz and diagnose can name the cause instead of a generic transport error.
inline constexpr std::string_view kCertificateUnverified = "TLS certificate could not be verified";
inline constexpr std::string_view kCaBundleUnusable = "TLS CA bundle could not be loaded";
bool isCertificateError(std::string_view error);

// True when the environment names a proxy libcurl would use for an http or https URL
// (http_proxy, https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY; curl ignores an upper-case
// HTTP_PROXY). `get` is getenv or a test's stand-in.
bool environmentNamesProxy(const std::function<const char*(const char*)>& get);

struct UpstreamResponse {
  long status = 0;
  // Header names lower-cased; values trimmed. Only the final response's headers.
  std::vector<std::pair<std::string, std::string>> headers;
  const std::string* find(std::string_view lowerName) const;
};

struct TransferCallbacks {
  // Headers of the final response are complete. Return false to cancel the transfer.
  std::function<bool(const UpstreamResponse&)> onHeaders;
  // Body bytes. Return how many were taken: all of them, or kPause to be offered the same
  // bytes again after resume(), or 0 to abort.
  std::function<size_t(const char* data, size_t size)> onData;
  // The transfer ended (not called after cancel()). error is empty on success.
  std::function<void(const std::string& error)> onDone;
  // Optional, preferred to onData by the built-in client for a body framed by its length (or
  // the close): the body bytes read so far, in an evbuffer whose chains the callee moves on
  // (evbuffer_add_buffer) instead of copying them. Take them all (move or drain them) and
  // return how many, or return kPause leaving them to be offered again after resume(), or 0
  // to abort.
  std::function<size_t(evbuffer* body)> onBodyBuffer = nullptr;
  // Optional, with onBodyBuffer, built-in client only: asked before each read of a body
  // framed by its length. A target moves the bytes from the origin's socket to the target's
  // inside the kernel (splice(2) through a pipe), uncopied; onSpliced then hears how many
  // went, in order with onBodyBuffer (what the target did not take at once comes there).
  // No target (fd < 0): the bytes come through onBodyBuffer.
  std::function<SpliceTarget()> spliceTarget = nullptr;
  std::function<void(size_t bytes)> onSpliced = nullptr;
};

// Every upstream transfer of a worker starts here. GET and HEAD over plain HTTP to an origin
// named by an IP address go to the built-in HTTP/1.1 client (reactor/http1_upstream.h), which
// costs a fraction of a curl transfer; the rest (TLS, host names, proxies, bodies) to libcurl.
class CurlMulti {
 public:
  static constexpr size_t kPause = CURL_WRITEFUNC_PAUSE;

  // Just under 32 KiB: libevent rounds each evbuffer chunk (data + its header) up to a
  // power of two, so a full 32 KiB write would cost a 64 KiB block per chunk in flight.
  static constexpr long kDefaultBufferSize = 32 * 1024 - 256;
  explicit CurlMulti(EventLoop& loop, long bufferSize = kDefaultBufferSize);
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  // Fails when curl refuses to start it; no callback fires then. A TransferId is never 0.
  // `servedRequest` is the client request this transfer works for, if any: a callback that
  // throws is logged with its request id and fails it (500, or a cut stream), and the
  // transfer is aborted. Without one, the throw is only logged and the transfer aborted.
  Expected<TransferId> start(const UpstreamRequest& request, TransferCallbacks callbacks,
                             ExchangeRef servedRequest = {});
  // Resume a transfer paused by onData returning kPause. Never call from a curl callback.
  void resume(TransferId id);
  // Stop now; no callback of this transfer fires afterwards. Safe from any loop callback.
  void cancel(TransferId id);
  bool paused(TransferId id) const;
  size_t active() const;
  // Every transfer through libcurl, none through the built-in client (stream.upstream_client
  // = "curl"): for an origin that misbehaves with it, and for comparing the two.
  void useCurlOnly();

 private:
  struct Transfer;
  struct SocketWatch;
  static int onSocket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp) noexcept;
  static int onTimer(CURLM* multi, long timeoutMs, void* userp) noexcept;
  static void onSocketEvent(evutil_socket_t fd, short events, void* arg) noexcept;
  static void onTimeout(evutil_socket_t, short, void* arg) noexcept;
  static size_t onWrite(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept;
  static size_t onHeader(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept;

  void socketAction(curl_socket_t fd, int events);
  void drainFinished();
  void finish(Transfer& t, const std::string& error, bool deferRelease = false);
  void release(TransferId id);

  EventLoop& loop_;
  long bufferSize_;
  // No proxy variable was set at start: transfers tell curl so (CURLOPT_NOPROXY "*")
  // instead of letting it read five environment variables for every transfer.
  bool proxyFromEnvironment_;
  CurlMultiPtr multi_;
  CurlSharePtr share_;
  EventPtr timer_;
  TransferId nextId_ = 1;
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> transfers_;
  // Easy handles of finished transfers, reset and ready for the next start().
  static constexpr size_t kIdleEasyHandles = 16;
  std::vector<CurlEasyPtr> idleEasy_;
  int callbackDepth_ = 0;  // > 0 while curl is calling us: no curl_multi calls allowed
  std::unique_ptr<Http1Upstream> http1_;  // declared last: destroyed first
};

}  // namespace recgw::reactor
