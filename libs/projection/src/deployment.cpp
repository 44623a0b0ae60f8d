#include "sluice/projection/deployment.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <sluice/events/vocabulary.hpp>

namespace sluice::projection {
namespace {

namespace v1 = ::sluice::v1;
using json = nlohmann::json;
using PC = v1::Envelope::PayloadCase;

Batch* FindBatch(Deployment& d, std::uint32_t index) {
  for (auto& b : d.batches) {
    if (b.index == index) return &b;
  }
  return nullptr;
}

Batch& EnsureBatch(Deployment& d, std::uint32_t index) {
  if (auto* b = FindBatch(d, index)) return *b;
  d.batches.push_back(Batch{index, {}, BatchState::kPlanned});
  std::sort(d.batches.begin(), d.batches.end(),
            [](const Batch& a, const Batch& b) { return a.index < b.index; });
  return *FindBatch(d, index);
}

void AddHost(Batch& batch, const std::string& host) {
  if (std::find(batch.hosts.begin(), batch.hosts.end(), host) == batch.hosts.end()) {
    batch.hosts.push_back(host);
  }
}

// Remembers the Kubernetes targets of a plan or a batch request.
void NoteKubernetes(Deployment& d, const v1::Target& t) {
  if (t.driver() == "kubernetes" && t.has_kubernetes()) d.kubernetes[t.host()] = t.kubernetes();
}

// Whether a host a batch event reports belongs in the batch: any host while the plan is unseen
// or the deployment has no Kubernetes target; else only the planned ones (the rest are the pods
// reported for its Kubernetes targets).
bool IsTargetHost(const Deployment& d, const std::string& host) {
  if (!d.planned || d.kubernetes.empty()) return true;
  return std::any_of(d.batches.begin(), d.batches.end(), [&](const Batch& b) {
    return std::find(b.hosts.begin(), b.hosts.end(), host) != b.hosts.end();
  });
}

void RaiseGeneration(Deployment& d, std::uint64_t g) { d.generation = std::max(d.generation, g); }

// A release fact only DeploymentPlanned sets outright: other events fill it while empty.
void Fill(std::string& field, const std::string& value) {
  if (field.empty()) field = value;
}

bool IsFinished(Status s) {
  return s == Status::kSucceeded || s == Status::kFailed || s == Status::kRolledBack;
}

void ApplyPlanned(Deployment& d, const v1::DeploymentPlanned& p, std::int64_t at_ms) {
  d.id = p.deployment_id();
  d.planned = true;
  d.app = p.app();
  d.env = p.env();
  d.release_id = p.release_id();
  d.version = p.version();
  d.stable_release_id = p.stable_release_id();
  d.stable_version = p.stable_version();
  d.on_canary_failure = CanaryFailurePolicyOf(p);
  d.planned_at_ms = at_ms;
  RaiseGeneration(d, p.generation());
  for (const auto& pb : p.batches()) {
    auto& b = EnsureBatch(d, pb.index());
    b.weight_percent = pb.weight_percent();
    for (const auto& t : pb.targets()) {
      AddHost(b, t.host());
      NoteKubernetes(d, t);
    }
  }
}

void ApplyInstance(Deployment& d, const v1::InstanceDeploymentUpdated& p) {
  auto& h = d.hosts[p.host()];
  const auto status = events::Name(p.status());
  h.status = status.empty() ? "unknown" : std::string(status);
  if (!p.version().empty()) h.version = p.version();
  h.error = p.error_message();
  const bool revert =
      p.status() == v1::INSTANCE_STATUS_REVERTING || p.status() == v1::INSTANCE_STATUS_REVERTED;
  if (revert) return;
  h.batch = p.batch_index();
  auto& b = EnsureBatch(d, p.batch_index());
  AddHost(b, p.host());
  if (b.state == BatchState::kPlanned) b.state = BatchState::kRequested;
}

void ApplyRevertCompleted(Deployment& d, const v1::RevertCompleted& p) {
  for (const auto& host : p.reverted_hosts()) {
    auto& h = d.hosts[host];
    h.version = p.target_version();
    h.status = "reverted";
    h.error.clear();
  }
  for (const auto& host : p.failed_hosts()) d.hosts[host].status = "failed";
  RaiseGeneration(d, p.generation());
}

// The batch events (the planner's request, the executor's outcome).
bool ApplyBatchEvent(Deployment& d, const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kBatchRequested: {
      const auto& p = e.batch_requested();
      auto& b = EnsureBatch(d, p.batch_index());
      if (b.state == BatchState::kPlanned) b.state = BatchState::kRequested;
      for (const auto& t : p.targets()) {
        AddHost(b, t.host());
        NoteKubernetes(d, t);
      }
      RaiseGeneration(d, p.generation());
      Fill(d.app, p.app());
      Fill(d.env, p.env());
      Fill(d.version, p.artifact().version());
      return true;
    }
    case PC::kBatchSucceeded: {
      const auto& p = e.batch_succeeded();
      auto& b = EnsureBatch(d, p.batch_index());
      b.state = BatchState::kSucceeded;
      for (const auto& h : p.hosts()) {
        if (IsTargetHost(d, h)) AddHost(b, h);
      }
      return true;
    }
    case PC::kBatchFailed: {
      const auto& p = e.batch_failed();
      auto& b = EnsureBatch(d, p.batch_index());
      b.state = BatchState::kFailed;
      for (const auto& h : p.failed_hosts()) {
        if (IsTargetHost(d, h)) AddHost(b, h);
      }
      return true;
    }
    default:
      return false;
  }
}

// The deployment's lifecycle as the planner announces it.
bool ApplyLifecycle(Deployment& d, const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kDeploymentSucceeded: {
      const auto& p = e.deployment_succeeded();
      d.succeeded_seen = true;
      if (d.rollback == RollbackPhase::kNone) d.status = Status::kSucceeded;
      Fill(d.app, p.app());
      Fill(d.env, p.env());
      Fill(d.version, p.version());
      Fill(d.stable_version, p.previous_stable_version());
      return true;
    }
    case PC::kDeploymentFailed: {
      const auto& p = e.deployment_failed();
      if (d.rollback == RollbackPhase::kNone) d.status = Status::kFailed;
      Fill(d.app, p.app());
      Fill(d.env, p.env());
      Fill(d.version, p.version());
      return true;
    }
    case PC::kDeploymentPaused:
      if (d.rollback == RollbackPhase::kNone && !IsFinished(d.status)) d.status = Status::kPaused;
      return true;
    case PC::kDeploymentResumed:
      if (d.status == Status::kPaused) d.status = Status::kRunning;
      return true;
    default:
      return false;
  }
}

