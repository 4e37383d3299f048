#include "storage/s3_objects.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "storage/crypto.h"
#include "storage/s3_objects_detail.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {

using namespace s3_detail;

namespace {

void setMethod(reactor::UpstreamRequest& request, const std::string& method) { request.method = method; }

std::string describe(long status, const std::string& code, const std::string& message) {
  std::string out = "S3 answered HTTP " + std::to_string(status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

uint64_t parseSize(const std::string* text) {
  if (!text) return 0;
  uint64_t v = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

bool storageClassAllowsGet(std::string_view storageClass) {
  std::string c = upper(storageClass);
  return c != "GLACIER" && c != "DEEP_ARCHIVE";
}

std::string verifyCopy(const S3ObjectInfo& original, const S3ObjectInfo& copy,
                       std::string_view requestedClass) {
  if (copy.size != original.size) {
    return "the copy has " + std::to_string(copy.size) + " bytes, the original " +
           std::to_string(original.size);
  }
  bool singlePart = !original.etag.empty() && !copy.etag.empty() &&
                    original.etag.find('-') == std::string::npos && copy.etag.find('-') == std::string::npos;
  if (singlePart && original.etag != copy.etag) return "the copy's ETag differs from the original's";
  if (!requestedClass.empty()) {
    std::string reported = copy.storageClass.empty() ? "STANDARD" : upper(copy.storageClass);
    if (reported != upper(requestedClass)) {
      return "the copy is in storage class " + reported + ", not " + upper(requestedClass);
    }
  }
  return {};
}

S3Outcome S3Objects::signingError(const std::string& error) {
  return transportError("cannot sign: " + error);
}

S3Objects::S3Objects(reactor::EventLoop& loop, reactor::CurlMulti& curl, S3Timeouts timeouts)
    : loop_(loop), curl_(curl), timeouts_(timeouts) {}

std::string S3Objects::copySource(std::string_view bucket, std::string_view key) {
  return "/" + uriEncode(bucket, false) + "/" + uriEncode(key, true);
}

std::pair<std::string, std::string> S3Objects::parseError(std::string_view xml) {
  if (xml.find("<Error>") == std::string_view::npos) return {};
  return {between(xml, "<Code>", "</Code>"), between(xml, "<Message>", "</Message>")};
}

S3Outcome S3Objects::interpretCopy(long status, std::string_view body) {
  S3Outcome out;
  out.httpStatus = status;
  auto [code, message] = parseError(body);
  out.code = code;
  if (status == 200 && code.empty() && body.find("<CopyObjectResult") != std::string_view::npos) {
    out.kind = S3Outcome::Kind::kOk;
    return out;
  }
  if (status == 404 && (code.empty() || code == "NoSuchKey")) {
    out.kind = S3Outcome::Kind::kNotFound;
    out.reason = "the copy source does not exist";
    return out;
  }
  out.kind = S3Outcome::Kind::kError;
  if (status == 200 && code.empty()) {
    out.reason = "S3 answered the copy with 200 but no CopyObjectResult";
  } else {
    out.reason = describe(status, code, message);
  }
  return out;
}

S3Outcome S3Objects::interpretStatus(long status, std::string_view body) {
  S3Outcome out;
  out.httpStatus = status;
  auto [code, message] = parseError(body);
  out.code = code;
  if (status >= 200 && status < 300) {
    out.kind = S3Outcome::Kind::kOk;
  } else if (status == 404 && code != "NoSuchBucket") {
    out.kind = S3Outcome::Kind::kNotFound;
    out.reason = "no such object";
  } else {
    out.kind = S3Outcome::Kind::kError;
    out.reason = describe(status, code, message);
  }
  return out;
}

S3Request S3Objects::signBodiless(std::string_view method, const S3Location& where, std::string_view key,
                                  SigV4Signer& signer, std::chrono::system_clock::time_point now) {
  S3Request req;
  req.method = std::string(method);
  req.caFile = where.caFile;
  ObjectTarget target = objectTarget(where, key);
  req.url = target.url;
  SigV4Headers sig = signer.signHeaders(method, target, {}, now);
  if (!sig.ok()) {
    req.error = sig.error;
    return req;
  }
  for (auto& h : sig.headers) req.headers.emplace_back(std::move(h.name), std::move(h.value));
  return req;
}

S3Request S3Objects::signCopy(const S3Location& from, std::string_view fromKey, const S3Location& to,
                              std::string_view toKey, std::string_view storageClass, SigV4Signer& signer,
                              std::chrono::system_clock::time_point now) {
  S3Request req;
  req.method = "PUT";
  req.caFile = to.caFile;
  ObjectTarget target = objectTarget(to, toKey);
  req.url = target.url;
  std::vector<HttpHeader> extra;
  extra.push_back({"x-amz-copy-source", copySource(from.bucket, fromKey)});
  extra.push_back({"x-amz-metadata-directive", "COPY"});
  if (!storageClass.empty()) extra.push_back({"x-amz-storage-class", std::string(storageClass)});
  SigV4Headers sig = signer.signHeaders("PUT", target, extra, now);
  if (!sig.ok()) {
    req.error = sig.error;
    return req;
  }
  for (auto& h : extra) req.headers.emplace_back(std::move(h.name), std::move(h.value));
  for (auto& h : sig.headers) req.headers.emplace_back(std::move(h.name), std::move(h.value));
  // No body: curl would otherwise label the empty PUT as a form post.
  req.headers.emplace_back("Content-Type", "");
  return req;
}

void S3Objects::failLater(std::function<void()> fail) { loop_.defer(std::move(fail)); }

void S3Objects::startCollecting(const reactor::UpstreamRequest& up, size_t maxAnswer, SendDone done) {
  struct State {
    reactor::UpstreamResponse response;
    std::string body;
  };
  auto state = std::make_shared<State>();
  reactor::TransferCallbacks cb;
  cb.onHeaders = [state](const reactor::UpstreamResponse& r) {
    state->response = r;
    return true;
  };
  cb.onData = [state, maxAnswer](const char* data, size_t n) -> size_t {
    if (state->body.size() < maxAnswer) state->body.append(data, std::min(n, maxAnswer - state->body.size()));
    return n;
  };
  cb.onDone = [state, done](const std::string& error) {
    done(state->response.status, state->response, state->body, error);
  };
  if (auto started = curl_.start(up, std::move(cb)); !started) {
    std::string error = started.error().message;
    failLater([done, error] { done(0, reactor::UpstreamResponse{}, {}, error); });
  }
}

reactor::UpstreamRequest S3Objects::upstreamFor(S3Request& request) const {
  reactor::UpstreamRequest up;
  up.url = request.url;
  up.headers = std::move(request.headers);
  up.caFile = request.caFile;
  up.connectTimeout = timeouts_.connect;
  up.firstByteTimeout = timeouts_.response;
  up.lowSpeedBytes = 1;
  up.lowSpeedTime = std::max<std::chrono::seconds>(
      std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(timeouts_.response));
  return up;
}

void S3Objects::send(
    S3Request request, bool headOnly,
    std::function<void(long, const reactor::UpstreamResponse&, const std::string&, const std::string&)>
        done) {
  reactor::UpstreamRequest up = upstreamFor(request);
  up.headOnly = headOnly;
  if (request.method != "GET" && request.method != "HEAD") setMethod(up, request.method);
  startCollecting(up, kMaxResponseBody, std::move(done));
}

void S3Objects::head(const S3Location& where, std::string_view key, SigV4Signer& signer,
                     std::function<void(S3Outcome, S3ObjectInfo)> done) {
  S3Request req = signBodiless("HEAD", where, key, signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  send(std::move(req), true,
       [done](long status, const reactor::UpstreamResponse& r, const std::string& body,
              const std::string& error) {
         if (!error.empty() && status == 0) return done(transportError(error), {});
         S3Outcome out = interpretStatus(status, body);
         S3ObjectInfo info;
         if (out.ok()) {
           info.size = parseSize(r.find("content-length"));
           if (const auto* v = r.find("etag")) info.etag = *v;
           if (const auto* v = r.find("x-amz-storage-class")) info.storageClass = *v;
           if (const auto* v = r.find("content-type")) info.contentType = *v;
         }
         done(std::move(out), std::move(info));
       });
}

void S3Objects::copy(const S3Location& from, std::string_view fromKey, const S3Location& to,
                     std::string_view toKey, std::string_view storageClass, SigV4Signer& signer,
                     std::function<void(S3Outcome)> done) {
  S3Request req = signCopy(from, fromKey, to, toKey, storageClass, signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  send(std::move(req), false,
       [done](long status, const reactor::UpstreamResponse&, const std::string& body,
              const std::string& error) {
         // An error after a 200: the result body never completed, so the copy is unknown.
         if (!error.empty()) return done(transportError(error));
         done(interpretCopy(status, body));
       });
}

void S3Objects::remove(const S3Location& where, std::string_view key, SigV4Signer& signer,
                       std::function<void(S3Outcome)> done) {
  S3Request req = signBodiless("DELETE", where, key, signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  send(std::move(req), false,
       [done](long status, const reactor::UpstreamResponse&, const std::string& body,
              const std::string& error) {
         if (!error.empty() && status == 0) return done(transportError(error));
         S3Outcome out = interpretStatus(status, body);
         if (out.notFound()) out = S3Outcome{S3Outcome::Kind::kOk, status, {}, {}};
         done(std::move(out));
       });
}

// ---- moveToArchive ----------------------------------------------------------------

struct S3Objects::Move {
  S3Location hot, archive;
  std::string key, storageClass;
  std::optional<uint64_t> expectedSize;
  std::function<SigV4Signer*()> signer;
  std::function<void(ArchiveMove)> done;
  S3ObjectInfo hotInfo;
  bool finished = false;
};

void S3Objects::moveFinish(const MovePtr& m, ArchiveMove::Kind kind, std::string reason,
                           S3ObjectInfo archived) {
  if (m->finished) return;
  m->finished = true;
  auto done = std::move(m->done);
  done(ArchiveMove{kind, std::move(reason), std::move(archived)});
}

template <typename F>
auto S3Objects::moveCallback(const MovePtr& m, F f) {
  reactor::LivenessWatch alive = alive_;
  return [alive, m, f](auto&&... args) mutable {
    if (alive.expired()) return;
    try {
      f(std::forward<decltype(args)>(args)...);
    } catch (const std::exception& e) {
      moveFinish(m, ArchiveMove::Kind::kError, std::string("internal error: ") + e.what());
    }
  };
}

SigV4Signer* S3Objects::moveSigner(const MovePtr& m) {
  SigV4Signer* s = m->signer ? m->signer() : nullptr;
  if (!s) moveFinish(m, ArchiveMove::Kind::kUnavailable, "storage is not configured");
  return s;
}

void S3Objects::moveToArchive(const S3Location& hot, const S3Location& archive, const std::string& key,
                              const std::string& storageClass, std::optional<uint64_t> expectedSize,
                              std::function<SigV4Signer*()> signer, std::function<void(ArchiveMove)> done) {
  auto m = std::make_shared<Move>();
  m->hot = hot;
  m->archive = archive;
  m->key = key;
  m->storageClass = storageClass;
  m->expectedSize = expectedSize;
  m->signer = std::move(signer);
  m->done = std::move(done);
  moveHeadHot(m);
}

void S3Objects::moveHeadHot(const MovePtr& m) {
  SigV4Signer* signer = moveSigner(m);
  if (!signer) return;
  head(m->hot, m->key, *signer, moveCallback(m, [this, m](S3Outcome o, S3ObjectInfo info) {
         if (o.notFound()) return moveCheckArchive(m);  // moved by an earlier run, or never there
         if (!o.ok())
           return moveFinish(m, ArchiveMove::Kind::kError, "checking the hot object failed: " + o.reason);
         if (info.size > kMaxSingleCopyBytes) {
           return moveFinish(m, ArchiveMove::Kind::kTooLarge,
                             "objects over 5 GiB need a multipart copy, which is not supported");
         }
         m->hotInfo = std::move(info);
         moveCopy(m);
       }));
}

void S3Objects::moveCopy(const MovePtr& m) {
  SigV4Signer* signer = moveSigner(m);
  if (!signer) return;
  copy(m->hot, m->key, m->archive, m->key, m->storageClass, *signer, moveCallback(m, [this, m](S3Outcome o) {
         if (o.notFound()) return moveCheckArchive(m);  // deleted meanwhile by a concurrent run
         if (!o.ok())
           return moveFinish(m, ArchiveMove::Kind::kError, "copying to the archive failed: " + o.reason);
         moveVerify(m);
       }));
}

void S3Objects::moveVerify(const MovePtr& m) {
  SigV4Signer* signer = moveSigner(m);
  if (!signer) return;
  head(m->archive, m->key, *signer, moveCallback(m, [this, m](S3Outcome o, S3ObjectInfo info) {
         if (o.notFound())
           return moveFinish(m, ArchiveMove::Kind::kError, "the archive copy is missing after the copy");
         if (!o.ok())
           return moveFinish(m, ArchiveMove::Kind::kError, "checking the archive copy failed: " + o.reason);
         std::string mismatch = verifyCopy(m->hotInfo, info, m->storageClass);
         if (!mismatch.empty())
           return moveFinish(m, ArchiveMove::Kind::kError, mismatch + "; the hot copy is kept");
         moveDeleteHot(m, std::move(info));
       }));
}

void S3Objects::moveDeleteHot(const MovePtr& m, S3ObjectInfo archived) {
  SigV4Signer* signer = moveSigner(m);
  if (!signer) return;
  remove(m->hot, m->key, *signer, moveCallback(m, [m, archived](S3Outcome o) {
           // The verified copy is safe; a rerun copies again and deletes.
           if (!o.ok())
             return moveFinish(m, ArchiveMove::Kind::kError, "deleting the hot copy failed: " + o.reason);
           moveFinish(m, ArchiveMove::Kind::kMoved, {}, archived);
         }));
}

void S3Objects::moveCheckArchive(const MovePtr& m) {
  SigV4Signer* signer = moveSigner(m);
  if (!signer) return;
  head(m->archive, m->key, *signer, moveCallback(m, [m](S3Outcome o, S3ObjectInfo info) {
         if (o.notFound()) {
           return moveFinish(m, ArchiveMove::Kind::kMissing,
                             "the object is neither in the hot bucket nor in the archive");
         }
         if (!o.ok())
           return moveFinish(m, ArchiveMove::Kind::kError, "checking the archive copy failed: " + o.reason);
         if (m->expectedSize && *m->expectedSize != info.size) {
           return moveFinish(m, ArchiveMove::Kind::kMismatch,
                             "the archive holds " + std::to_string(info.size) + " bytes, " +
                                 std::to_string(*m->expectedSize) + " were expected");
         }
         moveFinish(m, ArchiveMove::Kind::kResumed, {}, std::move(info));
       }));
}

}  // namespace recgw::storage
