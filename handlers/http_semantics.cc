#include "handlers/http_semantics.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <limits>

#include "reactor/char_search.h"

namespace recgw::handlers {
namespace {

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  }
  return true;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// 1*DIGIT into uint64; nullopt on empty, non-digits or overflow.
std::optional<uint64_t> parseUint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (char c : s) {
    if (!isDigit(c)) return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<ByteRange> parseRangeSpec(std::string_view spec) {
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view left = spec.substr(0, dash);
  const std::string_view right = spec.substr(dash + 1);
  ByteRange range;
  if (left.empty()) {
    auto length = parseUint(right);
    if (!length) return std::nullopt;
    range.kind = ByteRange::kSuffix;
    range.suffixLength = *length;
    return range;
  }
  auto first = parseUint(left);
  if (!first) return std::nullopt;
  range.first = *first;
  if (right.empty()) {
    range.kind = ByteRange::kFrom;
    return range;
  }
  auto last = parseUint(right);
  if (!last || *last < *first) return std::nullopt;
  range.kind = ByteRange::kFromTo;
  range.last = *last;
  return range;
}

// ---- dates ----

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};

// Howard Hinnant's civil-calendar algorithms: exact for any year, no TZ or
// locale involved (timegm/strptime are neither portable nor locale-free).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;
  unsigned day;
};

Civil civilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return Civil{static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

bool isLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned daysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && isLeap(y)) ? 29 : kDaysIn[m - 1];
}

