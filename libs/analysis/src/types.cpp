#include "sluice/analysis/types.hpp"

namespace sluice::analysis {

std::string_view ToString(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPending:
      return "Pending";
    case Outcome::kRunning:
      return "Running";
    case Outcome::kSuccessful:
      return "Successful";
    case Outcome::kFailed:
      return "Failed";
    case Outcome::kError:
      return "Error";
    case Outcome::kInconclusive:
      return "Inconclusive";
  }
  return "Error";
}

std::optional<Outcome> ParseOutcome(std::string_view s) {
  for (auto o : {Outcome::kPending, Outcome::kRunning, Outcome::kSuccessful, Outcome::kFailed,
                 Outcome::kError, Outcome::kInconclusive}) {
    if (ToString(o) == s) return o;
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

std::string_view ToString(OnCanaryFailure value) {
  return value == OnCanaryFailure::kRevertAll ? "revert-all" : "revert-batch";
}

std::optional<OnCanaryFailure> ParseOnCanaryFailure(std::string_view s) {
  if (s == "revert-batch") return OnCanaryFailure::kRevertBatch;
  if (s == "revert-all") return OnCanaryFailure::kRevertAll;
  return std::nullopt;
}

}  // namespace sluice::analysis
