#include "sluice/analysis/progress.hpp"

namespace sluice::analysis {

RuleProgress Advance(const Limits& limits, RuleProgress p, Outcome measurement) {
  if (IsFinal(p.outcome)) return p;
  ++p.taken;
  switch (measurement) {
    case Outcome::kSuccessful:
      ++p.consecutive_successes;
      break;
    case Outcome::kFailed:
      ++p.failures;
      p.consecutive_successes = 0;
      break;
    case Outcome::kInconclusive:
      ++p.inconclusives;
      p.consecutive_successes = 0;
      break;
    default:  // kError, and anything that is not a measurement verdict
      ++p.errors;
      p.consecutive_successes = 0;
      break;
  }
  if (!limits.dry_run) {
    if (p.failures > limits.failure_limit) {
      p.outcome = Outcome::kFailed;
      return p;
    }
    if (p.errors > limits.inconclusive_limit) {
      p.outcome = Outcome::kError;
      return p;
    }
    if (p.inconclusives > limits.inconclusive_limit) {
      p.outcome = Outcome::kInconclusive;
      return p;
    }
  }
  if (limits.consecutive_success_limit > 0 &&
      p.consecutive_successes >= limits.consecutive_success_limit) {
    p.outcome = Outcome::kSuccessful;
  } else if (limits.count > 0 && p.taken >= limits.count) {
    // Missing data never passes by itself: the count is reached without one successful
    // measurement (every one inconclusive or an error, within their limits) -> Inconclusive.
    const int successes = p.taken - p.failures - p.inconclusives - p.errors;
    p.outcome = (successes > 0 || limits.dry_run || p.failures > 0) ? Outcome::kSuccessful
                                                                    : Outcome::kInconclusive;
  } else {
    p.outcome = Outcome::kRunning;
  }
  return p;
}

Outcome Combine(const std::vector<Outcome>& rule_outcomes) {
  bool failed = false, error = false, inconclusive = false, all_successful = true;
  for (const auto o : rule_outcomes) {
    failed = failed || o == Outcome::kFailed;
    error = error || o == Outcome::kError;
    inconclusive = inconclusive || o == Outcome::kInconclusive;
    all_successful = all_successful && o == Outcome::kSuccessful;
  }
  if (failed) return Outcome::kFailed;
  if (error) return Outcome::kError;
  if (inconclusive) return Outcome::kInconclusive;
  if (all_successful) return Outcome::kSuccessful;
  return Outcome::kRunning;
}

}  // namespace sluice::analysis
