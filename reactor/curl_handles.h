#pragma once
// Owning handles for libcurl objects: each has exactly one owner and is freed on every path.
#include <curl/curl.h>

#include <memory>

namespace recgw::reactor {

struct CurlEasyFree {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct CurlMultiFree {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
struct CurlSlistFree {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
struct CurlShareFree {
  void operator()(CURLSH* share) const noexcept { curl_share_cleanup(share); }
};

using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyFree>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiFree>;
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistFree>;
using CurlSharePtr = std::unique_ptr<CURLSH, CurlShareFree>;

}  // namespace recgw::reactor