// The analysis a batch asked for, and the rollback-agent's announcements.
bool ApplyOthers(Deployment& d, const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kAnalysisRequested: {
      const auto& p = e.analysis_requested();
      Fill(d.app, p.app());
      Fill(d.env, p.env());
      Fill(d.version, p.version());
      Fill(d.stable_version, p.baseline_version());
      return true;
    }
    case PC::kRollbackStarted: {
      const auto& p = e.rollback_started();
      if (d.rollback == RollbackPhase::kNone) {
        d.rollback = RollbackPhase::kActive;
        d.status = Status::kRollingBack;
      }
      if (!p.target_version().empty()) d.rollback_target_version = p.target_version();
      d.rollback_generation = std::max(d.rollback_generation, p.generation());
      RaiseGeneration(d, p.generation());
      Fill(d.app, p.app());
      Fill(d.env, p.env());
      Fill(d.version, p.from_version());
      return true;
    }
    case PC::kRollbackCompleted: {
      const auto& p = e.rollback_completed();
      d.rollback = RollbackPhase::kDone;
      d.status = p.final_status() == v1::DEPLOYMENT_STATUS_ROLLED_BACK ? Status::kRolledBack
                                                                       : Status::kFailed;
      if (!p.target_version().empty()) d.rollback_target_version = p.target_version();
      return true;
    }
    case PC::kIncidentReported:
      Fill(d.app, e.incident_reported().app());
      Fill(d.env, e.incident_reported().env());
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string_view ToString(Status s) {
  switch (s) {
    case Status::kRunning:
      return "running";
    case Status::kPaused:
      return "paused";
    case Status::kSucceeded:
      return "succeeded";
    case Status::kFailed:
      return "failed";
    case Status::kRollingBack:
      return "rolling_back";
    case Status::kRolledBack:
      return "rolled_back";
  }
  return "running";
}

std::optional<Status> StatusFromString(std::string_view s) {
  for (auto v : {Status::kRunning, Status::kPaused, Status::kSucceeded, Status::kFailed,
                 Status::kRollingBack, Status::kRolledBack}) {
    if (ToString(v) == s) return v;
  }
  return std::nullopt;
}

std::string_view ToString(BatchState s) {
  switch (s) {
    case BatchState::kPlanned:
      return "planned";
    case BatchState::kRequested:
      return "requested";
    case BatchState::kSucceeded:
      return "succeeded";
    case BatchState::kFailed:
      return "failed";
  }
  return "planned";
}

std::optional<BatchState> BatchStateFromString(std::string_view s) {
  for (auto v : {BatchState::kPlanned, BatchState::kRequested, BatchState::kSucceeded,
                 BatchState::kFailed}) {
    if (ToString(v) == s) return v;
  }
  return std::nullopt;
}

namespace {
v1::CanaryFailurePolicy OrRevertBatch(v1::CanaryFailurePolicy p) {
  return p == v1::CANARY_FAILURE_POLICY_UNSPECIFIED ? v1::CANARY_FAILURE_POLICY_REVERT_BATCH : p;
}
}  // namespace

v1::CanaryFailurePolicy CanaryFailurePolicyOf(const v1::DeploymentPlanned& p) {
  return OrRevertBatch(events::PolicyOf(p));
}

v1::CanaryFailurePolicy CanaryFailurePolicyFromString(std::string_view s) {
  return OrRevertBatch(events::ParseCanaryFailurePolicy(s));
}

std::string_view ToString(RollbackPhase p) {
  switch (p) {
    case RollbackPhase::kNone:
      return "none";
    case RollbackPhase::kActive:
      return "active";
    case RollbackPhase::kDone:
      return "done";
  }
  return "none";
}

bool Deployment::FullRollout() const {
  if (succeeded_seen) return true;
  if (batches.empty()) return false;
  return std::all_of(batches.begin(), batches.end(),
                     [](const Batch& b) { return b.state == BatchState::kSucceeded; });
}

std::vector<std::string> Deployment::DeployedHosts() const {
  std::vector<std::string> out;
  for (const auto& b : batches) {
    if (b.state == BatchState::kPlanned) continue;
    for (const auto& h : b.hosts) {
      if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
    }
  }
  return out;
}

std::vector<v1::Target> Deployment::KubernetesTargets(const std::vector<std::string>& names) const {
  std::vector<v1::Target> out;
  for (const auto& name : names) {
    const auto it = kubernetes.find(name);
    if (it == kubernetes.end()) continue;
    v1::Target t;
    t.set_host(name);
    t.set_driver("kubernetes");
    *t.mutable_kubernetes() = it->second;
    out.push_back(std::move(t));
  }
  return out;
}

std::uint32_t Deployment::WeightBefore(std::uint32_t index) const {
  std::uint32_t weight = 0;
  for (const auto& b : batches) {
    if (b.index < index) weight = std::max(weight, b.weight_percent);
  }
  return weight;
}

bool Apply(Deployment& d, const v1::Envelope& e, std::int64_t at_ms) {
  bool kept = false;
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned:
      ApplyPlanned(d, e.deployment_planned(), at_ms);
      kept = true;
      break;
    case PC::kInstanceUpdated:
      ApplyInstance(d, e.instance_updated());
      kept = true;
      break;
    case PC::kRevertCompleted:
      ApplyRevertCompleted(d, e.revert_completed());
      kept = true;
      break;
    default:
      kept = ApplyBatchEvent(d, e) || ApplyLifecycle(d, e) || ApplyOthers(d, e);
  }
  if (kept) Fill(d.release_id, e.release_id());
  return kept;
}

