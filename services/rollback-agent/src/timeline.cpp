#include "timeline.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>

#include "rollback_domain.hpp"

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using PC = v1::Envelope::PayloadCase;
using TimeUtil = google::protobuf::util::TimeUtil;

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& hosts) {
  return JoinHosts(std::vector<std::string>(hosts.begin(), hosts.end()));
}

std::string Batch(std::uint32_t index) { return "batch " + std::to_string(index + 1); }

std::string OutcomeOrFailed(const v1::AnalysisFailed& p) {
  const std::string outcome = events::OutcomeText(p);
  return outcome.empty() ? "Failed" : outcome;
}

std::string VerbText(v1::OperatorCommand::Verb v) {
  const auto name = events::Name(v);
  return name.empty() ? "unspecified" : std::string(name);
}

// The planner's events: the plan, the batches and analyses it asks for, its verdicts.
std::optional<std::string> PlannerDetail(const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned: {
      const auto& p = e.deployment_planned();
      return p.version() + " planned in " + std::to_string(p.batches_size()) + " batches (stable " +
             (p.stable_version().empty() ? "none" : p.stable_version()) + ", on canary failure " +
             std::string(events::Name(projection::CanaryFailurePolicyOf(p))) + ")";
    }
    case PC::kBatchRequested: {
      const auto& p = e.batch_requested();
      std::string hosts;
      for (const auto& t : p.targets()) hosts += (hosts.empty() ? "" : ", ") + t.host();
      return Batch(p.batch_index()) + " requested (generation " + std::to_string(p.generation()) +
             "): " + hosts;
    }
    case PC::kAnalysisRequested: {
      const auto& p = e.analysis_requested();
      return (p.bake_watch() ? std::string("bake watch") : Batch(p.batch_index())) +
             " analysis requested (template " + p.template_name() + ")";
    }
    case PC::kDeploymentSucceeded:
      return "deployment succeeded";
    case PC::kDeploymentFailed:
      return "deployment failed (" + events::ReasonText(e.deployment_failed()) + ")";
    case PC::kDeploymentPaused:
      return "paused at " + Batch(e.deployment_paused().batch_index()) + " (" +
             events::ReasonText(e.deployment_paused()) + ")";
    case PC::kDeploymentResumed:
      return "resumed by " + e.deployment_resumed().actor();
    default:
      return std::nullopt;
  }
}

// What the executor and the metric-watcher report back.
std::optional<std::string> ResultDetail(const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kInstanceUpdated: {
      const auto& p = e.instance_updated();
      std::string s = "host " + p.host() + " " +
                      v1::InstanceStatus_Name(p.status()).substr(sizeof("INSTANCE_STATUS_") - 1) +
                      " " + p.version();
      if (!p.error_message().empty()) s += ": " + p.error_message();
      return s;
    }
    case PC::kBatchSucceeded:
      return Batch(e.batch_succeeded().batch_index()) + " succeeded";
    case PC::kBatchFailed:
      return Batch(e.batch_failed().batch_index()) + " failed (" +
             events::ReasonText(e.batch_failed()) + "): " + Join(e.batch_failed().failed_hosts());
    case PC::kAnalysisPassed:
      return Batch(e.analysis_passed().batch_index()) + " analysis passed";
    case PC::kAnalysisFailed: {
      const auto& p = e.analysis_failed();
      std::string s = (p.bake_watch() ? std::string("bake watch") : Batch(p.batch_index())) +
                      " analysis " + OutcomeOrFailed(p) + " (" + events::ReasonText(p) + ")";
      if (p.evidence_size() > 0) s += ": " + CauseOf(p.evidence(0));
      return s;
    }
    case PC::kAlertRaised: {
      const auto& p = e.alert_raised();
      return "alert " + p.alert_name() + (p.resolved() ? " resolved" : " firing") +
             (p.has_evidence() ? ": " + CauseOf(p.evidence()) : "");
    }
    case PC::kRevertCompleted: {
      const auto& p = e.revert_completed();
      std::string s = "reverted to " + p.target_version() + ": " + Join(p.reverted_hosts());
      if (p.failed_hosts_size() > 0) s += "; failed: " + Join(p.failed_hosts());
      return s;
    }
    default:
      return std::nullopt;
  }
}

