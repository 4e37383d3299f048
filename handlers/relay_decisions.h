#pragma once
// The decisions of a stream relay that need no sockets: when to pause the upstream for a
// slow client, how many upstream requests one response may cost, and whether and where a
// body that broke off is resumed. StreamRelay (stream_relay.cc) acts on them.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "handlers/http_semantics.h"

namespace recgw::handlers {

// Back-pressure of one stream. The upstream is paused before a chunk would take the bytes
// still unsent to the client past the high watermark, so a stream never holds more than
// the watermark; a chunk larger than the whole watermark still goes out alone when nothing
// is pending (else the stream could never move). The client connection calls back once its
// unsent bytes have fallen to the low watermark (HttpExchange::startStream), and that
// resumes the upstream.
class RelayFlow {
 public:
  enum class Step { kRelay, kPause, kStayPaused };
  // A chunk of `chunkBytes` arrived with `pendingBytes` still unsent to the client. kPause
  // is the transition (counted once); kStayPaused a chunk offered again while paused.
  Step onChunk(size_t pendingBytes, size_t chunkBytes, size_t highWatermark);
  // The client drained to the low watermark: true when the upstream is to be resumed.
  bool onDrained();
  // The upstream transfer ended: nothing is paused any more.
  void onTransferEnded() { paused_ = false; }
  bool paused() const { return paused_; }

 private:
  bool paused_ = false;
};

// How much one stream may hold unsent for its client. It starts at the configured high
// watermark, so a client that reads at full speed never waits; a client slow enough that its
// stream parks gets a quarter of it when it reads again (down to kMinBytes), so each resume
// fetches and holds little; a client that drains quickly again earns it back, doubling.
// The drain threshold follows at a quarter of the window, never above the configured one.
class AdaptiveWindow {
 public:
  static constexpr size_t kMinBytes = 16 * 1024;
  AdaptiveWindow(size_t highWatermark, size_t lowWatermark)
      : max_(highWatermark), maxLow_(lowWatermark), high_(highWatermark) {}
  size_t high() const { return high_; }
  size_t low() const { return std::min(maxLow_, high_ / 4); }
  void shrink() { high_ = std::min(max_, std::max(kMinBytes, high_ / 4)); }
  void grow() { high_ = std::min(max_, high_ * 2); }

 private:
  size_t max_;
  size_t maxLow_;
  size_t high_;
};

// Every source may cost a first request, a resume and one re-request (If-Range, size
// probe); an origin that keeps asking for more (e.g. answering 206 to everything) has had
// its chance after that.
constexpr size_t maxUpstreamRequests(size_t sources) { return 3 * sources + 1; }

// How a response body advances and, when its upstream breaks off, how it continues. Offsets
// are positions in the object (a ranged response starts at its range's first byte), so a
// resume asks for exactly the rest of what the client was promised.
class BodyResume {
 public:
  // The first answer: the whole object (200) of `contentLength` bytes, when known...
  void startWhole(std::optional<uint64_t> contentLength);
  // ...or the range it answered (206).
  void startRange(const ContentRange& range);
  void setEtag(std::string etag) { etag_ = std::move(etag); }
  const std::string& etag() const { return etag_; }

  // `n` bytes arrived: returns how many of them the client already has (to drop); the rest
  // advance the offset.
  size_t take(size_t n);
  uint64_t nextOffset() const { return nextOffset_; }
  // The last `n` bytes counted by take() never reached the client (taken back from its
  // connection): they are the next ones to fetch.
  void rewind(uint64_t n);

  // The upstream transfer ended (`cleanly`: without an error). True when the client has
  // the whole body.
  bool complete(bool cleanly) const;

  // Only a strong ETag proves a second answer is the same object; splicing two objects
  // into one response is worse than a visible truncation, so without one the body is cut.
  bool resumable() const;
  // The body broke off at `source`: the source to resume from (the same one once, then the
  // next ones), and from now on requests are resumes.
  size_t resumeSource(size_t source);
  // The stream was parked (its transfer released on purpose while the client did not
  // read): it continues from `source`, where it stopped, and a failure of that resume
  // moves on to the next source rather than trying the same one again. Once the resume
  // has delivered bytes, the response's same-source retry is as it was before the park.
  size_t resumeAfterPark(size_t source);
  bool resuming() const { return resuming_; }
  // The next bytes to arrive are ones the client already has (take() drops them).
  bool skipping() const { return skipBytes_ > 0; }
  // The Range of a resume request; it goes with If-Match: etag().
  ByteRange resumeRange() const;

  struct Verdict {
    bool continues = false;   // relay the answer's body
    bool sameObject = false;  // it carried the first answer's ETag
  };
  // A resume request (Range `asked`) was answered: it continues the body when it is the
  // same object (same ETag) and either exactly the rest of the range with the same complete
  // length (206), or the whole object of the same length (200, an origin that ignores
  // Range: the part the client has is then skipped).
  Verdict acceptResume(long status, const std::string* etag, const std::string* contentRange,
                       std::optional<uint64_t> contentLength, const ByteRange& asked);

 private:
  uint64_t nextOffset_ = 0;
  std::optional<uint64_t> endOffset_;    // the last byte promised, when known
  std::optional<uint64_t> totalLength_;  // the complete object's length, once known
  bool expectedEmpty_ = false;
  uint64_t skipBytes_ = 0;
  std::string etag_;
  bool resuming_ = false;
  bool retriedSameSource_ = false;
  // Set while a park's resume has delivered nothing yet: the same-source retry as it was
  // before the park, given back once the resume delivers (a park is not a failure).
  std::optional<bool> retriedBeforePark_;
};

}  // namespace recgw::handlers
