#pragma once
// Pure HTTP helpers for the streaming relay (RFC 9110): Range / Content-Range,
// conditional requests, HTTP dates, Content-Type by extension and a header-safe
// Content-Disposition. No I/O, no allocation beyond the returned strings, no
// exceptions: safe from any thread.
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace recgw::handlers {

// ---- Range (RFC 9110 §14) -------------------------------------------------

// One byte range as the client asked for it, before the object size is known.
struct ByteRange {
  enum Kind { kFromTo, kFrom, kSuffix };
  Kind kind = kFrom;
  uint64_t first = 0;         // kFromTo, kFrom
  uint64_t last = 0;          // kFromTo only; inclusive, always >= first
  uint64_t suffixLength = 0;  // kSuffix only; may be 0 (then never satisfiable)
};

// Parses a Range header holding exactly one `bytes=` range: `a-b`, `a-` or `-n`.
// The unit is case-insensitive; OWS around the value, after `=` and around empty
// list elements (`bytes=0-5,`) is tolerated. nullopt for multiple ranges, other
// units, garbage, numbers that overflow uint64 and `b < a`: the caller ignores
// the header and answers 200 with the full body, as RFC 9110 allows.
std::optional<ByteRange> parseRangeHeader(std::string_view header);

struct ResolvedRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive
};

enum class RangeOutcome { kSatisfiable, kUnsatisfiable };

struct RangeResolution {
  RangeOutcome outcome = RangeOutcome::kUnsatisfiable;
  ResolvedRange range;  // meaningful only when kSatisfiable
};

// Resolves a range against the complete object size: a suffix longer than the
// object selects the whole object, `last` is clamped to size-1, `first >= size`
// and `-0` are unsatisfiable (→ 416 with unsatisfiedContentRange(size)).
// An empty object (size 0) has no satisfiable range here; a caller that wants
// RFC 9110's reading of `bytes=-n` on an empty object ignores Range when the
// size is 0 and answers 200.
RangeResolution resolveRange(const ByteRange& range, uint64_t size);

// `bytes=a-b`, `bytes=a-` or `bytes=-n`, to forward the client's range upstream.
std::string rangeHeaderValue(const ByteRange& range);

// `bytes first-last/size`.
std::string contentRangeValue(uint64_t first, uint64_t last, uint64_t size);
// `bytes */size`, for 416.
std::string unsatisfiedContentRange(uint64_t size);

// A Content-Range header as an origin returns it.
struct ContentRange {
  bool unsatisfied = false;  // `bytes */size`: first/last are meaningless
  uint64_t first = 0;
  uint64_t last = 0;                       // inclusive, >= first
  std::optional<uint64_t> completeLength;  // nullopt for `/*`
};

// Accepts `bytes a-b/size`, `bytes a-b/*` and `bytes */size`. nullopt on other
// units, garbage, overflow, `b < a`, `b >= size`, or `b` = 2^64-1 (so `b - a + 1`
// always fits in a uint64).
std::optional<ContentRange> parseContentRange(std::string_view header);

// Whether an origin's 206 Content-Range answers exactly the range it was asked for: with
// the complete length known, first and last must be the asked range resolved against it;
// with `/*`, first must match and last must not pass what was asked (a suffix range
// cannot be checked without the length and is refused). An origin that answers another
// range would make the relayed response say one thing and carry another.
bool contentRangeAnswers(const ByteRange& asked, const ContentRange& answer);

// ---- Conditional requests (RFC 9110 §13) ----------------------------------

// If-None-Match against the representation's ETag (the header value as the
// origin sent it, e.g. `"abc"` or `W/"abc"`). Weak comparison; `*` matches any
// existing representation, even one without an ETag. An unparsable header
// matches nothing, so the caller sends the full response.
bool ifNoneMatchMatches(std::string_view ifNoneMatchHeader, std::string_view etag);
// A strong ETag (present and not W/...): what a resume's If-Match and a cached copy need.
bool isStrongEtag(std::string_view etag);

// Whether a Range may be honoured under If-Range: an entity-tag must equal the
// ETag by strong comparison (weak tags never match); an HTTP-date must equal
// Last-Modified exactly. An empty If-Range imposes no condition (true); an
// unparsable one, or missing validators, means false (send 200, full body).
bool ifRangeAllows(std::string_view ifRange, std::string_view etag, std::string_view lastModified);

// Accepts IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
// Two-digit years follow RFC 9110's 50-years-in-the-future rule.
std::optional<std::time_t> parseHttpDate(std::string_view text);
// IMF-fixdate, independent of locale and TZ.
std::string formatHttpDate(std::time_t time);

// True when the representation was not modified after If-Modified-Since
// (→ 304). False if either date is unparsable, so the caller sends the body.
bool notModifiedSince(std::string_view ifModifiedSince, std::string_view lastModified);

// ---- Content type and disposition -----------------------------------------

// By the key's extension, case-insensitive; application/octet-stream otherwise.
std::string_view contentTypeForKey(std::string_view key);

// The Content-Type a recording is served with. The origin's type is kept only when it is
// a well-formed audio or video type (parameters allowed); a missing or generic one is
// replaced by the key's extension type; anything else (text/html, image/svg+xml, ...)
// becomes application/octet-stream, since an object's stored type is whatever its uploader
// said and must not turn the gateway's origin into a web page.
std::string servedContentType(const std::string* originType, std::string_view key);
// Whether a served type plays in the browser (audio/video); everything else is a download.
bool isPlayableMediaType(std::string_view servedType);

// `inline; filename="<ascii>"; filename*=UTF-8''<pct-encoded>` for the key's
// basename (`attachment; ...` when `attachment`). The quoted name has control bytes,
// quotes, backslashes and non-ASCII replaced by '_' and is never empty; no key can break
// out of the header (CR/LF never appear in the result).
std::string contentDisposition(std::string_view key, bool attachment = false);

// A route parameter (token, session id) fit to use as a lookup value:
// non-empty, at most 256 bytes, no control bytes (< 0x20, 0x7f), no '/'.
bool isSafePathParam(std::string_view param);

}  // namespace recgw::handlers
