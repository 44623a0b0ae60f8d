#include "adapters/kubernetes_workload_plan.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sluice::executor::kube_workload {

namespace {

const Json* Annotations(const Json& object) {
  const auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return nullptr;
  const auto ann = meta->find("annotations");
  if (ann == meta->end() || !ann->is_object()) return nullptr;
  return &*ann;
}

}  // namespace

std::string Annotation(const Json& object, std::string_view key) {
  const Json* ann = Annotations(object);
  if (ann == nullptr) return {};
  const auto it = ann->find(std::string(key));
  return it != ann->end() && it->is_string() ? it->get<std::string>() : std::string();
}

namespace {

bool IsHex(std::string_view s) {
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string ReleaseImage(std::string_view image, std::string_view digest) {
  if (image.empty()) throw std::invalid_argument("no image");
  if (digest.empty()) return std::string(image);
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.substr(0, kPrefix.size()) != kPrefix || digest.size() != kPrefix.size() + 64 ||
      !IsHex(digest.substr(kPrefix.size()))) {
    throw std::invalid_argument("digest is not sha256:<64 lowercase hex>: " + std::string(digest));
  }
  std::string_view repo = image;
  if (const auto at = repo.find('@'); at != std::string_view::npos) repo = repo.substr(0, at);
  const auto slash = repo.rfind('/');
  const auto colon = repo.rfind(':');
  // A ':' after the last '/' is a tag ("repo/app:1.2"); before it, a registry port.
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    repo = repo.substr(0, colon);
  }
  return std::string(repo) + "@" + std::string(digest);
}

ReplicaSplit PlanCanaryReplicas(std::int64_t total, double percent, bool surge) {
  if (!(percent >= 0.0 && percent <= 100.0)) {
    throw std::invalid_argument("canary percent outside [0, 100]");
  }
  if (total < 0) throw std::invalid_argument("negative replica count");
  ReplicaSplit split;
  if (percent > 0.0 && total > 0) {
    // The share is rounded up; a tiny epsilon keeps 25% of 4 at exactly 1, not 2 after the
    // floating-point product lands a hair above an integer.
    const double share = percent / 100.0 * static_cast<double>(total);
    split.canary = static_cast<std::int64_t>(std::ceil(share - 1e-9));
    if (split.canary < 1) split.canary = 1;
    if (split.canary > total) split.canary = total;
  }
  split.stable = surge ? total : total - split.canary;
  return split;
}

FenceDecision DecideFence(const Json& object, const CommandFence& fence) {
  const std::string id = Annotation(object, kAnnotationDeploymentId);
  if (id.empty() || id != fence.deployment_id) return FenceDecision::kProceed;
  const std::string gen = Annotation(object, kAnnotationGeneration);
  std::uint64_t seen = 0;
  try {
    size_t used = 0;
    seen = std::stoull(gen, &used);
    if (used != gen.size()) return FenceDecision::kProceed;
  } catch (const std::exception&) {
    return FenceDecision::kProceed;  // not ours to judge: a garbled value is overwritten
  }
  return seen > fence.generation.Value() ? FenceDecision::kStale : FenceDecision::kProceed;
}

bool OwnedByAnother(const Json& object, const CommandFence& fence) {
  const std::string id = Annotation(object, kAnnotationDeploymentId);
  return !id.empty() && id != fence.deployment_id;
}

Json FenceAnnotations(const CommandFence& fence, std::string_view release) {
  return {{std::string(kAnnotationDeploymentId), fence.deployment_id},
          {std::string(kAnnotationGeneration), std::to_string(fence.generation.Value())},
          {std::string(kAnnotationRelease), std::string(release)}};
}

bool HasAnnotations(const Json& object, const Json& annotations) {
  for (const auto& [key, value] : annotations.items()) {
    if (!value.is_string() || Annotation(object, key) != value.get<std::string>()) {
      return false;
    }
  }
  return true;
}

std::string ContainerImage(const Json& workload, std::string_view container) {
  const Json containers =
      workload.value(Json::json_pointer("/spec/template/spec/containers"), Json::array());
  for (const auto& c : containers) {
    if (c.value("name", "") == container) return c.value("image", "");
  }
  return {};
}

Json BuildCanary(const Json& stable, const WorkloadRef& ref, std::string_view image,
                 std::int64_t replicas, std::int64_t total, const CommandFence& fence,
                 std::string_view release) {
  return BuildTrackCopy(stable, ref, kCanarySuffix, kTrackCanary, image, replicas, total, fence,
                        release);
}

Json BuildTrackCopy(const Json& stable, const WorkloadRef& ref, std::string_view suffix,
                    std::string_view track, std::string_view image, std::int64_t replicas,
                    std::int64_t total, const CommandFence& fence, std::string_view release) {
  const Json spec = stable.value("spec", Json::object());
  const Json match = spec.value(Json::json_pointer("/selector/matchLabels"), Json());
  if (!match.is_object() || match.empty()) {
    throw std::invalid_argument("deployment " + ref.name + " has no selector.matchLabels");
  }
  if (ContainerImage(stable, ref.container).empty()) {
    throw std::invalid_argument("deployment " + ref.name + " has no container " + ref.container);
  }
  Json canary_spec = spec;
  canary_spec.erase("paused");
  canary_spec["replicas"] = replicas;
  canary_spec["selector"] = {{"matchLabels", match}};
  canary_spec["selector"]["matchLabels"][std::string(kTrackLabel)] = track;
  canary_spec["template"]["metadata"]["labels"][std::string(kTrackLabel)] = track;
  for (auto& c : canary_spec["template"]["spec"]["containers"]) {
    if (c.value("name", "") == ref.container) c["image"] = image;
  }
  Json labels = stable.value(Json::json_pointer("/metadata/labels"), Json::object());
  labels[std::string(kTrackLabel)] = track;
  Json annotations = FenceAnnotations(fence, release);
  annotations[std::string(kAnnotationTotalReplicas)] = std::to_string(total);
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata",
           {{"name", ref.name + std::string(suffix)},
            {"namespace", ref.ns},
            {"labels", labels},
            {"annotations", annotations}}},
          {"spec", canary_spec}};
}

