#include "adapters/kubernetes_workload.hpp"

#include <map>
#include <optional>
#include <sluice/kube/rollout_status.hpp>
#include <stdexcept>
#include <thread>

#include "command.hpp"

namespace sluice::executor::kube_workload {

namespace {

std::string CanaryName(const WorkloadRef& ref) { return ref.name + std::string(kCanarySuffix); }

// The stable's pods without the canary's (the canary's template carries the track label).
std::string StableSelector(const Json& stable) {
  std::string s = SelectorString(stable);
  if (!s.empty()) s += ',';
  return s + std::string(kTrackLabel) + "!=" + std::string(kTrackCanary);
}

std::int64_t Replicas(const Json& workload) {
  return workload.value(Json::json_pointer("/spec/replicas"), std::int64_t{1});
}

// The stable's replica count before the canary took any: the canary remembers it.
std::int64_t TotalReplicas(const Json& stable, const std::optional<Json>& canary) {
  if (canary) {
    const std::string v = Annotation(*canary, kAnnotationTotalReplicas);
    try {
      size_t used = 0;
      const long long n = std::stoll(v, &used);
      if (used == v.size() && n >= 0) return n;
    } catch (const std::exception&) {
    }
  }
  return Replicas(stable);
}

std::optional<HostOutcome> CheckFence(const Json& object, const CommandFence& fence) {
  if (DecideFence(object, fence) != FenceDecision::kStale) return std::nullopt;
  return HostOutcome::Failure(
      OutcomeKind::kStale, false, std::string(reason::kStaleGeneration),
      "deployment " + object.value(Json::json_pointer("/metadata/name"), std::string()) +
          " carries generation " + Annotation(object, kAnnotationGeneration) + " of deployment " +
          fence.deployment_id + ", newer than this command's " +
          std::to_string(fence.generation.Value()) + ": hands off");
}

// "web-canary-abc: Pending: ...; web-canary-def: ..." for a message.
std::string NamePods(const kube::RolloutStatus& s) {
  std::string named;
  for (const auto& p : s.pods_not_ready) {
    if (!named.empty()) named += "; ";
    named += p.name;
    named += ": ";
    named += p.why;
  }
  return named;
}

// "deployment shop/web: 1 of 3 updated replicas available (not ready: web-abc: ...)".
std::string Describe(std::string_view kind, const std::string& ns, const std::string& name,
                     const kube::RolloutStatus& s) {
  std::string out(kind);
  out += ' ';
  out += ns;
  out += '/';
  out += name;
  out += ": ";
  out += s.message;
  if (const std::string named = NamePods(s); !named.empty()) {
    out += " (not ready: ";
    out += named;
    out += ')';
  }
  return out;
}

// What an SRE does about one kind of reason a pod is not ready.
std::string_view AdviceFor(std::string_view reason) {
  if (reason == "ImagePullBackOff" || reason == "ErrImagePull" || reason == "InvalidImageName") {
    return "the image cannot be pulled: check the release's image reference and digest, and the "
           "namespace's pull secret";
  }
  if (reason == "Unschedulable" || reason == "NotScheduled") {
    return "no node takes the pod: compare its nodeSelector, affinity, tolerations and resource "
           "requests with the nodes, or add capacity";
  }
  if (reason == "CrashLoopBackOff" || reason == "Error" || reason == "OOMKilled") {
    return "the container exits: read its logs (kubectl logs --previous) and the release's "
           "configuration";
  }
  if (reason == "ContainersNotReady") {
    return "the readiness probe fails: read the container's logs and check its probe";
  }
  return "";
}

// "; what to do: web-abc, web-def (Unschedulable): no node takes the pod: ...; kubectl -n shop
// describe pod web-abc." once per reason, its first three pods named.
std::string WhatToDo(const std::string& ns, const kube::RolloutStatus& s) {
  if (s.pods_not_ready.empty()) return "";
  std::map<std::string, std::vector<std::string>> by_reason;
  for (const auto& p : s.pods_not_ready) by_reason[p.reason].push_back(p.name);
  std::string out = "; what to do:";
  for (const auto& [reason, pods] : by_reason) {
    out += ' ';
    for (std::size_t i = 0; i < pods.size() && i < 3; ++i) out += (i > 0 ? ", " : "") + pods[i];
    if (pods.size() > 3) out += " and " + std::to_string(pods.size() - 3) + " more";
    out += " (" + reason + "): ";
    const std::string_view advice = AdviceFor(reason);
    if (!advice.empty()) out += std::string(advice) + "; ";
    out += "kubectl -n " + ns + " describe pod " + pods.front() + ".";
  }
  return out;
}

// A wait given up: the pods that are not ready, named in the message with what to do, and
// carried one by one (BatchFailed.pods_not_ready).
HostOutcome Stuck(OutcomeKind kind, bool retryable, std::string_view why, std::string what,
                  const std::string& ns, const kube::RolloutStatus& s) {
  HostOutcome o =
      HostOutcome::Failure(kind, retryable, std::string(why), std::move(what) + WhatToDo(ns, s));
  for (const auto& p : s.pods_not_ready) {
    o.pods_not_ready.push_back({p.name, p.phase, p.reason, p.why});
  }
  return o;
}

std::string AtDeadline(std::string what, const kube::RolloutStatus& s) {
  what += "; still ";
  what += s.reason;
  what += " at the deadline";
  return what;
}

// Fence annotations without the release (what the stable carries while it still runs the old
// image).
Json FenceOnly(const CommandFence& fence) {
  Json a = FenceAnnotations(fence, "");
  a.erase(std::string(kAnnotationRelease));
  return a;
}

// The fence annotations of a write that replaces the image: plus the image before, when it
// changes (a repeat, the image already in place, leaves the recorded one alone).
Json WithPrevious(const Json& workload, const WorkloadRef& ref, const std::string& image,
                  Json ann) {
  const std::string before = ContainerImage(workload, ref.container);
  if (!before.empty() && before != image) {
    ann[std::string(kAnnotationPreviousImage)] = before;
    ann[std::string(kAnnotationPreviousImageBy)] =
        ann.value(std::string(kAnnotationDeploymentId), "");
  }
  return ann;
}

std::string GreenName(const WorkloadRef& ref) { return ref.name + std::string(kGreenSuffix); }

std::string TrackSelector(const Json& stable, std::string_view track) {
  return SelectorString(stable) + "," + std::string(kTrackLabel) + "=" + std::string(track);
}

}  // namespace

KubernetesWorkload::KubernetesWorkload(kube::Client& client, const core::Clock& clock,
                                       WorkloadOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  if (!options_.sleep) {
    options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
}

HostOutcome KubernetesWorkload::Guarded(const WorkloadRef& ref,
                                        const std::function<HostOutcome()>& body) {
  try {
    return body();
  } catch (const kube::ApiError& e) {
    if (e.Kind() == kube::ErrorKind::kNotFound) {
      return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(reason::kNotFound),
                                  e.what());
    }
    if (e.Kind() == kube::ErrorKind::kTransport) {
      return HostOutcome::Failure(OutcomeKind::kUnreachable, e.IsRetryable(),
                                  std::string(reason::kApi), e.what());
    }
    // A conflict means someone wrote between our read and our write: the repeat re-reads.
    return HostOutcome::Failure(OutcomeKind::kFailed,
                                e.IsRetryable() || e.Kind() == kube::ErrorKind::kConflict,
                                std::string(reason::kApi), e.what());
  } catch (const std::invalid_argument& e) {
    return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(reason::kInvalid),
                                ref.ns + "/" + ref.name + ": " + e.what());
  }
}

