#pragma once

// The text of the sluice.v1 vocabulary enums (schemas/sluice/v1/vocabulary.proto, and the
// InstanceStatus and OperatorCommand.Verb enums), for the places protobuf does not reach: the
// agent's HTTP JSON, the REST API, database columns, timelines and notices. Each value's text
// is written here once; services use the enums and ask for the text.
//
// And the fields an enum replaces: producers set both with Set*, consumers read with *Of (the
// enum, or the parsed string of an older producer), so no service touches the deprecated
// string accessors.

#include <sluice/v1/analysis.pb.h>
#include <sluice/v1/deployment.pb.h>
#include <sluice/v1/execution.pb.h>
#include <sluice/v1/release.pb.h>
#include <sluice/v1/rollback.pb.h>
#include <sluice/v1/vocabulary.pb.h>

#include <array>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::events {

namespace v1 = ::sluice::v1;

namespace vocabulary_detail {

template <class Enum>
using Names = std::pair<Enum, std::string_view>;

// A value's text is the lower-case enum name without its prefix (REASON_STALE_GENERATION ->
// "stale_generation"); vocabulary_test checks that rule and that every value has a text.
inline constexpr std::array kReasons{
    Names<v1::Reason>{v1::REASON_BATCH_FAILED, "batch_failed"},
    Names<v1::Reason>{v1::REASON_ANALYSIS_FAILED, "analysis_failed"},
    Names<v1::Reason>{v1::REASON_TRAFFIC_SWITCH_FAILED, "traffic_switch_failed"},
    Names<v1::Reason>{v1::REASON_ABORTED, "aborted"},
    Names<v1::Reason>{v1::REASON_NO_TARGETS, "no_targets"},
    Names<v1::Reason>{v1::REASON_ROLLED_BACK, "rolled_back"},
    Names<v1::Reason>{v1::REASON_ROLLBACK_FAILED, "rollback_failed"},
    Names<v1::Reason>{v1::REASON_CONCURRENT_DEPLOYMENT, "concurrent_deployment"},
    Names<v1::Reason>{v1::REASON_INVALID_SPEC, "invalid_spec"},
    Names<v1::Reason>{v1::REASON_UNKNOWN_ENVIRONMENT, "unknown_environment"},
    Names<v1::Reason>{v1::REASON_INVALID_PLAN, "invalid_plan"},
    Names<v1::Reason>{v1::REASON_PAUSE_STEP, "pause_step"},
    Names<v1::Reason>{v1::REASON_APPROVAL_REQUIRED, "approval_required"},
    Names<v1::Reason>{v1::REASON_OPERATOR, "operator"},
    Names<v1::Reason>{v1::REASON_STALE_GENERATION, "stale_generation"},
    Names<v1::Reason>{v1::REASON_HOST_OWNED_BY_NEWER_DEPLOYMENT, "host_owned_by_newer_deployment"},
    Names<v1::Reason>{v1::REASON_SUPERSEDED, "superseded"},
    Names<v1::Reason>{v1::REASON_SUPERSEDED_BY_NEWER_GENERATION, "superseded_by_newer_generation"},
    Names<v1::Reason>{v1::REASON_HOST_FAILURES_EXCEEDED_TOLERANCE,
                      "host_failures_exceeded_tolerance"},
    Names<v1::Reason>{v1::REASON_DRIVER_ERROR, "driver_error"},
    Names<v1::Reason>{v1::REASON_RECORDED_FAILURE, "recorded_failure"},
    Names<v1::Reason>{v1::REASON_UNKNOWN_HOST, "unknown_host"},
    Names<v1::Reason>{v1::REASON_NO_TARGET_VERSION, "no_target_version"},
    Names<v1::Reason>{v1::REASON_NO_SERVICE_CONFIG, "no_service_config"},
    Names<v1::Reason>{v1::REASON_UNKNOWN_DRIVER, "unknown_driver"},
    Names<v1::Reason>{v1::REASON_NOT_DRIVEN, "not_driven"},
    Names<v1::Reason>{v1::REASON_UNREACHABLE, "unreachable"},
    Names<v1::Reason>{v1::REASON_TIMED_OUT, "timed_out"},
    Names<v1::Reason>{v1::REASON_UNHEALTHY, "unhealthy"},
    Names<v1::Reason>{v1::REASON_VERSION_MISMATCH, "version_mismatch"},
    Names<v1::Reason>{v1::REASON_BAD_RESPONSE, "bad_response"},
    Names<v1::Reason>{v1::REASON_TRANSPORT_ERROR, "transport_error"},
    Names<v1::Reason>{v1::REASON_DEADLINE_PASSED, "deadline_passed"},
    Names<v1::Reason>{v1::REASON_WORKLOAD_NOT_FOUND, "workload_not_found"},
    Names<v1::Reason>{v1::REASON_INVALID_WORKLOAD, "invalid_workload"},
    Names<v1::Reason>{v1::REASON_PROGRESS_DEADLINE_EXCEEDED, "progress_deadline_exceeded"},
    Names<v1::Reason>{v1::REASON_DEADLINE, "deadline"},
    Names<v1::Reason>{v1::REASON_KUBERNETES_API, "kubernetes_api"},
    Names<v1::Reason>{v1::REASON_NO_KUBERNETES_WORKLOAD, "no_kubernetes_workload"},
    Names<v1::Reason>{v1::REASON_UNKNOWN_CLUSTER, "unknown_cluster"},
    Names<v1::Reason>{v1::REASON_ARTIFACT_NOT_IMAGE, "artifact_not_image"},
    Names<v1::Reason>{v1::REASON_NO_WEIGHT_PERCENT, "no_weight_percent"},
    Names<v1::Reason>{v1::REASON_UNSUPPORTED_ROLLOUT, "unsupported_rollout"},
    Names<v1::Reason>{v1::REASON_VERSION_CONFLICT, "version_conflict"},
    Names<v1::Reason>{v1::REASON_NOT_INSTALLED, "not_installed"},
    Names<v1::Reason>{v1::REASON_CHECKSUM_MISMATCH, "checksum_mismatch"},
    Names<v1::Reason>{v1::REASON_ARTIFACT_TOO_LARGE, "artifact_too_large"},
    Names<v1::Reason>{v1::REASON_DOWNLOAD_FAILED, "download_failed"},
    Names<v1::Reason>{v1::REASON_UNSAFE_ARCHIVE, "unsafe_archive"},
    Names<v1::Reason>{v1::REASON_INSTALL_FAILED, "install_failed"},
    Names<v1::Reason>{v1::REASON_RESTART_FAILED, "restart_failed"},
    Names<v1::Reason>{v1::REASON_HEALTH_CHECK_FAILED, "health_check_failed"},
    Names<v1::Reason>{v1::REASON_INTERRUPTED, "interrupted"},
    Names<v1::Reason>{v1::REASON_THRESHOLD_BREACHED, "threshold_breached"},
    Names<v1::Reason>{v1::REASON_JUDGE_FAILED, "judge_failed"},
    Names<v1::Reason>{v1::REASON_INCONCLUSIVE_LIMIT, "inconclusive_limit"},
    Names<v1::Reason>{v1::REASON_QUERY_ERROR, "query_error"},
    Names<v1::Reason>{v1::REASON_TEMPLATE_MISSING, "template_missing"},
    Names<v1::Reason>{v1::REASON_DEPLOYMENT_ENDED, "deployment_ended"},
    Names<v1::Reason>{v1::REASON_NO_ACTIVE_DEPLOYMENT, "no_active_deployment"},
    Names<v1::Reason>{v1::REASON_OWN_EVENT, "own_event"},
    Names<v1::Reason>{v1::REASON_RESOLVED, "resolved"},
    Names<v1::Reason>{v1::REASON_MISSING_APP_ENV_LABELS, "missing_app_env_labels"},
    Names<v1::Reason>{v1::REASON_NOTHING_MEASURED, "nothing_measured"},
    Names<v1::Reason>{v1::REASON_ALREADY_ROLLED_BACK, "already_rolled_back"},
    Names<v1::Reason>{v1::REASON_ROLLBACK_IN_PROGRESS, "rollback_in_progress"},
    Names<v1::Reason>{v1::REASON_UNKNOWN_DEPLOYMENT, "unknown_deployment"},
    Names<v1::Reason>{v1::REASON_NO_STABLE_RELEASE, "no_stable_release"},
    Names<v1::Reason>{v1::REASON_UNKNOWN_TARGET_RELEASE, "unknown_target_release"},
    Names<v1::Reason>{v1::REASON_FAILED_TARGET_RELEASE, "failed_target_release"},
    Names<v1::Reason>{v1::REASON_NOTHING_DEPLOYED, "nothing_deployed"},
    Names<v1::Reason>{v1::REASON_ALERT_RESOLVED, "alert_resolved"},
    Names<v1::Reason>{v1::REASON_LOCK_SUPERSEDED, "lock_superseded"},
    Names<v1::Reason>{v1::REASON_ROLLBACK_INCOMPLETE, "rollback_incomplete"},
};

inline constexpr std::array kAnalysisOutcomes{
    Names<v1::AnalysisOutcome>{v1::ANALYSIS_OUTCOME_PENDING, "Pending"},
    Names<v1::AnalysisOutcome>{v1::ANALYSIS_OUTCOME_RUNNING, "Running"},
    Names<v1::AnalysisOutcome>{v1::ANALYSIS_OUTCOME_SUCCESSFUL, "Successful"},
    Names<v1::AnalysisOutcome>{v1::ANALYSIS_OUTCOME_FAILED, "Failed"},
    Names<v1::AnalysisOutcome>{v1::ANALYSIS_OUTCOME_ERROR, "Error"},
    Names<v1::AnalysisOutcome>{v1::ANALYSIS_OUTCOME_INCONCLUSIVE, "Inconclusive"},
};

inline constexpr std::array kCanaryFailurePolicies{
    Names<v1::CanaryFailurePolicy>{v1::CANARY_FAILURE_POLICY_REVERT_BATCH, "revert-batch"},
    Names<v1::CanaryFailurePolicy>{v1::CANARY_FAILURE_POLICY_REVERT_ALL, "revert-all"},
};

inline constexpr std::array kRollbackTriggers{
    Names<v1::RollbackTrigger>{v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED, "analysis_failed"},
    Names<v1::RollbackTrigger>{v1::ROLLBACK_TRIGGER_ALERT, "alert"},
    Names<v1::RollbackTrigger>{v1::ROLLBACK_TRIGGER_OPERATOR, "operator"},
};

inline constexpr std::array kInstanceStatuses{
    Names<v1::InstanceStatus>{v1::INSTANCE_STATUS_PENDING, "pending"},
    Names<v1::InstanceStatus>{v1::INSTANCE_STATUS_DEPLOYING, "deploying"},
    Names<v1::InstanceStatus>{v1::INSTANCE_STATUS_SUCCEEDED, "succeeded"},
    Names<v1::InstanceStatus>{v1::INSTANCE_STATUS_FAILED, "failed"},
    Names<v1::InstanceStatus>{v1::INSTANCE_STATUS_REVERTING, "reverting"},
    Names<v1::InstanceStatus>{v1::INSTANCE_STATUS_REVERTED, "reverted"},
};

inline constexpr std::array kVerbs{
    Names<v1::OperatorCommand::Verb>{v1::OperatorCommand::VERB_PROMOTE, "promote"},
    Names<v1::OperatorCommand::Verb>{v1::OperatorCommand::VERB_PAUSE, "pause"},
    Names<v1::OperatorCommand::Verb>{v1::OperatorCommand::VERB_RESUME, "resume"},
    Names<v1::OperatorCommand::Verb>{v1::OperatorCommand::VERB_ABORT, "abort"},
    Names<v1::OperatorCommand::Verb>{v1::OperatorCommand::VERB_ROLLBACK, "rollback"},
    Names<v1::OperatorCommand::Verb>{v1::OperatorCommand::VERB_APPROVE, "approve"},
};

template <class Enum, std::size_t N>
constexpr std::string_view NameIn(const std::array<Names<Enum>, N>& table, Enum value) {
  for (const auto& [v, text] : table) {
    if (v == value) return text;
  }
  return {};
}

template <class Enum, std::size_t N>
constexpr Enum ParseIn(const std::array<Names<Enum>, N>& table, std::string_view text) {
  for (const auto& [v, t] : table) {
    if (!text.empty() && t == text) return v;
  }
  return Enum{};  // the *_UNSPECIFIED value
}

}  // namespace vocabulary_detail

