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
  } else if (d.on_canary_failure == v1::CANARY_FAILURE_POLICY_REVERT_ALL) {
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