HostOutcome KubernetesWorkload::WaitRollout(const std::string& ns, const std::string& name,
                                            const std::string& pod_selector, Deadline deadline) {
  kube::ListOptions pods;
  pods.label_selector = pod_selector;
  for (;;) {
    const Json deployment = client_.Get(kube::kDeployments, ns, name);
    kube::RolloutStatus s = kube::InterpretDeployment(deployment);
    if (s.phase == kube::RolloutPhase::kComplete) {
      return HostOutcome::Success(std::string(), HostHealth::kHealthy);
    }
    const bool giving_up = s.phase == kube::RolloutPhase::kFailed || clock_.Monotonic() >= deadline;
    if (!giving_up) {
      // The pods are listed only to name them when giving up: reading every pod of the
      // selector on each poll was most of the driver's own CPU in make bench's 100-replica
      // canary (1.40 s of it; 0.31 s without).
      options_.sleep(options_.poll_interval);
      continue;
    }
    s = kube::InterpretDeployment(deployment, client_.List(kube::kPods, ns, pods));
    const std::string what = Describe("deployment", ns, name, s);
    if (s.phase == kube::RolloutPhase::kFailed) {
      return Stuck(OutcomeKind::kFailed, false, reason::kProgressDeadline, what, ns, s);
    }
    return Stuck(OutcomeKind::kTimedOut, true, reason::kDeadline, AtDeadline(what, s), ns, s);
  }
}

