#include "adapters/kubernetes_driver.hpp"

#include <algorithm>
#include <stdexcept>

#include "command.hpp"

namespace sluice::executor {

namespace kw = kube_workload;

std::string_view EffectiveRollout(const KubernetesTarget& k) {
  if (!k.rollout.empty()) return k.rollout;
  return k.kind == "StatefulSet" ? kRolloutPartition : kRolloutReplicaCanary;
}

std::map<std::string, kube::Credentials, std::less<>> LoadClusters(
    const std::vector<KubeClusterConfig>& clusters, const kube::EnvLookup& env) {
  std::map<std::string, kube::Credentials, std::less<>> out;
  for (const auto& c : clusters) {
    try {
      out.emplace(c.name, c.in_cluster ? kube::InClusterCredentials(env)
                                       : kube::LoadKubeconfig(c.kubeconfig, c.context));
    } catch (const std::exception& e) {
      throw std::runtime_error("kubernetes cluster " + c.name + ": " + e.what());
    }
  }
  return out;
}

namespace {

HostOutcome Refuse(std::string_view reason, std::string message) {
  return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(reason), std::move(message));
}

kw::WorkloadRef RefOf(const KubernetesTarget& k) { return {k.ns, k.name, k.container}; }

bool HasTraffic(const KubernetesTarget& k) { return !k.route.empty(); }

// What a successful call reports: the release's version (the records key on it), the pods.
HostOutcome Reported(HostOutcome o, const std::string& version) {
  if (o.Succeeded()) o.version = version;
  return o;
}

// One Revert call: the target, the share the release falls back to (0: none of it), the
// version the records get, the command's fence and deadline.
struct RevertCall {
  const KubernetesTarget& k;
  double percent;
  const std::string& version;
  const CommandFence& fence;
  Deadline deadline;
};

// What the workload object itself holds of the release.
struct HeldRelease {
  std::string current;   // the image it runs
  std::string previous;  // the image before this deployment wrote the release into it
  // This deployment wrote the release into the workload itself (promoted, rolled,
  // partitioned). Not when an earlier deployment wrote it: this one's canary steps only fenced
  // the stable (sluice.io/deployment-id).
  bool promoted = false;
};

HeldRelease HeldBy(const kw::Json& object, const std::string& container,
                   const CommandFence& fence) {
  HeldRelease h;
  h.current = kw::ContainerImage(object, container);
  h.previous = kw::Annotation(object, kw::kAnnotationPreviousImage);
  h.promoted = kw::Annotation(object, kw::kAnnotationDeploymentId) == fence.deployment_id &&
               kw::Annotation(object, kw::kAnnotationPreviousImageBy) == fence.deployment_id &&
               kw::Annotation(object, kw::kAnnotationRelease) == h.current && !h.previous.empty() &&
               h.previous != h.current;
  return h;
}

// Batch scope after the promotion: the release goes back to its share on a canary beside the
// stable (as if the batches after that share had not run), then the stable goes back to the
// image before. In this order a repeat after a crash finds either the stable still holding the
// release (both steps again, the first writing nothing) or the canary of this deployment (the
// lowering path, writing nothing).
HostOutcome RestoreShare(kw::KubernetesWorkload& w, const RevertCall& c, const HeldRelease& held) {
  const KubernetesTarget& k = c.k;
  HostOutcome step = w.CanaryStep(RefOf(k), held.current, c.percent, c.fence, c.deadline);
  if (!step.Succeeded()) return step;
  if (HasTraffic(k)) {
    HostOutcome t =
        w.SetTraffic(k.ns, k.route, k.stable_service, k.canary_service, c.percent, c.fence);
    if (!t.Succeeded()) return t;
  }
  return Reported(w.StableBack(RefOf(k), held.previous, c.fence, c.deadline), c.version);
}

// A replica canary: above zero the canary lowered to the share (put back beside the stable
// when the release was promoted); zero: the canary to zero and, once promoted, the stable back
// on the image before.
HostOutcome RevertCanary(kw::KubernetesWorkload& w, kube::Client& client, const RevertCall& c,
                         const HeldRelease& held) {
  const KubernetesTarget& k = c.k;
  const kw::WorkloadRef ref = RefOf(k);
  if (c.percent > 0 && c.percent < 100 && held.promoted) return RestoreShare(w, c, held);
  if (HasTraffic(k)) {
    HostOutcome t =
        w.SetTraffic(k.ns, k.route, k.stable_service, k.canary_service, c.percent, c.fence);
    if (!t.Succeeded()) return t;
  }
  if (c.percent > 0) {
    const auto canary =
        client.GetIfExists(kube::kDeployments, k.ns, k.name + std::string(kw::kCanarySuffix));
    const std::string canary_image =
        canary ? kw::ContainerImage(*canary, k.container) : std::string();
    if (canary_image.empty() ||
        kw::Annotation(*canary, kw::kAnnotationDeploymentId) != c.fence.deployment_id) {
      // No canary of this deployment to lower: nothing of the release to take back here.
      return HostOutcome::Success(c.version);
    }
    return Reported(w.CanaryStep(ref, canary_image, c.percent, c.fence, c.deadline), c.version);
  }
  if (held.promoted) {
    return Reported(w.Revert(ref, kw::RevertScope::kFull, held.previous, c.fence, c.deadline),
                    c.version);
  }
  return Reported(w.Revert(ref, kw::RevertScope::kBatch, "", c.fence, c.deadline), c.version);
}

// Rolling and partition: the workload's pods cannot give back a share, so any revert puts the
// image before back on all of them.
HostOutcome RevertInPlace(kw::KubernetesWorkload& w, const RevertCall& c, const kw::Json& object,
                          const HeldRelease& held) {
  const KubernetesTarget& k = c.k;
  if (kw::OwnedByAnother(object, c.fence)) {
    return HostOutcome::Failure(
        OutcomeKind::kFailed, false, std::string(kReasonHostOwnedElsewhere),
        "deployment " + kw::Annotation(object, kw::kAnnotationDeploymentId) + " wrote " + k.name +
            " after deployment " + c.fence.deployment_id + "; its revert is refused");
  }
  if (!held.promoted) return HostOutcome::Success(c.version);
  if (EffectiveRollout(k) == kRolloutPartition) {
    return Reported(
        w.StatefulSetStep(RefOf(k), held.previous, 100, c.fence, c.deadline, /*reverting=*/true),
        c.version);
  }
  return Reported(w.RollingStep(RefOf(k), held.previous, c.fence, c.deadline, /*reverting=*/true),
                  c.version);
}

}  // namespace

