#pragma once
// The S3 object operations the recording lifecycle needs besides GET: HEAD (does it exist,
// how big), server-side CopyObject (to another bucket and storage class) and DELETE.
// Requests are signed here with SigV4 (header auth, x-amz-content-sha256:
// UNSIGNED-PAYLOAD; none of them has a body) and sent through reactor::CurlMulti, so
// nothing blocks the loop. The copy signs x-amz-copy-source and, when set,
// x-amz-storage-class (docs/library-notes.md: we sign, curl does not).
//
// Loop thread only. Every callback runs later on the loop, exactly once, never before the
// call returns; it may run after the caller's objects are gone, so capture weak
// references. The signer is used during the call only and not kept (the paged listings
// keep a copy until their last page). An S3Objects may be
// destroyed with requests in flight: single requests still call back (they hold no pointer
// to it), moveToArchive stops; CurlMulti's destruction cancels them without callbacks.
//
// Needs reactor::UpstreamRequest::method/body for PUT and DELETE (see s3_objects.cc): a
// build without them answers those calls with an error instead of sending a GET.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <string_view>
#include <utility>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "storage/s3_addressing.h"
#include "storage/sigv4_signer.h"

namespace recgw::storage {

struct S3Timeouts {
  std::chrono::milliseconds connect{3000};
  // Request sent → response headers. S3 answers a copy only when it is done (or sends
  // 200 early and the result later), so this is generous; a stalled transfer is cut by the
  // low-speed limit at the same bound.
  std::chrono::milliseconds response{60000};
};

struct S3ObjectInfo {
  uint64_t size = 0;
  std::string etag;          // as sent, with quotes
  std::string storageClass;  // x-amz-storage-class; empty means STANDARD on AWS
  std::string contentType;
};

struct S3Outcome {
  enum class Kind { kOk, kNotFound, kError };
  Kind kind = Kind::kError;
  long httpStatus = 0;  // 0: no HTTP answer (transport error, timeout, refused)
  std::string code;     // S3's error <Code>, e.g. NoSuchKey, InvalidStorageClass
  std::string reason;   // for logs and error messages; never carries credentials
  bool ok() const { return kind == Kind::kOk; }
  bool notFound() const { return kind == Kind::kNotFound; }
};

// A signed request, ready for CurlMulti. Pure data; exposed for tests.
struct S3Request {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string caFile;  // the location's CA bundle (empty: the system store)
  std::string error;   // non-empty: could not be signed
};

// Single-request CopyObject limit; larger objects need a multipart copy.
inline constexpr uint64_t kMaxSingleCopyBytes = 5ULL * 1024 * 1024 * 1024;
// Multipart upload limits (S3's): every part but the last at least 5 MiB, none over 5 GiB,
// at most 10,000 parts.
inline constexpr uint64_t kMinPartBytes = 5ULL * 1024 * 1024;
inline constexpr uint64_t kMaxPartBytes = 5ULL * 1024 * 1024 * 1024;
inline constexpr int kMaxParts = 10000;

// One part of a multipart upload as S3 lists it (or as we uploaded it).
struct S3Part {
  int number = 0;
  std::string etag;  // bare (no quotes): the hex MD5 of the part's bytes on S3 and MinIO
  uint64_t size = 0;
};

// A multipart upload in progress (ListMultipartUploads).
struct S3Upload {
  std::string key;
  std::string uploadId;
};

// An ETag without its quotes (and without XML's &quot; escapes), lower-cased.
std::string bareEtag(std::string_view etag);
// What S3 answers for a completed multipart upload of parts with these raw (16-byte) MD5s:
// hex(md5(md5_1 ‖ … ‖ md5_N)) + "-N". Bare, like bareEtag().
std::string multipartEtag(const std::vector<std::string>& partMd5s);

struct ArchiveMove {
  enum class Kind {
    kMoved,        // copied, verified, hot copy deleted
    kResumed,      // an earlier run had already moved it (hot gone, archive copy as expected)
    kMissing,      // in neither bucket
    kMismatch,     // hot gone and the archive copy is not the expected size: left alone
    kTooLarge,     // over kMaxSingleCopyBytes
    kUnavailable,  // no signer (storage settings incomplete)
    kBusy,         // another run is moving it right now (streamed archive only)
    kError,        // S3 failed or the copy did not verify; the hot copy is kept
  };
  Kind kind = Kind::kError;
  std::string reason;
  S3ObjectInfo archived;  // the archive copy, for kMoved and kResumed
};

// Storage classes whose objects can be read at once, without a restore (all but GLACIER
// and DEEP_ARCHIVE; unknown names are S3-compatible services' own, readable).
bool storageClassAllowsGet(std::string_view storageClass);

// "" when `copy` matches `original`: same size; the same ETag when both are single-part
// (an MD5 of the bytes); and, when requestedClass is set, that storage class (an absent
// header means STANDARD). Otherwise why not.
std::string verifyCopy(const S3ObjectInfo& original, const S3ObjectInfo& copy,
                       std::string_view requestedClass);

class S3Objects {
 public:
  S3Objects(reactor::EventLoop& loop, reactor::CurlMulti& curl, S3Timeouts timeouts = {});