HostOutcome KubernetesWorkload::WaitStatefulSet(const std::string& ns, const std::string& name,
                                                const std::string& pod_selector,
                                                Deadline deadline) {
  kube::ListOptions pods;
  pods.label_selector = pod_selector;
  for (;;) {
    const Json sts = client_.Get(kube::kStatefulSets, ns, name);
    kube::RolloutStatus s = kube::InterpretStatefulSet(sts);
    if (s.phase == kube::RolloutPhase::kComplete) {
      return HostOutcome::Success(std::string(), HostHealth::kHealthy);
    }
    if (clock_.Monotonic() >= deadline) {
      s = kube::InterpretStatefulSet(sts, client_.List(kube::kPods, ns, pods));
      return Stuck(OutcomeKind::kTimedOut, true, reason::kDeadline,
                   AtDeadline(Describe("statefulset", ns, name, s), s), ns, s);
    }
    options_.sleep(options_.poll_interval);
  }
}

HostOutcome KubernetesWorkload::StatefulSetStep(const WorkloadRef& ref, const std::string& image,
                                                double percent, const CommandFence& fence,
                                                Deadline deadline, bool reverting) {
  return Guarded(ref, [&]() -> HostOutcome {
    const Json sts = client_.Get(kube::kStatefulSets, ref.ns, ref.name);
    if (auto stale = CheckFence(sts, fence)) return *stale;
    if (ContainerImage(sts, ref.container).empty()) {
      throw std::invalid_argument("no container " + ref.container);
    }
    const std::int64_t replicas = Replicas(sts);
    std::int64_t partition = PlanPartition(replicas, percent);
    const bool same_release = ContainerImage(sts, ref.container) == image;
    // Batches only ever lower the partition of one release; a new release starts from its own.
    if (same_release && Partition(sts) < partition) partition = Partition(sts);
    const Json ann = FenceAnnotations(fence, image);
    if (!same_release || Partition(sts) != partition || !HasAnnotations(sts, ann) ||
        sts.value(Json::json_pointer("/spec/updateStrategy/type"), std::string("RollingUpdate")) !=
            "RollingUpdate") {
      client_.Patch(kube::kStatefulSets, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
                    PartitionPatch(ref.container, image, partition,
                                   reverting ? ann : WithPrevious(sts, ref, image, ann)));
    }
    HostOutcome waited = WaitStatefulSet(ref.ns, ref.name, SelectorString(sts), deadline);
    if (!waited.Succeeded()) return waited;
    HostOutcome done = HostOutcome::Success(image);
    const Json now = client_.Get(kube::kStatefulSets, ref.ns, ref.name);
    done.instances = Pods(ref.ns, SelectorString(sts),
                          now.value(Json::json_pointer("/status/updateRevision"), std::string()));
    return done;
  });
}