json ToJson(const Deployment& d) {
  json batches = json::array();
  for (const auto& b : d.batches) {
    batches.push_back({{"index", b.index},
                       {"hosts", b.hosts},
                       {"state", ToString(b.state)},
                       {"weight_percent", b.weight_percent}});
  }
  json hosts = json::object();
  for (const auto& [name, h] : d.hosts) {
    hosts[name] = {
        {"batch", h.batch}, {"version", h.version}, {"status", h.status}, {"error", h.error}};
  }
  json kubernetes = json::object();
  for (const auto& [name, w] : d.kubernetes) {
    std::string text;
    if (google::protobuf::util::MessageToJsonString(w, &text).ok()) {
      kubernetes[name] = json::parse(text);
    }
  }
  return {{"id", d.id},
          {"kubernetes", kubernetes},
          {"planned", d.planned},
          {"app", d.app},
          {"env", d.env},
          {"release_id", d.release_id},
          {"version", d.version},
          {"stable_release_id", d.stable_release_id},
          {"stable_version", d.stable_version},
          {"on_canary_failure", events::Name(d.on_canary_failure)},
          {"status", ToString(d.status)},
          {"generation", d.generation},
          {"batches", batches},
          {"hosts", hosts},
          {"succeeded_seen", d.succeeded_seen},
          {"rollback", ToString(d.rollback)},
          {"rollback_target_version", d.rollback_target_version},
          {"rollback_generation", d.rollback_generation},
          {"planned_at_ms", d.planned_at_ms}};
}