  void head(const S3Location& where, std::string_view key, SigV4Signer& signer,
            std::function<void(S3Outcome, S3ObjectInfo)> done);
  // Server-side copy of from/fromKey to to/toKey (same endpoint and credentials), with
  // the object's metadata, into storageClass (empty: the bucket default). Ok only when S3
  // said so in the body too: a copy can fail after a 200.
  void copy(const S3Location& from, std::string_view fromKey, const S3Location& to, std::string_view toKey,
            std::string_view storageClass, SigV4Signer& signer, std::function<void(S3Outcome)> done);
  // DELETE; a missing object is kOk (S3 answers 204 either way).
  void remove(const S3Location& where, std::string_view key, SigV4Signer& signer,
              std::function<void(S3Outcome)> done);

  // ---- multipart upload (the streamed archive between two services) ----
  // GET bytes first..last (inclusive) of `key`, only while its ETag is still `ifMatch`
  // (when set): 206 with exactly those bytes is ok (a 200 without the range, another
  // Content-Range or another length is an error; 412 is an error with code
  // PreconditionFailed). `bytes` is allocated once for the range and shared with the
  // caller; `md5` (16 raw bytes) is computed while the bytes arrive.
  void getRange(const S3Location& where, std::string_view key, uint64_t first, uint64_t last,
                std::string_view ifMatch, SigV4Signer& signer,
                std::function<void(S3Outcome, std::shared_ptr<std::string> bytes, std::string md5)> done);
  // CreateMultipartUpload in storageClass (empty: the bucket default) → the upload id.
  void createUpload(const S3Location& where, std::string_view key, std::string_view storageClass,
                    std::string_view contentType, SigV4Signer& signer,
                    std::function<void(S3Outcome, std::string uploadId)> done);
  // UploadPart, sent from `bytes` in place with Content-MD5 (S3 refuses a part that arrives
  // altered). Ok only when S3's ETag is the MD5 we sent: `etag` is then that (bare).
  void uploadPart(const S3Location& where, std::string_view key, std::string_view uploadId, int partNumber,
                  std::shared_ptr<const std::string> bytes, std::string_view md5, SigV4Signer& signer,
                  std::function<void(S3Outcome, std::string etag)> done);
  // CompleteMultipartUpload with these parts (ascending numbers). Ok only when S3 said so
  // in the body too (it can fail after a 200); `etag` is the object's (bare). NoSuchUpload:
  // kNotFound.
  void completeUpload(const S3Location& where, std::string_view key, std::string_view uploadId,
                      const std::vector<S3Part>& parts, SigV4Signer& signer,
                      std::function<void(S3Outcome, std::string etag)> done);
  // AbortMultipartUpload; an upload already gone (NoSuchUpload) is kOk.
  void abortUpload(const S3Location& where, std::string_view key, std::string_view uploadId,
                   SigV4Signer& signer, std::function<void(S3Outcome)> done);
  // ListParts, every page. NoSuchUpload (completed or aborted): kNotFound.
  void listParts(const S3Location& where, std::string_view key, std::string_view uploadId,
                 SigV4Signer& signer, std::function<void(S3Outcome, std::vector<S3Part>)> done);
  // ListMultipartUploads of keys starting with `prefix`, every page.
  void listUploads(const S3Location& where, std::string_view prefix, SigV4Signer& signer,
                   std::function<void(S3Outcome, std::vector<S3Upload>)> done);

  // Moves `key` from the hot location to the archive one (same endpoint and credentials)
  // in storageClass. Crash-safe and re-runnable, the hot copy going last:
  //   hot present → CopyObject (always: a stale or partial archive object is overwritten)
  //     → HEAD the copy, verifyCopy → DELETE hot → kMoved
  //   hot gone → HEAD archive: present with expectedSize (when known) → kResumed;
  //     another size → kMismatch; absent → kMissing
  // `signer` is asked before each step (settings may change meanwhile); null → kUnavailable.
  // `done` runs once, unless this S3Objects is destroyed first.
  void moveToArchive(const S3Location& hot, const S3Location& archive, const std::string& key,
                     const std::string& storageClass, std::optional<uint64_t> expectedSize,
                     std::function<SigV4Signer*()> signer, std::function<void(ArchiveMove)> done);