HostOutcome KubernetesWorkload::CanaryStep(const WorkloadRef& ref, const std::string& image,
                                           double percent, const CommandFence& fence,
                                           Deadline deadline) {
  return Guarded(ref, [&]() -> HostOutcome {
    const Json stable = client_.Get(kube::kDeployments, ref.ns, ref.name);
    const std::optional<Json> canary =
        client_.GetIfExists(kube::kDeployments, ref.ns, CanaryName(ref));
    if (auto stale = CheckFence(stable, fence)) return *stale;
    if (canary) {
      if (auto stale = CheckFence(*canary, fence)) return *stale;
    }
    if (ContainerImage(stable, ref.container).empty()) {
      throw std::invalid_argument("no container " + ref.container);
    }
    const std::int64_t total = TotalReplicas(stable, canary);

    if (percent >= 100.0) {
      const Json ann = FenceAnnotations(fence, image);
      if (!IsAsWanted(stable, ref.container, image, total, ann)) {
        client_.Patch(
            kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
            WorkloadPatch(ref.container, image, total, WithPrevious(stable, ref, image, ann)));
      }
      HostOutcome waited = WaitRollout(ref.ns, ref.name, StableSelector(stable), deadline);
      if (!waited.Succeeded()) return waited;
      if (canary) client_.DeleteIfExists(kube::kDeployments, ref.ns, CanaryName(ref));
      HostOutcome done = HostOutcome::Success(image);
      done.instances = Pods(ref.ns, StableSelector(stable));
      return done;
    }

    const ReplicaSplit split = PlanCanaryReplicas(total, percent, options_.surge);
    if (!canary) {
      client_.Create(kube::kDeployments, ref.ns,
                     BuildCanary(stable, ref, image, split.canary, total, fence, image));
    } else {
      Json ann = FenceAnnotations(fence, image);
      ann[std::string(kAnnotationTotalReplicas)] = std::to_string(total);
      if (!IsAsWanted(*canary, ref.container, image, split.canary, ann)) {
        client_.Patch(kube::kDeployments, ref.ns, CanaryName(ref), kube::PatchType::kStrategicMerge,
                      WorkloadPatch(ref.container, image, split.canary, ann));
      }
    }
    const Json stable_ann = FenceOnly(fence);
    if (!IsAsWanted(stable, ref.container, "", split.stable, stable_ann)) {
      client_.Patch(kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
                    WorkloadPatch(ref.container, "", split.stable, stable_ann));
    }
    HostOutcome waited = WaitRollout(
        ref.ns, CanaryName(ref),
        SelectorString(stable) + "," + std::string(kTrackLabel) + "=" + std::string(kTrackCanary),
        deadline);
    if (!waited.Succeeded()) return waited;
    waited = WaitRollout(ref.ns, ref.name, StableSelector(stable), deadline);
    if (!waited.Succeeded()) return waited;
    HostOutcome done = HostOutcome::Success(image);
    done.instances = Pods(ref.ns, SelectorString(stable) + "," + std::string(kTrackLabel) + "=" +
                                      std::string(kTrackCanary));
    done.baseline_instances = Pods(ref.ns, StableSelector(stable));
    return done;
  });
}

