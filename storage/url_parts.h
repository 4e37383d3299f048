#pragma once
// The pieces of URL text that the storage layer reads (scheme, authority, path), without
// validating or decoding anything. Pure; views into the caller's string.
#include <string_view>

namespace recgw::storage {

struct UrlParts {
  std::string_view scheme;     // empty when the text has none
  std::string_view authority;  // host[:port], userinfo removed
  std::string_view path;       // from the first `/` up to `?`/`#`; may be empty
};

// Only a `scheme://` before any `/`, `?` or `#`, with a scheme of ASCII letters, digits,
// `+`, `-` and `.` starting with a letter, counts as a scheme; text without one is read
// as authority and path ("minio:9000/prefix").
UrlParts splitUrl(std::string_view url);

// host[:port] -> host; IPv6 literals keep their brackets.
std::string_view hostnameOf(std::string_view authority);

// `text` without surrounding spaces, tabs, CRs and LFs (configured values, stored URLs).
std::string_view trimSpace(std::string_view text);

}  // namespace recgw::storage
