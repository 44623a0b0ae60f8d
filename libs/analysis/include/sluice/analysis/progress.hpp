#pragma once

// The limits bookkeeping of a rule (or the judge) over its measurements, and the outcome of a
// run from its rules.

#include <vector>

#include "sluice/analysis/types.hpp"

namespace sluice::analysis {

struct RuleProgress {
  int taken = 0, failures = 0, inconclusives = 0, errors = 0, consecutive_successes = 0;
  Outcome outcome = Outcome::kPending;

  bool operator==(const RuleProgress&) const = default;
};

// Records one measurement verdict (kSuccessful, kFailed, kInconclusive or kError; anything else
// counts as kError) and returns the new progress. Once the outcome is final, further
// measurements change nothing. Decided in this order:
//   failures > failure_limit                    -> kFailed
//   errors > inconclusive_limit                 -> kError
//   inconclusives > inconclusive_limit          -> kInconclusive
//   consecutive_success_limit > 0 and reached   -> kSuccessful
//   count > 0 and taken == count                -> kSuccessful if at least one measurement
//                                                  succeeded (or a failure was tolerated),
//                                                  else kInconclusive: no data never passes
//   otherwise                                   -> kRunning
// A dry-run rule counts everything but never ends kFailed, kError or kInconclusive: it ends
// kSuccessful by the last two rules, its counts telling what it saw.
RuleProgress Advance(const Limits& limits, RuleProgress p, Outcome measurement);

// Any kFailed -> kFailed, else any kError -> kError, else any kInconclusive -> kInconclusive,
// else all kSuccessful (or none at all) -> kSuccessful, else kRunning.
Outcome Combine(const std::vector<Outcome>& rule_outcomes);

}  // namespace sluice::analysis
