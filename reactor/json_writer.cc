#include "reactor/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace recgw::reactor {

namespace {

// Length of the well-formed UTF-8 sequence at text[i], or 0 if it is not one
// (overlong forms, surrogates and code points past U+10FFFF are not well-formed).
size_t utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char c = byte(i);
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c1 = byte(i + 1);
  if (c == 0xE0 && c1 < 0xA0) return 0;
  if (c == 0xED && c1 > 0x9F) return 0;
  if (c == 0xF0 && c1 < 0x90) return 0;
  if (c == 0xF4 && c1 > 0x8F) return 0;
  return n;
}

}  // namespace

bool isValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) < 0x80) continue;
    size_t n = utf8SequenceLength(text, i);
    if (n == 0) return false;
    i += n - 1;
  }
  return true;
}

// Bytes a JSON string cannot hold as they are: controls, '"', '\\', DEL and non-ASCII (which
// is checked as UTF-8).
struct PlainJsonTable {
  bool plain[256] = {};
  constexpr PlainJsonTable() {
    for (int c = 0x20; c < 0x7f; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainJsonTable kPlainJson;

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  out.reserve(out.size() + text.size() + 1);
  for (size_t i = 0; i < text.size(); ++i) {
    // Printable ASCII other than '"' and '\\' is copied as is, a run at a time: this runs
    // for every field of every access-log line.
    size_t plain = i;
    while (plain < text.size() && kPlainJson.plain[static_cast<unsigned char>(text[plain])]) ++plain;
    if (plain > i) {
      out.append(text.data() + i, plain - i);
      i = plain;
      if (i == text.size()) break;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      // JSON must be UTF-8: stored keys and client input may not be.
      size_t n = utf8SequenceLength(text, i);
      if (n == 0) {
        out += "\ufffd";
      } else {
        out.append(text.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

JsonWriter& JsonWriter::value(double number) {
  separate();
  if (!std::isfinite(number)) {
    out_ += "null";
    return *this;
  }
  // Same text as printf's %.6g, without the printf machinery (this runs per access-log line).
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, number, std::chars_format::general, 6);
  out_.append(buf, ec == std::errc() ? end : buf);
  return *this;
}

}  // namespace recgw::reactor
