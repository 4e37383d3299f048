#include "storage/recording_store.h"

#include "storage/crypto.h"

// The recording's status machine, its ids and how a provider recording relates to a room:
// pure, safe on any thread.

namespace recgw::storage {

std::string_view statusName(RecordingStatus status) {
  switch (status) {
    case RecordingStatus::kRecording:
      return "recording";
    case RecordingStatus::kProcessing:
      return "processing";
    case RecordingStatus::kReady:
      return "ready";
    case RecordingStatus::kArchived:
      return "archived";
    case RecordingStatus::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<RecordingStatus> parseStatus(std::string_view text) {
  for (RecordingStatus s : {RecordingStatus::kRecording, RecordingStatus::kProcessing,
                            RecordingStatus::kReady, RecordingStatus::kArchived, RecordingStatus::kFailed}) {
    if (statusName(s) == text) return s;
  }
  return std::nullopt;
}

bool canTransition(RecordingStatus from, RecordingStatus to) {
  using S = RecordingStatus;
  switch (from) {
    case S::kRecording:
      return to == S::kProcessing || to == S::kFailed;
    case S::kProcessing:
      return to == S::kReady || to == S::kFailed;
    case S::kReady:
      return to == S::kArchived;
    case S::kArchived:
    case S::kFailed:
      return false;
  }
  return false;
}

std::vector<RecordingStatus> stepsToward(RecordingStatus current, std::optional<RecordingStatus> reported,
                                         bool hasObject) {
  using S = RecordingStatus;
  std::vector<S> steps;
  if (!reported || (current != S::kRecording && current != S::kProcessing)) return steps;
  S target = *reported == S::kArchived ? S::kReady : *reported;
  if (target == S::kReady && !hasObject) target = S::kProcessing;
  if (target == S::kRecording) return steps;
  if (current == S::kRecording && target != S::kFailed) steps.push_back(S::kProcessing);
  if (target != S::kProcessing) steps.push_back(target);
  return steps;
}

std::string newRecordingId() { return "rec_" + crypto::hexLower(crypto::randomBytes(12)); }

std::string activeRoomKey(std::string_view tenantId, std::string_view roomId) {
  return std::to_string(tenantId.size()) + ":" + std::string(tenantId) + ":" + std::string(roomId);
}

std::string providerRoomId(std::string_view tenantId, std::string_view roomId) {
  return activeRoomKey(tenantId, roomId);
}

ProviderRoomBinding bindProviderRoom(std::string_view reportedRoom, std::string_view tenantId,
                                     std::string_view roomId) {
  if (reportedRoom.empty()) return ProviderRoomBinding::kUnnamed;
  if (reportedRoom == providerRoomId(tenantId, roomId)) return ProviderRoomBinding::kThisRoom;
  if (reportedRoom == roomId) return ProviderRoomBinding::kBareRoomId;
  return ProviderRoomBinding::kOtherRoom;
}

bool linkedProviderRoomAccepted(ProviderRoomBinding binding, bool roomIdShared) {
  switch (binding) {
    case ProviderRoomBinding::kThisRoom:
    case ProviderRoomBinding::kUnnamed:
      return true;
    case ProviderRoomBinding::kBareRoomId:
      return !roomIdShared;
    case ProviderRoomBinding::kOtherRoom:
      return false;
  }
  return false;
}

std::optional<size_t> matchLocalRecording(const ProviderSnapshot& provider,
                                          const std::vector<Recording>& locals, std::chrono::seconds window) {
  if (!provider.startedAt) return std::nullopt;
  std::optional<size_t> best;
  TimePoint::duration bestGap{};
  for (size_t i = 0; i < locals.size(); ++i) {
    const Recording& r = locals[i];
    if (!r.providerRecordingId.empty() || !r.startedAt) continue;
    if (!provider.roomId.empty() && r.roomId != provider.roomId) continue;
    if (r.status != RecordingStatus::kRecording && r.status != RecordingStatus::kProcessing) continue;
    auto gap = *r.startedAt > *provider.startedAt ? *r.startedAt - *provider.startedAt
                                                  : *provider.startedAt - *r.startedAt;
    if (gap > window) continue;
    if (!best || gap < bestGap || (gap == bestGap && *r.startedAt < *locals[*best].startedAt)) {
      best = i;
      bestGap = gap;
    }
  }
  return best;
}

}  // namespace recgw::storage
