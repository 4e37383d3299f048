#pragma once
// Owning handles for hiredis' blocking API (`recgw warm`, the sentinel query at start-up).
// The async context is not here: hiredis frees it itself after a disconnect, so RedisClient
// tracks it by hand.
#include <hiredis/hiredis.h>

#include "reactor/owned_handle.h"

namespace recgw::storage {

using RedisContextPtr = OwnedHandle<redisContext, redisFree>;
using RedisReplyPtr = OwnedHandle<redisReply, freeReplyObject>;

}  // namespace recgw::storage
