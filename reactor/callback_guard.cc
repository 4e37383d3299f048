#include "reactor/callback_guard.h"

#include <string>

#include "reactor/logger.h"

namespace recgw::reactor {

void logCallbackFailure(std::string_view where, std::string_view requestId, std::string_view error) noexcept {
  try {
    Logger::log(LogLevel::kError, requestId, std::string(where) + " threw", {{"error", error}});
  } catch (...) {
    // Out of memory while logging: the failure itself is still contained by the caller.
  }
}

}  // namespace recgw::reactor
