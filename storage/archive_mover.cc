#include "storage/archive_mover.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "reactor/logger.h"
#include "storage/crypto.h"

namespace recgw::storage {
namespace {

std::optional<std::string> rawFromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

uint64_t partCount(uint64_t size, uint64_t partBytes) {
  return size == 0 ? 1 : (size + partBytes - 1) / partBytes;
}

}  // namespace

struct ArchiveMover::Job {
  ArchiveEndpoint hot, archive;
  std::string storageClass;
  std::optional<uint64_t> expectedSize;
  std::function<void(ArchiveMove)> done;
  ArchiveUpload journal;                  // ours, as last written
  std::optional<ArchiveUpload> previous;  // a dead run's, taken over
  S3ObjectInfo hotInfo;
  bool claimed = false;
  bool saving = false;
  bool finished = false;
  std::shared_ptr<size_t> active;
};

ArchiveMover::ArchiveMover(reactor::EventLoop& loop, S3Objects& objects, RecordingStore& store,
                           StreamedArchiveSettings settings)
    : objects_(objects), store_(store), settings_(settings), heartbeat_(loop, [this] { beat(); }) {}

// Live runs refresh their journal's heartbeat; a run already writing it is skipped.
void ArchiveMover::beat() {
  std::erase_if(jobs_, [](const std::weak_ptr<Job>& w) {
    auto j = w.lock();
    return !j || j->finished;
  });
  for (const auto& w : jobs_) {
    auto j = w.lock();
    if (j && j->claimed && !j->saving) save(j, [] {});
  }
  if (jobs_.empty()) heartbeat_.cancel();
}

ArchiveMover::~ArchiveMover() = default;

std::string ArchiveMover::targetOf(const S3Location& archive) {
  return endpointUrl(archive.endpoint) + " " + archive.bucket;
}

template <typename F>
auto ArchiveMover::step(const JobPtr& j, F f) {
  reactor::LivenessWatch alive = alive_;
  return [this, alive, j, f](auto&&... args) mutable {
    if (alive.expired() || j->finished) return;
    try {
      f(std::forward<decltype(args)>(args)...);
    } catch (const std::exception& e) {
      fail(j, ArchiveMove::Kind::kError, std::string("internal error: ") + e.what());
    }
  };
}

SigV4Signer* ArchiveMover::signerFor(const JobPtr& j, const ArchiveEndpoint& endpoint) {
  SigV4Signer* s = endpoint.signer ? endpoint.signer() : nullptr;
  if (!s) fail(j, ArchiveMove::Kind::kUnavailable, "storage is not configured");
  return s;
}

void ArchiveMover::move(const ArchiveEndpoint& hot, const ArchiveEndpoint& archive,
                        const std::string& recordingId, const std::string& tenantId, const std::string& key,
                        const std::string& storageClass, std::optional<uint64_t> expectedSize,
                        std::function<void(ArchiveMove)> done) {
  auto j = std::make_shared<Job>();
  j->hot = hot;
  j->archive = archive;
  j->storageClass = storageClass;
  j->expectedSize = expectedSize;
  j->done = std::move(done);
  j->journal.recordingId = recordingId;
  j->journal.tenantId = tenantId;
  j->journal.owner = crypto::hexLower(crypto::randomBytes(12));
  j->journal.target = targetOf(archive.location);
  j->journal.key = key;
  j->journal.partBytes = settings_.partBytes;
  j->active = active_;
  ++*active_;
  claim(j);
}

void ArchiveMover::claim(const JobPtr& j) {
  ArchiveUpload mine = j->journal;
  auto stale = settings_.staleAfter;
  auto now = std::chrono::system_clock::now();
  store_.run<ArchiveClaim>(
      [mine, stale, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::claimArchiveUpload(c, n, mine, stale, now);
      },
      step(j, [this, j](ArchiveClaim claim) {
        if (claim.kind == ArchiveClaim::Kind::kBusy)
          return fail(j, ArchiveMove::Kind::kBusy, "another run is archiving this recording");
        if (claim.kind != ArchiveClaim::Kind::kTaken)
          return fail(j, ArchiveMove::Kind::kError, "cannot claim the archive journal: " + claim.error);
        j->claimed = true;
        j->previous = std::move(claim.previous);
        jobs_.push_back(j);
        if (!heartbeat_.pending()) {
          heartbeat_.startPeriodic(std::max<std::chrono::milliseconds>(
              std::chrono::milliseconds(200),
              std::chrono::duration_cast<std::chrono::milliseconds>(settings_.staleAfter) / 3));
        }
        headHot(j);
      }));
}

void ArchiveMover::headHot(const JobPtr& j) {
  SigV4Signer* signer = signerFor(j, j->hot);
  if (!signer) return;
  objects_.head(j->hot.location, j->journal.key, *signer, step(j, [this, j](S3Outcome o, S3ObjectInfo info) {
                  if (o.notFound()) return hotGone(j);
                  if (!o.ok())
                    return fail(j, ArchiveMove::Kind::kError, "checking the hot object failed: " + o.reason);
                  if (info.size > static_cast<uint64_t>(kMaxParts) * settings_.partBytes) {
                    return fail(j, ArchiveMove::Kind::kTooLarge,
                                "the object needs more than 10,000 parts of lifecycle.archive_part_bytes");
                  }
                  j->hotInfo = std::move(info);
                  j->journal.sourceEtag = bareEtag(j->hotInfo.etag);
                  j->journal.size = j->hotInfo.size;
                  resumeOrFresh(j);
                }));
}

// Hot gone: an earlier run moved it (or it never was there). Clean up any upload of the key
// a dead run left, then look at the archive as the same-service move does.
void ArchiveMover::hotGone(const JobPtr& j) {
  abortOthers(j, {}, [this, j] {
    SigV4Signer* signer = signerFor(j, j->archive);
    if (!signer) return;
    objects_.head(
        j->archive.location, j->journal.key, *signer, step(j, [this, j](S3Outcome o, S3ObjectInfo info) {
          if (o.notFound()) {
            return fail(j, ArchiveMove::Kind::kMissing,
                        "the object is neither in the hot store nor in the archive");
          }
          if (!o.ok())
            return fail(j, ArchiveMove::Kind::kError, "checking the archive copy failed: " + o.reason);
          if (j->expectedSize && *j->expectedSize != info.size) {
            return fail(j, ArchiveMove::Kind::kMismatch,
                        "the archive holds " + std::to_string(info.size) + " bytes, " +
                            std::to_string(*j->expectedSize) + " were expected");
          }
          finish(j, ArchiveMove{ArchiveMove::Kind::kResumed, {}, std::move(info)});
        }));
  });
}

void ArchiveMover::resumeOrFresh(const JobPtr& j) {
  const auto& prev = j->previous;
  bool resumable = prev && !prev->uploadId.empty() && prev->target == j->journal.target &&
                   prev->key == j->journal.key && prev->sourceEtag == j->journal.sourceEtag &&
                   prev->size == j->journal.size && prev->partBytes == j->journal.partBytes;
  if (!resumable) return abortOthers(j, {}, [this, j] { create(j); });
  SigV4Signer* signer = signerFor(j, j->archive);
  if (!signer) return;
  std::string uploadId = prev->uploadId;
  objects_.listParts(
      j->archive.location, j->journal.key, uploadId, *signer,
      step(j, [this, j, uploadId](S3Outcome o, std::vector<S3Part> listed) {
        if (o.notFound()) {
          // Completed (and maybe verified) or aborted by the dead run: a fresh upload is
          // always right; the object it may have completed is overwritten.
          reactor::logInfo("archive: the journaled upload is gone; starting over",
                           {{"recording_id", j->journal.recordingId}});
          return abortOthers(j, {}, [this, j] { create(j); });
        }
        if (!o.ok())
          return fail(j, ArchiveMove::Kind::kError, "listing the upload's parts failed: " + o.reason);
        std::vector<ArchiveUploadPart> kept;
        for (const auto& recorded : j->previous->parts) {
          auto it = std::find_if(listed.begin(), listed.end(),
                                 [&](const S3Part& p) { return p.number == recorded.number; });
          if (it != listed.end() && it->etag == recorded.md5Hex && it->size == recorded.size)
            kept.push_back(recorded);
        }
        j->journal.uploadId = uploadId;
        j->journal.parts = std::move(kept);
        reactor::logInfo("archive: resuming a multipart upload left by a dead run",
                         {{"recording_id", j->journal.recordingId},
                          {"parts_kept", std::to_string(j->journal.parts.size())},
                          {"parts_total", std::to_string(partCount(j->journal.size, j->journal.partBytes))}});
        abortOthers(j, uploadId, [this, j] { save(j, [this, j] { nextPart(j); }); });
      }));
}

void ArchiveMover::abortOthers(const JobPtr& j, std::string keep, std::function<void()> next) {
  SigV4Signer* signer = signerFor(j, j->archive);
  if (!signer) return;
  objects_.listUploads(
      j->archive.location, j->journal.key, *signer,
      step(j, [this, j, keep, next](S3Outcome o, std::vector<S3Upload> uploads) {
        if (!o.ok())
          return fail(j, ArchiveMove::Kind::kError, "listing multipart uploads failed: " + o.reason);
        auto left = std::make_shared<std::vector<S3Upload>>();
        for (auto& u : uploads) {
          if (u.key == j->journal.key && u.uploadId != keep) left->push_back(std::move(u));
        }
        // One at a time; each abort is idempotent. The function holds itself weakly (no
        // cycle); the pending abort's callback holds it strongly.
        auto abortNext = std::make_shared<std::function<void()>>();
        *abortNext = [this, j, left, next, self = std::weak_ptr<std::function<void()>>(abortNext)] {
          if (left->empty()) return next();
          auto abortNext = self.lock();
          if (!abortNext) return;
          S3Upload u = left->back();
          left->pop_back();
          SigV4Signer* signer = signerFor(j, j->archive);
          if (!signer) return;
          reactor::logInfo("archive: aborting a multipart upload left by a dead run",
                           {{"recording_id", j->journal.recordingId}});
          objects_.abortUpload(j->archive.location, u.key, u.uploadId, *signer,
                               step(j, [this, j, abortNext](S3Outcome a) {
                                 if (!a.ok()) {
                                   return fail(j, ArchiveMove::Kind::kError,
                                               "aborting a stale multipart upload failed: " + a.reason);
                                 }
                                 (*abortNext)();
                               }));
        };
        (*abortNext)();
      }));
}

void ArchiveMover::create(const JobPtr& j) {
  SigV4Signer* signer = signerFor(j, j->archive);
  if (!signer) return;
  j->journal.uploadId.clear();
  j->journal.parts.clear();
  objects_.createUpload(j->archive.location, j->journal.key, j->storageClass, j->hotInfo.contentType, *signer,
                        step(j, [this, j](S3Outcome o, std::string uploadId) {
                          if (!o.ok())
                            return fail(j, ArchiveMove::Kind::kError,
                                        "starting the upload failed: " + o.reason);
                          j->journal.uploadId = std::move(uploadId);
                          // Journaled before the first part: a crash from here on leaves it findable.
                          save(j, [this, j] { nextPart(j); });
                        }));
}

void ArchiveMover::nextPart(const JobPtr& j) {
  const uint64_t total = partCount(j->journal.size, j->journal.partBytes);
  int number = 1;
  for (const auto& p : j->journal.parts) {
    if (p.number != number) break;
    ++number;
  }
  if (static_cast<uint64_t>(number) > total) return complete(j);
  uint64_t first = static_cast<uint64_t>(number - 1) * j->journal.partBytes;
  uint64_t last = std::min(j->journal.size, first + j->journal.partBytes) - 1;
  auto upload = [this, j, number](std::shared_ptr<std::string> bytes, std::string md5) {
    SigV4Signer* signer = signerFor(j, j->archive);
    if (!signer) return;
    uint64_t size = bytes->size();
    objects_.uploadPart(j->archive.location, j->journal.key, j->journal.uploadId, number, std::move(bytes),
                        md5, *signer, step(j, [this, j, number, size, md5](S3Outcome o, std::string etag) {
                          if (!o.ok()) {
                            return fail(j, ArchiveMove::Kind::kError,
                                        "uploading part " + std::to_string(number) + " failed: " + o.reason);
                          }
                          j->journal.parts.push_back({number, size, etag});
                          std::sort(j->journal.parts.begin(), j->journal.parts.end(),
                                    [](const auto& a, const auto& b) { return a.number < b.number; });
                          save(j, [this, j] { nextPart(j); });
                        }));
  };
  if (j->journal.size == 0) return upload(std::make_shared<std::string>(), crypto::md5(""));
  SigV4Signer* signer = signerFor(j, j->hot);
  if (!signer) return;
  objects_.getRange(
      j->hot.location, j->journal.key, first, last, j->hotInfo.etag, *signer,
      step(j, [this, j, number, upload](S3Outcome o, std::shared_ptr<std::string> bytes, std::string md5) {
        if (o.code == "PreconditionFailed" || o.httpStatus == 412) {
          return fail(j, ArchiveMove::Kind::kError, "the hot object changed while it was being archived");
        }
        if (!o.ok()) {
          return fail(j, ArchiveMove::Kind::kError,
                      "reading part " + std::to_string(number) + " from the hot store failed: " + o.reason);
        }
        upload(std::move(bytes), std::move(md5));
      }));
}

void ArchiveMover::complete(const JobPtr& j) {
  std::vector<S3Part> parts;
  std::vector<std::string> md5s;
  for (const auto& p : j->journal.parts) {
    parts.push_back({p.number, p.md5Hex, p.size});
    auto raw = rawFromHex(p.md5Hex);
    if (!raw || raw->size() != 16)
      return fail(j, ArchiveMove::Kind::kError, "a journaled part MD5 is malformed");
    md5s.push_back(std::move(*raw));
  }
  std::string expected = multipartEtag(md5s);
  SigV4Signer* signer = signerFor(j, j->archive);
  if (!signer) return;
  objects_.completeUpload(j->archive.location, j->journal.key, j->journal.uploadId, parts, *signer,
                          step(j, [this, j, expected](S3Outcome o, std::string etag) {
                            if (!o.ok())
                              return fail(j, ArchiveMove::Kind::kError,
                                          "completing the upload failed: " + o.reason);
                            j->journal.uploadId.clear();  // completed: nothing left to abort
                            if (etag != expected) {
                              return fail(j, ArchiveMove::Kind::kError,
                                          "the archive object's ETag " + etag + " is not " + expected +
                                              ", computed from the parts sent; the hot copy is kept");
                            }
                            verify(j, expected);
                          }));
}

void ArchiveMover::verify(const JobPtr& j, std::string etag) {
  SigV4Signer* signer = signerFor(j, j->archive);
  if (!signer) return;
  objects_.head(
      j->archive.location, j->journal.key, *signer, step(j, [this, j, etag](S3Outcome o, S3ObjectInfo info) {
        if (!o.ok())
          return fail(j, ArchiveMove::Kind::kError, "checking the archive object failed: " + o.reason);
        S3ObjectInfo expected = j->hotInfo;
        expected.etag.clear();  // the hot ETag is another service's: compared below instead
        info.etag = bareEtag(info.etag);
        std::string mismatch = verifyCopy(expected, info, j->storageClass);
        if (mismatch.empty() && info.etag != etag)
          mismatch = "the archive object's ETag " + info.etag + " is not " + etag;
        if (!mismatch.empty()) return fail(j, ArchiveMove::Kind::kError, mismatch + "; the hot copy is kept");
        deleteHot(j, std::move(info));
      }));
}

void ArchiveMover::deleteHot(const JobPtr& j, S3ObjectInfo archived) {
  SigV4Signer* signer = signerFor(j, j->hot);
  if (!signer) return;
  objects_.remove(j->hot.location, j->journal.key, *signer, step(j, [this, j, archived](S3Outcome o) {
                    // The verified archive object is safe; a rerun finds hot still there and
                    // archives again (its new upload overwrites the object with the same bytes).
                    if (!o.ok())
                      return fail(j, ArchiveMove::Kind::kError, "deleting the hot copy failed: " + o.reason);
                    finish(j, ArchiveMove{ArchiveMove::Kind::kMoved, {}, archived});
                  }));
}

void ArchiveMover::save(const JobPtr& j, std::function<void()> next) {
  ArchiveUpload snapshot = j->journal;
  auto now = std::chrono::system_clock::now();
  j->saving = true;
  store_.run<StoreResult>(
      [snapshot, now](mongoc_client_t* c, const RecordingCollections& n) {
        std::string error = RecordingStore::saveArchiveUpload(c, n, snapshot, now);
        if (error.empty()) return StoreResult{StoreOutcome::kOk, {}, {}, {}};
        if (error == "lost") return StoreResult{StoreOutcome::kConflict, {}, {}, error};
        return StoreResult::unavailable(error);
      },
      step(j, [this, j, next](StoreResult r) {
        j->saving = false;
        if (r.outcome == StoreOutcome::kConflict) {
          // Another run decided we were dead and took over: it owns the upload now.
          j->claimed = false;
          j->journal.uploadId.clear();
          return fail(j, ArchiveMove::Kind::kBusy, "another run took the archive over");
        }
        if (!r.ok())
          return fail(j, ArchiveMove::Kind::kError, "cannot write the archive journal: " + r.error);
        next();
      }));
}

// A failure: abort our upload (nothing is leaked) and release the journal; if the abort
// fails, the journal stays and goes stale, for the next run or the sweep.
void ArchiveMover::fail(const JobPtr& j, ArchiveMove::Kind kind, std::string reason) {
  if (j->finished) return;
  ArchiveMove result{kind, std::move(reason), {}};
  if (!j->claimed) return finish(j, std::move(result));
  j->finished = true;  // no more steps nor heartbeats; finish() below still reports
  reactor::LivenessWatch alive = alive_;
  auto release = [this, alive, j, result]() mutable {
    std::string id = j->journal.recordingId, owner = j->journal.owner;
    store_.run<StoreResult>(
        [id, owner](mongoc_client_t* c, const RecordingCollections& n) {
          std::string error = RecordingStore::releaseArchiveUpload(c, n, id, owner);
          return error.empty() ? StoreResult{StoreOutcome::kOk, {}, {}, {}} : StoreResult::unavailable(error);
        },
        [this, alive, j, result](StoreResult) mutable {
          if (!alive.expired()) report(j, std::move(result));
        });
  };
  SigV4Signer* signer = j->archive.signer ? j->archive.signer() : nullptr;
  if (j->journal.uploadId.empty() || !signer) {
    if (j->journal.uploadId.empty()) return release();
    return report(j, std::move(result));  // keep the journal: the upload is still there
  }
  objects_.abortUpload(j->archive.location, j->journal.key, j->journal.uploadId, *signer,
                       [this, alive, j, result, release](S3Outcome o) mutable {
                         if (alive.expired()) return;
                         if (o.ok()) return release();
                         reactor::logWarn("archive: aborting the upload failed; the sweep will retry",
                                          {{"recording_id", j->journal.recordingId}, {"reason", o.reason}});
                         report(j, std::move(result));
                       });
}

void ArchiveMover::finish(const JobPtr& j, ArchiveMove result) {
  if (j->finished) return;
  j->finished = true;
  report(j, std::move(result));
}

void ArchiveMover::report(const JobPtr& j, ArchiveMove result) {
  bool release =
      j->claimed && (result.kind == ArchiveMove::Kind::kMoved || result.kind == ArchiveMove::Kind::kResumed);
  auto done = std::move(j->done);
  auto complete = [j, done, result]() mutable {
    --*j->active;
    if (done) done(std::move(result));
  };
  if (!release) return complete();
  // Done (moved, or nothing to move): the journal has served.
  std::string id = j->journal.recordingId, owner = j->journal.owner;
  store_.run<StoreResult>(
      [id, owner](mongoc_client_t* c, const RecordingCollections& n) {
        std::string error = RecordingStore::releaseArchiveUpload(c, n, id, owner);
        return error.empty() ? StoreResult{StoreOutcome::kOk, {}, {}, {}} : StoreResult::unavailable(error);
      },
      [complete](StoreResult r) mutable {
        if (!r.ok()) reactor::logWarn("archive: the journal could not be deleted", {{"reason", r.error}});
        complete();
      });
}

void ArchiveMover::sweep(const ArchiveEndpoint& archive, int64_t limit,
                         std::function<void(int, std::string)> done) {
  auto stale = settings_.staleAfter * kSweepAfterStale;
  auto now = std::chrono::system_clock::now();
  reactor::LivenessWatch alive = alive_;
  store_.run<ArchiveUploadList>(
      [stale, now, limit](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::staleArchiveUploads(c, n, stale, now, limit);
      },
      [this, alive, archive, done](ArchiveUploadList list) {
        if (alive.expired()) return;
        if (!list.error.empty()) return done(0, list.error);
        auto count = std::make_shared<int>(0);
        auto left = std::make_shared<std::vector<ArchiveUpload>>(std::move(list.items));
        auto next = std::make_shared<std::function<void()>>();
        // One journal at a time: take it over (so a run resuming it meanwhile keeps it), abort
        // every upload of its key, drop it. A failed abort leaves it to go stale again.
        *next = [this, alive, archive, done, count, left, self = std::weak_ptr<std::function<void()>>(next)] {
          if (alive.expired()) return;
          if (left->empty()) return done(*count, {});
          auto next = self.lock();
          if (!next) return;
          ArchiveUpload dead = std::move(left->back());
          left->pop_back();
          if (dead.target != targetOf(archive.location) || dead.key.empty()) return (*next)();
          ArchiveUpload mine;
          mine.recordingId = dead.recordingId;
          mine.tenantId = dead.tenantId;
          mine.owner = crypto::hexLower(crypto::randomBytes(12));
          mine.target = dead.target;
          mine.key = dead.key;
          auto stale = settings_.staleAfter * kSweepAfterStale;
          store_.run<ArchiveClaim>(
              [mine, stale](mongoc_client_t* c, const RecordingCollections& n) {
                return RecordingStore::claimArchiveUpload(c, n, mine, stale,
                                                          std::chrono::system_clock::now());
              },
              [this, alive, archive, mine, count, next](ArchiveClaim claim) {
                if (alive.expired()) return;
                if (claim.kind != ArchiveClaim::Kind::kTaken) return (*next)();
                SigV4Signer* signer = archive.signer ? archive.signer() : nullptr;
                if (!signer) return (*next)();
                objects_.listUploads(
                    archive.location, mine.key, *signer,
                    [this, alive, archive, mine, count, next](S3Outcome o, std::vector<S3Upload> uploads) {
                      if (alive.expired()) return;
                      if (!o.ok()) return (*next)();  // the journal goes stale again: next sweep
                      auto pending = std::make_shared<size_t>(0);
                      auto failed = std::make_shared<bool>(false);
                      auto release = [this, alive, mine, next, failed] {
                        if (*failed) return (*next)();
                        store_.run<StoreResult>(
                            [mine](mongoc_client_t* c, const RecordingCollections& n) {
                              std::string e =
                                  RecordingStore::releaseArchiveUpload(c, n, mine.recordingId, mine.owner);
                              return e.empty() ? StoreResult{StoreOutcome::kOk, {}, {}, {}}
                                               : StoreResult::unavailable(e);
                            },
                            [alive, next](StoreResult) {
                              if (!alive.expired()) (*next)();
                            });
                      };
                      SigV4Signer* signer = archive.signer ? archive.signer() : nullptr;
                      for (const auto& u : uploads) {
                        if (u.key != mine.key || !signer) continue;
                        ++*pending;
                        objects_.abortUpload(archive.location, u.key, u.uploadId, *signer,
                                             [alive, pending, failed, count, release](S3Outcome a) {
                                               if (alive.expired()) return;
                                               if (a.ok())
                                                 ++*count;
                                               else
                                                 *failed = true;
                                               if (--*pending == 0) release();
                                             });
                      }
                      if (*pending == 0) release();
                    });
              });
        };
        (*next)();
      });
}

}  // namespace recgw::storage
