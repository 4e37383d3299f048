// libFuzzer target for the built-in upstream client's response parser
// (reactor/http1_response_parser.h). The bytes are an origin's reply. Beyond "no crash":
// feeding the same bytes whole or in pieces gives the same status, headers, body bytes and
// verdict, so a response cannot be framed differently depending on how TCP split it; the
// parser never claims more bytes than it was given; and a body framed by Content-Length is
// exactly that long when it is complete.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/http1_response_parser.h"

using recgw::reactor::Http1ResponseParser;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Outcome {
  bool headDone = false;
  bool failed = false;
  bool bodyDone = false;
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  size_t used = 0;  // bytes of input the response took
};

// Feeds `input` `piece` bytes at a time (0: all at once), keeping unparsed bytes as the
// upstream client keeps them in its buffer.
Outcome run(std::string_view input, bool headRequest, size_t piece) {
  Outcome out;
  Http1ResponseParser parser(headRequest);
  std::string pending;
  size_t offered = 0;
  while (offered < input.size() || (piece == 0 && offered == 0)) {
    size_t n = piece == 0 ? input.size() : std::min(piece, input.size() - offered);
    pending.append(input.substr(offered, n));
    offered += n;
    std::string_view view(pending);
    if (!out.headDone) {
      size_t consumed = 0;
      auto r = parser.parseHead(view, &consumed);
      check(consumed <= view.size());
      if (r == Http1ResponseParser::HeadResult::kError) {
        out.failed = true;
        return out;
      }
      if (r == Http1ResponseParser::HeadResult::kNeedMore) {
        check(consumed == 0);
        if (piece == 0) break;
        continue;
      }
      out.headDone = true;
      out.status = parser.status();
      out.headers = parser.headers();
      out.used += consumed;
      view.remove_prefix(consumed);
    }
    while (!parser.bodyDone() && !view.empty()) {
      auto step = parser.parseBody(view);
      if (parser.failed()) {
        out.failed = true;
        return out;
      }
      check(step.consumed <= view.size());
      check(step.payload.size() <= step.consumed);
      if (step.consumed == 0) break;
      out.body.append(step.payload);
      out.used += step.consumed;
      view.remove_prefix(step.consumed);
    }
    pending = std::string(view);
    if (parser.bodyDone()) break;
    if (piece == 0) break;
  }
  out.bodyDone = parser.bodyDone();
  if (out.bodyDone && !headRequest) {
    for (const auto& [name, value] : out.headers) {
      if (name != "content-length" || out.status == 204 || out.status == 304) continue;
      uint64_t length = 0;  // the parser accepted it: digits only (leading zeros allowed)
      for (char c : value) length = length * 10 + static_cast<uint64_t>(c - '0');
      check(out.body.size() == length);
    }
  }
  check(out.used <= input.size());
  return out;
}

bool same(const Outcome& a, const Outcome& b) {
  // A piecewise run can stop earlier (wanting bytes), never decide differently.
  if (a.failed != b.failed) return false;
  if (a.failed) return true;
  return a.headDone == b.headDone && a.status == b.status && a.headers == b.headers && a.body == b.body &&
         a.bodyDone == b.bodyDone && a.used == b.used;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool headRequest = data[0] & 1;
  const size_t piece = 1 + data[0] / 2 % 7;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Outcome whole = run(input, headRequest, 0);
  check(same(whole, run(input, headRequest, 1)));
  check(same(whole, run(input, headRequest, piece)));
  return 0;
}
