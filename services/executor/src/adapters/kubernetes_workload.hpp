#pragma once

// The workload operations the `kubernetes` TargetDriver is made of: a replica canary of a
// Deployment (a `<name>-canary` Deployment taking a share of the stable's replicas), its
// promotion at 100%, its revert (batch or full), and the wait for a rollout, all fenced by
// annotations on the objects and idempotent (a repeat reads first and writes nothing that is
// already as wanted). Blocking; thread-safe as far as the client is (each call reads afresh).

#include <chrono>
#include <functional>
#include <sluice/core/clock.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/kube/client.hpp>
#include <string>
#include <vector>

#include "adapters/kubernetes_workload_plan.hpp"
#include "target_driver.hpp"

namespace sluice::executor::kube_workload {

struct WorkloadOptions {
  // Canary pods come on top of the stable's (more capacity for the step) instead of the stable
  // giving up as many.
  bool surge = false;
  std::chrono::milliseconds poll_interval{500};
  std::function<void(std::chrono::milliseconds)> sleep;  // default: std::this_thread::sleep_for
};

enum class RevertScope {
  kBatch,  // the canary scaled to zero, the stable given its replicas back
  kFull,   // the stable patched back to the previous image and waited for; the canary removed
};

// Outcome reasons (HostOutcome.reason).
namespace reason {
inline constexpr std::string_view kNotFound = events::Name(events::v1::REASON_WORKLOAD_NOT_FOUND);
inline constexpr std::string_view kInvalid = events::Name(events::v1::REASON_INVALID_WORKLOAD);
inline constexpr std::string_view kStaleGeneration =
    events::Name(events::v1::REASON_STALE_GENERATION);
inline constexpr std::string_view kProgressDeadline =
    events::Name(events::v1::REASON_PROGRESS_DEADLINE_EXCEEDED);
inline constexpr std::string_view kDeadline = events::Name(events::v1::REASON_DEADLINE);
inline constexpr std::string_view kApi = events::Name(events::v1::REASON_KUBERNETES_API);
}  // namespace reason

class KubernetesWorkload {
 public:
  KubernetesWorkload(kube::Client& client, const core::Clock& clock, WorkloadOptions options = {});

  // One canary step: the canary runs `image` on ceil(percent% x total) replicas and the stable
  // gives up as many (unless surge); at 100 the stable is patched to `image` with all its
  // replicas, waited for, and the canary removed. Waits for what it changed, until `deadline`.
  HostOutcome CanaryStep(const WorkloadRef& ref, const std::string& image, double percent,
                         const CommandFence& fence, Deadline deadline);

  // Batch: canary to zero, stable to its total. Full: the stable back on `previous_image`
  // (needed for kFull only) with its total, waited for; the canary removed. Refused
  // (host_owned_by_newer_deployment) when another deployment wrote the stable or the canary
  // last.
  HostOutcome Revert(const WorkloadRef& ref, RevertScope scope, const std::string& previous_image,
                     const CommandFence& fence, Deadline deadline);

  // The stable Deployment alone back on `previous_image`, its replica count kept (a canary
  // beside it keeps the release's share), fenced with the previous image as its release, and
  // waited for. Idempotent; refused like Revert when another deployment wrote it last.
  HostOutcome StableBack(const WorkloadRef& ref, const std::string& previous_image,
                         const CommandFence& fence, Deadline deadline);

  // One batch of a StatefulSet (`ref.name`): the release in the template and the partition
  // lowered to PlanPartition(replicas, percent) in one patch, never raised (a repeat or a late
  // smaller batch leaves it), then waited for until the pods at or above it run the update and
  // every pod is Ready. A StatefulSet has no progress deadline: `deadline` ends a stuck batch
  // (kTimedOut naming the pods that are not ready).
  // `reverting`: `image` is the one before the release; sluice.io/previous-image is left as the
  // release's write recorded it, so the workload no longer reads as holding the release and a
  // repeated revert writes nothing (recording the release as "previous" would make a repeat
  // put the release back).
  HostOutcome StatefulSetStep(const WorkloadRef& ref, const std::string& image, double percent,
                              const CommandFence& fence, Deadline deadline, bool reverting = false);

  // The Deployment's own RollingUpdate: `image` patched into the template (the image before
  // kept in sluice.io/previous-image, unless `reverting`: see StatefulSetStep), waited for like
  // any rollout. Idempotent.
  HostOutcome RollingStep(const WorkloadRef& ref, const std::string& image,
                          const CommandFence& fence, Deadline deadline, bool reverting = false);

  // Blue-green: `<name>-green` (the stable's spec, track green, `image`, all the stable's
  // replicas) created and waited for, then `service`'s selector switched to the green pods (its
  // selector before kept in an annotation). At 100 the stable takes `image` too, is waited for,
  // the Service goes back to its own selector and the green Deployment is removed.
  HostOutcome BlueGreenStep(const WorkloadRef& ref, const std::string& service,
                            const std::string& image, double percent, const CommandFence& fence,
                            Deadline deadline);
  // The Service back on its selector before the switch, the green Deployment removed; once the
  // stable took the release, it goes back to its previous image and is waited for.
  HostOutcome BlueGreenRevert(const WorkloadRef& ref, const std::string& service,
                              const CommandFence& fence, Deadline deadline);

  // Gateway API: the HTTPRoute `route`'s backend weights set to the canary's share at `percent`
  // (read, changed, written with the resourceVersion read; a conflict re-reads and retries).
  // Writes nothing when the weights are already so; refuses (kStale) a route that carries a
  // newer generation of the deployment.
  HostOutcome SetTraffic(const std::string& ns, const std::string& route,
                         const std::string& stable_service, const std::string& canary_service,
                         double percent, const CommandFence& fence);

  // The pods of `selector` that are not being deleted, sorted (with `revision`: only those of
  // that controller revision).
  std::vector<std::string> Pods(const std::string& ns, const std::string& selector,
                                const std::string& revision = "");

  // Polls the Deployment `name` until its rollout is complete (success), failed
  // (ProgressDeadlineExceeded: kFailed naming the pods that are not ready) or `deadline`
  // (kTimedOut, naming them too). `pod_selector` picks the pods to name.
  HostOutcome WaitRollout(const std::string& ns, const std::string& name,
                          const std::string& pod_selector, Deadline deadline);

 private:
  HostOutcome WaitStatefulSet(const std::string& ns, const std::string& name,
                              const std::string& pod_selector, Deadline deadline);
  HostOutcome Guarded(const WorkloadRef& ref, const std::function<HostOutcome()>& body);

  kube::Client& client_;
  const core::Clock& clock_;
  WorkloadOptions options_;
};

}  // namespace sluice::executor::kube_workload
