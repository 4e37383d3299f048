#pragma once
// Owning handles for libcurl objects: each has exactly one owner and is freed on every path.
#include <curl/curl.h>

#include "reactor/owned_handle.h"

namespace recgw::reactor {

using CurlEasyPtr = OwnedHandle<CURL, curl_easy_cleanup>;
using CurlMultiPtr = OwnedHandle<CURLM, curl_multi_cleanup>;
using CurlSlistPtr = OwnedHandle<curl_slist, curl_slist_free_all>;
using CurlSharePtr = OwnedHandle<CURLSH, curl_share_cleanup>;

}  // namespace recgw::reactor