HostOutcome KubernetesWorkload::Revert(const WorkloadRef& ref, RevertScope scope,
                                       const std::string& previous_image, const CommandFence& fence,
                                       Deadline deadline) {
  return Guarded(ref, [&]() -> HostOutcome {
    const Json stable = client_.Get(kube::kDeployments, ref.ns, ref.name);
    const std::optional<Json> canary =
        client_.GetIfExists(kube::kDeployments, ref.ns, CanaryName(ref));
    if (auto stale = CheckFence(stable, fence)) return *stale;
    if (canary) {
      if (auto stale = CheckFence(*canary, fence)) return *stale;
    }
    for (const Json* object : {&stable, canary ? &*canary : nullptr}) {
      if (object != nullptr && OwnedByAnother(*object, fence)) {
        return HostOutcome::Failure(
            OutcomeKind::kFailed, false, std::string(kReasonHostOwnedElsewhere),
            "deployment " + Annotation(*object, kAnnotationDeploymentId) + " wrote " +
                object->value(Json::json_pointer("/metadata/name"), std::string()) +
                " after deployment " + fence.deployment_id + "; its revert is refused");
      }
    }
    const std::int64_t total = TotalReplicas(stable, canary);

    if (scope == RevertScope::kBatch) {
      if (canary) {
        const Json ann = FenceOnly(fence);
        if (!IsAsWanted(*canary, ref.container, "", 0, ann)) {
          client_.Patch(kube::kDeployments, ref.ns, CanaryName(ref),
                        kube::PatchType::kStrategicMerge, WorkloadPatch(ref.container, "", 0, ann));
        }
      }
      const Json ann = FenceOnly(fence);
      if (!IsAsWanted(stable, ref.container, "", total, ann)) {
        client_.Patch(kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
                      WorkloadPatch(ref.container, "", total, ann));
      }
      HostOutcome waited = WaitRollout(ref.ns, ref.name, StableSelector(stable), deadline);
      if (!waited.Succeeded()) return waited;
      return HostOutcome::Success(ContainerImage(stable, ref.container));
    }

    if (previous_image.empty()) throw std::invalid_argument("full revert without a previous image");
    const Json ann = FenceAnnotations(fence, previous_image);
    if (!IsAsWanted(stable, ref.container, previous_image, total, ann)) {
      client_.Patch(kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
                    WorkloadPatch(ref.container, previous_image, total, ann));
    }
    HostOutcome waited = WaitRollout(ref.ns, ref.name, StableSelector(stable), deadline);
    if (!waited.Succeeded()) return waited;
    if (canary) client_.DeleteIfExists(kube::kDeployments, ref.ns, CanaryName(ref));
    return HostOutcome::Success(previous_image);
  });
}

HostOutcome KubernetesWorkload::StableBack(const WorkloadRef& ref,
                                           const std::string& previous_image,
                                           const CommandFence& fence, Deadline deadline) {
  return Guarded(ref, [&]() -> HostOutcome {
    if (previous_image.empty()) throw std::invalid_argument("no previous image to go back to");
    const Json stable = client_.Get(kube::kDeployments, ref.ns, ref.name);
    if (auto stale = CheckFence(stable, fence)) return *stale;
    if (OwnedByAnother(stable, fence)) {
      return HostOutcome::Failure(
          OutcomeKind::kFailed, false, std::string(kReasonHostOwnedElsewhere),
          "deployment " + Annotation(stable, kAnnotationDeploymentId) + " wrote " + ref.name +
              " after deployment " + fence.deployment_id + "; its revert is refused");
    }
    const Json ann = FenceAnnotations(fence, previous_image);
    if (!IsAsWanted(stable, ref.container, previous_image, -1, ann)) {
      client_.Patch(kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
                    WorkloadPatch(ref.container, previous_image, -1, ann));
    }
    HostOutcome waited = WaitRollout(ref.ns, ref.name, StableSelector(stable), deadline);
    if (!waited.Succeeded()) return waited;
    HostOutcome done = HostOutcome::Success(previous_image);
    done.instances = Pods(ref.ns, StableSelector(stable));
    return done;
  });
}

std::vector<std::string> KubernetesWorkload::Pods(const std::string& ns,
                                                  const std::string& selector,
                                                  const std::string& revision) {
  kube::ListOptions lo;
  lo.label_selector = selector;
  return PodNames(client_.List(kube::kPods, ns, lo), revision);
}

