#pragma once
// Where the lifecycle's hot store and archive are, and how a ready recording is moved from
// one to the other (POST /api/v1/recordings/{id}/archive; the route's answers are in
// lifecycle.cc, handleArchive).
//
//   hot store  lifecycle.hot_* when set (in production Cloudflare R2), else the main storage
//              (s3.* over system_settings), as before these keys existed.
//   archive    lifecycle.archive_bucket on lifecycle.archive_* when archive_endpoint is set
//              (AWS S3 with a Glacier class), else on the hot store's service.
//
// Same service (same endpoint and access key): S3Objects::moveToArchive, a server-side
// CopyObject. Two services: storage::ArchiveMover streams the object as a multipart upload
// (bounded memory, MD5-verified per part and as a whole, resumable after a crash; see
// storage/archive_mover.h), and a sweep every archive_resume_after_s aborts the uploads of
// runs that died and were never asked again.
//
// A recording archives when it is ready and its stored object is in the hot store: bucket
// empty or the hot bucket, provider empty, "s3" or "r2" (S3-compatible names). Loop thread only.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "handlers/lifecycle.h"
#include "handlers/recordings.h"
#include "reactor/event_loop.h"
#include "storage/archive_mover.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"

namespace recgw::handlers {

struct ArchiveRefusal {
  int status;
  std::string code;
  std::string message;
};

class ArchiveService {
 public:
  ArchiveService(reactor::EventLoop& loop, storage::S3Objects& objects, storage::RecordingStore& store,
                 const LifecycleSettings& settings, StorageSigner* mainSigner);
  ~ArchiveService();

  // A service as now in force: its location (bucket included) and a signer (null: the
  // main storage's settings are incomplete).
  struct Store {
    storage::S3Location location;
    storage::SigV4Signer* signer = nullptr;
  };
  Store hot();
  Store archive();
  // Whether the archive is on another service than the hot store (then it is streamed).
  bool streamed();
  // The store a recording's object is in, by its bucket (empty: the hot one); nullopt for a
  // bucket that is neither the hot nor the archive bucket (download signs for no other).
  std::optional<Store> storeForBucket(const std::string& bucket);

  // Why this ready recording cannot be archived now (400 not in the hot store, 503 nothing
  // configured or too many archives in flight), or nullopt.
  std::optional<ArchiveRefusal> refuse(const storage::Recording& rec);
  // Moves it; `done` gets the outcome and the stored object to record when it is moved.
  void move(const storage::Recording& rec,
            std::function<void(storage::ArchiveMove, storage::StoredObject)> done);

  // The sweep of dead streamed archives, every archive_resume_after_s. Idempotent.
  void startSweep();

 private:
  void sweepOnce();

  reactor::EventLoop& loop_;
  storage::S3Objects& objects_;
  const LifecycleSettings& settings_;
  StorageSigner* mainSigner_;
  std::unique_ptr<storage::SigV4Signer> hotSigner_, archiveSigner_;  // for the hot_* / archive_* services
  storage::ArchiveMover mover_;
  reactor::Timer sweepTimer_;
  bool sweeping_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

}  // namespace recgw::handlers
