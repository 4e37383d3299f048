#pragma once
// One HTTP request and its response: what the handler reads and how it answers (whole, or
// streamed with backpressure). Owned by the HttpServer until the response is complete,
// then freed on the next loop pass. Work that comes back later holds an ExchangeRef, never
// an HttpExchange*. Loop thread only.
#include <event2/http.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace recgw::reactor {

class HttpServer;

enum HttpMethod : uint16_t {
  kGet = EVHTTP_REQ_GET,
  kHead = EVHTTP_REQ_HEAD,
  kPost = EVHTTP_REQ_POST,
  kPut = EVHTTP_REQ_PUT,
  kDelete = EVHTTP_REQ_DELETE,
  kOptions = EVHTTP_REQ_OPTIONS,
  kPatch = EVHTTP_REQ_PATCH,
};

// Where body bytes may go without entering user space: a socket that can take them now
// (fd < 0: none), and at most how many at a time (no more than the rest of what its
// response declared).
struct SpliceTarget {
  int fd = -1;
  uint64_t budget = 0;
};

class HttpExchange {
 public:
  HttpExchange(HttpServer& server, evhttp_request* req, uint64_t id, std::string requestId);
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  uint64_t id() const { return id_; }
  const std::string& requestId() const { return requestId_; }
  HttpServer& server() { return server_; }
  evhttp_request* raw() { return req_; }

  HttpMethod method() const;
  bool isHead() const { return method() == kHead; }
  std::string_view methodName() const;
  const std::string& path() const { return path_; }
  const std::string& query() const { return query_; }
  std::string queryParam(std::string_view name) const;
  // nullptr when absent
  const char* header(const char* name) const;
  std::string_view body();
  std::string peerAddress() const;
  const std::vector<std::string>& pathParams() const { return pathParams_; }
  const std::string& route() const { return route_; }

  // A response header. A value holding CR, LF or NUL is dropped (as evhttp drops it).
  void addHeader(const char* name, std::string_view value);

  // A whole response. HEAD sends the headers (with the body's Content-Length) only.
  void reply(int status, std::string_view body, std::string_view contentType = "application/json");
  // {"error": code, "message": message}
  void replyError(int status, std::string_view code, std::string_view message);
  // Code serving this request threw: answer 500 when nothing was sent yet, else cut the
  // connection so the client cannot take a partial body for a whole one.
  void failInternal() noexcept;

  // Streaming: start (headers out), chunks, end. sendChunk's onDrained fires when the
  // connection's output buffer has emptied (evhttp keeps only the last one registered).
  // drainLowWatermark: the drain callback fires once unsent bytes fall to this level.
  // While streaming, only the write (idle client) timeout applies: a paused upstream or a
  // slow origin must not trip evhttp's read timer.
  void startStream(int status, size_t drainLowWatermark = 0);
  // After startStream, for a body relayed from an origin at the client's pace: let the
  // kernel queue at most stream.kernel_unsent_bytes unsent for this client until it shows
  // it reads (TCP_NOTSENT_LOWAT).
  void limitKernelUnsentBytes();
  // The most a streamed response hands the socket per send() (libevent's default: 16 KiB).
  static constexpr size_t kStreamMaxSingleWrite = 512 * 1024;
  // Bytes after which a streaming client counts as reading (its kernel unsent limit is lifted).
  static constexpr uint64_t kReadingClientBytes = 4 * 1024 * 1024;
  // Headers only, for HEAD and 304: Content-Length as given (or none when nullopt).
  void replyHeadersOnly(int status, std::optional<uint64_t> contentLength);
  // A response that declared its Content-Length never carries more or fewer bytes: a chunk
  // that would overrun it is cut at the declared length and the connection is closed (the
  // excess would otherwise be read as the next response on a keep-alive connection), and
  // endStream() before the declared length truncates instead. False once the response is
  // over, e.g. after such a cut.
  bool sendChunk(evbuffer* data, std::function<void()> onDrained);
  size_t pendingOutputBytes() const;
  // Takes back body bytes handed to the connection but not yet written to the socket,
  // keeping the first `keepBytes` of them (and any unsent header bytes) queued: returns how
  // many were dropped. The response continues from streamed-bytes minus that count, so the
  // caller must send those bytes again. What is kept lets the next socket write fire the
  // drain callback. For a stream whose client stalled (a parked stream). Only for a
  // response with a declared length (a chunked one queues framing with the bytes): 0 else.
  size_t withdrawUnsentBody(size_t keepBytes);
  // Where a relayed body may be spliced to now: the client's socket, while nothing waits in
  // the connection's buffer before it and the response declared its length (so no framing
  // goes between the bytes), and at most the rest of that length.
  SpliceTarget spliceTarget() const;
  // `n` body bytes reached the client's socket past the connection's buffer (a splice).
  void noteSplicedBody(size_t n);
  // Moves the level at which the drain callback fires (startStream's drainLowWatermark).
  void setDrainLowWatermark(size_t bytes);
  void endStream();
  // Close the connection without a clean end, so the client sees a truncated body.
  void abortStream();
  bool streaming() const { return streaming_; }
  bool done() const { return done_; }
  bool clientGone() const { return clientGone_; }