// Operator commands and the rollback's own events.
std::string RollbackDetail(const v1::Envelope& e) {
  switch (e.payload_case()) {
    case PC::kOperatorCommand: {
      const auto& p = e.operator_command();
      return VerbText(p.verb()) + " by " + p.actor() +
             (p.reason().empty() ? "" : ": " + p.reason());
    }
    case PC::kRollbackStarted: {
      const auto& p = e.rollback_started();
      return "rollback " + p.rollback_id() + " (" + events::TriggerText(p) + ", generation " +
             std::to_string(p.generation()) + ") to " + p.target_version() + ": " + Join(p.hosts());
    }
    case PC::kRevertRequested: {
      const auto& p = e.revert_requested();
      return "revert to " + p.target_version() + " requested (generation " +
             std::to_string(p.generation()) + "): " + Join(p.hosts());
    }
    case PC::kRollbackCompleted: {
      const auto& p = e.rollback_completed();
      return std::string(p.success() ? "rollback completed" : "rollback failed") + ", deployment " +
             v1::DeploymentStatus_Name(p.final_status()).substr(sizeof("DEPLOYMENT_STATUS_") - 1);
    }
    default:
      return "";
  }
}

}  // namespace

std::string DeploymentIdOf(const v1::Envelope& e) {
  if (!e.deployment_id().empty()) return e.deployment_id();
  switch (e.payload_case()) {
    case PC::kDeploymentPlanned:
      return e.deployment_planned().deployment_id();
    case PC::kBatchRequested:
      return e.batch_requested().deployment_id();
    case PC::kInstanceUpdated:
      return e.instance_updated().deployment_id();
    case PC::kBatchSucceeded:
      return e.batch_succeeded().deployment_id();
    case PC::kBatchFailed:
      return e.batch_failed().deployment_id();
    case PC::kRevertCompleted:
      return e.revert_completed().deployment_id();
    case PC::kAnalysisFailed:
      return e.analysis_failed().deployment_id();
    case PC::kAlertRaised:
      return e.alert_raised().deployment_id();
    case PC::kOperatorCommand:
      return e.operator_command().deployment_id();
    default:
      return "";
  }
}

std::string ShortType(const v1::Envelope& e) {
  std::string t = e.type().empty() ? events::TypeName(e) : e.type();
  const auto dot = t.rfind('.');
  return dot == std::string::npos ? t : t.substr(dot + 1);
}

std::string TimelineDetail(const v1::Envelope& e) {
  if (auto detail = PlannerDetail(e)) return *detail;
  if (auto detail = ResultDetail(e)) return *detail;
  return RollbackDetail(e);
}

std::string ActorOf(const v1::Envelope& e) {
  if (e.has_operator_command() && !e.operator_command().actor().empty()) {
    return e.operator_command().actor();
  }
  if (e.has_deployment_resumed() && !e.deployment_resumed().actor().empty()) {
    return e.deployment_resumed().actor();
  }
  return e.source();
}

std::int64_t OccurredMs(const v1::Envelope& e, std::int64_t fallback) {
  return e.has_occurred_at() ? TimeUtil::TimestampToMilliseconds(e.occurred_at()) : fallback;
}

std::vector<BatchMark> BatchStarts(const std::vector<TimelineEntry>& timeline) {
  std::vector<BatchMark> out;
  for (const auto& t : timeline) {
    if (t.kind != "BatchRequested" || t.detail.rfind("batch ", 0) != 0) continue;
    try {
      const auto n = std::stoul(t.detail.substr(6));
      if (n == 0) continue;
      const auto index = static_cast<std::uint32_t>(n - 1);
      if (std::none_of(out.begin(), out.end(),
                       [&](const BatchMark& m) { return m.batch == index; })) {
        out.push_back({t.at_ms, index});
      }
    } catch (const std::exception&) {
    }
  }
  return out;
}

std::string JoinHosts(const std::vector<std::string>& hosts) {
  std::string out;
  for (const auto& h : hosts) out += (out.empty() ? "" : ", ") + h;
  return out;
}

}  // namespace sluice::rollback
