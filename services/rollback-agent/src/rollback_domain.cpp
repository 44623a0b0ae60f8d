#include "rollback_domain.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using json = nlohmann::json;

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

RecordOnly Record(std::string_view reason, std::string detail) {
  return RecordOnly{std::string(reason), std::move(detail)};
}

BatchView* FindBatch(DeploymentView& view, std::uint32_t index) {
  for (auto& b : view.batches) {
    if (b.index == index) return &b;
  }
  return nullptr;
}

BatchView& EnsureBatch(DeploymentView& view, std::uint32_t index) {
  if (auto* b = FindBatch(view, index)) return *b;
  view.batches.push_back(BatchView{index, {}, BatchState::kPlanned});
  std::sort(view.batches.begin(), view.batches.end(),
            [](const BatchView& a, const BatchView& b) { return a.index < b.index; });
  return *FindBatch(view, index);
}

void AddHost(BatchView& batch, const std::string& host) {
  if (std::find(batch.hosts.begin(), batch.hosts.end(), host) == batch.hosts.end()) {
    batch.hosts.push_back(host);
  }
}

void RaiseGeneration(DeploymentView& view, std::uint64_t g) {
  view.generation = std::max(view.generation, g);
}

std::string_view InstanceStatusText(v1::InstanceStatus s) {
  switch (s) {
    case v1::INSTANCE_STATUS_PENDING:
      return "pending";
    case v1::INSTANCE_STATUS_DEPLOYING:
      return "deploying";
    case v1::INSTANCE_STATUS_SUCCEEDED:
      return "succeeded";
    case v1::INSTANCE_STATUS_FAILED:
      return "failed";
    case v1::INSTANCE_STATUS_REVERTING:
      return "reverting";
    case v1::INSTANCE_STATUS_REVERTED:
      return "reverted";
    default:
      return "unknown";
  }
}

bool IsFinished(DeploymentState s) {
  return s == DeploymentState::kSucceeded || s == DeploymentState::kFailed ||
         s == DeploymentState::kRolledBack;
}

// Hosts of `hosts` not already on `target` (a host that reports the target version as
// succeeded or reverted needs nothing).
std::vector<std::string> NotOnTarget(const DeploymentView& view,
                                     const std::vector<std::string>& hosts,
                                     const std::string& target) {
  std::vector<std::string> out;
  for (const auto& h : hosts) {
    const auto it = view.hosts.find(h);
    if (it != view.hosts.end() && it->second.version == target &&
        (it->second.status == "succeeded" || it->second.status == "reverted")) {
      continue;
    }
    out.push_back(h);
  }
  return out;
}

std::string JoinBatches(const std::vector<std::uint32_t>& batches) {
  std::string out;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (i > 0) out += (i + 1 == batches.size()) ? " and " : ", ";
    out += std::to_string(batches[i] + 1);
  }
  return out;
}

std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  std::ostringstream os;
  os.precision(4);
  os << v;
  return os.str();
}

}  // namespace

// ---- names --------------------------------------------------------------------------------

std::string_view ToString(DeploymentState s) {
  switch (s) {
    case DeploymentState::kRunning:
      return "running";
    case DeploymentState::kPaused:
      return "paused";
    case DeploymentState::kSucceeded:
      return "succeeded";
    case DeploymentState::kFailed:
      return "failed";
    case DeploymentState::kRollingBack:
      return "rolling_back";
    case DeploymentState::kRolledBack:
      return "rolled_back";
  }
  return "running";
}

