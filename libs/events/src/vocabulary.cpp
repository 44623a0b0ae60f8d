#include "sluice/events/vocabulary.hpp"

// The one place that reads and writes the deprecated string fields the vocabulary enums
// replace (kept filled for one release, read only from older producers).
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace sluice::events {
namespace {

// The enum when set, else the value of the string an older producer sent.
template <class Enum>
Enum Either(Enum code, const std::string& text, Enum (*parse)(std::string_view)) {
  return code != Enum{} ? code : parse(text);
}

// The enum's text when set, else the string as it came.
template <class Enum>
std::string TextOf(Enum code, const std::string& text) {
  return code != Enum{} ? std::string(Name(code)) : text;
}

}  // namespace

void SetReason(v1::DeploymentFailed& e, v1::Reason r) {
  e.set_reason_code(r);
  e.set_reason(std::string(Name(r)));
}
void SetReason(v1::DeploymentPaused& e, v1::Reason r) {
  e.set_reason_code(r);
  e.set_reason(std::string(Name(r)));
}
void SetReason(v1::AnalysisFailed& e, v1::Reason r) {
  e.set_reason_code(r);
  e.set_reason(std::string(Name(r)));
}
void SetReason(v1::BatchFailed& e, std::string_view text) {
  e.set_reason_code(ParseReason(text));
  e.set_reason(std::string(text));
}
void SetOutcome(v1::AnalysisPassed& e, v1::AnalysisOutcome o) {
  e.set_outcome_code(o);
  e.set_outcome(std::string(Name(o)));
}
void SetOutcome(v1::AnalysisFailed& e, v1::AnalysisOutcome o) {
  e.set_outcome_code(o);
  e.set_outcome(std::string(Name(o)));
}
void SetPolicy(v1::DeploymentPlanned& e, v1::CanaryFailurePolicy p) {
  e.set_canary_failure_policy(p);
  e.set_on_canary_failure(std::string(Name(p)));
}
void SetTrigger(v1::RollbackStarted& e, v1::RollbackTrigger t) {
  e.set_trigger_code(t);
  e.set_trigger(std::string(Name(t)));
}

v1::Reason ReasonOf(const v1::DeploymentFailed& e) {
  return Either(e.reason_code(), e.reason(), &ParseReason);
}
v1::Reason ReasonOf(const v1::DeploymentPaused& e) {
  return Either(e.reason_code(), e.reason(), &ParseReason);
}
v1::Reason ReasonOf(const v1::AnalysisFailed& e) {
  return Either(e.reason_code(), e.reason(), &ParseReason);
}
v1::Reason ReasonOf(const v1::BatchFailed& e) {
  return Either(e.reason_code(), e.reason(), &ParseReason);
}
v1::AnalysisOutcome OutcomeOf(const v1::AnalysisPassed& e) {
  return Either(e.outcome_code(), e.outcome(), &ParseAnalysisOutcome);
}
v1::AnalysisOutcome OutcomeOf(const v1::AnalysisFailed& e) {
  return Either(e.outcome_code(), e.outcome(), &ParseAnalysisOutcome);
}
v1::CanaryFailurePolicy PolicyOf(const v1::DeploymentPlanned& e) {
  return Either(e.canary_failure_policy(), e.on_canary_failure(), &ParseCanaryFailurePolicy);
}
v1::RollbackTrigger TriggerOf(const v1::RollbackStarted& e) {
  return Either(e.trigger_code(), e.trigger(), &ParseRollbackTrigger);
}

std::string ReasonText(const v1::DeploymentFailed& e) {
  return TextOf(e.reason_code(), e.reason());
}
std::string ReasonText(const v1::DeploymentPaused& e) {
  return TextOf(e.reason_code(), e.reason());
}
std::string ReasonText(const v1::AnalysisFailed& e) { return TextOf(e.reason_code(), e.reason()); }
std::string ReasonText(const v1::BatchFailed& e) { return TextOf(e.reason_code(), e.reason()); }
std::string OutcomeText(const v1::AnalysisFailed& e) {
  return TextOf(e.outcome_code(), e.outcome());
}
std::string TriggerText(const v1::RollbackStarted& e) {
  return TextOf(e.trigger_code(), e.trigger());
}

}  // namespace sluice::events