// The text of a value; "" for *_UNSPECIFIED and for a number no value has (a newer producer).
constexpr std::string_view Name(v1::Reason r) {
  return vocabulary_detail::NameIn(vocabulary_detail::kReasons, r);
}
constexpr std::string_view Name(v1::AnalysisOutcome o) {
  return vocabulary_detail::NameIn(vocabulary_detail::kAnalysisOutcomes, o);
}
constexpr std::string_view Name(v1::CanaryFailurePolicy p) {
  return vocabulary_detail::NameIn(vocabulary_detail::kCanaryFailurePolicies, p);
}
constexpr std::string_view Name(v1::RollbackTrigger t) {
  return vocabulary_detail::NameIn(vocabulary_detail::kRollbackTriggers, t);
}
constexpr std::string_view Name(v1::InstanceStatus s) {
  return vocabulary_detail::NameIn(vocabulary_detail::kInstanceStatuses, s);
}
constexpr std::string_view Name(v1::OperatorCommand::Verb v) {
  return vocabulary_detail::NameIn(vocabulary_detail::kVerbs, v);
}

// The value of a text (exact, case-sensitive); *_UNSPECIFIED for any other text.
constexpr v1::Reason ParseReason(std::string_view text) {
  return vocabulary_detail::ParseIn(vocabulary_detail::kReasons, text);
}
constexpr v1::AnalysisOutcome ParseAnalysisOutcome(std::string_view text) {
  return vocabulary_detail::ParseIn(vocabulary_detail::kAnalysisOutcomes, text);
}
constexpr v1::CanaryFailurePolicy ParseCanaryFailurePolicy(std::string_view text) {
  return vocabulary_detail::ParseIn(vocabulary_detail::kCanaryFailurePolicies, text);
}
constexpr v1::RollbackTrigger ParseRollbackTrigger(std::string_view text) {
  return vocabulary_detail::ParseIn(vocabulary_detail::kRollbackTriggers, text);
}
constexpr v1::InstanceStatus ParseInstanceStatus(std::string_view text) {
  return vocabulary_detail::ParseIn(vocabulary_detail::kInstanceStatuses, text);
}
constexpr v1::OperatorCommand::Verb ParseVerb(std::string_view text) {
  return vocabulary_detail::ParseIn(vocabulary_detail::kVerbs, text);
}

