#pragma once
// The one way every layer says "failed": a function that can fail returns Status (nothing
// on success) or Expected<T> (a value on success); the failure carries a sentence for a
// person, never a secret. Start-up code may still throw (ConfigError), but nothing that runs
// under the event loop does. tl::expected (Debian's libexpected-dev) is std::expected for
// C++20; when we move to C++23 the alias is the only line to change.
#include <tl/expected.hpp>

#include <string>
#include <utility>

namespace recgw {

struct Error {
  std::string message;
};

template <class T>
using Expected = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

// return fail("redis.url: no host");
inline tl::unexpected<Error> fail(std::string message) { return tl::unexpected<Error>(Error{std::move(message)}); }

// The success value of Status, for code that reads better with a name than with {}.
inline Status ok() { return {}; }

}  // namespace recgw
