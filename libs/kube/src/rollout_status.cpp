#include <algorithm>
#include <sluice/kube/rollout_status.hpp>

namespace sluice::kube {
namespace {

using nlohmann::json;

const json& Field(const json& j, std::string_view key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string Str(const json& j, std::string_view key) {
  const json& v = Field(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::int64_t Int(const json& j, std::string_view key, std::int64_t fallback = 0) {
  const json& v = Field(j, key);
  return v.is_number_integer() ? v.get<std::int64_t>() : fallback;
}

const json* Condition(const json& status, std::string_view type) {
  const json& conditions = Field(status, "conditions");
  if (!conditions.is_array()) return nullptr;
  for (const auto& c : conditions) {
    if (Str(c, "type") == type) return &c;
  }
  return nullptr;
}

std::string ContainerReason(const json& cs, bool init) {
  const std::string name = (init ? "init container " : "container ") + Str(cs, "name");
  const json& state = Field(cs, "state");
  std::string out;
  if (const json& w = Field(state, "waiting"); w.is_object()) {
    out = name + " waiting";
    if (const std::string r = Str(w, "reason"); !r.empty()) out += ": " + r;
    if (const std::string m = Str(w, "message"); !m.empty()) out += ": " + m;
  } else if (const json& t = Field(state, "terminated"); t.is_object()) {
    if (init && Int(t, "exitCode", -1) == 0) return "";  // a finished init container
    out = name + " terminated";
    if (const std::string r = Str(t, "reason"); !r.empty()) out += ": " + r;
    out += " (exit code " + std::to_string(Int(t, "exitCode", -1)) + ")";
  } else if (Field(state, "running").is_object()) {
    if (Field(cs, "ready") == true) return "";
    if (init) return "";  // a running init container is not a reason on its own
    out = name + " running, not ready (readiness probe)";
  } else {
    return "";
  }
  if (const std::int64_t restarts = Int(cs, "restartCount"); restarts > 0) {
    out += ", restarted " + std::to_string(restarts) + " times";
  }
  return out;
}

void Append(std::string& out, const std::string& part) {
  if (part.empty()) return;
  if (!out.empty()) out += "; ";
  out += part;
}

std::vector<PodNotReady> NotReady(const json& pods) {
  std::vector<PodNotReady> out;
  const json& items = pods.is_array() ? pods : Field(pods, "items");
  if (!items.is_array()) return out;
  for (const auto& pod : items) {
    if (!Field(Field(pod, "metadata"), "deletionTimestamp").is_null()) continue;  // going away
    std::string why = PodNotReadyReason(pod);
    if (why.empty()) continue;
    const std::string phase = Str(Field(pod, "status"), "phase");
    out.push_back({Str(Field(pod, "metadata"), "name"), std::move(why),
                   phase.empty() ? "Pending" : phase, PodNotReadyCode(pod)});
  }
  std::sort(out.begin(), out.end(),
            [](const PodNotReady& a, const PodNotReady& b) { return a.name < b.name; });
  return out;
}

std::string Count(std::int64_t n, std::int64_t of, std::string_view what) {
  return std::to_string(n) + " of " + std::to_string(of) + " " + std::string(what);
}

}  // namespace

std::string_view RolloutPhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kProgressing:
      return "Progressing";
    case RolloutPhase::kComplete:
      return "Complete";
    case RolloutPhase::kFailed:
      return "Failed";
  }
  return "?";
}

std::string PodNotReadyReason(const json& pod) {
  const json& status = Field(pod, "status");
  const json* ready = Condition(status, "Ready");
  if (ready != nullptr && Str(*ready, "status") == "True") return "";

  const std::string phase = Str(status, "phase");
  std::string why;
  if (phase == "Failed" || phase == "Succeeded") {
    why = "phase " + phase;
    if (const std::string r = Str(status, "reason"); !r.empty()) why += ": " + r;
    if (const std::string m = Str(status, "message"); !m.empty()) why += ": " + m;
    return why;
  }
  for (const char* key : {"initContainerStatuses", "containerStatuses"}) {
    const json& list = Field(status, key);
    if (!list.is_array()) continue;
    for (const auto& cs : list) Append(why, ContainerReason(cs, key[0] == 'i'));
  }
  if (!why.empty()) return why;

  if (const json* scheduled = Condition(status, "PodScheduled");
      scheduled != nullptr && Str(*scheduled, "status") == "False") {
    why = "unschedulable";
    if (const std::string m = Str(*scheduled, "message"); !m.empty()) why += ": " + m;
    return why;
  }
  if (ready != nullptr && (!Str(*ready, "reason").empty() || !Str(*ready, "message").empty())) {
    why = "not ready: " + Str(*ready, "reason");
    if (const std::string m = Str(*ready, "message"); !m.empty()) why += ": " + m;
    return why;
  }
  const std::string node = Str(Field(pod, "spec"), "nodeName");
  why = (phase.empty() ? std::string("Pending") : phase) + ": ";
  why += node.empty() ? "not scheduled yet" : "scheduled on " + node + ", no container started";
  return why;
}

std::string PodNotReadyCode(const json& pod) {
  const json& status = Field(pod, "status");
  const std::string phase = Str(status, "phase");
  if (phase == "Failed" || phase == "Succeeded") {
    const std::string r = Str(status, "reason");
    return r.empty() ? phase : r;
  }
  for (const char* key : {"initContainerStatuses", "containerStatuses"}) {
    const json& list = Field(status, key);
    if (!list.is_array()) continue;
    for (const auto& cs : list) {
      const json& state = Field(cs, "state");
      const json& done = Field(state, "terminated");
      if (key[0] == 'i' && done.is_object() && Int(done, "exitCode", -1) == 0) continue;
      for (const char* s : {"waiting", "terminated"}) {
        if (const std::string r = Str(Field(state, s), "reason"); !r.empty()) return r;
      }
      if (Field(state, "running").is_object() && Field(cs, "ready") == false && key[0] != 'i') {
        return "ContainersNotReady";
      }
    }
  }
  for (const char* type : {"PodScheduled", "Ready"}) {
    const json* c = Condition(status, type);
    if (c != nullptr && Str(*c, "status") == "False" && !Str(*c, "reason").empty()) {
      return Str(*c, "reason");
    }
  }
  return Str(Field(pod, "spec"), "nodeName").empty() ? "NotScheduled" : "NotStarted";
}

std::vector<PodNotReady> PodsNotReady(const json& pods) { return NotReady(pods); }

RolloutStatus InterpretDeployment(const json& deployment, const json& pods) {
  namespace r = rollout_reason;
  const json& spec = Field(deployment, "spec");
  const json& status = Field(deployment, "status");
  RolloutStatus s;
  s.generation = Int(Field(deployment, "metadata"), "generation");
  s.observed_generation = Int(status, "observedGeneration");
  s.desired = Int(spec, "replicas", 1);  // the API's default
  s.updated = Int(status, "updatedReplicas");
  s.ready = Int(status, "readyReplicas");
  s.available = Int(status, "availableReplicas");
  const std::int64_t total = Int(status, "replicas");

  if (s.generation > s.observed_generation) {
    s.reason = r::kGenerationNotObserved;
    s.message = "the controller has not seen generation " + std::to_string(s.generation) +
                " yet (observed " + std::to_string(s.observed_generation) + ")";
    return s;  // the counts below are of an older spec: nothing to name yet
  }
  if (const json* progressing = Condition(status, "Progressing");
      progressing != nullptr && Str(*progressing, "reason") == r::kProgressDeadlineExceeded) {
    s.phase = RolloutPhase::kFailed;
    s.reason = r::kProgressDeadlineExceeded;
    s.message = "progress deadline exceeded (" +
                Count(s.available, s.desired, "replicas available") +
                "): " + Str(*progressing, "message");
  } else if (s.updated < s.desired) {
    s.reason = r::kUpdatingReplicas;
    s.message = Count(s.updated, s.desired, "replicas updated");
  } else if (total > s.updated) {
    s.reason = r::kTerminatingOldReplicas;
    s.message = std::to_string(total - s.updated) + " old replicas pending termination";
  } else if (s.available < s.updated) {
    s.reason = r::kWaitingForAvailable;
    s.message = Count(s.available, s.updated, "updated replicas available");
  } else {
    s.phase = RolloutPhase::kComplete;
    s.reason = r::kComplete;
    s.message = Count(s.available, s.desired, "replicas updated and available");
    return s;
  }
  if (s.phase == RolloutPhase::kProgressing && Field(spec, "paused") == true) {
    s.reason = r::kPaused;
    s.message = "paused: " + s.message;
  }
  s.pods_not_ready = NotReady(pods);
  if (s.phase == RolloutPhase::kFailed && !s.pods_not_ready.empty()) {
    s.message += "; not ready: ";
    for (size_t i = 0; i < s.pods_not_ready.size(); ++i) {
      if (i > 0) s.message += ", ";
      s.message += s.pods_not_ready[i].name + " (" + s.pods_not_ready[i].why + ")";
    }
  }
  return s;
}

RolloutStatus InterpretStatefulSet(const json& statefulset, const json& pods) {
  namespace r = rollout_reason;
  const json& spec = Field(statefulset, "spec");
  const json& status = Field(statefulset, "status");
  const json& strategy = Field(spec, "updateStrategy");
  RolloutStatus s;
  s.generation = Int(Field(statefulset, "metadata"), "generation");
  s.observed_generation = Int(status, "observedGeneration");
  s.desired = Int(spec, "replicas", 1);
  s.updated = Int(status, "updatedReplicas");
  s.ready = Int(status, "readyReplicas");
  s.available = Int(status, "availableReplicas");
  s.partition = Int(Field(strategy, "rollingUpdate"), "partition");

  if (const std::string type = Str(strategy, "type"); type == "OnDelete") {
    s.phase = RolloutPhase::kComplete;
    s.reason = r::kOnDelete;
    s.message = "updateStrategy OnDelete: pods take the new template only when deleted";
    return s;
  }
  if (s.observed_generation == 0 || s.generation > s.observed_generation) {
    s.reason = r::kGenerationNotObserved;
    s.message = "the controller has not seen generation " + std::to_string(s.generation) +
                " yet (observed " + std::to_string(s.observed_generation) + ")";
    return s;
  }
  const std::int64_t target = std::max<std::int64_t>(0, s.desired - s.partition);
  const bool same_revision = Str(status, "currentRevision") == Str(status, "updateRevision");
  if (s.updated < target) {
    s.reason = r::kUpdatingReplicas;
    s.message = Count(s.updated, target, "replicas updated") + " (partition " +
                std::to_string(s.partition) + ")";
  } else if (s.ready < s.desired) {
    s.reason = r::kWaitingForReady;
    s.message = Count(s.ready, s.desired, "replicas ready");
  } else if (s.partition == 0 && !same_revision) {
    // Every pod is updated, the controller has yet to move currentRevision.
    s.reason = r::kUpdatingReplicas;
    s.message = "waiting for currentRevision to reach " + Str(status, "updateRevision");
  } else {
    s.phase = RolloutPhase::kComplete;
    s.reason = s.partition > 0 ? r::kPartitionComplete : r::kComplete;
    s.message = Count(s.updated, s.desired, "replicas updated") +
                (s.partition > 0 ? " (partition " + std::to_string(s.partition) + ")" : "") +
                ", all ready";
    return s;
  }
  s.pods_not_ready = NotReady(pods);
  return s;
}

}  // namespace sluice::kube
