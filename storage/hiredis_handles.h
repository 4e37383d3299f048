#pragma once
// Owning handles for hiredis' blocking API (`recgw warm`, the sentinel query at start-up).
// The async context is not here: hiredis frees it itself after a disconnect, so RedisClient
// tracks it by hand.
#include <hiredis/hiredis.h>

#include <memory>

namespace recgw::storage {

struct RedisContextFree {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
struct RedisReplyFree {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};

using RedisContextPtr = std::unique_ptr<redisContext, RedisContextFree>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyFree>;

}  // namespace recgw::storage
