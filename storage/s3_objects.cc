#include "storage/s3_objects.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "storage/crypto.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {
namespace {

constexpr size_t kMaxResponseBody = 64 * 1024;

void setMethod(reactor::UpstreamRequest& request, const std::string& method) { request.method = method; }

std::string between(std::string_view xml, std::string_view open, std::string_view close) {
  size_t b = xml.find(open);
  if (b == std::string_view::npos) return {};
  b += open.size();
  size_t e = xml.find(close, b);
  if (e == std::string_view::npos) return {};
  return std::string(xml.substr(b, e - b));
}

std::string describe(long status, const std::string& code, const std::string& message) {
  std::string out = "S3 answered HTTP " + std::to_string(status);
  if (!code.empty()) out += " " + code;
  if (!message.empty()) out += ": " + message;
  return out;
}

S3Outcome transportError(const std::string& error) {
  S3Outcome out;
  out.kind = S3Outcome::Kind::kError;
  out.reason = "S3 request failed: " + error;
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

S3Outcome S3Objects::signingError(const std::string& error) { return transportError("cannot sign: " + error); }

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

// ---- multipart upload ---------------------------------------------------------------

namespace recgw::storage {
namespace {

constexpr size_t kMaxListAnswer = 4 * 1024 * 1024;  // a page of 1000 parts is ~250 KiB
constexpr int kMaxListPages = 64;

std::string decodeXmlEntities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    static const std::pair<std::string_view, char> kEntities[] = {
        {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}, {"&#34;", '"'}};
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (text.substr(i, entity.size()) == entity) {
        out.push_back(c);
        i += entity.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out.push_back('&');
  }
  return out;
}

// Each <tag>…</tag> block of xml, in order.
template <typename F>
void eachBlock(std::string_view xml, std::string_view tag, F f) {
  std::string open = "<" + std::string(tag) + ">", close = "</" + std::string(tag) + ">";
  size_t at = 0;
  while (true) {
    size_t b = xml.find(open, at);
    if (b == std::string_view::npos) return;
    b += open.size();
    size_t e = xml.find(close, b);
    if (e == std::string_view::npos) return;
    f(xml.substr(b, e - b));
    at = e + close.size();
  }
}

bool parseUnsigned(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  out = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

S3Outcome noSuchUpload(long status) {
  S3Outcome out;
  out.kind = S3Outcome::Kind::kNotFound;
  out.httpStatus = status;
  out.code = "NoSuchUpload";
  out.reason = "no such multipart upload";
  return out;
}

}  // namespace

std::string bareEtag(std::string_view etag) {
  std::string out = decodeXmlEntities(etag);
  std::erase(out, '"');
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string multipartEtag(const std::vector<std::string>& partMd5s) {
  std::string joined;
  joined.reserve(partMd5s.size() * 16);
  for (const auto& m : partMd5s) joined += m;
  return crypto::hexLower(crypto::md5(joined)) + "-" + std::to_string(partMd5s.size());
}

std::string S3Objects::xmlValue(std::string_view xml, std::string_view tag) {
  return decodeXmlEntities(between(xml, "<" + std::string(tag) + ">", "</" + std::string(tag) + ">"));
}

std::string S3Objects::completeBody(const std::vector<S3Part>& parts) {
  std::string out = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& p : parts) {
    out += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" + bareEtag(p.etag) +
           "\"</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

std::vector<S3Part> S3Objects::parseParts(std::string_view xml, int& next) {
  std::vector<S3Part> parts;
  eachBlock(xml, "Part", [&](std::string_view block) {
    S3Part p;
    uint64_t number = 0;
    if (!parseUnsigned(xmlValue(block, "PartNumber"), number) || number < 1 || number > kMaxParts) return;
    p.number = static_cast<int>(number);
    p.etag = bareEtag(xmlValue(block, "ETag"));
    if (!parseUnsigned(xmlValue(block, "Size"), p.size)) return;
    parts.push_back(std::move(p));
  });
  next = 0;
  uint64_t marker = 0;
  if (xmlValue(xml, "IsTruncated") == "true" &&
      parseUnsigned(xmlValue(xml, "NextPartNumberMarker"), marker) && marker > 0 &&
      marker < static_cast<uint64_t>(kMaxParts)) {
    next = static_cast<int>(marker);
  }
  return parts;
}

std::vector<S3Upload> S3Objects::parseUploads(std::string_view xml, std::string& nextKey,
                                              std::string& nextUploadId) {
  std::vector<S3Upload> uploads;
  eachBlock(xml, "Upload", [&](std::string_view block) {
    S3Upload u{xmlValue(block, "Key"), xmlValue(block, "UploadId")};
    if (!u.key.empty() && !u.uploadId.empty()) uploads.push_back(std::move(u));
  });
  nextKey.clear();
  nextUploadId.clear();
  if (xmlValue(xml, "IsTruncated") == "true") {
    nextKey = xmlValue(xml, "NextKeyMarker");
    nextUploadId = xmlValue(xml, "NextUploadIdMarker");
  }
  return uploads;
}

S3Request S3Objects::signRequest(std::string_view method, const S3Location& where, std::string_view key,
                                 const std::vector<QueryParam>& query, const std::vector<HttpHeader>& headers,
                                 SigV4Signer& signer, std::chrono::system_clock::time_point now) {
  S3Request req;
  req.method = std::string(method);
  req.caFile = where.caFile;
  ObjectTarget target = objectTarget(where, key);
  std::string canonicalQuery = canonicalQueryString(query);
  req.url = target.url + (canonicalQuery.empty() ? "" : "?" + canonicalQuery);
  SigV4Headers sig = signer.signHeaders(method, target, headers, now, canonicalQuery);
  if (!sig.ok()) {
    req.error = sig.error;
    return req;
  }
  for (const auto& h : headers) req.headers.emplace_back(h.name, h.value);
  for (auto& h : sig.headers) req.headers.emplace_back(std::move(h.name), std::move(h.value));
  return req;
}

void S3Objects::sendWithBody(S3Request request, std::shared_ptr<const std::string> body, size_t maxAnswer,
                             SendDone done) {
  reactor::UpstreamRequest up = upstreamFor(request);
  up.method = request.method;
  up.sharedBody = std::move(body);
  startCollecting(up, maxAnswer, std::move(done));
}

void S3Objects::getRange(const S3Location& where, std::string_view key, uint64_t first, uint64_t last,
                         std::string_view ifMatch, SigV4Signer& signer,
                         std::function<void(S3Outcome, std::shared_ptr<std::string>, std::string)> done) {
  std::vector<HttpHeader> headers{{"range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)}};
  if (!ifMatch.empty()) headers.push_back({"if-match", std::string(ifMatch)});
  S3Request req = signRequest("GET", where, key, {}, headers, signer, std::chrono::system_clock::now());
  if (!req.error.empty() || last < first) {
    std::string error = req.error.empty() ? "empty range" : "cannot sign: " + req.error;
    failLater([done, error] { done(transportError(error), nullptr, {}); });
    return;
  }
  reactor::UpstreamRequest up = upstreamFor(req);
  struct State {
    uint64_t first = 0, last = 0;
    reactor::UpstreamResponse response;
    std::shared_ptr<std::string> bytes;
    std::string errorBody;  // an error answer's body (bounded)
    crypto::Md5 md5;
    bool overflow = false;
  };
  auto state = std::make_shared<State>();
  state->first = first;
  state->last = last;
  uint64_t want = last - first + 1;
  reactor::TransferCallbacks cb;
  cb.onHeaders = [state, want](const reactor::UpstreamResponse& r) {
    state->response = r;
    if (r.status == 206) {
      state->bytes = std::make_shared<std::string>();
      state->bytes->reserve(want);
    }
    return true;
  };
  cb.onData = [state, want](const char* data, size_t n) -> size_t {
    if (!state->bytes) {
      if (state->errorBody.size() < kMaxResponseBody)
        state->errorBody.append(data, std::min(n, kMaxResponseBody - state->errorBody.size()));
      return n;
    }
    if (state->bytes->size() + n > want) {
      state->overflow = true;
      return 0;  // more than the range asked for: stop here
    }
    state->bytes->append(data, n);
    state->md5.update(std::string_view(data, n));
    return n;
  };
  cb.onDone = [state, done, want](const std::string& error) {
    const auto& r = state->response;
    if (state->overflow) {
      S3Outcome o = transportError("the storage sent more bytes than the range asked for");
      o.httpStatus = r.status;
      return done(std::move(o), nullptr, {});
    }
    if (!error.empty()) return done(transportError(error), nullptr, {});
    if (r.status != 206) {
      S3Outcome o = interpretStatus(r.status, state->errorBody);
      if (o.ok()) {
        o.kind = S3Outcome::Kind::kError;
        o.reason = "the storage answered a ranged GET with " + std::to_string(r.status) + ", not 206";
      }
      if (r.status == 412 && o.code.empty()) o.code = "PreconditionFailed";
      return done(std::move(o), nullptr, {});
    }
    std::string expectedRange =
        "bytes " + std::to_string(state->first) + "-" + std::to_string(state->last) + "/";
    const std::string* cr = r.find("content-range");
    if (!cr || cr->rfind(expectedRange, 0) != 0 || state->bytes->size() != want) {
      S3Outcome o = transportError("the storage answered another range or length than asked for");
      o.httpStatus = r.status;
      return done(std::move(o), nullptr, {});
    }
    S3Outcome ok;
    ok.kind = S3Outcome::Kind::kOk;
    ok.httpStatus = r.status;
    done(std::move(ok), std::move(state->bytes), state->md5.finish());
  };
  if (auto started = curl_.start(up, std::move(cb)); !started) {
    std::string error = started.error().message;
    failLater([done, error] { done(transportError(error), nullptr, {}); });
  }
}

void S3Objects::createUpload(const S3Location& where, std::string_view key, std::string_view storageClass,
                             std::string_view contentType, SigV4Signer& signer,
                             std::function<void(S3Outcome, std::string)> done) {
  std::vector<HttpHeader> headers;
  if (!contentType.empty()) headers.push_back({"content-type", std::string(contentType)});
  if (!storageClass.empty()) headers.push_back({"x-amz-storage-class", std::string(storageClass)});
  S3Request req =
      signRequest("POST", where, key, {{"uploads", ""}}, headers, signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  // A body-less POST: curl would otherwise label it a form post.
  if (contentType.empty()) req.headers.emplace_back("Content-Type", "");
  sendWithBody(std::move(req), std::make_shared<const std::string>(), kMaxResponseBody,
               [done](long status, const reactor::UpstreamResponse&, const std::string& body,
                      const std::string& error) {
                 if (!error.empty()) return done(transportError(error), {});
                 S3Outcome o = interpretStatus(status, body);
                 std::string uploadId = xmlValue(body, "UploadId");
                 if (o.ok() && (!o.code.empty() || uploadId.empty())) {
                   o.kind = S3Outcome::Kind::kError;
                   o.reason = "S3 answered CreateMultipartUpload without an upload id";
                 }
                 if (o.notFound()) o.kind = S3Outcome::Kind::kError;  // no such bucket
                 done(std::move(o), o.ok() ? uploadId : std::string());
               });
}

void S3Objects::uploadPart(const S3Location& where, std::string_view key, std::string_view uploadId,
                           int partNumber, std::shared_ptr<const std::string> bytes, std::string_view md5,
                           SigV4Signer& signer, std::function<void(S3Outcome, std::string)> done) {
  std::string md5Hex = crypto::hexLower(md5);
  std::vector<HttpHeader> headers{{"content-md5", crypto::base64Encode(md5)},
                                  {"content-type", "application/octet-stream"}};
  S3Request req = signRequest(
      "PUT", where, key, {{"partNumber", std::to_string(partNumber)}, {"uploadId", std::string(uploadId)}},
      headers, signer, std::chrono::system_clock::now());
  if (!req.error.empty() || !bytes) {
    std::string error = req.error.empty() ? "no part bytes" : "cannot sign: " + req.error;
    failLater([done, error] { done(transportError(error), {}); });
    return;
  }
  sendWithBody(std::move(req), std::move(bytes), kMaxResponseBody,
               [done, md5Hex](long status, const reactor::UpstreamResponse& r, const std::string& body,
                              const std::string& error) {
                 if (!error.empty()) return done(transportError(error), {});
                 S3Outcome o = interpretStatus(status, body);
                 if (o.notFound() && o.code == "NoSuchUpload") return done(noSuchUpload(status), {});
                 if (o.notFound()) o.kind = S3Outcome::Kind::kError;
                 if (!o.ok()) return done(std::move(o), {});
                 const std::string* etag = r.find("etag");
                 std::string got = etag ? bareEtag(*etag) : std::string();
                 if (got != md5Hex) {
                   o.kind = S3Outcome::Kind::kError;
                   o.reason = "S3 stored the part with ETag " + got + ", not the MD5 of the bytes sent (" +
                              md5Hex + ")";
                   return done(std::move(o), {});
                 }
                 done(std::move(o), got);
               });
}

void S3Objects::completeUpload(const S3Location& where, std::string_view key, std::string_view uploadId,
                               const std::vector<S3Part>& parts, SigV4Signer& signer,
                               std::function<void(S3Outcome, std::string)> done) {
  S3Request req =
      signRequest("POST", where, key, {{"uploadId", std::string(uploadId)}},
                  {{"content-type", "application/xml"}}, signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  sendWithBody(
      std::move(req), std::make_shared<const std::string>(completeBody(parts)), kMaxResponseBody,
      [done](long status, const reactor::UpstreamResponse&, const std::string& body,
             const std::string& error) {
        // An error after a 200: the result never completed, so the outcome is unknown.
        if (!error.empty()) return done(transportError(error), {});
        S3Outcome o = interpretStatus(status, body);
        if (o.code == "NoSuchUpload") return done(noSuchUpload(status), {});
        if (o.ok() && (!o.code.empty() || body.find("<CompleteMultipartUploadResult") == std::string::npos)) {
          auto [code, message] = parseError(body);
          o.kind = S3Outcome::Kind::kError;
          o.code = code;
          o.reason = code.empty() ? "S3 answered the completion with 200 but no result"
                                  : "S3 failed the completion after a 200: " + code + " " + message;
        }
        if (o.notFound()) o.kind = S3Outcome::Kind::kError;
        if (!o.ok()) return done(std::move(o), {});
        done(std::move(o), bareEtag(xmlValue(body, "ETag")));
      });
}

void S3Objects::abortUpload(const S3Location& where, std::string_view key, std::string_view uploadId,
                            SigV4Signer& signer, std::function<void(S3Outcome)> done) {
  S3Request req = signRequest("DELETE", where, key, {{"uploadId", std::string(uploadId)}}, {}, signer,
                              std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  send(std::move(req), false,
       [done](long status, const reactor::UpstreamResponse&, const std::string& body,
              const std::string& error) {
         if (!error.empty() && status == 0) return done(transportError(error));
         S3Outcome o = interpretStatus(status, body);
         if (o.code == "NoSuchUpload") o = S3Outcome{S3Outcome::Kind::kOk, status, {}, {}};
         if (o.notFound()) o.kind = S3Outcome::Kind::kError;  // no such bucket, or a stranger 404
         done(std::move(o));
       });
}

void S3Objects::listParts(const S3Location& where, std::string_view key, std::string_view uploadId,
                          SigV4Signer& signer, std::function<void(S3Outcome, std::vector<S3Part>)> done) {
  listPartsFrom(where, std::string(key), std::string(uploadId), 0, {}, std::make_shared<SigV4Signer>(signer),
                std::move(done));
}

void S3Objects::listPartsFrom(const S3Location& where, std::string key, std::string uploadId, int marker,
                              std::vector<S3Part> soFar, std::shared_ptr<SigV4Signer> signer,
                              std::function<void(S3Outcome, std::vector<S3Part>)> done) {
  std::vector<QueryParam> query{{"uploadId", uploadId}};
  if (marker > 0) query.push_back({"part-number-marker", std::to_string(marker)});
  S3Request req = signRequest("GET", where, key, query, {}, *signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  reactor::LivenessWatch alive = alive_;
  sendWithBody(std::move(req), nullptr, kMaxListAnswer,
               [this, alive, where, key, uploadId, marker, soFar = std::move(soFar), signer, done](
                   long status, const reactor::UpstreamResponse&, const std::string& body,
                   const std::string& error) mutable {
                 if (!error.empty()) return done(transportError(error), {});
                 S3Outcome o = interpretStatus(status, body);
                 if (o.code == "NoSuchUpload") return done(noSuchUpload(status), {});
                 if (o.notFound()) o.kind = S3Outcome::Kind::kError;
                 if (!o.ok()) return done(std::move(o), {});
                 int next = 0;
                 for (auto& p : parseParts(body, next)) soFar.push_back(std::move(p));
                 if (next > marker && alive.alive()) {
                   return listPartsFrom(where, key, uploadId, next, std::move(soFar), signer, done);
                 }
                 done(std::move(o), std::move(soFar));
               });
}

void S3Objects::listUploads(const S3Location& where, std::string_view prefix, SigV4Signer& signer,
                            std::function<void(S3Outcome, std::vector<S3Upload>)> done) {
  listUploadsFrom(where, std::string(prefix), {}, {}, {}, 0, std::make_shared<SigV4Signer>(signer),
                  std::move(done));
}

void S3Objects::listUploadsFrom(const S3Location& where, std::string prefix, std::string keyMarker,
                                std::string uploadMarker, std::vector<S3Upload> soFar, int pages,
                                std::shared_ptr<SigV4Signer> signer,
                                std::function<void(S3Outcome, std::vector<S3Upload>)> done) {
  std::vector<QueryParam> query{{"uploads", ""}, {"prefix", prefix}};
  if (!keyMarker.empty()) query.push_back({"key-marker", keyMarker});
  if (!uploadMarker.empty()) query.push_back({"upload-id-marker", uploadMarker});
  S3Request req = signRequest("GET", where, "", query, {}, *signer, std::chrono::system_clock::now());
  if (failedToSign(req, done)) return;
  reactor::LivenessWatch alive = alive_;
  sendWithBody(std::move(req), nullptr, kMaxListAnswer,
               [this, alive, where, prefix, soFar = std::move(soFar), pages, signer, done, keyMarker](
                   long status, const reactor::UpstreamResponse&, const std::string& body,
                   const std::string& error) mutable {
                 if (!error.empty()) return done(transportError(error), {});
                 S3Outcome o = interpretStatus(status, body);
                 if (o.notFound()) o.kind = S3Outcome::Kind::kError;
                 if (!o.ok()) return done(std::move(o), {});
                 std::string nextKey, nextUpload;
                 for (auto& u : parseUploads(body, nextKey, nextUpload)) soFar.push_back(std::move(u));
                 bool more = !nextKey.empty() && (nextKey != keyMarker || !nextUpload.empty());
                 if (more && pages + 1 < kMaxListPages && alive.alive()) {
                   return listUploadsFrom(where, prefix, nextKey, nextUpload, std::move(soFar), pages + 1,
                                          signer, done);
                 }
                 done(std::move(o), std::move(soFar));
               });
}

}  // namespace recgw::storage
