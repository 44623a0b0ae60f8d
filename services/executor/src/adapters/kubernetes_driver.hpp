#pragma once

// The `kubernetes` TargetDriver: a Kubernetes target (HostTarget.kubernetes) moved to its
// command's share of the release by the workload operations (kubernetes_workload.hpp), on the
// cluster its `cluster` names. Deploy: replica canary (optionally with Gateway API HTTPRoute
// weights), StatefulSet partition, the Deployment's own RollingUpdate, or blue-green. Revert:
// the share the revert names (above zero, batch scope: the canary lowered to it, or, once the
// release was promoted, a canary of the release put back at that share beside the stable, which
// goes back to its previous image; zero: no trace of the release, i.e. the canary to zero and,
// once promoted, the workload back on its previous image). Each call reads the objects afresh
// and writes only what differs, so a repeat after an executor crash resumes without a second
// write.

#include <map>
#include <memory>
#include <mutex>
#include <sluice/core/clock.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/kube/client.hpp>
#include <sluice/kube/credentials.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/kubernetes_workload.hpp"
#include "target_driver.hpp"

namespace sluice::executor {

// One cluster the executor may drive, by the name targets give (KubernetesWorkload.cluster).
struct KubeClusterConfig {
  std::string name;
  bool in_cluster = false;  // the pod's service account
  std::string kubeconfig;   // else a kubeconfig file ...
  std::string context;      // ... and its context (empty: current-context)

  bool operator==(const KubeClusterConfig&) const = default;
};

// What the driver is made with: every cluster's credentials, loaded at start-up.
struct KubernetesDriverConfig {
  std::map<std::string, kube::Credentials, std::less<>> clusters;
  kube_workload::WorkloadOptions workload;
  kube::ClientOptions client;  // identity "executor" unless set
};

// Loads each cluster's credentials; throws std::runtime_error naming the cluster and what is
// wrong (a missing file, an unknown context, an exec plugin, no in-cluster service account).
std::map<std::string, kube::Credentials, std::less<>> LoadClusters(
    const std::vector<KubeClusterConfig>& clusters, const kube::EnvLookup& env = kube::ProcessEnv);

// HostOutcome reasons of the driver's own refusals (sluice.v1.Reason, text from libs/events).
namespace kube_reason {
inline constexpr std::string_view kNoWorkload =
    events::Name(events::v1::REASON_NO_KUBERNETES_WORKLOAD);
inline constexpr std::string_view kUnknownCluster =
    events::Name(events::v1::REASON_UNKNOWN_CLUSTER);
inline constexpr std::string_view kNotAnImage = events::Name(events::v1::REASON_ARTIFACT_NOT_IMAGE);
inline constexpr std::string_view kNoWeight = events::Name(events::v1::REASON_NO_WEIGHT_PERCENT);
inline constexpr std::string_view kUnsupported =
    events::Name(events::v1::REASON_UNSUPPORTED_ROLLOUT);
}  // namespace kube_reason

class KubernetesDriver final : public TargetDriver {
 public:
  KubernetesDriver(KubernetesDriverConfig config, const core::Clock& clock);

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override;
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override;
  // Unreachable with a note: the objects are read afresh by Deploy and Revert, so a restarted
  // executor always calls them again (ResumeDecision: redeploy), and they write only what is
  // not yet so.
  HostState Status(const HostTarget& host, Deadline deadline) override;

 private:
  struct Cluster {
    std::unique_ptr<kube::Client> client;
    std::unique_ptr<kube_workload::KubernetesWorkload> workload;
  };
  // nullptr when the configuration has no such cluster.
  Cluster* ClusterFor(std::string_view name);
  std::string KnownClusters() const;

  KubernetesDriverConfig config_;
  const core::Clock& clock_;
  std::mutex mu_;
  std::map<std::string, Cluster, std::less<>> clients_;  // guarded by mu_
};

// The image a Kubernetes target runs, by digest: an image release's url @ sha256, or a tarball
// release's image @ image_digest; empty when the release has no image. Throws
// std::invalid_argument for a malformed digest.
std::string ImageOf(const ArtifactRef& artifact);

// The rollout a target uses: its own, else replica canary for a Deployment and partition for a
// StatefulSet.
std::string_view EffectiveRollout(const KubernetesTarget& k);

}  // namespace sluice::executor
