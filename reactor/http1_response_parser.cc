#include "reactor/http1_response_parser.h"

#include <algorithm>
#include <cstring>

#include "reactor/char_search.h"

namespace recgw::reactor {

namespace {

constexpr size_t kMaxChunkLine = 4096;
constexpr size_t kMaxTrailerBytes = 16 * 1024;
// 2^63 - 1 fits in 19 decimal digits and 15 hex digits plus one below 8.
constexpr size_t kMaxLengthDigits = 18;
constexpr size_t kMaxChunkSizeDigits = 15;

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool equalsLower(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (lowerAscii(text[i]) != lower[i]) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Calls `each` for every comma-separated element of a field value, trimmed; empty elements
// (", ,") are skipped as RFC 9110 §5.6.1 asks.
template <class Each>
void forEachListElement(std::string_view value, Each each) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view element = trimOws(value.substr(0, comma));
    if (!element.empty()) each(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The line ending at the first LF of `data` (its CR, if any, removed), and the bytes it used.
bool nextLine(std::string_view data, std::string_view* line, size_t* used) {
  size_t lf = data.find('\n');
  if (lf == std::string_view::npos) return false;
  *used = lf + 1;
  *line = data.substr(0, (lf > 0 && data[lf - 1] == '\r') ? lf - 1 : lf);
  return true;
}

}  // namespace

Http1ResponseParser::HeadResult Http1ResponseParser::fail(std::string why) {
  state_ = State::kError;
  error_ = std::move(why);
  return HeadResult::kError;
}

Http1ResponseParser::BodyStep Http1ResponseParser::failBody(std::string why) {
  state_ = State::kError;
  error_ = std::move(why);
  return {};
}

Http1ResponseParser::HeadResult Http1ResponseParser::parseHead(std::string_view data, size_t* consumed) {
  *consumed = 0;
  if (state_ == State::kError) return HeadResult::kError;
  if (state_ != State::kHead) return fail("the response head was already read");
  size_t offset = 0;
  for (;;) {
    // No head is longer than kMaxHeadBytes: nothing beyond is looked at (and line offsets fit
    // in 32 bits).
    std::string_view rest = data.substr(offset, kMaxHeadBytes + 1);
    // The head ends at the first empty line; until it has arrived nothing is parsed. Each
    // line is found once (one memchr per line) and remembered for parsing.
    constexpr size_t kMaxLines = 256;
    struct Span {
      uint32_t start, length;
    };
    Span lines[kMaxLines];  // left uninitialised: only the first `count` are written
    size_t count = 0;
    size_t end = std::string_view::npos;
    size_t start = 0;
    while (start < rest.size()) {
      const void* found = std::memchr(rest.data() + start, '\n', rest.size() - start);
      if (!found) break;
      size_t lf = static_cast<size_t>(static_cast<const char*>(found) - rest.data());
      size_t stop = (lf > start && rest[lf - 1] == '\r') ? lf - 1 : lf;
      if (stop == start) {
        end = lf + 1;
        break;
      }
      if (count == kMaxLines) return fail("more than 256 lines in the origin's response head");
      lines[count++] = Span{static_cast<uint32_t>(start), static_cast<uint32_t>(stop - start)};
      start = lf + 1;
    }
    if (end == std::string_view::npos) {
      if (offset + rest.size() > kMaxHeadBytes) return fail("response head larger than 32 KiB");
      // A reply that does not even begin like HTTP is refused at once, not after 32 KiB.
      std::string_view begin = rest.substr(0, std::min<size_t>(rest.size(), 5));
      if (std::string_view("HTTP/").substr(0, begin.size()) != begin)
        return fail("the origin's reply is not HTTP/1.x");
      return HeadResult::kNeedMore;
    }
    if (offset + end > kMaxHeadBytes) return fail("response head larger than 32 KiB");
    if (count == 0) return fail("malformed status line from the origin");
    headers_.clear();
    sawContentLength_ = sawTransferEncoding_ = chunked_ = false;
    contentLength_ = 0;
    if (!parseStatusLine(rest.substr(lines[0].start, lines[0].length))) return HeadResult::kError;
    for (size_t i = 1; i < count; ++i) {
      if (!parseField(rest.substr(lines[i].start, lines[i].length))) return HeadResult::kError;
    }
    offset += end;
    if (status_ >= 100 && status_ < 200) {
      if (status_ == 101) return fail("the origin switched protocols (101) unasked");
      continue;  // an interim response: the final one follows
    }
    if (!decideFraming()) return HeadResult::kError;
    *consumed = offset;
    return HeadResult::kDone;
  }
}

bool Http1ResponseParser::parseStatusLine(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') ||
      line[8] != ' ') {
    fail("malformed status line from the origin");
    return false;
  }
  long status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') {
      fail("malformed status code from the origin");
      return false;
    }
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) {
    fail("malformed status code from the origin");
    return false;
  }
  for (unsigned char c : line.substr(12)) {
    if (c == '\0' || c == '\r') {
      fail("control character in the origin's status line");
      return false;
    }
  }
  status_ = status;
  http10_ = line[7] == '0';
  keepAlive_ = !http10_;
  return true;
}

