#pragma once
// The gateway's public link to a recording, built from the configured public host and the
// call's token. Pure.
#include <string>
#include <string_view>

namespace recgw::storage {

// https://{host}/api/v1/public/recordings/{token}; a scheme already on `host` is kept and a
// trailing `/` dropped.
std::string buildPublicRecordingUrl(std::string_view host, std::string_view token);

}  // namespace recgw::storage