Json WorkloadPatch(std::string_view container, std::string_view image, std::int64_t replicas,
                   const Json& annotations) {
  Json patch = Json::object();
  if (!image.empty()) {
    patch["spec"]["template"]["spec"]["containers"] =
        Json::array({{{"name", std::string(container)}, {"image", std::string(image)}}});
  }
  if (replicas >= 0) patch["spec"]["replicas"] = replicas;
  if (!annotations.empty()) patch["metadata"]["annotations"] = annotations;
  return patch;
}

bool IsAsWanted(const Json& object, std::string_view container, std::string_view image,
                std::int64_t replicas, const Json& annotations) {
  if (!image.empty() && ContainerImage(object, container) != image) return false;
  if (replicas >= 0 &&
      object.value(Json::json_pointer("/spec/replicas"), std::int64_t{1}) != replicas) {
    return false;
  }
  return HasAnnotations(object, annotations);
}

std::int64_t PlanPartition(std::int64_t replicas, double percent) {
  return PlanCanaryReplicas(replicas, percent, /*surge=*/false).stable;
}

std::int64_t Partition(const Json& statefulset) {
  return statefulset.value(Json::json_pointer("/spec/updateStrategy/rollingUpdate/partition"),
                           std::int64_t{0});
}

Json PartitionPatch(std::string_view container, std::string_view image, std::int64_t partition,
                    const Json& annotations) {
  Json patch = WorkloadPatch(container, image, -1, annotations);
  patch["spec"]["updateStrategy"] = {{"type", "RollingUpdate"},
                                     {"rollingUpdate", {{"partition", partition}}}};
  return patch;
}

std::string SelectorString(const Json& workload) {
  const Json match = workload.value(Json::json_pointer("/spec/selector/matchLabels"), Json());
  std::string out;
  if (!match.is_object()) return out;
  for (const auto& [key, value] : match.items()) {
    if (!out.empty()) out += ',';
    out += key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

std::int64_t RouteCanaryWeight(double percent) {
  if (!(percent >= 0.0 && percent <= 100.0)) {
    throw std::invalid_argument("canary percent outside [0, 100]");
  }
  if (percent <= 0.0) return 0;
  return std::clamp<std::int64_t>(std::llround(percent), 1, 100);
}

namespace {

bool Names(const Json& backend, std::string_view service) {
  return backend.is_object() && backend.value("name", "") == service &&
         backend.value("kind", "Service") == "Service";
}

bool SetWeight(Json& backend, std::int64_t weight) {
  if (backend.value("weight", std::int64_t{1}) == weight && backend.contains("weight")) {
    return false;
  }
  backend["weight"] = weight;
  return true;
}

}  // namespace

bool SetRouteWeights(Json& route, std::string_view stable_service, std::string_view canary_service,
                     std::int64_t canary_weight) {
  Json* rules = route.contains("spec") ? &route["spec"]["rules"] : nullptr;
  bool found = false;
  bool changed = false;
  if (rules != nullptr && rules->is_array()) {
    for (auto& rule : *rules) {
      if (!rule.contains("backendRefs") || !rule["backendRefs"].is_array()) continue;
      Json& refs = rule["backendRefs"];
      const auto stable = std::find_if(refs.begin(), refs.end(),
                                       [&](const Json& b) { return Names(b, stable_service); });
      if (stable == refs.end()) continue;
      found = true;
      changed |= SetWeight(*stable, 100 - canary_weight);
      const Json stable_copy = *stable;
      const auto canary = std::find_if(refs.begin(), refs.end(),
                                       [&](const Json& b) { return Names(b, canary_service); });
      if (canary != refs.end()) {
        changed |= SetWeight(*canary, canary_weight);
      } else {
        Json added = {{"name", std::string(canary_service)}, {"weight", canary_weight}};
        if (stable_copy.contains("port")) added["port"] = stable_copy["port"];
        refs.push_back(std::move(added));
        changed = true;
      }
    }
  }
  if (!found) {
    throw std::invalid_argument("httproute " +
                                route.value(Json::json_pointer("/metadata/name"), std::string()) +
                                " has no rule sending to service " + std::string(stable_service));
  }
  return changed;
}

std::int64_t CanaryWeight(const Json& route, std::string_view canary_service) {
  const Json rules = route.value(Json::json_pointer("/spec/rules"), Json::array());
  for (const auto& rule : rules) {
    for (const auto& b : rule.value("backendRefs", Json::array())) {
      if (Names(b, canary_service)) return b.value("weight", std::int64_t{1});
    }
  }
  return 0;
}

std::vector<std::string> PodNames(const Json& pod_list, std::string_view revision) {
  std::vector<std::string> names;
  for (const auto& pod : pod_list.value("items", Json::array())) {
    if (pod.contains(Json::json_pointer("/metadata/deletionTimestamp"))) continue;
    if (!revision.empty() &&
        pod.value(Json::json_pointer("/metadata/labels/controller-revision-hash"), std::string()) !=
            revision) {
      continue;
    }
    names.push_back(pod.value(Json::json_pointer("/metadata/name"), std::string()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace sluice::executor::kube_workload