bool Http1ResponseParser::parseField(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    fail("obsolete line folding in the origin's response head");
    return false;
  }
  const void* colonAt = std::memchr(line.data(), ':', line.size());
  size_t colon = colonAt ? static_cast<size_t>(static_cast<const char*>(colonAt) - line.data()) : line.size();
  if (colon == 0 || colon == line.size()) {
    fail("malformed header line from the origin");
    return false;
  }
  for (size_t i = 0; i < colon; ++i) {
    if (!isHttpTokenChar(line[i])) {
      fail("malformed header name from the origin");
      return false;
    }
  }
  std::string_view name = line.substr(0, colon);
  std::string_view value = trimOws(line.substr(colon + 1));
  // The three names that frame the message, told apart by length before any comparison.
  if (name.size() == 14 && equalsLower(name, "content-length")) {
    if (value.empty() || value.size() > kMaxLengthDigits ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail("unparsable Content-Length from the origin");
      return false;
    }
    uint64_t length = 0;
    for (char c : value) length = length * 10 + static_cast<uint64_t>(c - '0');
    if (sawContentLength_ && length != contentLength_) {
      fail("differing Content-Length values from the origin");
      return false;
    }
    sawContentLength_ = true;
    contentLength_ = length;
  } else if (name.size() == 17 && equalsLower(name, "transfer-encoding")) {
    bool supported = true;
    size_t codings = 0;
    forEachListElement(value, [&](std::string_view coding) {
      ++codings;
      if (!equalsLower(coding, "chunked") || chunked_) supported = false;
      chunked_ = true;
    });
    if (!supported || codings == 0) {
      fail("unsupported Transfer-Encoding from the origin");
      return false;
    }
    sawTransferEncoding_ = true;
  } else if (name.size() == 10 && equalsLower(name, "connection")) {
    forEachListElement(value, [&](std::string_view option) {
      if (equalsLower(option, "close")) keepAlive_ = false;
      if (http10_ && equalsLower(option, "keep-alive")) keepAlive_ = true;
    });
  }
  if (keepHeaders_) {
    bool kept = false;
    for (std::string_view wanted : *keepHeaders_) {
      if (wanted.size() == name.size() && equalsLower(name, wanted)) {
        kept = true;
        break;
      }
    }
    if (!kept) return true;
  }
  // A value that is kept may be passed on to a client: no control character that could end
  // a header line there. (A line is split at LF only, so an ignored field cannot reframe.)
  if (std::memchr(value.data(), '\r', value.size()) || std::memchr(value.data(), '\0', value.size())) {
    fail("control character in a header value from the origin");
    return false;
  }
  std::string lowerName(name);
  for (char& c : lowerName) c = lowerAscii(c);
  headers_.emplace_back(std::move(lowerName), std::string(value));
  return true;
}

