#pragma once
// An origin's HTTP/1.1 response, read incrementally from the bytes of one connection: the
// head (status line and fields, interim 1xx heads skipped), then the body's framing
// (Content-Length, chunked, or until the origin closes). Written by hand because no
// maintained C or C++ parser ships in Debian (http-parser is archived and gone after
// bookworm; llhttp only as Node.js sources), and the parser is small enough to hold to the
// strict side of RFC 9112 and to fuzz (tests/fuzz/http1_response_fuzz.cc).
//
// Strict where a lenient reading could desynchronise a kept-alive connection: a response
// with both Content-Length and Transfer-Encoding, differing Content-Length values, a
// Transfer-Encoding other than "chunked", an obsolete folded line, a field name with a space
// or control character, or a malformed chunk line is an error, and the connection is closed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace recgw::reactor {

class Http1ResponseParser {
 public:
  // A head longer than this is refused (S3's are about 1 KiB; user metadata adds at most 2).
  static constexpr size_t kMaxHeadBytes = 32 * 1024 - 256;

  // `headRequest`: the response to a HEAD has no body whatever its fields say. `keepHeaders`:
  // lower-case names to keep (null keeps all); framing fields are read either way.
  explicit Http1ResponseParser(bool headRequest, const std::vector<std::string_view>* keepHeaders = nullptr)
      : headRequest_(headRequest), keepHeaders_(keepHeaders) {}

  enum class HeadResult { kNeedMore, kDone, kError };
  // Reads the head from the start of `data`. kDone: `*consumed` bytes (interim heads
  // included) were the head, and status()/headers() are final. kNeedMore: nothing consumed;
  // call again with the same bytes and more. kError: error() says why.
  HeadResult parseHead(std::string_view data, size_t* consumed);

  struct BodyStep {
    size_t consumed = 0;      // bytes of input used, framing included
    std::string_view payload;  // the body bytes among them (may be empty)
  };
  // Decodes the body's framing from `data` (bytes after the head). Returns at most one span
  // of payload per call; call again with the rest. After an error, error() says why.
  BodyStep parseBody(std::string_view data);
  // The origin closed the connection: true when that ends the body (until-close framing, or
  // the body was already complete); otherwise the response was cut short.
  bool acceptClose();

  // The body is raw bytes up to a known end (Content-Length) or the close: it may be read
  // past the parser, at most rawBodyLimit() bytes, and reported with tookRawBody().
  bool rawBody() const { return state_ == State::kBody; }
  uint64_t rawBodyLimit() const { return framing_ == Framing::kLength ? remaining_ : UINT64_MAX; }
  void tookRawBody(uint64_t n);

  bool bodyDone() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  // The connection can carry another request once this response is complete.
  bool reusable() const { return keepAlive_ && framing_ != Framing::kUntilClose; }
  // Body bytes still expected with Content-Length framing, for an error message.
  uint64_t remaining() const { return remaining_; }

  long status() const { return status_; }
  // Names lower-cased, values trimmed, in the order the origin sent them.
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  std::vector<std::pair<std::string, std::string>>& headers() { return headers_; }
  const std::string& error() const { return error_; }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone, kError };
  enum class Framing { kNone, kLength, kChunked, kUntilClose };

  HeadResult fail(std::string why);
  BodyStep failBody(std::string why);
  bool parseStatusLine(std::string_view line);
  bool parseField(std::string_view line);
  bool decideFraming();

  bool headRequest_;
  const std::vector<std::string_view>* keepHeaders_;
  State state_ = State::kHead;
  Framing framing_ = Framing::kNone;
  long status_ = 0;
  bool http10_ = false;
  bool keepAlive_ = true;
  bool sawContentLength_ = false;
  bool sawTransferEncoding_ = false;
  bool chunked_ = false;
  uint64_t contentLength_ = 0;
  uint64_t remaining_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string error_;
};

}  // namespace recgw::reactor