// A forward-only reader over the fixed-layout date formats.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool done() const { return pos_ == s_.size(); }
  bool literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  // Exactly `width` digits.
  std::optional<unsigned> digits(size_t width) {
    if (s_.size() - pos_ < width) return std::nullopt;
    unsigned v = 0;
    for (size_t i = 0; i < width; ++i) {
      const char c = s_[pos_ + i];
      if (!isDigit(c)) return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    pos_ += width;
    return v;
  }
  template <size_t N>
  std::optional<unsigned> oneOf(const std::array<std::string_view, N>& names) {
    for (size_t i = 0; i < N; ++i) {
      if (literal(names[i])) return static_cast<unsigned>(i);
    }
    return std::nullopt;
  }
  char peek() const { return done() ? '\0' : s_[pos_]; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

struct TimeOfDay {
  unsigned hour, minute, second;
};

std::optional<TimeOfDay> readTime(Cursor& c) {
  auto h = c.digits(2);
  if (!h || !c.literal(":")) return std::nullopt;
  auto m = c.digits(2);
  if (!m || !c.literal(":")) return std::nullopt;
  auto s = c.digits(2);
  // 60 is a leap second, which RFC 9110's grammar admits.
  if (!s || *h > 23 || *m > 59 || *s > 60) return std::nullopt;
  return TimeOfDay{*h, *m, *s};
}

std::optional<std::time_t> toTimeT(int64_t year, unsigned month0, unsigned day, const TimeOfDay& t) {
  const unsigned month = month0 + 1;
  if (day < 1 || day > daysInMonth(year, month)) return std::nullopt;
  const int64_t days = daysFromCivil(year, month, day);
  const int64_t secs = days * 86400 + t.hour * 3600 + t.minute * 60 + t.second;
  if (secs < std::numeric_limits<std::time_t>::min() || secs > std::numeric_limits<std::time_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::time_t>(secs);
}

int64_t currentYear() {
  const auto now = std::chrono::system_clock::now();
  const auto days = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() / 86400;
  return civilFromDays(days).year;
}

std::optional<std::time_t> parseImfFixdate(std::string_view s) {
  Cursor c(s);
  if (!c.oneOf(kDays) || !c.literal(", ")) return std::nullopt;
  auto day = c.digits(2);
  if (!day || !c.literal(" ")) return std::nullopt;
  auto month = c.oneOf(kMonths);
  if (!month || !c.literal(" ")) return std::nullopt;
  auto year = c.digits(4);
  if (!year || !c.literal(" ")) return std::nullopt;
  auto time = readTime(c);
  if (!time || !c.literal(" GMT") || !c.done()) return std::nullopt;
  return toTimeT(*year, *month, *day, *time);
}

std::optional<std::time_t> parseRfc850(std::string_view s) {
  Cursor c(s);
  if (!c.oneOf(kLongDays) || !c.literal(", ")) return std::nullopt;
  auto day = c.digits(2);
  if (!day || !c.literal("-")) return std::nullopt;
  auto month = c.oneOf(kMonths);
  if (!month || !c.literal("-")) return std::nullopt;
  auto yy = c.digits(2);
  if (!yy || !c.literal(" ")) return std::nullopt;
  auto time = readTime(c);
  if (!time || !c.literal(" GMT") || !c.done()) return std::nullopt;
  // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future means
  // the most recent past year with the same last two digits.
  const int64_t now = currentYear();
  int64_t year = now - now % 100 + *yy;
  if (year > now + 50) year -= 100;
  return toTimeT(year, *month, *day, *time);
}

std::optional<std::time_t> parseAsctime(std::string_view s) {
  Cursor c(s);
  if (!c.oneOf(kDays) || !c.literal(" ")) return std::nullopt;
  auto month = c.oneOf(kMonths);
  if (!month || !c.literal(" ")) return std::nullopt;
  std::optional<unsigned> day;
  if (c.peek() == ' ') {
    c.literal(" ");
    day = c.digits(1);
  } else {
    day = c.digits(2);
  }
  if (!day || !c.literal(" ")) return std::nullopt;
  auto time = readTime(c);
  if (!time || !c.literal(" ")) return std::nullopt;
  auto year = c.digits(4);
  if (!year || !c.done()) return std::nullopt;
  return toTimeT(*year, *month, *day, *time);
}

// ---- entity tags ----

struct EntityTag {
  bool weak = false;
  std::string_view opaque;  // between the quotes
};

bool isEtagc(unsigned char c) { return c == 0x21 || (c >= 0x23 && c != 0x7f); }

// Reads one entity-tag at the front of `s` and advances past it.
std::optional<EntityTag> readEntityTag(std::string_view& s) {
  EntityTag tag;
  if (s.substr(0, 2) == "W/") {
    tag.weak = true;
    s.remove_prefix(2);
  }
  if (s.empty() || s.front() != '"') return std::nullopt;
  size_t end = 1;
  while (end < s.size() && s[end] != '"') {
    if (!isEtagc(static_cast<unsigned char>(s[end]))) return std::nullopt;
    ++end;
  }
  if (end == s.size()) return std::nullopt;
  tag.opaque = s.substr(1, end - 1);
  s.remove_prefix(end + 1);
  return tag;
}

// The representation's own ETag as the origin sent it. Some fleet hosts send
// it unquoted; take such a value as a strong opaque tag rather than never
// matching.
std::optional<EntityTag> representationTag(std::string_view etag) {
  etag = trimOws(etag);
  if (etag.empty()) return std::nullopt;
  std::string_view rest = etag;
  auto tag = readEntityTag(rest);
  if (tag && trimOws(rest).empty()) return tag;
  if (etag.find_first_of("\", ") != std::string_view::npos) return std::nullopt;
  return EntityTag{false, etag};
}

// ---- disposition ----

std::string_view basenameOf(std::string_view key) {
  const size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? key : key.substr(slash + 1);
}

// RFC 8187 attr-char.
bool isAttrChar(unsigned char c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '&':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::optional<ByteRange> parseRangeHeader(std::string_view header) {
  header = trimOws(header);
  const size_t eq = header.find('=');
  if (eq == std::string_view::npos || !equalsIgnoreCase(header.substr(0, eq), "bytes")) {
    return std::nullopt;
  }
  std::string_view set = header.substr(eq + 1);
  std::optional<ByteRange> found;
  // range-set is a #list: OWS around commas and empty elements are legal.
  while (true) {
    const size_t comma = set.find(',');
    const std::string_view element = trimOws(set.substr(0, comma));
    if (!element.empty()) {
      if (found) return std::nullopt;  // multi-range: we serve only one
      found = parseRangeSpec(element);
      if (!found) return std::nullopt;
    }
    if (comma == std::string_view::npos) break;
    set.remove_prefix(comma + 1);
  }
  return found;
}

RangeResolution resolveRange(const ByteRange& range, uint64_t size) {
  RangeResolution out;
  if (size == 0) return out;
  switch (range.kind) {
    case ByteRange::kSuffix:
      if (range.suffixLength == 0) return out;
      out.range.first = range.suffixLength >= size ? 0 : size - range.suffixLength;
      out.range.last = size - 1;
      break;
    case ByteRange::kFrom:
      if (range.first >= size) return out;
      out.range.first = range.first;
      out.range.last = size - 1;
      break;
    case ByteRange::kFromTo:
      if (range.first >= size || range.last < range.first) return out;
      out.range.first = range.first;
      out.range.last = range.last >= size ? size - 1 : range.last;
      break;
  }
  out.outcome = RangeOutcome::kSatisfiable;
  return out;
}

std::string rangeHeaderValue(const ByteRange& range) {
  switch (range.kind) {
    case ByteRange::kSuffix:
      return "bytes=-" + std::to_string(range.suffixLength);
    case ByteRange::kFrom:
      return "bytes=" + std::to_string(range.first) + "-";
    case ByteRange::kFromTo:
      break;
  }
  return "bytes=" + std::to_string(range.first) + "-" + std::to_string(range.last);
}

std::string contentRangeValue(uint64_t first, uint64_t last, uint64_t size) {
  return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size);
}

std::string unsatisfiedContentRange(uint64_t size) { return "bytes */" + std::to_string(size); }

std::optional<ContentRange> parseContentRange(std::string_view header) {
  header = trimOws(header);
  const size_t sp = header.find_first_of(" \t");
  if (sp == std::string_view::npos || !equalsIgnoreCase(header.substr(0, sp), "bytes")) {
    return std::nullopt;
  }
  const std::string_view rest = trimOws(header.substr(sp + 1));
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view range = rest.substr(0, slash);
  const std::string_view length = rest.substr(slash + 1);

  ContentRange out;
  if (length != "*") {
    out.completeLength = parseUint(length);
    if (!out.completeLength) return std::nullopt;
  }
  if (range == "*") {
    if (!out.completeLength) return std::nullopt;  // `*/*` says nothing
    out.unsatisfied = true;
    return out;
  }
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = parseUint(range.substr(0, dash));
  auto last = parseUint(range.substr(dash + 1));
  if (!first || !last || *last < *first) return std::nullopt;
  if (*last == std::numeric_limits<uint64_t>::max()) return std::nullopt;
  if (out.completeLength && *last >= *out.completeLength) return std::nullopt;
  out.first = *first;
  out.last = *last;
  return out;
}

bool contentRangeAnswers(const ByteRange& asked, const ContentRange& answer) {
  if (answer.unsatisfied) return false;
  if (answer.completeLength) {
    const RangeResolution expected = resolveRange(asked, *answer.completeLength);
    return expected.outcome == RangeOutcome::kSatisfiable && expected.range.first == answer.first &&
           expected.range.last == answer.last;
  }
  switch (asked.kind) {
    case ByteRange::kFromTo:
      return answer.first == asked.first && answer.last <= asked.last;
    case ByteRange::kFrom:
      return answer.first == asked.first;
    case ByteRange::kSuffix:
      return false;
  }
  return false;
}

bool ifNoneMatchMatches(std::string_view ifNoneMatchHeader, std::string_view etag) {
  std::string_view rest = trimOws(ifNoneMatchHeader);
  if (rest == "*") return true;
  const auto current = representationTag(etag);
  if (!current) return false;
  bool any = false;
  while (true) {
    while (!rest.empty() && (isOws(rest.front()) || rest.front() == ',')) rest.remove_prefix(1);
    if (rest.empty()) break;
    auto tag = readEntityTag(rest);
    if (!tag) return false;
    any = any || tag->opaque == current->opaque;  // weak comparison
    rest = trimOws(rest);
    if (!rest.empty() && rest.front() != ',') return false;
  }
  return any;
}

bool ifRangeAllows(std::string_view ifRange, std::string_view etag, std::string_view lastModified) {
  ifRange = trimOws(ifRange);
  if (ifRange.empty()) return true;
  if (ifRange.front() == '"' || ifRange.substr(0, 2) == "W/") {
    std::string_view rest = ifRange;
    auto tag = readEntityTag(rest);
    if (!tag || !trimOws(rest).empty() || tag->weak) return false;
    auto current = representationTag(etag);
    return current && !current->weak && current->opaque == tag->opaque;
  }
  auto since = parseHttpDate(ifRange);
  auto modified = parseHttpDate(lastModified);
  return since && modified && *since == *modified;
}

std::optional<std::time_t> parseHttpDate(std::string_view text) {
  text = trimOws(text);
  if (auto t = parseImfFixdate(text)) return t;
  if (auto t = parseRfc850(text)) return t;
  return parseAsctime(text);
}

std::string formatHttpDate(std::time_t time) {
  const auto secs = static_cast<int64_t>(time);
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  const Civil civil = civilFromDays(days);
  const int64_t weekday = days >= -4 ? (days + 4) % 7 : (days + 5) % 7 + 6;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3s, %02u %.3s %04lld %02d:%02d:%02d GMT", kDays[weekday].data(),
                civil.day, kMonths[civil.month - 1].data(), static_cast<long long>(civil.year),
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  return buf;
}

bool notModifiedSince(std::string_view ifModifiedSince, std::string_view lastModified) {
  auto since = parseHttpDate(ifModifiedSince);
  auto modified = parseHttpDate(lastModified);
  return since && modified && *modified <= *since;
}

std::string_view contentTypeForKey(std::string_view key) {
  const std::string_view base = basenameOf(key);
  const size_t dot = base.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  const std::string_view ext = base.substr(dot + 1);
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry kTypes[] = {
      {"ogg", "audio/ogg"}, {"opus", "audio/ogg"},  {"mp3", "audio/mpeg"},  {"wav", "audio/wav"},
      {"m4a", "audio/mp4"}, {"webm", "audio/webm"}, {"flac", "audio/flac"}, {"mp4", "video/mp4"},
  };
  for (const auto& entry : kTypes) {
    if (equalsIgnoreCase(ext, entry.ext)) return entry.type;
  }
  return "application/octet-stream";
}

namespace {
// `type "/" subtype` (RFC 9110 tokens); the parameters may hold any visible ASCII.
bool isPlayableMediaTypeValue(std::string_view value) {
  const std::string_view type = value.substr(0, value.find(';'));
  std::string_view essence = trimOws(type);
  const size_t slash = essence.find('/');
  if (slash == std::string_view::npos || slash + 1 == essence.size()) return false;
  for (size_t i = 0; i < essence.size(); ++i) {
    if (i != slash && !reactor::isHttpTokenChar(essence[i])) return false;
  }
  const std::string_view major = essence.substr(0, slash);
  const bool media = equalsIgnoreCase(major, "audio") || equalsIgnoreCase(major, "video") ||
                     equalsIgnoreCase(essence, "application/ogg");
  if (!media) return false;
  for (unsigned char c : value) {
    if (c < 0x20 && c != '\t') return false;
    if (c >= 0x7f) return false;
  }
  return true;
}
}  // namespace

bool isPlayableMediaType(std::string_view servedType) { return isPlayableMediaTypeValue(servedType); }

std::string servedContentType(const std::string* originType, std::string_view key) {
  if (originType) {
    const std::string_view value = trimOws(*originType);
    const std::string_view essence = trimOws(value.substr(0, value.find(';')));
    const bool generic = essence.empty() || equalsIgnoreCase(essence, "application/octet-stream") ||
                         equalsIgnoreCase(essence, "binary/octet-stream");
    if (!generic) {
      return isPlayableMediaTypeValue(value) ? std::string(value) : std::string("application/octet-stream");
    }
  }
  return std::string(contentTypeForKey(key));
}

std::string contentDisposition(std::string_view key, bool attachment) {
  std::string_view base = basenameOf(key);
  // A key ending in '/' has no name of its own; browsers need something.
  if (base.empty()) base = "recording";

  std::string ascii;
  ascii.reserve(base.size());
  bool inMultibyte = false;
  for (unsigned char c : base) {
    if (c >= 0x80) {
      // One '_' per UTF-8 sequence reads better than one per byte; a stray
      // continuation byte still yields its own '_'.
      const bool continuation = (c & 0xC0) == 0x80;
      if (!(continuation && inMultibyte)) ascii.push_back('_');
      inMultibyte = true;
      continue;
    }
    inMultibyte = false;
    ascii.push_back((c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '_' : static_cast<char>(c));
  }

  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(base.size() * 3);
  for (unsigned char c : base) {
    if (isAttrChar(c)) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 0x0F]);
    }
  }
  std::string_view kind = attachment ? "attachment" : "inline";
  static constexpr std::string_view kName = "; filename=\"", kExtended = "\"; filename*=UTF-8''";
  std::string value;
  value.reserve(kind.size() + kName.size() + ascii.size() + kExtended.size() + encoded.size());
  value.append(kind).append(kName).append(ascii).append(kExtended).append(encoded);
  return value;
}

bool isSafePathParam(std::string_view param) {
  if (param.empty() || param.size() > 256) return false;
  for (unsigned char c : param) {
    if (c < 0x20 || c == 0x7f || c == '/') return false;
  }
  return true;
}

bool isStrongEtag(std::string_view etag) { return !etag.empty() && etag.rfind("W/", 0) != 0; }

}  // namespace recgw::handlers