std::optional<DeploymentState> DeploymentStateFromString(std::string_view s) {
  for (auto v :
       {DeploymentState::kRunning, DeploymentState::kPaused, DeploymentState::kSucceeded,
        DeploymentState::kFailed, DeploymentState::kRollingBack, DeploymentState::kRolledBack}) {
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

std::string_view ToString(OnCanaryFailure p) {
  return p == OnCanaryFailure::kRevertAll ? "revert-all" : "revert-batch";
}

OnCanaryFailure OnCanaryFailureFromString(std::string_view s) {
  return s == "revert-all" ? OnCanaryFailure::kRevertAll : OnCanaryFailure::kRevertBatch;
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

std::string_view ToString(Scope s) { return s == Scope::kBatches ? "batches" : "deployment"; }

std::string_view ToString(FinalStatus s) {
  return s == FinalStatus::kFailed ? "failed" : "rolled_back";
}

std::string_view TriggerKind(const Trigger& t) {
  return std::visit(Overloaded{[](const AnalysisFailedTrigger&) { return kTriggerAnalysisFailed; },
                               [](const AlertTrigger&) { return kTriggerAlert; },
                               [](const OperatorTrigger&) { return kTriggerOperator; }},
                    t);
}

bool MayStartRollback(const Trigger& t) {
  const auto* alert = std::get_if<AlertTrigger>(&t);
  return alert == nullptr || !alert->resolved;
}

// ---- the projection -----------------------------------------------------------------------

bool DeploymentView::FullRollout() const {
  if (succeeded_seen) return true;
  if (batches.empty()) return false;
  return std::all_of(batches.begin(), batches.end(),
                     [](const BatchView& b) { return b.state == BatchState::kSucceeded; });
}

std::vector<std::string> DeploymentView::DeployedHosts() const {
  std::vector<std::string> out;
  for (const auto& b : batches) {
    if (b.state == BatchState::kPlanned) continue;
    for (const auto& h : b.hosts) {
      if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
    }
  }
  return out;
}

namespace {

// The executor's reports: a host's record, a finished revert.
void ApplyExecutorEvent(DeploymentView& view, const v1::Envelope& e) {
  using PC = v1::Envelope::PayloadCase;
  switch (e.payload_case()) {
    case PC::kInstanceUpdated: {
      const auto& p = e.instance_updated();
      auto& h = view.hosts[p.host()];
      h.status = std::string(InstanceStatusText(p.status()));
      if (!p.version().empty()) h.version = p.version();
      h.error = p.error_message();
      const bool revert =
          p.status() == v1::INSTANCE_STATUS_REVERTING || p.status() == v1::INSTANCE_STATUS_REVERTED;
      if (!revert) {
        h.batch = p.batch_index();
        auto& b = EnsureBatch(view, p.batch_index());
        AddHost(b, p.host());
        if (b.state == BatchState::kPlanned) b.state = BatchState::kRequested;
      }
      return;
    }
    case PC::kRevertCompleted: {
      const auto& p = e.revert_completed();
      for (const auto& host : p.reverted_hosts()) {
        auto& h = view.hosts[host];
        h.version = p.target_version();
        h.status = "reverted";
        h.error.clear();
      }
      for (const auto& host : p.failed_hosts()) view.hosts[host].status = "failed";
      RaiseGeneration(view, p.generation());
      return;
    }
    default:
      return;
  }
}

}  // namespace

bool ApplyEvent(DeploymentView& view, const v1::Envelope& e, std::int64_t at_ms) {
  using PC = v1::Envelope::PayloadCase;
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned: {
      const auto& p = e.deployment_planned();
      view.id = p.deployment_id();
      view.planned = true;
      view.app = p.app();
      view.env = p.env();
      view.release_id = p.release_id();
      view.version = p.version();
      view.stable_release_id = p.stable_release_id();
      view.stable_version = p.stable_version();
      view.on_canary_failure = OnCanaryFailureFromString(p.on_canary_failure());
      view.planned_at_ms = at_ms;
      RaiseGeneration(view, p.generation());
      for (const auto& pb : p.batches()) {
        auto& b = EnsureBatch(view, pb.index());
        for (const auto& t : pb.targets()) AddHost(b, t.host());
      }
      return true;
    }
    case PC::kBatchRequested: {
      const auto& p = e.batch_requested();
      auto& b = EnsureBatch(view, p.batch_index());
      if (b.state == BatchState::kPlanned) b.state = BatchState::kRequested;
      for (const auto& t : p.targets()) AddHost(b, t.host());
      RaiseGeneration(view, p.generation());
      return true;
    }
    case PC::kBatchSucceeded: {
      const auto& p = e.batch_succeeded();
      auto& b = EnsureBatch(view, p.batch_index());
      b.state = BatchState::kSucceeded;
      for (const auto& h : p.hosts()) AddHost(b, h);
      return true;
    }
    case PC::kBatchFailed: {
      const auto& p = e.batch_failed();
      auto& b = EnsureBatch(view, p.batch_index());
      b.state = BatchState::kFailed;
      for (const auto& h : p.failed_hosts()) AddHost(b, h);
      return true;
    }
    case PC::kInstanceUpdated:
    case PC::kRevertCompleted:
      ApplyExecutorEvent(view, e);
      return true;
    case PC::kDeploymentSucceeded:
      view.succeeded_seen = true;
      if (view.rollback == RollbackPhase::kNone) view.status = DeploymentState::kSucceeded;
      return true;
    case PC::kDeploymentFailed:
      if (view.rollback == RollbackPhase::kNone) view.status = DeploymentState::kFailed;
      return true;
    case PC::kDeploymentPaused:
      if (view.rollback == RollbackPhase::kNone && !IsFinished(view.status)) {
        view.status = DeploymentState::kPaused;
      }
      return true;
    case PC::kDeploymentResumed:
      if (view.status == DeploymentState::kPaused) view.status = DeploymentState::kRunning;
      return true;
    default:
      return false;
  }
}

json ViewToJson(const DeploymentView& v) {
  json batches = json::array();
  for (const auto& b : v.batches) {
    batches.push_back({{"index", b.index}, {"hosts", b.hosts}, {"state", ToString(b.state)}});
  }
  json hosts = json::object();
  for (const auto& [name, h] : v.hosts) {
    hosts[name] = {
        {"batch", h.batch}, {"version", h.version}, {"status", h.status}, {"error", h.error}};
  }
  return {{"id", v.id},
          {"planned", v.planned},
          {"app", v.app},
          {"env", v.env},
          {"release_id", v.release_id},
          {"version", v.version},
          {"stable_release_id", v.stable_release_id},
          {"stable_version", v.stable_version},
          {"on_canary_failure", ToString(v.on_canary_failure)},
          {"status", ToString(v.status)},
          {"generation", v.generation},
          {"batches", batches},
          {"hosts", hosts},
          {"succeeded_seen", v.succeeded_seen},
          {"rollback", ToString(v.rollback)},
          {"planned_at_ms", v.planned_at_ms}};
}

DeploymentView ViewFromJson(const json& j) {
  DeploymentView v;
  v.id = j.value("id", "");
  v.planned = j.value("planned", false);
  v.app = j.value("app", "");
  v.env = j.value("env", "");
  v.release_id = j.value("release_id", "");
  v.version = j.value("version", "");
  v.stable_release_id = j.value("stable_release_id", "");
  v.stable_version = j.value("stable_version", "");
  v.on_canary_failure = OnCanaryFailureFromString(j.value("on_canary_failure", ""));
  v.status =
      DeploymentStateFromString(j.value("status", "running")).value_or(DeploymentState::kRunning);
  v.generation = j.value("generation", std::uint64_t{0});
  for (const auto& b : j.value("batches", json::array())) {
    v.batches.push_back(BatchView{
        b.at("index").get<std::uint32_t>(), b.at("hosts").get<std::vector<std::string>>(),
        BatchStateFromString(b.value("state", "planned")).value_or(BatchState::kPlanned)});
  }
  const json hosts = j.value("hosts", json::object());
  for (const auto& [name, h] : hosts.items()) {
    v.hosts[name] = HostView{h.value("batch", 0u), h.value("version", ""), h.value("status", ""),
                             h.value("error", "")};
  }
  v.succeeded_seen = j.value("succeeded_seen", false);
  const std::string phase = j.value("rollback", "none");
  v.rollback = phase == "active" ? RollbackPhase::kActive
               : phase == "done" ? RollbackPhase::kDone
                                 : RollbackPhase::kNone;
  v.planned_at_ms = j.value("planned_at_ms", std::int64_t{0});
  return v;
}

// ---- the decision -------------------------------------------------------------------------

namespace {

RollbackPlan NewPlan(const DeploymentView& d) {
  RollbackPlan p;
  p.from_generation = d.generation;
  p.new_generation = d.generation + 1;
  return p;
}

// The batches that hold hosts of `hosts`, ascending.
std::vector<std::uint32_t> BatchesOf(const DeploymentView& d,
                                     const std::vector<std::string>& hosts) {
  std::vector<std::uint32_t> out;
  for (const auto& b : d.batches) {
    if (b.state == BatchState::kPlanned) continue;
    for (const auto& h : b.hosts) {
      if (std::find(hosts.begin(), hosts.end(), h) != hosts.end()) {
        out.push_back(b.index);
        break;
      }
    }
  }
  return out;
}

Decision Automatic(const DeploymentView& d, const std::vector<std::string>& affected,
                   std::string_view what) {
  if (d.superseded) {
    return {Record(kReasonSuperseded, "a newer deployment of " + d.app + " " + d.env +
                                          " has been planned; this one is not reverted")};
  }
  if (d.stable_version.empty()) {
    return {Record(kReasonNoStableRelease,
                   std::string(what) + ": " + d.app + " " + d.env +
                       " has no stable release to go back to; the deployment fails as it is")};
  }
  RollbackPlan p = NewPlan(d);
  p.target_version = d.stable_version;
  p.target_release_id = d.stable_release_id;
  std::vector<std::uint32_t> deployed;
  for (const auto& b : d.batches) {
    if (b.state != BatchState::kPlanned) deployed.push_back(b.index);
  }
  if (d.FullRollout()) {
    p.scope = Scope::kDeployment;
    p.batches = deployed;
    p.final_status = FinalStatus::kRolledBack;
    p.why = std::string(what) + " after full rollout: every host back to " + d.stable_version;
  } else if (d.on_canary_failure == OnCanaryFailure::kRevertAll) {
    p.scope = Scope::kBatches;
    p.batches = deployed;
    p.final_status = FinalStatus::kRolledBack;
    p.why = std::string(what) + " in canary, policy revert-all: every deployed batch back to " +
            d.stable_version;
  } else {
    p.scope = Scope::kBatches;
    auto named = BatchesOf(d, affected);
    if (named.empty()) {
      p.batches = deployed;
      p.why = std::string(what) +
              " in canary names no host of the deployment: every deployed batch back to " +
              d.stable_version;
    } else {
      p.batches = named;
      p.why = std::string(what) + " in canary, policy revert-batch: batch " + JoinBatches(named) +
              " back to " + d.stable_version;
    }
    p.final_status = FinalStatus::kFailed;
  }
  std::vector<std::string> hosts;
  for (const auto& b : d.batches) {
    if (std::find(p.batches.begin(), p.batches.end(), b.index) == p.batches.end()) continue;
    for (const auto& h : b.hosts) {
      if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
    }
  }
  p.hosts = NotOnTarget(d, hosts, p.target_version);
  if (p.hosts.empty()) {
    return {Record(kReasonNothingDeployed, std::string(what) + ": no host of deployment " + d.id +
                                               " runs " + d.version + "; nothing to revert")};
  }
  return {std::move(p)};
}

}  // namespace

namespace {

// An operator's rollback: every deployed host back to the stable release, or to the earlier
// release the operator named.
Decision DecideOperator(const DeploymentView& d, const OperatorTrigger& t) {
  if (t.generation != 0 && t.generation < d.generation) {
    return {Record(kReasonStaleGeneration,
                   "the operator saw generation " + std::to_string(t.generation) +
                       " but the deployment is at generation " + std::to_string(d.generation))};
  }
  RollbackPlan p = NewPlan(d);
  if (t.target_release_id && !t.target_release_id->empty()) {
    const auto& wanted = *t.target_release_id;
    const auto it = std::find_if(d.earlier_releases.begin(), d.earlier_releases.end(),
                                 [&](const EarlierRelease& r) { return r.release_id == wanted; });
    if (wanted == d.release_id || it == d.earlier_releases.end()) {
      return {Record(kReasonUnknownTargetRelease,
                     "release " + wanted + " is not an earlier release of " + d.app + " " + d.env)};
    }
    if (it->failed) {
      return {Record(kReasonFailedTargetRelease, "release " + wanted + " failed in " + d.env +
                                                     "; it is never a rollback target")};
    }
    p.target_version = it->version;
    p.target_release_id = it->release_id;
  } else if (d.stable_version.empty()) {
    return {Record(kReasonNoStableRelease,
                   d.app + " " + d.env + " has no stable release to go back to")};
  } else {
    p.target_version = d.stable_version;
    p.target_release_id = d.stable_release_id;
  }
  p.scope = Scope::kDeployment;
  p.final_status = FinalStatus::kRolledBack;
  for (const auto& b : d.batches) {
    if (b.state != BatchState::kPlanned) p.batches.push_back(b.index);
  }
  p.hosts = NotOnTarget(d, d.DeployedHosts(), p.target_version);
  if (p.hosts.empty()) {
    if (d.rollback == RollbackPhase::kDone) {
      return {Record(kReasonAlreadyRolledBack,
                     "every deployed host of " + d.id + " already runs " + p.target_version)};
    }
    return {Record(kReasonNothingDeployed,
                   "no host of deployment " + d.id + " needs to go back to " + p.target_version)};
  }
  p.why = "operator rollback by " + (t.actor.empty() ? "an operator" : t.actor) +
          ": every deployed host back to " + p.target_version;
  return {std::move(p)};
}

}  // namespace

Decision DecideRollback(const DeploymentView& d, const Trigger& trigger) {
  if (!d.planned) {
    return {Record(kReasonUnknownDeployment, "deployment " + d.id + " is unknown to this agent")};
  }
  if (d.rollback == RollbackPhase::kActive) {
    return {Record(kReasonRollbackInProgress,
                   "a rollback of deployment " + d.id + " is already under way")};
  }
  return std::visit(
      Overloaded{
          [&](const AnalysisFailedTrigger& t) -> Decision {
            if (d.rollback == RollbackPhase::kDone) {
              return {Record(kReasonAlreadyRolledBack,
                             "deployment " + d.id + " has already been rolled back")};
            }
            if (t.generation != 0 && t.generation < d.generation) {
              return {Record(kReasonStaleGeneration, "analysis of generation " +
                                                         std::to_string(t.generation) +
                                                         " but the deployment is at generation " +
                                                         std::to_string(d.generation))};
            }
            return Automatic(d, t.affected_instances,
                             t.bake_watch ? "bake-watch analysis failed" : "analysis failed");
          },
          [&](const AlertTrigger& t) -> Decision {
            if (d.rollback == RollbackPhase::kDone) {
              return {Record(kReasonAlreadyRolledBack,
                             "deployment " + d.id + " has already been rolled back")};
            }
            if (t.resolved) {
              return {Record(kReasonAlertResolved, "alert " + t.alert_name + " is resolved")};
            }
            return Automatic(d, t.affected_instances, "alert " + t.alert_name);
          },
          [&](const OperatorTrigger& t) { return DecideOperator(d, t); }},
      trigger);
}

Decision DecideRollback(const std::optional<DeploymentView>& deployment, const Trigger& trigger) {
  if (!deployment) {
    return {Record(kReasonUnknownDeployment, "the deployment is unknown to this agent")};
  }
  return DecideRollback(*deployment, trigger);
}

// ---- revert attempts ----------------------------------------------------------------------

namespace {

void AddUnique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

void Remove(std::vector<std::string>& v, const std::string& s) {
  v.erase(std::remove(v.begin(), v.end(), s), v.end());
}

}  // namespace

RevertNext OnRevertResult(const RevertPolicy& policy, RevertProgress progress,
                          const std::vector<std::string>& reverted,
                          const std::vector<std::string>& failed) {
  std::vector<std::string> failed_now;
  for (const auto& h : progress.pending) {
    if (std::find(reverted.begin(), reverted.end(), h) != reverted.end()) {
      AddUnique(progress.reverted, h);
      Remove(progress.failed, h);
    } else {
      // Named as failed, or not named at all: it did not get back.
      (void)failed;
      AddUnique(failed_now, h);
    }
  }
  progress.failed = failed_now;
  progress.pending.clear();
  RevertNext next;
  if (!failed_now.empty() && progress.attempt < policy.max_attempts) {
    next.kind = RevertNext::Kind::kRetry;
    next.delay = policy.backoff * (1LL << std::min(progress.attempt - 1, 20));
    progress.attempt += 1;
    progress.attempt_generation += 1;
    progress.pending = failed_now;
    next.progress = std::move(progress);
    return next;
  }
  next.kind = RevertNext::Kind::kComplete;
  next.success = failed_now.empty();
  next.progress = std::move(progress);
  return next;
}

RevertNext OnRevertTimeout(RevertProgress progress) {
  for (const auto& h : progress.pending) AddUnique(progress.failed, h);
  progress.pending.clear();
  RevertNext next;
  next.kind = RevertNext::Kind::kComplete;
  next.success = progress.failed.empty();
  next.progress = std::move(progress);
  return next;
}

// ---- words --------------------------------------------------------------------------------

std::string CauseOf(const v1::Evidence& e) {
  if (e.metric().empty() || e.comparator().empty() || e.comparator() == "judge") {
    if (!e.message().empty()) return e.message();
    return e.metric().empty() ? "an alert" : e.metric();
  }
  return e.metric() + " " + FormatNumber(e.observed()) + " " + e.comparator() + " " +
         FormatNumber(e.threshold());
}

std::string Summary(const SummaryInput& in) {
  std::string out = in.app + " " + in.env + ": ";
  const auto n = in.reverted.size();
  const std::string hosts = std::to_string(n) + (n == 1 ? " host" : " hosts");
  if (in.failed.empty()) {
    out += in.from_version + " rolled back to " + in.target_version + " on " + hosts;
  } else {
    std::string failed;
    for (std::size_t i = 0; i < in.failed.size(); ++i) {
      failed += (i > 0 ? ", " : "") + in.failed[i];
    }
    out += "rollback of " + in.from_version + " to " + in.target_version + " failed on " +
           std::to_string(in.failed.size()) + " of " + std::to_string(n + in.failed.size()) +
           " hosts (" + failed + ")";
  }
  if (!in.cause.empty()) out += " after " + in.cause;
  if (in.scope == Scope::kBatches && !in.batches.empty()) {
    out += std::string(" (batch") + (in.batches.size() > 1 ? "es " : " ") +
           JoinBatches(in.batches) + ")";
  } else if (in.scope == Scope::kDeployment) {
    out += " (whole deployment)";
  }
  return out;
}

}  // namespace sluice::rollback
