#pragma once
// The one shape of a C callback entry (libevent, evhttp, curl, hiredis): whatever the C++
// body throws stops here, is logged with the request it belongs to, and the caller decides
// what failing means for that request only. An exception that reached the C library would
// unwind through frames that cannot run destructors, and through a noexcept function it
// terminates the worker with every request it serves.
#include <exception>
#include <string_view>
#include <utility>

namespace recgw::reactor {

// Logs "<where> threw" at error level with the request id (empty when the callback belongs
// to no request) and the exception's message. Never throws.
void logCallbackFailure(std::string_view where, std::string_view requestId, std::string_view error) noexcept;

// Runs body(); true when it returned normally, false when it threw (already logged).
//   guardCallback("curl done", requestId, [&] { done(error); });
template <class Body>
bool guardCallback(std::string_view where, std::string_view requestId, Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
    return true;
  } catch (const std::exception& e) {
    logCallbackFailure(where, requestId, e.what());
  } catch (...) {
    logCallbackFailure(where, requestId, "an exception that is not a std::exception");
  }
  return false;
}

}  // namespace recgw::reactor
