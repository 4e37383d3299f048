#pragma once
// One owner for a C library's handle, freed on every path by the library's own function:
//
//   using CurlEasyPtr = OwnedHandle<CURL, curl_easy_cleanup>;
//
// Each C library has one header of these aliases (reactor/libevent_handles.h,
// reactor/curl_handles.h, storage/openssl_handles.h, storage/hiredis_handles.h,
// storage/mongo_handles.h).
#include <memory>

namespace recgw {

template <auto Free>
struct FreeWith {
  template <class T>
  void operator()(T* handle) const noexcept {
    Free(handle);
  }
};

template <class T, auto Free>
using OwnedHandle = std::unique_ptr<T, FreeWith<Free>>;

}  // namespace recgw
