#pragma once
// The public token of a recording link: the secret a public URL carries.
#include <string>

namespace recgw::storage {

// A new public-link token: 32 bytes from OpenSSL's CSPRNG, base64url without padding (43
// characters, URL-safe as is). Throws std::runtime_error only if the CSPRNG itself fails,
// which leaves no safe token to return.
std::string mintToken();

}  // namespace recgw::storage
