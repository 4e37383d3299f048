#pragma once
// GET and HEAD over plain HTTP/1.1 to an origin named by an IP address, on the worker's loop,
// without libcurl. CurlMulti hands it the transfers it can serve (http1OriginOf) and keeps
// everything else (TLS, host names, proxies, request bodies). Same contract as CurlMulti:
// the callbacks of TransferCallbacks, pause by returning kPause from onData, no callback
// after cancel(). Loop thread only.
//
// Why by hand: libcurl 7.88 spends ~85 k instructions on each such transfer (its printf
// formats every request header byte by byte, the URL is parsed and rebuilt, each response
// header is compared against dozens of names), a third of a proxied request's cost. This
// client builds the request head in one string, sends it with one send(), parses the
// response in place (Http1ResponseParser) and hands body bytes to onData from its read
// buffer, or to onBodyBuffer in the evbuffer chains they were read into, never copied, or
// from the origin's socket straight to the client's with splice(2) (spliceTarget).
// Kept-alive connections are pooled per origin as curl's are.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/exchange_ref.h"
#include "reactor/http1_origin.h"
#include "reactor/http1_response_parser.h"
#include "reactor/libevent_handles.h"
#include "reactor/status.h"

namespace recgw::reactor {

class Http1Upstream {
 public:
  static constexpr size_t kPause = CurlMulti::kPause;
  // Idle connections kept in all (curl's CURLMOPT_MAXCONNECTS here), and how long one may
  // stay idle before it is not trusted again (curl's default CURLOPT_MAXAGE_CONN).
  static constexpr size_t kMaxIdleConnections = 256;
  static constexpr std::chrono::seconds kMaxIdleAge{118};
  // The splice pipe's size when the kernel grants it (its default is 64 KiB): the most one
  // splice moves.
  static constexpr size_t kSplicePipeBytes = 256 * 1024;
  // Reads (or splices) of one transfer per readiness of its socket: a fast origin and a fast
  // client would otherwise keep the loop on one stream for as long as the bytes flow.
  static constexpr int kReadsPerWakeup = 64;

  Http1Upstream(EventLoop& loop, size_t readBufferSize);
  ~Http1Upstream();
  Http1Upstream(const Http1Upstream&) = delete;
  Http1Upstream& operator=(const Http1Upstream&) = delete;

  // `request` must be a GET or HEAD without a body (CurlMulti checks). Fails only when no
  // socket can be had; no callback fires then.
  Status start(TransferId id, Http1Origin origin, const UpstreamRequest& request, TransferCallbacks callbacks,
               ExchangeRef servedRequest);
  bool owns(TransferId id) const { return transfers_.count(id) != 0; }
  void resume(TransferId id);
  void cancel(TransferId id);
  bool paused(TransferId id) const;
  size_t active() const { return transfers_.size(); }
  size_t idleConnections() const;

 private:
  struct Connection;
  struct Transfer;
  enum class Phase { kConnecting, kSending, kWaitingHead, kBody };

  static void onReadable(evutil_socket_t, short, void* arg) noexcept;
  static void onWritable(evutil_socket_t, short, void* arg) noexcept;
  static void onTimer(evutil_socket_t, short, void* arg) noexcept;

  // The transfer with this id unless it ended or was cancelled (0, an idle connection's, is none).
  Transfer* activeTransfer(TransferId id);
  Expected<std::unique_ptr<Connection>> connect(const Http1Origin& origin);
  std::unique_ptr<Connection> takeIdle(const std::string& authority);
  void keepIdle(std::unique_ptr<Connection> connection);
  void dropIdle(Connection* connection);

  void beginExchange(Transfer& t);
  void sendRequest(Transfer& t);
  // Reading: into the transfer's buffer (onData callers), or into evbuffer chains
  // (onBodyBuffer callers). May end the transfer.
  void readResponse(Transfer& t);
  void readIntoEvbuffer(Transfer& t);
  // Each of these returns true when the transfer goes on (reading more), false when it ended
  // (it is gone then), paused, or moved to the copying path; on false the caller touches it
  // no more.
  bool process(Transfer& t);
  bool headFromEvbuffer(Transfer& t);
  bool announceHead(Transfer& t);
  bool deliver(Transfer& t, std::string_view payload);
  bool deliverBuffered(Transfer& t);
  // One read of a length-framed body through the transfer's splice target, if it has one
  // now: kNotNow (read it into bodyIn instead), kMore (read again), kStop (wait: the socket
  // is empty, or the transfer paused or ended).
  enum class SpliceStep { kNotNow, kMore, kStop };
  SpliceStep spliceBody(Transfer& t);
  template <class Call>
  bool callBack(Transfer& t, Call call);
  template <class Offer, class OnPause>
  bool handOn(Transfer& t, size_t offered, Offer offer, OnPause onPause);
  void closedByOrigin(Transfer& t);
  void retryOnFreshConnection(Transfer& t, const std::string& why);
  void timerFired(Transfer& t);
  void armTimer(Transfer& t, std::chrono::steady_clock::time_point deadline);
  void armWaitingTimer(Transfer& t);

  void succeed(Transfer& t);
  void failTransfer(Transfer& t, const std::string& error);
  void release(TransferId id);
  std::unique_ptr<char[]> takeBuffer();
  void returnBuffer(std::unique_ptr<char[]> buffer);

  EventLoop& loop_;
  size_t bufferSize_;
  std::unordered_map<TransferId, std::unique_ptr<Transfer>> transfers_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  size_t idleCount_ = 0;
  // Read buffers of finished transfers, for the next ones (as CurlMulti keeps easy handles).
  static constexpr size_t kSpareBuffers = 16;
  std::vector<std::unique_ptr<char[]>> spareBuffers_;
  // The pipe every splice of this worker goes through; empty between calls. Opened on the
  // first splice; closed for good if the kernel refuses (no splice for these sockets).
  struct SplicePipe;
  std::unique_ptr<SplicePipe> splicePipe_;
  bool spliceUnavailable_ = false;
  SplicePipe* openSplicePipe();
  int callbackDepth_ = 0;  // > 0 while a transfer's callback runs: cancel and resume wait
  bool starting_ = false;  // inside start(): a failure is reported on the next pass, as curl's
};

}  // namespace recgw::reactor
