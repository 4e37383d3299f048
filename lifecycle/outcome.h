#pragma once
// What a lifecycle workflow answers: the result, or a Problem that says, in the domain's
// terms, why not. The HTTP side (handlers/lifecycle.cc) maps each kind to a status and a
// body; nothing here knows of HTTP.
#include <optional>
#include <string>

#include <tl/expected.hpp>

#include "fleet/media_provider.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"

namespace recgw::lifecycle {

// Why a ready recording cannot be archived now.
struct ArchiveRefusal {
  enum class Kind {
    kNotInHotStore,         // no stored object, or not in the hot bucket / not S3-compatible
    kArchiveNotConfigured,  // no archive bucket apart from the hot one
    kStorageNotConfigured,  // no credentials for the hot store or the archive
    kTooManyInFlight,       // streamed archives at their limit on this worker
  };
  Kind kind;
  std::string message;  // for the client
};

struct Problem {
  enum class Kind {
    kNoRoom,                 // the tenant has no such room
    kNotFound,               // no such recording for the tenant (or none active in the room)
    kConflict,               // the recording changed meanwhile; `current` as it is now
    kAlreadyRecording,       // start: the room has an active recording (`current`, when read)
    kStoreUnavailable,       // MongoDB failed or its queue is full (`detail`)
    kInvalidState,           // the recording is not in the state the operation needs (`current`)
    kNoProviderRecording,    // recover: no provider recording id to reprocess
    kProviderNotConfigured,  // sync/recover without a media provider
    kProviderFailed,         // the provider call failed (`provider`)
    kProviderLostRecording,  // the provider does not know the linked recording (`provider`)
    kProviderRoomMismatch,   // the provider files the recording under another room (`detail`)
    kArchiveRefused,         // `refusal`
    kArchiveNotMoved,        // the S3 move did not happen (`move`; its reason is for the log only)
    kLocationRefused,        // download: the object is outside the hot and archive buckets (`detail`)
    kStorageNotConfigured,   // download: no credentials for the store the object is in
    kSignFailed,             // download: presigning failed (`detail`)
    kInternal,               // a step threw (`detail`)
  };
  Kind kind;
  std::string detail;       // for the log only: it may name hosts, ports, buckets, S3's words
  std::string recordingId;  // the recording concerned, when known
  std::optional<storage::Recording> current;
  fleet::ProviderError provider;
  storage::ArchiveMove::Kind moveKind = storage::ArchiveMove::Kind::kError;
  std::optional<ArchiveRefusal> refusal;
};

template <typename T>
using Outcome = tl::expected<T, Problem>;

inline tl::unexpected<Problem> problem(Problem::Kind kind, std::string detail = {}) {
  Problem p{kind, std::move(detail), {}, {}, {}, {}, {}};
  return tl::unexpected<Problem>(std::move(p));
}

// A store answer other than kOk, as a workflow's problem (kConflict keeps the recording).
tl::unexpected<Problem> storeProblem(const storage::StoreResult& r);

}  // namespace recgw::lifecycle
