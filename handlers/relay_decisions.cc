#include "handlers/relay_decisions.h"

#include <algorithm>

namespace recgw::handlers {

RelayFlow::Step RelayFlow::onChunk(size_t pendingBytes, size_t chunkBytes, size_t highWatermark) {
  if (pendingBytes > 0 && pendingBytes + chunkBytes > highWatermark) {
    if (paused_) return Step::kStayPaused;
    paused_ = true;
    return Step::kPause;
  }
  return Step::kRelay;
}

bool RelayFlow::onDrained() {
  if (!paused_) return false;
  paused_ = false;
  return true;
}

void BodyResume::startWhole(std::optional<uint64_t> contentLength) {
  nextOffset_ = 0;
  totalLength_ = contentLength;
  if (contentLength) {
    if (*contentLength == 0)
      endOffset_.reset();
    else
      endOffset_ = *contentLength - 1;
  }
  expectedEmpty_ = contentLength && *contentLength == 0;
}

void BodyResume::startRange(const ContentRange& range) {
  nextOffset_ = range.first;
  endOffset_ = range.last;
  totalLength_ = range.completeLength;
  expectedEmpty_ = false;
}

size_t BodyResume::take(size_t n) {
  size_t skip = std::min<uint64_t>(skipBytes_, n);
  skipBytes_ -= skip;
  nextOffset_ += n - skip;
  if (n > skip && retriedBeforePark_) {
    retriedSameSource_ = *retriedBeforePark_;
    retriedBeforePark_.reset();
  }
  return skip;
}

void BodyResume::rewind(uint64_t n) { nextOffset_ -= std::min(n, nextOffset_); }

bool BodyResume::complete(bool cleanly) const {
  if (!cleanly) return false;
  return expectedEmpty_ || !endOffset_ || nextOffset_ > *endOffset_;
}

bool BodyResume::resumable() const { return isStrongEtag(etag_); }

size_t BodyResume::resumeSource(size_t source) {
  size_t next = resuming_ && retriedSameSource_ ? source + 1 : source;
  retriedSameSource_ = true;
  resuming_ = true;
  return next;
}

size_t BodyResume::resumeAfterPark(size_t source) {
  if (!retriedBeforePark_) retriedBeforePark_ = retriedSameSource_;
  resuming_ = true;
  retriedSameSource_ = true;
  return source;
}

ByteRange BodyResume::resumeRange() const {
  ByteRange rest;
  rest.first = nextOffset_;
  rest.kind = endOffset_ ? ByteRange::kFromTo : ByteRange::kFrom;
  if (endOffset_) rest.last = *endOffset_;
  return rest;
}

BodyResume::Verdict BodyResume::acceptResume(long status, const std::string* etag,
                                             const std::string* contentRange,
                                             std::optional<uint64_t> contentLength, const ByteRange& asked) {
  Verdict verdict;
  verdict.sameObject = etag && *etag == etag_;
  if (status == 206 && verdict.sameObject) {
    std::optional<ContentRange> cr;
    if (contentRange) cr = parseContentRange(*contentRange);
    const bool sameLength = !totalLength_ || (cr && cr->completeLength == totalLength_);
    if (cr && contentRangeAnswers(asked, *cr) && sameLength &&
        (!contentLength || *contentLength == cr->last - cr->first + 1)) {
      skipBytes_ = 0;
      verdict.continues = true;
    }
  } else if (status == 200 && verdict.sameObject && (!totalLength_ || contentLength == totalLength_)) {
    skipBytes_ = nextOffset_;
    verdict.continues = true;
  }
  return verdict;
}

}  // namespace recgw::handlers