std::string ImageOf(const ArtifactRef& artifact) {
  if (artifact.kind == kArtifactImage || (artifact.kind.empty() && artifact.image.empty())) {
    return kw::ReleaseImage(artifact.url, artifact.sha256);
  }
  if (artifact.image.empty()) return {};
  return kw::ReleaseImage(artifact.image, artifact.image_digest);
}

KubernetesDriver::KubernetesDriver(KubernetesDriverConfig config, const core::Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  if (config_.client.identity == "sluice") config_.client.identity = "executor";
  if (config_.client.field_manager == "sluice") config_.client.field_manager = "sluice-executor";
}

std::string KubernetesDriver::KnownClusters() const {
  std::string known;
  for (const auto& [name, creds] : config_.clusters) known += (known.empty() ? "" : ", ") + name;
  return known.empty() ? "none (set SLUICE_EXECUTOR_KUBE_CLUSTERS)" : known;
}

KubernetesDriver::Cluster* KubernetesDriver::ClusterFor(std::string_view name) {
  std::lock_guard lock(mu_);
  if (const auto it = clients_.find(name); it != clients_.end()) return &it->second;
  const auto creds = config_.clusters.find(name);
  if (creds == config_.clusters.end()) return nullptr;
  Cluster c;
  c.client = std::make_unique<kube::Client>(creds->second, config_.client);
  c.workload = std::make_unique<kw::KubernetesWorkload>(*c.client, clock_, config_.workload);
  return &clients_.emplace(std::string(name), std::move(c)).first->second;
}

