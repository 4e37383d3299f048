#include "storage/public_link.h"

#include "storage/uri_encoding.h"
#include "storage/url_parts.h"

namespace recgw::storage {

std::string buildPublicRecordingUrl(std::string_view host, std::string_view token) {
  host = trimSpace(host);
  while (!host.empty() && host.back() == '/') host.remove_suffix(1);
  std::string out;
  if (splitUrl(host).scheme.empty()) out.append("https://");
  out.append(host);
  out.append("/api/v1/public/recordings/");
  // Minted tokens are base64url and pass through unchanged; encoding guards hand-made ones.
  out.append(uriEncode(token, /*keepSlash=*/false));
  return out;
}

}  // namespace recgw::storage