HostOutcome KubernetesWorkload::RollingStep(const WorkloadRef& ref, const std::string& image,
                                            const CommandFence& fence, Deadline deadline,
                                            bool reverting) {
  return Guarded(ref, [&]() -> HostOutcome {
    const Json d = client_.Get(kube::kDeployments, ref.ns, ref.name);
    if (auto stale = CheckFence(d, fence)) return *stale;
    if (ContainerImage(d, ref.container).empty()) {
      throw std::invalid_argument("no container " + ref.container);
    }
    const Json ann = FenceAnnotations(fence, image);
    if (!IsAsWanted(d, ref.container, image, -1, ann)) {
      client_.Patch(kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
                    WorkloadPatch(ref.container, image, -1,
                                  reverting ? ann : WithPrevious(d, ref, image, ann)));
    }
    HostOutcome waited = WaitRollout(ref.ns, ref.name, SelectorString(d), deadline);
    if (!waited.Succeeded()) return waited;
    HostOutcome done = HostOutcome::Success(image);
    done.instances = Pods(ref.ns, SelectorString(d));
    return done;
  });
}

HostOutcome KubernetesWorkload::BlueGreenStep(const WorkloadRef& ref, const std::string& service,
                                              const std::string& image, double percent,
                                              const CommandFence& fence, Deadline deadline) {
  return Guarded(ref, [&]() -> HostOutcome {
    if (service.empty()) throw std::invalid_argument("blue-green without a service");
    const Json stable = client_.Get(kube::kDeployments, ref.ns, ref.name);
    const std::optional<Json> green =
        client_.GetIfExists(kube::kDeployments, ref.ns, GreenName(ref));
    if (auto stale = CheckFence(stable, fence)) return *stale;
    if (green) {
      if (auto stale = CheckFence(*green, fence)) return *stale;
    }
    const std::int64_t total = TotalReplicas(stable, green);
    const Json match = stable.value(Json::json_pointer("/spec/selector/matchLabels"), Json());
    Json green_selector = match;
    green_selector[std::string(kTrackLabel)] = kTrackGreen;

    if (percent >= 100.0 && ContainerImage(stable, ref.container) == image &&
        HasAnnotations(stable, FenceAnnotations(fence, image)) && !green) {
      // Promoted already (a repeat): the stable serves the release.
      HostOutcome done = HostOutcome::Success(image);
      done.instances = Pods(ref.ns, StableSelector(stable));
      return done;
    }
    // The green Deployment, ready before it takes any traffic.
    if (!green) {
      client_.Create(kube::kDeployments, ref.ns,
                     BuildTrackCopy(stable, ref, kGreenSuffix, kTrackGreen, image, total, total,
                                    fence, image));
    } else {
      Json ann = FenceAnnotations(fence, image);
      ann[std::string(kAnnotationTotalReplicas)] = std::to_string(total);
      if (!IsAsWanted(*green, ref.container, image, total, ann)) {
        client_.Patch(kube::kDeployments, ref.ns, GreenName(ref), kube::PatchType::kStrategicMerge,
                      WorkloadPatch(ref.container, image, total, ann));
      }
    }
    HostOutcome waited =
        WaitRollout(ref.ns, GreenName(ref), TrackSelector(stable, kTrackGreen), deadline);
    if (!waited.Succeeded()) return waited;
    // The switch: the Service selects the green pods only.
    client_.UpdateWithRetry(kube::kServices, ref.ns, service, [&](Json& svc) {
      const Json before = svc.value(Json::json_pointer("/spec/selector"), Json::object());
      if (before == green_selector) return false;
      svc["metadata"]["annotations"][std::string(kAnnotationSelectorBefore)] = before.dump();
      svc["spec"]["selector"] = green_selector;
      return true;
    });
    if (percent < 100.0) {
      HostOutcome done = HostOutcome::Success(image);
      done.instances = Pods(ref.ns, TrackSelector(stable, kTrackGreen));
      return done;
    }
    // Promotion: the stable takes the release behind the green's back, then the Service goes
    // back to it and the green Deployment goes away.
    const Json ann = FenceAnnotations(fence, image);
    if (!IsAsWanted(stable, ref.container, image, total, ann)) {
      client_.Patch(
          kube::kDeployments, ref.ns, ref.name, kube::PatchType::kStrategicMerge,
          WorkloadPatch(ref.container, image, total, WithPrevious(stable, ref, image, ann)));
    }
    waited = WaitRollout(ref.ns, ref.name, StableSelector(stable), deadline);
    if (!waited.Succeeded()) return waited;
    client_.UpdateWithRetry(kube::kServices, ref.ns, service, [&](Json& svc) {
      if (svc.value(Json::json_pointer("/spec/selector"), Json::object()) == match) return false;
      svc["spec"]["selector"] = match;
      return true;
    });
    client_.DeleteIfExists(kube::kDeployments, ref.ns, GreenName(ref));
    HostOutcome done = HostOutcome::Success(image);
    done.instances = Pods(ref.ns, StableSelector(stable));
    return done;
  });
}

