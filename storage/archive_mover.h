#pragma once
// The archive move when the hot store and the archive are two different S3-compatible
// services (e.g. Cloudflare R2 → AWS S3 in a Glacier class): no server-side copy can cross
// them, so the object is streamed, part by part, through this process:
//
//   journal claimed (RecordingStore::claimArchiveUpload) → HEAD hot (size, ETag)
//   → resume the upload a dead run left (ListParts: keep the parts whose ETag is the MD5 we
//     journaled) or abort it; abort any other upload of the key (one created by a run that
//     died before journaling its id) → CreateMultipartUpload (storage class) → journal
//   → per part: GET the range from hot (If-Match the hot ETag) → MD5 → UploadPart with
//     Content-MD5 (S3's ETag must be that MD5) → journal the part
//   → CompleteMultipartUpload: its ETag must be md5(part MD5s)-N as computed here
//   → HEAD the archive object: size, that ETag, storage class
//   → DELETE hot (only now) → journal released → kMoved
//
// Memory: one part at a time — a part's bytes are read into one buffer of at most
// partBytes, sent from it in place, and dropped before the next GET, so a move holds one such
// buffer (plus curl's own buffers, the bounded answers and the allocator's slack: a
// 60 MiB object in 5 MiB parts raised the worker's peak RSS by about two parts).
//
// A run that fails (S3 or MongoDB error, the hot object changed, verification failed)
// aborts its upload and releases the journal; when even the abort fails, the journal stays
// and its heartbeat goes stale, so the next run of the recording, or the sweep, finishes
// the job. A run killed outright leaves the journal with a stale heartbeat: the next
// archive request resumes its upload; sweep() aborts the uploads of journals nobody came
// back for (after 10 × staleAfter). The hot copy is deleted only after the archive object verified, so no
// step loses the recording.
//
// Loop thread only; callbacks run once, later, on the loop, unless the mover is destroyed
// first (then they never run and the journals go stale, as after a crash).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"
#include "storage/sigv4_signer.h"

namespace recgw::storage {

// One S3-compatible service and bucket; `signer` is asked before each request (null: not
// configured) and never kept.
struct ArchiveEndpoint {
  S3Location location;
  std::function<SigV4Signer*()> signer;
};

struct StreamedArchiveSettings {
  uint64_t partBytes = 16ULL * 1024 * 1024;  // kMinPartBytes..kMaxPartBytes
  // A journal whose heartbeat is older than this belongs to a dead run (resumed or swept).
  // Live runs refresh it every third of this.
  std::chrono::seconds staleAfter{120};
};

class ArchiveMover {
 public:
  ArchiveMover(reactor::EventLoop& loop, S3Objects& objects, RecordingStore& store,
               StreamedArchiveSettings settings);
  ~ArchiveMover();
  ArchiveMover(const ArchiveMover&) = delete;
  ArchiveMover& operator=(const ArchiveMover&) = delete;

  // Moves the recording's object `key` from hot to archive (the same key) in storageClass.
  // Outcomes as S3Objects::moveToArchive, plus kBusy (another live run holds the journal).
  void move(const ArchiveEndpoint& hot, const ArchiveEndpoint& archive, const std::string& recordingId,
            const std::string& tenantId, const std::string& key, const std::string& storageClass,
            std::optional<uint64_t> expectedSize, std::function<void(ArchiveMove)> done);

  // Aborts the uploads of journals whose heartbeat is older than kSweepAfterStale ×
  // staleAfter (at most `limit`) in `archive`, and deletes those journals: a request may
  // resume a dead run from staleAfter on, the sweep steps in only long after.
  // `done(aborted, error)`.
  void sweep(const ArchiveEndpoint& archive, int64_t limit, std::function<void(int, std::string)> done);

  size_t active() const { return *active_; }
  const StreamedArchiveSettings& settings() const { return settings_; }

  // "<endpoint> <bucket>": what a journal's target must equal to be resumed here.
  static std::string targetOf(const S3Location& archive);
  static constexpr int kSweepAfterStale = 10;

 private:
  struct Job;
  using JobPtr = std::shared_ptr<Job>;
  void claim(const JobPtr& j);
  void headHot(const JobPtr& j);
  void hotGone(const JobPtr& j);
  void resumeOrFresh(const JobPtr& j);
  void abortOthers(const JobPtr& j, std::string keep, std::function<void()> next);
  void create(const JobPtr& j);
  void nextPart(const JobPtr& j);
  void complete(const JobPtr& j);
  void verify(const JobPtr& j, std::string etag);
  void deleteHot(const JobPtr& j, S3ObjectInfo archived);
  void save(const JobPtr& j, std::function<void()> next);
  void fail(const JobPtr& j, ArchiveMove::Kind kind, std::string reason);
  void finish(const JobPtr& j, ArchiveMove result);
  void report(const JobPtr& j, ArchiveMove result);  // once: releases the journal when done, calls back
  void beat();
  SigV4Signer* signerFor(const JobPtr& j, const ArchiveEndpoint& endpoint);
  template <typename F>
  auto step(const JobPtr& j, F f);

  S3Objects& objects_;
  RecordingStore& store_;
  StreamedArchiveSettings settings_;
  std::shared_ptr<size_t> active_ = std::make_shared<size_t>(0);
  std::vector<std::weak_ptr<Job>> jobs_;  // claimed and running: their journals get heartbeats
  reactor::Timer heartbeat_;
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
