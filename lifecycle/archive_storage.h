#pragma once
// Where the lifecycle's hot store and archive are, and how a ready recording is moved from
// one to the other (the S3 side of LifecycleService::archive).
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

#include "lifecycle/ports.h"
#include "lifecycle/settings.h"
#include "reactor/event_loop.h"
#include "reactor/liveness.h"
#include "storage/archive_mover.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"

namespace recgw::lifecycle {

class S3ArchiveStorage : public ArchiveStorage {
 public:
  // `mainStore`: the main storage as now in force (its settings may change at run time);
  // its signer is null while storage is incomplete.
  S3ArchiveStorage(reactor::EventLoop& loop, storage::S3Objects& objects, storage::RecordingStore& store,
                   const LifecycleSettings& settings, std::function<SigningStore()> mainStore);
  ~S3ArchiveStorage() override;

  SigningStore hot();
  SigningStore archive();

  std::optional<ArchiveRefusal> refuse(const Recording& rec) override;
  bool streamed() override;
  void move(const Recording& rec,
            std::function<void(storage::ArchiveMove, storage::StoredObject)> done) override;
  std::optional<SigningStore> storeForBucket(const std::string& bucket) override;

  // The sweep of dead streamed archives, every archive_resume_after_s. Idempotent.
  void startSweep();

 private:
  void sweepOnce();

  storage::S3Objects& objects_;
  const LifecycleSettings& settings_;
  std::function<SigningStore()> mainStore_;
  std::unique_ptr<storage::SigV4Signer> hotSigner_, archiveSigner_;  // for the hot_* / archive_* services
  storage::ArchiveMover mover_;
  reactor::Timer sweepTimer_;
  bool sweeping_ = false;
  reactor::Liveness alive_;
};

}  // namespace recgw::lifecycle