HostOutcome KubernetesWorkload::BlueGreenRevert(const WorkloadRef& ref, const std::string& service,
                                                const CommandFence& fence, Deadline deadline) {
  return Guarded(ref, [&]() -> HostOutcome {
    const Json stable = client_.Get(kube::kDeployments, ref.ns, ref.name);
    if (auto stale = CheckFence(stable, fence)) return *stale;
    const Json match = stable.value(Json::json_pointer("/spec/selector/matchLabels"), Json());
    if (!service.empty()) {
      client_.UpdateWithRetry(kube::kServices, ref.ns, service, [&](Json& svc) {
        Json before = match;
        const std::string kept = Annotation(svc, kAnnotationSelectorBefore);
        if (!kept.empty()) {
          Json parsed = Json::parse(kept, nullptr, false);
          if (parsed.is_object()) before = std::move(parsed);
        }
        if (svc.value(Json::json_pointer("/spec/selector"), Json::object()) == before) return false;
        svc["spec"]["selector"] = before;
        return true;
      });
    }
    client_.DeleteIfExists(kube::kDeployments, ref.ns, GreenName(ref));
    const std::string previous = Annotation(stable, kAnnotationPreviousImage);
    const bool promoted =
        Annotation(stable, kAnnotationDeploymentId) == fence.deployment_id &&
        Annotation(stable, kAnnotationRelease) == ContainerImage(stable, ref.container) &&
        !previous.empty();
    if (!promoted) return HostOutcome::Success(ContainerImage(stable, ref.container));
    return Revert(ref, RevertScope::kFull, previous, fence, deadline);
  });
}

HostOutcome KubernetesWorkload::SetTraffic(const std::string& ns, const std::string& route,
                                           const std::string& stable_service,
                                           const std::string& canary_service, double percent,
                                           const CommandFence& fence) {
  return Guarded({ns, route, ""}, [&]() -> HostOutcome {
    const std::int64_t weight = RouteCanaryWeight(percent);
    std::optional<HostOutcome> stale;
    client_.UpdateWithRetry(kube::kHttpRoutes, ns, route, [&](Json& r) {
      stale = CheckFence(r, fence);
      if (stale) return false;
      const Json ann = FenceOnly(fence);
      bool changed = SetRouteWeights(r, stable_service, canary_service, weight);
      if (!HasAnnotations(r, ann)) {
        for (const auto& [k, v] : ann.items()) r["metadata"]["annotations"][k] = v;
        changed = true;
      }
      return changed;
    });
    if (stale) return *stale;
    return HostOutcome::Success(std::to_string(weight));
  });
}

}  // namespace sluice::executor::kube_workload
