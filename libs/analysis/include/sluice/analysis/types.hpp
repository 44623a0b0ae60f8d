#pragma once

// The closed vocabulary of analysis: outcomes, policies and the measurement limits of a rule.

#include <chrono>
#include <optional>
#include <sluice/events/vocabulary.hpp>
#include <string_view>

namespace sluice::analysis {

// The state of an analysis run, of one of its rules or of one measurement.
enum class Outcome { kPending, kRunning, kSuccessful, kFailed, kError, kInconclusive };
// The schema's value (sluice.v1.AnalysisOutcome) and its text (events::Name): "Pending",
// "Running", "Successful", "Failed", "Error", "Inconclusive".
v1::AnalysisOutcome ToProto(Outcome outcome);
std::string_view ToString(Outcome outcome);
std::optional<Outcome> ParseOutcome(std::string_view s);
// kSuccessful, kFailed, kError and kInconclusive are final.
bool IsFinal(Outcome outcome);

// What a threshold rule's measurement is when the query returned no usable data.
enum class NoData { kInconclusive, kPass, kFail };
std::string_view ToString(NoData no_data);  // "inconclusive", "pass", "fail"

// Which change of a judged metric counts as worse.
enum class Direction { kIncrease, kDecrease, kEither };
std::string_view ToString(Direction direction);  // "increase", "decrease", "either"

enum class Severity { kInfo, kWarning, kCritical };
std::string_view ToString(Severity severity);  // "info", "warning", "critical"

// How often a rule measures and how many bad measurements it tolerates.
struct Limits {
  std::chrono::milliseconds interval{10000};
  int count = 1;                      // measurements; <= 0: until the caller stops the run
  int failure_limit = 0;              // failed measurements tolerated; one more fails the rule
  int consecutive_success_limit = 0;  // 0 = off; N = passes after N successes in a row
  int inconclusive_limit = 0;  // inconclusive (or error) measurements tolerated; one more ends it
  bool dry_run = false;        // measure and report only: the rule always ends kSuccessful

  bool operator==(const Limits&) const = default;
};

// What the deployment does when an analysis of a canary batch fails.
enum class OnCanaryFailure { kRevertBatch, kRevertAll };
v1::CanaryFailurePolicy ToProto(OnCanaryFailure value);
std::string_view ToString(OnCanaryFailure value);  // "revert-batch", "revert-all" (events::Name)
std::optional<OnCanaryFailure> ParseOnCanaryFailure(std::string_view s);

}  // namespace sluice::analysis
