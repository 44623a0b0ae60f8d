#pragma once

// The pure half of the Kubernetes workload operations: replica arithmetic, the objects and
// patch bodies of a replica canary, and the fence decision. No I/O: unit-tested on JSON.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "target_driver.hpp"

namespace sluice::executor::kube_workload {

using Json = nlohmann::json;

// What every object the driver writes carries, so a later command (or a retry after a crash)
// can tell whose it is and how far it got.
inline constexpr std::string_view kAnnotationDeploymentId = "sluice.io/deployment-id";
inline constexpr std::string_view kAnnotationGeneration = "sluice.io/generation";
inline constexpr std::string_view kAnnotationRelease = "sluice.io/release";
// On the canary: the stable's replica count before the canary took any (the capacity to give
// back on revert and to restore at 100%).
inline constexpr std::string_view kAnnotationTotalReplicas = "sluice.io/total-replicas";
// On the canary's pod template and selector.
inline constexpr std::string_view kTrackLabel = "sluice.io/track";
inline constexpr std::string_view kTrackCanary = "canary";
inline constexpr std::string_view kCanarySuffix = "-canary";
// Blue-green: the second Deployment and its pods' track.
inline constexpr std::string_view kGreenSuffix = "-green";
inline constexpr std::string_view kTrackGreen = "green";
// On a workload whose image a release replaced: the image before (what a full revert puts
// back).
inline constexpr std::string_view kAnnotationPreviousImage = "sluice.io/previous-image";
// ... and the deployment whose write replaced it: a later deployment's steps rewrite
// sluice.io/deployment-id (the fence) on the stable without writing the image, so only this
// names the deployment a full revert of the image belongs to.
inline constexpr std::string_view kAnnotationPreviousImageBy = "sluice.io/previous-image-by";
// On a blue-green Service: its selector before the switch (JSON), put back on revert.
inline constexpr std::string_view kAnnotationSelectorBefore = "sluice.io/selector-before";

// A Deployment and the container of it that runs the release.
struct WorkloadRef {
  std::string ns;
  std::string name;
  std::string container;
};

// "repo/app@sha256:..." when a digest is given (what runs is then exactly what was judged),
// else "repo/app:tag" or the image as given.
std::string ReleaseImage(std::string_view image, std::string_view digest);

struct ReplicaSplit {
  std::int64_t canary = 0;
  std::int64_t stable = 0;
};

// The canary's share of `total` at `percent` (0..100): ceil(percent% x total), at least one
// replica for any share above zero, at most total. Without surge the stable gives up as many
// (capacity kept); with surge it keeps all of them. Throws std::invalid_argument for a percent
// outside [0, 100] or a negative total.
ReplicaSplit PlanCanaryReplicas(std::int64_t total, double percent, bool surge);

// How an object's fencing annotations compare with a command's fence.
enum class FenceDecision {
  kProceed,  // no annotations, another deployment's, or ours at this or an older generation
  kStale,    // ours at a newer generation: a later command has been here; hands off
};
FenceDecision DecideFence(const Json& object, const CommandFence& fence);
// Whether another deployment wrote `object` last (its deployment-id annotation names another):
// as on sluice-agent, the last deployment to write a workload owns it, so a revert of an
// older one is refused there (host_owned_by_newer_deployment) while a forward step of the
// newer one proceeds.
bool OwnedByAnother(const Json& object, const CommandFence& fence);

// The annotations a write with `fence` and `release` leaves on an object.
Json FenceAnnotations(const CommandFence& fence, std::string_view release);
// An annotation's value on `object`; empty when absent. (Not a JSON pointer: the keys hold '/'.)
std::string Annotation(const Json& object, std::string_view key);
// Whether `object` already carries exactly these annotation values.
bool HasAnnotations(const Json& object, const Json& annotations);

// The image of `container` in a Deployment (or StatefulSet); empty when there is none.
std::string ContainerImage(const Json& workload, std::string_view container);

// The canary Deployment for `stable`: its spec with the selector and the pod template's labels
// plus sluice.io/track=canary, `image` in `container`, `replicas`, and the fence annotations
// and the total on its metadata. Throws std::invalid_argument when the stable has no such
// container or its selector has no matchLabels.
Json BuildCanary(const Json& stable, const WorkloadRef& ref, std::string_view image,
                 std::int64_t replicas, std::int64_t total, const CommandFence& fence,
                 std::string_view release);

// The same with another suffix and track (blue-green's `<name>-green`, track green).
Json BuildTrackCopy(const Json& stable, const WorkloadRef& ref, std::string_view suffix,
                    std::string_view track, std::string_view image, std::int64_t replicas,
                    std::int64_t total, const CommandFence& fence, std::string_view release);

// A strategic-merge patch of a Deployment: the image of `container` (when not empty), the
// replicas (when >= 0) and the annotations (when not empty).
Json WorkloadPatch(std::string_view container, std::string_view image, std::int64_t replicas,
                   const Json& annotations);

// Whether `object` is already what WorkloadPatch(container, image, replicas, annotations)
// would make it, so the write can be left out (a repeat after a crash writes nothing).
bool IsAsWanted(const Json& object, std::string_view container, std::string_view image,
                std::int64_t replicas, const Json& annotations);

// A StatefulSet's RollingUpdate partition for a batch at `percent`: the pods with an ordinal at
// or above it run the update, so the highest ceil(percent% x replicas) take the release (the
// same share as a replica canary) and 100 gives 0. Throws as PlanCanaryReplicas.
std::int64_t PlanPartition(std::int64_t replicas, double percent);
// The partition a StatefulSet has (0 when unset).
std::int64_t Partition(const Json& statefulset);
// A strategic-merge patch of a StatefulSet: RollingUpdate with `partition`, the image of
// `container` and the annotations.
Json PartitionPatch(std::string_view container, std::string_view image, std::int64_t partition,
                    const Json& annotations);

// The selector of a workload as a label selector string ("app=web"), from matchLabels.
std::string SelectorString(const Json& workload);

// The canary's traffic weight (of 100) at `percent`: rounded, at least 1 for any share above
// zero. Throws as PlanCanaryReplicas.
std::int64_t RouteCanaryWeight(double percent);
// Sets an HTTPRoute's backend weights in place: in every rule that sends to `stable_service`,
// the stable gets 100 - canary_weight and `canary_service` canary_weight (its backendRef added
// after the stable's, same port, when the rule has none). Returns whether anything changed.
// Throws std::invalid_argument when no rule sends to `stable_service`.
bool SetRouteWeights(Json& route, std::string_view stable_service, std::string_view canary_service,
                     std::int64_t canary_weight);
// The canary's weight in a route (0 when absent).
std::int64_t CanaryWeight(const Json& route, std::string_view canary_service);

// The names of the pods of a List that are not being deleted, sorted; with `revision`, only
// those whose controller-revision-hash label is it (a StatefulSet's updated pods).
std::vector<std::string> PodNames(const Json& pod_list, std::string_view revision = "");

}  // namespace sluice::executor::kube_workload
