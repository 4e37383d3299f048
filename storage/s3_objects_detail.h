#pragma once
// Helpers shared by the two files of S3Objects (s3_objects.cc, s3_multipart.cc); not for
// anyone else.
#include <cstddef>
#include <string>
#include <string_view>

#include "storage/s3_objects.h"

namespace recgw::storage::s3_detail {

inline constexpr size_t kMaxResponseBody = 64 * 1024;

// The text between the first `open` and the next `close` ("" when either is missing).
inline std::string between(std::string_view xml, std::string_view open, std::string_view close) {
  size_t b = xml.find(open);
  if (b == std::string_view::npos) return {};
  b += open.size();
  size_t e = xml.find(close, b);
  if (e == std::string_view::npos) return {};
  return std::string(xml.substr(b, e - b));
}

inline S3Outcome transportError(const std::string& error) {
  S3Outcome out;
  out.kind = S3Outcome::Kind::kError;
  out.reason = "S3 request failed: " + error;
  return out;
}

}  // namespace recgw::storage::s3_detail
