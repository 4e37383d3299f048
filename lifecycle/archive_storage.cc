#include "lifecycle/archive_storage.h"

#include <utility>

#include "reactor/logger.h"
#include "storage/s3_addressing.h"

namespace recgw::lifecycle {
namespace {

storage::S3Location locationOf(const S3ServiceSettings& s, const std::string& bucket) {
  storage::S3Location loc;
  loc.endpoint = storage::endpointUrl(s.endpoint);
  loc.bucket = bucket;
  loc.region = storage::regionFromEndpoint(s.endpoint, s.region);
  loc.addressing = storage::parseAddressing(s.addressing).value_or(storage::Addressing::kAuto);
  return loc;
}

std::unique_ptr<storage::SigV4Signer> signerOf(const S3ServiceSettings& s) {
  if (!s.set()) return nullptr;
  return std::make_unique<storage::SigV4Signer>(s.accessKey, s.secretKey,
                                                storage::regionFromEndpoint(s.endpoint, s.region));
}

}  // namespace

S3ArchiveStorage::S3ArchiveStorage(reactor::EventLoop& loop, storage::S3Objects& objects,
                                   storage::RecordingStore& store, const LifecycleSettings& settings,
                                   std::function<SigningStore()> mainStore)
    : objects_(objects),
      settings_(settings),
      mainStore_(std::move(mainStore)),
      hotSigner_(signerOf(settings.hot)),
      archiveSigner_(signerOf(settings.archive)),
      mover_(loop, objects, store,
             storage::StreamedArchiveSettings{settings.archivePartBytes, settings.archiveResumeAfter}),
      sweepTimer_(loop, [this] { sweepOnce(); }) {}

S3ArchiveStorage::~S3ArchiveStorage() = default;

SigningStore S3ArchiveStorage::hot() {
  if (settings_.hot.set()) return {locationOf(settings_.hot, settings_.hot.bucket), hotSigner_.get()};
  if (!mainStore_) return {};
  return mainStore_();
}

SigningStore S3ArchiveStorage::archive() {
  if (settings_.archive.set())
    return {locationOf(settings_.archive, settings_.archiveBucket), archiveSigner_.get()};
  SigningStore s = hot();
  s.location.bucket = settings_.archiveBucket;
  return s;
}

bool S3ArchiveStorage::streamed() {
  if (!settings_.archive.set()) return false;
  SigningStore h = hot(), a = archive();
  // A server-side copy needs one service and credentials that read the source.
  return h.location.endpoint != a.location.endpoint || !h.signer || !a.signer ||
         h.signer->accessKey() != a.signer->accessKey();
}

std::optional<SigningStore> S3ArchiveStorage::storeForBucket(const std::string& bucket) {
  SigningStore h = hot();
  if (bucket.empty() || bucket == h.location.bucket) return h;
  if (!settings_.archiveBucket.empty() && bucket == settings_.archiveBucket) return archive();
  return std::nullopt;
}

std::optional<ArchiveRefusal> S3ArchiveStorage::refuse(const Recording& rec) {
  SigningStore h = hot();
  if (!rec.storage || rec.storage->key.empty())
    return ArchiveRefusal{ArchiveRefusal::Kind::kNotInHotStore, "the recording has no stored object"};
  const std::string& provider = rec.storage->provider;
  bool s3Compatible = provider.empty() || provider == "s3" || provider == "r2";
  if (!s3Compatible || (!rec.storage->bucket.empty() && rec.storage->bucket != h.location.bucket)) {
    return ArchiveRefusal{ArchiveRefusal::Kind::kNotInHotStore, "the recording is not in the hot bucket"};
  }
  SigningStore a = archive();
  if (settings_.archiveBucket.empty() ||
      (settings_.archiveBucket == h.location.bucket && a.location.endpoint == h.location.endpoint)) {
    return ArchiveRefusal{ArchiveRefusal::Kind::kArchiveNotConfigured,
                          "no archive bucket (apart from the hot one) is configured"};
  }
  if (!h.signer || !a.signer)
    return ArchiveRefusal{ArchiveRefusal::Kind::kStorageNotConfigured, "storage is not configured"};
  if (streamed() && mover_.active() >= static_cast<size_t>(std::max(1, settings_.archiveMaxConcurrent))) {
    return ArchiveRefusal{ArchiveRefusal::Kind::kTooManyInFlight,
                          "too many archives are in progress; retry shortly"};
  }
  return std::nullopt;
}

void S3ArchiveStorage::move(const Recording& rec,
                            std::function<void(storage::ArchiveMove, storage::StoredObject)> done) {
  SigningStore h = hot(), a = archive();
  std::optional<uint64_t> expectedSize;
  if (rec.sizeBytes && *rec.sizeBytes >= 0) expectedSize = static_cast<uint64_t>(*rec.sizeBytes);
  const std::string& storageClass = settings_.archiveStorageClass;
  bool stream = streamed();
  // The archived object's provider: the archive service's kind when it is its own ("s3": an
  // S3 API), else whatever the hot one was called.
  std::string provider =
      stream ? std::string("s3") : (rec.storage->provider.empty() ? "s3" : rec.storage->provider);
  storage::StoredObject target{provider, settings_.archiveBucket, rec.storage->key, storageClass};
  auto finish = [done, target](storage::ArchiveMove m) { done(std::move(m), target); };
  if (!stream) {
    std::function<SigningStore()> main = mainStore_;
    storage::SigV4Signer* fixed = hotSigner_.get();
    bool own = settings_.hot.set();
    objects_.moveToArchive(
        h.location, a.location, rec.storage->key, storageClass, expectedSize,
        [main, fixed, own]() -> storage::SigV4Signer* {
          return own ? fixed : (main ? main().signer : nullptr);
        },
        std::move(finish));
    return;
  }
  // Signers are looked up again before each request: the main storage's may change.
  reactor::LivenessWatch alive = alive_;
  storage::ArchiveEndpoint hotEnd{h.location, [this, alive]() -> storage::SigV4Signer* {
                                    return alive.expired() ? nullptr : hot().signer;
                                  }};
  storage::ArchiveEndpoint archiveEnd{a.location, [this, alive]() -> storage::SigV4Signer* {
                                        return alive.expired() ? nullptr : archive().signer;
                                      }};
  mover_.move(hotEnd, archiveEnd, rec.id, rec.tenantId, rec.storage->key, storageClass, expectedSize,
              std::move(finish));
}

void S3ArchiveStorage::startSweep() {
  if (!settings_.archive.set() || sweepTimer_.pending()) return;
  sweepTimer_.startPeriodic(
      std::chrono::duration_cast<std::chrono::milliseconds>(settings_.archiveResumeAfter));
}

void S3ArchiveStorage::sweepOnce() {
  if (sweeping_ || !streamed()) return;
  SigningStore a = archive();
  if (!a.signer) return;
  sweeping_ = true;
  reactor::LivenessWatch alive = alive_;
  storage::ArchiveEndpoint archiveEnd{a.location, [this, alive]() -> storage::SigV4Signer* {
                                        return alive.expired() ? nullptr : archive().signer;
                                      }};
  mover_.sweep(archiveEnd, 20, [this, alive](int aborted, std::string error) {
    if (alive.expired()) return;
    sweeping_ = false;
    if (!error.empty()) {
      reactor::logWarn("archive sweep failed", {{"reason", error}});
    } else if (aborted > 0) {
      reactor::logInfo("archive sweep aborted multipart uploads of dead runs",
                       {{"aborted", std::to_string(aborted)}});
    }
  });
}

}  // namespace recgw::lifecycle
