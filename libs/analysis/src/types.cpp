#include "sluice/analysis/types.hpp"

namespace sluice::analysis {

v1::AnalysisOutcome ToProto(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPending:
      return v1::ANALYSIS_OUTCOME_PENDING;
    case Outcome::kRunning:
      return v1::ANALYSIS_OUTCOME_RUNNING;
    case Outcome::kSuccessful:
      return v1::ANALYSIS_OUTCOME_SUCCESSFUL;
    case Outcome::kFailed:
      return v1::ANALYSIS_OUTCOME_FAILED;
    case Outcome::kError:
      return v1::ANALYSIS_OUTCOME_ERROR;
    case Outcome::kInconclusive:
      return v1::ANALYSIS_OUTCOME_INCONCLUSIVE;
  }
  return v1::ANALYSIS_OUTCOME_ERROR;
}

std::string_view ToString(Outcome outcome) { return events::Name(ToProto(outcome)); }

std::optional<Outcome> ParseOutcome(std::string_view s) {
  for (auto o : {Outcome::kPending, Outcome::kRunning, Outcome::kSuccessful, Outcome::kFailed,
                 Outcome::kError, Outcome::kInconclusive}) {
    if (ToProto(o) == events::ParseAnalysisOutcome(s)) return o;
  }
  return std::nullopt;
}

bool IsFinal(Outcome outcome) {
  return outcome == Outcome::kSuccessful || outcome == Outcome::kFailed ||
         outcome == Outcome::kError || outcome == Outcome::kInconclusive;
}

std::string_view ToString(NoData no_data) {
  switch (no_data) {
    case NoData::kInconclusive:
      return "inconclusive";
    case NoData::kPass:
      return "pass";
    case NoData::kFail:
      return "fail";
  }
  return "inconclusive";
}

std::string_view ToString(Direction direction) {
  switch (direction) {
    case Direction::kIncrease:
      return "increase";
    case Direction::kDecrease:
      return "decrease";
    case Direction::kEither:
      return "either";
  }
  return "increase";
}

std::string_view ToString(Severity severity) {
  switch (severity) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "critical";
}

v1::CanaryFailurePolicy ToProto(OnCanaryFailure value) {
  return value == OnCanaryFailure::kRevertAll ? v1::CANARY_FAILURE_POLICY_REVERT_ALL
                                              : v1::CANARY_FAILURE_POLICY_REVERT_BATCH;
}

std::string_view ToString(OnCanaryFailure value) { return events::Name(ToProto(value)); }

std::optional<OnCanaryFailure> ParseOnCanaryFailure(std::string_view s) {
  switch (events::ParseCanaryFailurePolicy(s)) {
    case v1::CANARY_FAILURE_POLICY_REVERT_BATCH:
      return OnCanaryFailure::kRevertBatch;
    case v1::CANARY_FAILURE_POLICY_REVERT_ALL:
      return OnCanaryFailure::kRevertAll;
    default:
      return std::nullopt;
  }
}

}  // namespace sluice::analysis
