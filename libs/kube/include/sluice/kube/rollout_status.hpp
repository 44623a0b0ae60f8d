#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kube {

// Where a workload's rollout stands, read from the objects the API returns. Pure functions:
// no I/O, unit-tested against JSON recorded from the local control plane (libs/kube/testdata).
enum class RolloutPhase {
  kProgressing,  // the controller is still working (or has not seen the change yet)
  kComplete,     // every replica that should run the new template runs it and is available
  kFailed,       // the controller gave up: Progressing=False, reason ProgressDeadlineExceeded
};
std::string_view RolloutPhaseName(RolloutPhase phase);

// Why a rollout is where it is: named constants the driver and the notifier key on.
namespace rollout_reason {
inline constexpr std::string_view kGenerationNotObserved = "GenerationNotObserved";
inline constexpr std::string_view kPaused = "Paused";
inline constexpr std::string_view kUpdatingReplicas = "UpdatingReplicas";
inline constexpr std::string_view kTerminatingOldReplicas = "TerminatingOldReplicas";
inline constexpr std::string_view kWaitingForAvailable = "WaitingForAvailable";
inline constexpr std::string_view kWaitingForReady = "WaitingForReady";
inline constexpr std::string_view kProgressDeadlineExceeded = "ProgressDeadlineExceeded";
inline constexpr std::string_view kComplete = "Complete";
inline constexpr std::string_view kPartitionComplete = "PartitionComplete";
inline constexpr std::string_view kOnDelete = "OnDeleteStrategy";
}  // namespace rollout_reason

// A pod that is not Ready, and why, from its conditions and container statuses, e.g.
// "container web waiting: ImagePullBackOff: Back-off pulling image ..." or
// "Pending: scheduled, no container started".
struct PodNotReady {
  std::string name;
  std::string why;
  std::string phase;   // status.phase ("Pending" when the API gave none)
  std::string reason;  // one word: ImagePullBackOff, Unschedulable, ContainersNotReady, ...
};

struct RolloutStatus {
  RolloutPhase phase = RolloutPhase::kProgressing;
  std::string_view reason;  // one of rollout_reason
  std::string message;      // one line for people: "1 of 3 updated replicas available"
  std::int64_t generation = 0;
  std::int64_t observed_generation = 0;
  std::int64_t desired = 0;
  std::int64_t updated = 0;
  std::int64_t ready = 0;
  std::int64_t available = 0;
  std::int64_t partition = 0;               // StatefulSet only
  std::vector<PodNotReady> pods_not_ready;  // sorted by name
};

// The pods of a PodList (or a JSON array of pods) that are not Ready, terminating ones left
// out, with the reason of each.
std::vector<PodNotReady> PodsNotReady(const nlohmann::json& pods);
// One pod's reason, empty when it is Ready.
std::string PodNotReadyReason(const nlohmann::json& pod);
// The one word of it (PodNotReady.reason): a container's waiting / terminated reason, the
// PodScheduled or Ready condition's, the pod's own; "NotScheduled" / "NotStarted" when the API
// says nothing yet.
std::string PodNotReadyCode(const nlohmann::json& pod);

// A Deployment, as `kubectl rollout status` judges it. `pods` (a PodList of the Deployment's
// selector, or null) names the pods that are not ready when the rollout is not complete.
RolloutStatus InterpretDeployment(const nlohmann::json& deployment,
                                  const nlohmann::json& pods = nullptr);

// A StatefulSet with a RollingUpdate partition: complete when the replicas at or above the
// partition run the update revision and every replica is ready (so lowering the partition
// batch by batch completes batch by batch). A StatefulSet has no progress deadline, so this
// never returns kFailed: the caller's own timeout decides, naming pods_not_ready.
RolloutStatus InterpretStatefulSet(const nlohmann::json& statefulset,
                                   const nlohmann::json& pods = nullptr);

}  // namespace sluice::kube
