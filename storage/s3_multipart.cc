#include "storage/s3_objects.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "storage/crypto.h"
#include "storage/s3_objects_detail.h"
#include "storage/uri_encoding.h"

// S3Objects' multipart upload (the archive copy of objects over 5 GiB, and the cleanup of
// uploads left behind); the single-request operations are in s3_objects.cc.
namespace recgw::storage {

using namespace s3_detail;

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
