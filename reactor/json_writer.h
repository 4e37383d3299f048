#pragma once
// simdjson 3.0.1 has no writer: this is a small escaping writer (docs/library-notes.md, "simdjson 3.0.1").
// It builds one JSON value into a string; the caller keeps the nesting right.
#include <cstdint>
#include <string>
#include <string_view>

namespace recgw::reactor {

void appendJsonString(std::string& out, std::string_view text);
// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool isValidUtf8(std::string_view text);

class JsonWriter {
 public:
  JsonWriter& beginObject() {
    separate();
    out_ += '{';
    first_ = true;
    return *this;
  }
  JsonWriter& endObject() {
    out_ += '}';
    first_ = false;
    return *this;
  }
  JsonWriter& beginArray() {
    separate();
    out_ += '[';
    first_ = true;
    return *this;
  }
  JsonWriter& endArray() {
    out_ += ']';
    first_ = false;
    return *this;
  }
  JsonWriter& key(std::string_view name) {
    separate();
    appendJsonString(out_, name);
    out_ += ':';
    first_ = true;  // the value that follows needs no comma
    return *this;
  }
  JsonWriter& value(std::string_view text) {
    separate();
    appendJsonString(out_, text);
    return *this;
  }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag) {
    separate();
    out_ += flag ? "true" : "false";
    return *this;
  }
  JsonWriter& value(int64_t number) {
    separate();
    out_ += std::to_string(number);
    return *this;
  }
  JsonWriter& value(uint64_t number) {
    separate();
    out_ += std::to_string(number);
    return *this;
  }
  JsonWriter& value(int number) { return value(static_cast<int64_t>(number)); }
  JsonWriter& value(double number);
  JsonWriter& null() {
    separate();
    out_ += "null";
    return *this;
  }
  JsonWriter& raw(std::string_view json) {
    separate();
    out_ += json;
    return *this;
  }

  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string out_;
  bool first_ = true;
};

}  // namespace recgw::reactor
