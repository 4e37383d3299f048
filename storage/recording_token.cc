#include "storage/recording_token.h"

#include "storage/crypto.h"

namespace recgw::storage {

std::string mintToken() {
  constexpr size_t kTokenBytes = 32;
  return crypto::base64UrlEncode(crypto::randomBytes(kTokenBytes));
}

}  // namespace recgw::storage