// --- The fields an enum replaces ----------------------------------------------------------
// Set*: the enum and, for one release, the deprecated string (its text). *Of: the enum, or,
// when it is unspecified (an older producer), the value of the string. *Text: the enum's text,
// or the string as it came when the enum is unspecified (free text of an older producer, or a
// host's own reason that has no value).

void SetReason(v1::DeploymentFailed& e, v1::Reason r);
void SetReason(v1::DeploymentPaused& e, v1::Reason r);
void SetReason(v1::AnalysisFailed& e, v1::Reason r);
// BatchFailed may carry a host's own reason text that has no value: `text` is kept as it is,
// and reason_code is its value (unspecified when it has none).
void SetReason(v1::BatchFailed& e, std::string_view text);
void SetOutcome(v1::AnalysisPassed& e, v1::AnalysisOutcome o);
void SetOutcome(v1::AnalysisFailed& e, v1::AnalysisOutcome o);
void SetPolicy(v1::DeploymentPlanned& e, v1::CanaryFailurePolicy p);
void SetTrigger(v1::RollbackStarted& e, v1::RollbackTrigger t);

v1::Reason ReasonOf(const v1::DeploymentFailed& e);
v1::Reason ReasonOf(const v1::DeploymentPaused& e);
v1::Reason ReasonOf(const v1::AnalysisFailed& e);
v1::Reason ReasonOf(const v1::BatchFailed& e);
v1::AnalysisOutcome OutcomeOf(const v1::AnalysisPassed& e);
v1::AnalysisOutcome OutcomeOf(const v1::AnalysisFailed& e);
v1::CanaryFailurePolicy PolicyOf(const v1::DeploymentPlanned& e);
v1::RollbackTrigger TriggerOf(const v1::RollbackStarted& e);

std::string ReasonText(const v1::DeploymentFailed& e);
std::string ReasonText(const v1::DeploymentPaused& e);
std::string ReasonText(const v1::AnalysisFailed& e);
std::string ReasonText(const v1::BatchFailed& e);
std::string OutcomeText(const v1::AnalysisFailed& e);
std::string TriggerText(const v1::RollbackStarted& e);

}  // namespace sluice::events