  // Fires once when the response is complete (sent, cut, or the client gone), before the
  // access log: per-request accounting. What it throws is logged.
  void setOnComplete(std::function<void(HttpExchange&)> callback) { onComplete_ = std::move(callback); }
  int status() const { return status_; }
  // Body bytes handed to the connection so far.
  uint64_t bodyBytesSent() const { return bodyBytes_; }
  // The Content-Range the response carries ("" when none).
  const std::string& contentRangeSent() const { return contentRange_; }
  // The Content-Length the response announced (nullopt when none, e.g. chunked).
  std::optional<uint64_t> contentLengthSent() const { return contentLength_; }

  // Fires once if the client disconnects while a stream is in flight.
  void setOnClientGone(std::function<void()> callback) { onClientGone_ = std::move(callback); }

  // Access-log annotations.
  void noteLookupSource(std::string_view source) { lookupSource_ = source; }
  void noteOrigin(std::string_view origin) { origin_ = origin; }
  void noteUpstreamFirstByte(std::chrono::steady_clock::duration d) { upstreamTtfb_ = d; }
  void noteBodyBytes(size_t n) { bodyBytes_ += n; }
  void noteReason(std::string_view reason) { reason_ = reason; }

 private:
  bufferevent* clientBufferevent() const;  // nullptr when the client is gone
  int clientFd() const;                    // -1 when the client is gone
  void liftKernelUnsentLimitIfReading();
  void restoreKernelUnsentDefault();
  friend class HttpServer;
  void addCommonHeaders();  // X-Request-Id, nosniff, the server's decorator
  // Just before evhttp writes the head: hands it the Date and extraHeaders_ as one entry.
  void packOutputHeaders();
  void complete(int status);
  void onConnectionClosed();
  void finishStreamedRequest(bool clean);
  static void onChunkDrained(evhttp_connection*, void* arg) noexcept;

  HttpServer& server_;
  evhttp_request* req_;
  HttpMethod method_;
  evhttp_connection* evcon_ = nullptr;  // identity only; may be stale after close
  uint64_t id_;
  std::string requestId_;
  std::string path_;
  std::string query_;
  std::string route_ = "unmatched";
  std::vector<std::string> pathParams_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int status_ = 0;
  size_t bodyBytes_ = 0;
  std::string lookupSource_;
  std::string origin_;
  std::string reason_;
  std::chrono::steady_clock::duration upstreamTtfb_{-1};
  std::function<void()> onClientGone_;
  std::function<void()> onDrained_;
  std::function<void(HttpExchange&)> onComplete_;
  std::string contentRange_;
  // The headers evhttp does not read, written as one evhttp entry when the head is sent
  // (packOutputHeaders): "\r\nName: value" for each, and the two there is one of.
  std::string extraHeaders_;
  std::string contentType_;
  std::string date_;  // empty: the server's current date
  std::optional<uint64_t> contentLength_;
  bool streaming_ = false;
  bool kernelUnsentLimited_ = false;        // TCP_NOTSENT_LOWAT set by this stream, not lifted yet
  bool endingReply_ = false;                // inside evhttp_send_reply_end, which may close the connection
  std::optional<uint64_t> declaredLength_;  // the streamed response's Content-Length
  uint64_t streamedBytes_ = 0;
  bool done_ = false;
  bool clientGone_ = false;
  std::string bodyCache_;
  bool bodyRead_ = false;
};

const char* methodString(HttpMethod method);

}  // namespace recgw::reactor