Deployment FromJson(const json& j) {
  Deployment d;
  d.id = j.value("id", "");
  d.planned = j.value("planned", false);
  d.app = j.value("app", "");
  d.env = j.value("env", "");
  d.release_id = j.value("release_id", "");
  d.version = j.value("version", "");
  d.stable_release_id = j.value("stable_release_id", "");
  d.stable_version = j.value("stable_version", "");
  d.on_canary_failure = CanaryFailurePolicyFromString(j.value("on_canary_failure", ""));
  d.status = StatusFromString(j.value("status", "running")).value_or(Status::kRunning);
  d.generation = j.value("generation", std::uint64_t{0});
  for (const auto& b : j.value("batches", json::array())) {
    d.batches.push_back(
        Batch{b.at("index").get<std::uint32_t>(), b.at("hosts").get<std::vector<std::string>>(),
              BatchStateFromString(b.value("state", "planned")).value_or(BatchState::kPlanned),
              b.value("weight_percent", 0u)});
  }
  const json hosts = j.value("hosts", json::object());
  for (const auto& [name, h] : hosts.items()) {
    d.hosts[name] = Host{h.value("batch", 0u), h.value("version", ""), h.value("status", ""),
                         h.value("error", "")};
  }
  d.succeeded_seen = j.value("succeeded_seen", false);
  const std::string phase = j.value("rollback", "none");
  d.rollback = phase == "active" ? RollbackPhase::kActive
               : phase == "done" ? RollbackPhase::kDone
                                 : RollbackPhase::kNone;
  d.rollback_target_version = j.value("rollback_target_version", "");
  d.rollback_generation = j.value("rollback_generation", std::uint64_t{0});
  d.planned_at_ms = j.value("planned_at_ms", std::int64_t{0});
  const json kubernetes = j.value("kubernetes", json::object());
  for (const auto& [name, w] : kubernetes.items()) {
    v1::KubernetesWorkload workload;
    if (google::protobuf::util::JsonStringToMessage(w.dump(), &workload).ok()) {
      d.kubernetes[name] = std::move(workload);
    }
  }
  return d;
}

}  // namespace sluice::projection