HostOutcome KubernetesDriver::Deploy(const HostTarget& host, const ArtifactRef& artifact,
                                     const CommandFence& fence, Deadline deadline) {
  if (!host.kubernetes) {
    return Refuse(kube_reason::kNoWorkload,
                  "target " + host.host + " names no Kubernetes workload");
  }
  const KubernetesTarget& k = *host.kubernetes;
  Cluster* cluster = ClusterFor(k.cluster);
  if (cluster == nullptr) {
    return Refuse(kube_reason::kUnknownCluster,
                  "target " + host.host + ": cluster \"" + k.cluster +
                      "\" is not configured; known: " + KnownClusters());
  }
  if (k.weight_percent == 0 || k.weight_percent > 100) {
    return Refuse(kube_reason::kNoWeight,
                  "target " + host.host + ": the batch carries no weight_percent in 1..100 (got " +
                      std::to_string(k.weight_percent) + ")");
  }
  std::string image;
  try {
    image = ImageOf(artifact);
  } catch (const std::invalid_argument& e) {
    return Refuse(kw::reason::kInvalid, "target " + host.host + ": " + e.what());
  }
  if (image.empty()) {
    return Refuse(kube_reason::kNotAnImage,
                  "target " + host.host + ": the release is a " + artifact.kind +
                      " with no image for Kubernetes targets (Artifact.image)");
  }
  const double percent = k.weight_percent;
  const kw::WorkloadRef ref = RefOf(k);
  kw::KubernetesWorkload& w = *cluster->workload;
  const std::string_view rollout = EffectiveRollout(k);

  if (rollout == kRolloutReplicaCanary) {
    if (k.kind != "Deployment") {
      return Refuse(kube_reason::kUnsupported, "target " + host.host +
                                                   ": a replica canary needs a "
                                                   "Deployment, not a " +
                                                   k.kind);
    }
    // At 100 the traffic goes back to the stable Service before the canary goes away.
    if (HasTraffic(k) && percent >= 100) {
      HostOutcome t = w.SetTraffic(k.ns, k.route, k.stable_service, k.canary_service, 0, fence);
      if (!t.Succeeded()) return t;
    }
    HostOutcome step = w.CanaryStep(ref, image, percent, fence, deadline);
    if (!step.Succeeded()) return step;
    // Below 100 the canary's pods are ready before the route sends them their share.
    if (HasTraffic(k) && percent < 100) {
      HostOutcome t =
          w.SetTraffic(k.ns, k.route, k.stable_service, k.canary_service, percent, fence);
      if (!t.Succeeded()) return t;
    }
    return Reported(std::move(step), artifact.version);
  }
  if (rollout == kRolloutPartition) {
    if (k.kind != "StatefulSet") {
      return Refuse(kube_reason::kUnsupported,
                    "target " + host.host + ": a partition rollout needs a StatefulSet");
    }
    return Reported(w.StatefulSetStep(ref, image, percent, fence, deadline), artifact.version);
  }
  if (rollout == kRolloutRolling) {
    return Reported(w.RollingStep(ref, image, fence, deadline), artifact.version);
  }
  if (rollout == kRolloutBlueGreen) {
    return Reported(w.BlueGreenStep(ref, k.service, image, percent, fence, deadline),
                    artifact.version);
  }
  return Refuse(kube_reason::kUnsupported,
                "target " + host.host + ": unknown rollout \"" + std::string(rollout) + "\"");
}

HostOutcome KubernetesDriver::Revert(const HostTarget& host, std::string version,
                                     const CommandFence& fence, Deadline deadline) {
  if (!host.kubernetes) {
    return Refuse(kube_reason::kNoWorkload,
                  "target " + host.host + " names no Kubernetes workload");
  }
  const KubernetesTarget& k = *host.kubernetes;
  Cluster* cluster = ClusterFor(k.cluster);
  if (cluster == nullptr) {
    return Refuse(kube_reason::kUnknownCluster,
                  "target " + host.host + ": cluster \"" + k.cluster +
                      "\" is not configured; known: " + KnownClusters());
  }
  kw::KubernetesWorkload& w = *cluster->workload;
  const RevertCall call{k, static_cast<double>(std::min<std::uint32_t>(k.weight_percent, 100)),
                        version, fence, deadline};
  const std::string_view rollout = EffectiveRollout(k);
  try {
    if (rollout == kRolloutBlueGreen) {
      return Reported(w.BlueGreenRevert(RefOf(k), k.service, fence, deadline), version);
    }
    const kw::Json object = cluster->client->Get(
        k.kind == "StatefulSet" ? kube::kStatefulSets : kube::kDeployments, k.ns, k.name);
    const HeldRelease held = HeldBy(object, k.container, fence);
    if (rollout == kRolloutReplicaCanary) {
      return RevertCanary(w, *cluster->client, call, held);
    }
    if (rollout == kRolloutPartition || rollout == kRolloutRolling) {
      return RevertInPlace(w, call, object, held);
    }
  } catch (const kube::ApiError& e) {
    return HostOutcome::Failure(
        e.Kind() == kube::ErrorKind::kTransport ? OutcomeKind::kUnreachable : OutcomeKind::kFailed,
        e.IsRetryable() || e.Kind() == kube::ErrorKind::kConflict,
        std::string(e.Kind() == kube::ErrorKind::kNotFound ? kw::reason::kNotFound
                                                           : kw::reason::kApi),
        e.what());
  }
  return Refuse(kube_reason::kUnsupported,
                "target " + host.host + ": unknown rollout \"" + std::string(rollout) + "\"");
}

HostState KubernetesDriver::Status(const HostTarget& host, Deadline) {
  HostState s;
  s.error = "target " + host.host +
            ": a Kubernetes target's state is read by the next Deploy or Revert, which writes "
            "only what is not yet so";
  return s;
}

}  // namespace sluice::executor
