#pragma once
// Percent-encoding as S3 signs it (AWS UriEncode) and plain `%XX` decoding. Pure.
#include <optional>
#include <string>
#include <string_view>

namespace recgw::storage {

// AWS UriEncode: every byte except the unreserved `A-Za-z0-9-._~` becomes `%XX` (upper-case
// hex); `/` is kept when keepSlash (object paths) and encoded otherwise (query values).
std::string uriEncode(std::string_view text, bool keepSlash);

// `%XX` decoding only: `+` stays `+` (S3 keys may contain it; this is not form decoding).
// nullopt on a `%` not followed by two hex digits.
std::optional<std::string> percentDecode(std::string_view text);

}  // namespace recgw::storage