  // ---- pure helpers, exposed for tests ----
  // "/bucket/key" with the key UriEncoded ('/' kept), as x-amz-copy-source wants it.
  static std::string copySource(std::string_view bucket, std::string_view key);
  static S3Request signCopy(const S3Location& from, std::string_view fromKey, const S3Location& to,
                            std::string_view toKey, std::string_view storageClass, SigV4Signer& signer,
                            std::chrono::system_clock::time_point now);
  static S3Request signBodiless(std::string_view method, const S3Location& where, std::string_view key,
                                SigV4Signer& signer, std::chrono::system_clock::time_point now);
  // The outcome of a CopyObject answer: 200 with <CopyObjectResult> is ok; 200 with
  // <Error>, or any other status, is not (404/NoSuchKey → kNotFound).
  static S3Outcome interpretCopy(long status, std::string_view body);
  // A signed request to `key` (empty: the bucket) with a query (raw parameters) and extra
  // headers, all signed. The building block of the multipart calls.
  static S3Request signRequest(std::string_view method, const S3Location& where, std::string_view key,
                               const std::vector<QueryParam>& query, const std::vector<HttpHeader>& headers,
                               SigV4Signer& signer, std::chrono::system_clock::time_point now);
  // <CompleteMultipartUpload> body for these parts.
  static std::string completeBody(const std::vector<S3Part>& parts);
  // ListParts answer → its parts; `next` is NextPartNumberMarker when IsTruncated, else 0.
  static std::vector<S3Part> parseParts(std::string_view xml, int& next);
  // ListMultipartUploads answer → its uploads; when IsTruncated, the next key and upload id
  // markers (empty otherwise).
  static std::vector<S3Upload> parseUploads(std::string_view xml, std::string& nextKey,
                                            std::string& nextUploadId);
  // The text of the first <tag>…</tag> in xml (XML entities decoded); "" when absent.
  static std::string xmlValue(std::string_view xml, std::string_view tag);
  // HEAD/DELETE: 2xx ok, 404 not found, else an error (with S3's code when a body came).
  static S3Outcome interpretStatus(long status, std::string_view body);
  // <Error><Code>…</Code><Message>…</Message></Error> → {code, message}; empty when absent.
  static std::pair<std::string, std::string> parseError(std::string_view xml);

 private:
  using SendDone = std::function<void(long status, const reactor::UpstreamResponse&, const std::string& body,
                                      const std::string& error)>;
  void send(S3Request request, bool headOnly, SendDone done);
  // With a request body (`body` shared, not copied) and a bound on the answer kept.
  void sendWithBody(S3Request request, std::shared_ptr<const std::string> body, size_t maxAnswer,
                    SendDone done);
  void listPartsFrom(const S3Location& where, std::string key, std::string uploadId, int marker,
                     std::vector<S3Part> soFar, std::shared_ptr<SigV4Signer> signer,
                     std::function<void(S3Outcome, std::vector<S3Part>)> done);
  void listUploadsFrom(const S3Location& where, std::string prefix, std::string keyMarker,
                       std::string uploadMarker, std::vector<S3Upload> soFar, int pages,
                       std::shared_ptr<SigV4Signer> signer,
                       std::function<void(S3Outcome, std::vector<S3Upload>)> done);
  void failLater(std::function<void()> fail);
  // A request that could not be signed fails `done` (its other arguments empty) on the next
  // loop pass, never inside the caller's call.
  template <class Done>
  bool failedToSign(const S3Request& request, const Done& done) {
    if (request.error.empty()) return false;
    failLater([done, error = request.error] {
      S3Outcome outcome = signingError(error);
      if constexpr (std::is_invocable_v<Done, S3Outcome>)
        done(std::move(outcome));
      else
        done(std::move(outcome), {});
    });
    return true;
  }
  static S3Outcome signingError(const std::string& error);
  // The curl request of a signed S3 request: its URL, headers, CA bundle and our timeouts.
  reactor::UpstreamRequest upstreamFor(S3Request& request) const;
  // Starts `up`, keeps S3's answer (at most maxAnswer bytes of body) and hands it to done.
  void startCollecting(const reactor::UpstreamRequest& up, size_t maxAnswer, SendDone done);

  struct Move;
  using MovePtr = std::shared_ptr<Move>;
  void moveHeadHot(const MovePtr& m);
  void moveCopy(const MovePtr& m);
  void moveVerify(const MovePtr& m);
  void moveDeleteHot(const MovePtr& m, S3ObjectInfo archived);
  void moveCheckArchive(const MovePtr& m);
  SigV4Signer* moveSigner(const MovePtr& m);
  static void moveFinish(const MovePtr& m, ArchiveMove::Kind kind, std::string reason,
                         S3ObjectInfo archived = {});
  // Wraps a step's callback: nothing once this object is gone, and no exception escapes
  // into curl.
  template <typename F>
  auto moveCallback(const MovePtr& m, F f);

  reactor::EventLoop& loop_;
  reactor::CurlMulti& curl_;
  S3Timeouts timeouts_;
  // Multi-step operations hold a weak copy: once this object is gone they stop quietly.
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
