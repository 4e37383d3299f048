// LifecycleService::archive: the recording checked, the object moved by the ArchiveStorage
// (lifecycle/archive_storage.h), then the state set in one conditional update, last.
#include "lifecycle/lifecycle_service.h"

namespace recgw::lifecycle {

std::string_view archiveFailureName(storage::ArchiveMove::Kind kind) {
  using K = storage::ArchiveMove::Kind;
  switch (kind) {
    case K::kMissing:
      return "not_in_hot_bucket";
    case K::kMismatch:
      return "archive_mismatch";
    case K::kTooLarge:
      return "too_large";
    case K::kUnavailable:
      return "storage_not_configured";
    case K::kBusy:
      return "archive_in_progress";
    case K::kMoved:
    case K::kResumed:
    case K::kError:
      break;
  }
  return "storage_error";
}

namespace {

// Whether a failed move is the services' fault (logged as a warning) or the recording's.
bool serviceFault(storage::ArchiveMove::Kind kind) {
  using K = storage::ArchiveMove::Kind;
  return kind != K::kMissing && kind != K::kMismatch && kind != K::kBusy;
}

}  // namespace

void LifecycleService::archive(const Caller& caller, const std::string& id, Reply<Recording> done) {
  store_.get(caller.tenant, id, false, guard(done, [this, caller, done](StoreResult r) {
               // Not started for a caller who left; once started, the move goes on regardless.
               if (caller.gone()) return;
               if (!r.ok()) return done(storeProblem(r));
               const Recording& rec = *r.recording;
               if (rec.status != RecordingStatus::kReady) {
                 auto p = problem(Problem::Kind::kInvalidState);
                 p.value().current = rec;
                 p.value().recordingId = rec.id;
                 return done(std::move(p));
               }
               if (auto refusal = archive_.refuse(rec)) {
                 auto p = problem(Problem::Kind::kArchiveRefused);
                 p.value().refusal = std::move(refusal);
                 p.value().recordingId = rec.id;
                 return done(std::move(p));
               }
               archiveMove(caller, rec, done);
             }));
}

void LifecycleService::archiveMove(const Caller& caller, const Recording& rec, Reply<Recording> done) {
  reactor::Logger::log(reactor::LogLevel::kInfo, caller.requestId, "archive started",
                       {{"recording_id", rec.id},
                        {"to_bucket", settings_.archiveBucket},
                        {"storage_class", settings_.archiveStorageClass},
                        {"mode", archive_.streamed() ? "streamed" : "server_copy"}});
  archive_.move(
      rec, guard(done, [this, caller, rec, done](storage::ArchiveMove m, storage::StoredObject target) {
        using K = storage::ArchiveMove::Kind;
        if (m.kind == K::kMoved || m.kind == K::kResumed) {
          if (m.kind == K::kResumed) {
            reactor::Logger::log(reactor::LogLevel::kInfo, caller.requestId,
                                 "archive copy already in place; finishing", {{"recording_id", rec.id}});
          }
          return archiveSetState(caller, rec, std::move(target), done);
        }
        // m.reason may carry S3's own words, hosts and ports: for the log only.
        reactor::Logger::log(serviceFault(m.kind) ? reactor::LogLevel::kWarn : reactor::LogLevel::kInfo,
                             caller.requestId, "archive not done",
                             {{"recording_id", rec.id}, {"reason", m.reason}});
        count("recgw_lifecycle_archive_total", "outcome", archiveFailureName(m.kind));
        auto p = problem(Problem::Kind::kArchiveNotMoved, m.reason);
        p.value().moveKind = m.kind;
        p.value().recordingId = rec.id;
        done(std::move(p));
      }));
}

void LifecycleService::archiveSetState(const Caller& caller, const Recording& rec,
                                       storage::StoredObject archived, Reply<Recording> done) {
  auto now = Clock::now();
  storage::TransitionUpdate u;
  u.to = RecordingStatus::kArchived;
  u.archivedAt = now;
  u.storage = std::move(archived);
  u.idempotent = true;  // a rerun after a crash finishes at once
  store_.transition(caller.tenant, rec.id, RecordingStatus::kReady, u, now,
                    guard(done, [this, caller, done](StoreResult r) {
                      count("recgw_lifecycle_archive_total", "outcome", r.ok() ? "archived" : "state_failed");
                      if (!r.ok()) return done(storeProblem(r));
                      noteTransition(caller.requestId, *r.recording, "ready", "archived", "archive");
                      done(std::move(*r.recording));
                    }));
}

}  // namespace recgw::lifecycle