bool Http1ResponseParser::decideFraming() {
  if (headRequest_ || status_ == 204 || status_ == 304) {
    framing_ = Framing::kNone;
    state_ = State::kDone;
    return true;
  }
  if (sawTransferEncoding_) {
    if (sawContentLength_) {
      fail("the origin sent both Content-Length and Transfer-Encoding");
      return false;
    }
    if (http10_) {
      fail("Transfer-Encoding in an HTTP/1.0 response from the origin");
      return false;
    }
    framing_ = Framing::kChunked;
    state_ = State::kChunkSize;
    return true;
  }
  if (sawContentLength_) {
    framing_ = Framing::kLength;
    remaining_ = contentLength_;
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
    return true;
  }
  framing_ = Framing::kUntilClose;
  keepAlive_ = false;
  state_ = State::kBody;
  return true;
}

Http1ResponseParser::BodyStep Http1ResponseParser::parseBody(std::string_view data) {
  switch (state_) {
    case State::kBody: {
      if (framing_ == Framing::kUntilClose) return {data.size(), data};
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDone;
      return {n, data.substr(0, n)};
    }
    case State::kChunkData: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kChunkDataEnd;
      return {n, data.substr(0, n)};
    }
    case State::kChunkDataEnd: {
      if (data.empty() || (data.size() == 1 && data[0] == '\r')) return {};
      if (data[0] == '\n') {
        state_ = State::kChunkSize;
        return {1, {}};
      }
      if (data[0] == '\r' && data[1] == '\n') {
        state_ = State::kChunkSize;
        return {2, {}};
      }
      return failBody("malformed chunk end from the origin");
    }
    case State::kChunkSize: {
      std::string_view line;
      size_t used = 0;
      if (!nextLine(data, &line, &used)) {
        if (data.size() > kMaxChunkLine) return failBody("chunk-size line too long from the origin");
        return {};
      }
      size_t digits = 0;
      uint64_t size = 0;
      while (digits < line.size()) {
        char c = lowerAscii(line[digits]);
        int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (v < 0) break;
        if (++digits > kMaxChunkSizeDigits) return failBody("chunk size too large from the origin");
        size = size * 16 + static_cast<uint64_t>(v);
      }
      if (digits == 0) return failBody("malformed chunk size from the origin");
      std::string_view ext = line.substr(digits);
      while (!ext.empty() && (ext.front() == ' ' || ext.front() == '\t')) ext.remove_prefix(1);
      if (!ext.empty() && ext.front() != ';') return failBody("malformed chunk size from the origin");
      for (unsigned char c : ext) {
        if (c == '\0' || c == '\r') return failBody("control character in a chunk extension from the origin");
      }
      if (size == 0) {
        state_ = State::kTrailers;
        remaining_ = kMaxTrailerBytes;
      } else {
        state_ = State::kChunkData;
        remaining_ = size;
      }
      return {used, {}};
    }
    case State::kTrailers: {
      std::string_view line;
      size_t used = 0;
      if (!nextLine(data, &line, &used)) {
        if (data.size() > remaining_) return failBody("chunked trailers too large from the origin");
        return {};
      }
      if (used > remaining_) return failBody("chunked trailers too large from the origin");
      remaining_ -= used;
      if (line.empty()) {
        remaining_ = 0;
        state_ = State::kDone;
        return {used, {}};
      }
      // Trailer fields are read and dropped: nothing downstream uses them.
      if (line.front() == ' ' || line.front() == '\t' || line.find(':') == std::string_view::npos ||
          line.find('\r') != std::string_view::npos || line.find('\0') != std::string_view::npos)
        return failBody("malformed trailer from the origin");
      return {used, {}};
    }
    case State::kHead:
      return failBody("the body was read before the head");
    case State::kDone:
    case State::kError:
      return {};
  }
  return {};
}

void Http1ResponseParser::tookRawBody(uint64_t n) {
  if (state_ != State::kBody || framing_ != Framing::kLength) return;
  remaining_ -= std::min(remaining_, n);
  if (remaining_ == 0) state_ = State::kDone;
}

bool Http1ResponseParser::acceptClose() {
  if (state_ == State::kDone) return true;
  if (state_ == State::kBody && framing_ == Framing::kUntilClose) {
    state_ = State::kDone;
    return true;
  }
  return false;
}

}  // namespace recgw::reactor
