#include "sluice/analysis/progress.hpp"

#include <gtest/gtest.h>

namespace sluice::analysis {
namespace {

RuleProgress Measure(const Limits& limits, std::initializer_list<Outcome> measurements) {
  RuleProgress p;
  for (auto m : measurements) p = Advance(limits, p, m);
  return p;
}

constexpr auto S = Outcome::kSuccessful;
constexpr auto F = Outcome::kFailed;
constexpr auto I = Outcome::kInconclusive;
constexpr auto E = Outcome::kError;

TEST(AdvanceTest, CountReachedIsSuccessful) {
  Limits l;
  l.count = 3;
  auto p = Measure(l, {S, S});
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  EXPECT_EQ(p.taken, 2);
  p = Advance(l, p, S);
  EXPECT_EQ(p.outcome, Outcome::kSuccessful);
  EXPECT_EQ(p.taken, 3);
  // Final: further measurements change nothing.
  EXPECT_EQ(Advance(l, p, F), p);
}

// Missing data never passes by itself: every measurement inconclusive (or an error) within
// the limits, count reached -> Inconclusive, not Successful.
TEST(AdvanceTest, CountReachedWithoutASuccessIsInconclusive) {
  Limits l;
  l.count = 3;
  l.inconclusive_limit = 3;
  EXPECT_EQ(Measure(l, {I, I, I}).outcome, Outcome::kInconclusive);
  EXPECT_EQ(Measure(l, {I, E, I}).outcome, Outcome::kInconclusive);
  EXPECT_EQ(Measure(l, {I, I, S}).outcome, Outcome::kSuccessful);
}

TEST(AdvanceTest, FailureLimit) {
  Limits l;
  l.count = 5;
  l.failure_limit = 1;
  auto p = Measure(l, {S, F, S});
  EXPECT_EQ(p.outcome, Outcome::kRunning);  // one failure tolerated
  EXPECT_EQ(p.failures, 1);
  p = Advance(l, p, F);
  EXPECT_EQ(p.outcome, Outcome::kFailed);
  EXPECT_EQ(p.failures, 2);
  // The default limit 0 fails on the first failure.
  EXPECT_EQ(Measure(Limits{}, {F}).outcome, Outcome::kFailed);
  // Failures within the limit still pass at the count.
  l.count = 3;
  EXPECT_EQ(Measure(l, {F, S, S}).outcome, Outcome::kSuccessful);
}

TEST(AdvanceTest, ConsecutiveSuccessLimit) {
  Limits l;
  l.count = 10;
  l.failure_limit = 3;
  l.consecutive_success_limit = 2;
  auto p = Measure(l, {S, F, S});
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  EXPECT_EQ(p.consecutive_successes, 1);  // reset by the failure
  p = Advance(l, p, S);
  EXPECT_EQ(p.outcome, Outcome::kSuccessful);
  EXPECT_EQ(p.taken, 4);
  // An inconclusive measurement breaks the streak too.
  l.inconclusive_limit = 5;
  EXPECT_EQ(Measure(l, {S, I, S}).outcome, Outcome::kRunning);
}

TEST(AdvanceTest, InconclusiveAndErrorLimits) {
  Limits l;
  l.count = 10;
  l.inconclusive_limit = 1;
  auto p = Measure(l, {I});
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  p = Advance(l, p, I);
  EXPECT_EQ(p.outcome, Outcome::kInconclusive);
  EXPECT_EQ(p.inconclusives, 2);
  p = Measure(l, {E, S, E});
  EXPECT_EQ(p.outcome, Outcome::kError);
  EXPECT_EQ(p.errors, 2);
  // Anything that is not a measurement verdict counts as an error.
  EXPECT_EQ(Measure(Limits{}, {Outcome::kRunning}).outcome, Outcome::kError);
}

TEST(AdvanceTest, DryRunNeverFails) {
  Limits l;
  l.count = 3;
  l.dry_run = true;
  auto p = Measure(l, {F, F});
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  EXPECT_EQ(p.failures, 2);
  p = Advance(l, p, I);
  EXPECT_EQ(p.outcome, Outcome::kSuccessful);  // ends at the count, failures counted
  EXPECT_EQ(p.failures, 2);
  EXPECT_EQ(p.inconclusives, 1);
  EXPECT_EQ(Measure(l, {E, E, E}).outcome, Outcome::kSuccessful);
}

TEST(AdvanceTest, ZeroCountRunsUntilStopped) {
  Limits l;
  l.count = 0;  // bake watch: the caller ends the run when its duration is over
  RuleProgress p;
  for (int i = 0; i < 100; ++i) p = Advance(l, p, S);
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  EXPECT_EQ(p.taken, 100);
  EXPECT_EQ(Advance(l, p, F).outcome, Outcome::kFailed);
}

TEST(CombineTest, WorstOutcomeWins) {
  using O = Outcome;
  EXPECT_EQ(Combine({O::kSuccessful, O::kFailed, O::kError, O::kInconclusive}), O::kFailed);
  EXPECT_EQ(Combine({O::kSuccessful, O::kRunning, O::kError, O::kInconclusive}), O::kError);
  EXPECT_EQ(Combine({O::kSuccessful, O::kInconclusive, O::kRunning}), O::kInconclusive);
  EXPECT_EQ(Combine({O::kSuccessful, O::kSuccessful}), O::kSuccessful);
  EXPECT_EQ(Combine({O::kSuccessful, O::kRunning}), O::kRunning);
  EXPECT_EQ(Combine({O::kPending, O::kSuccessful}), O::kRunning);
  EXPECT_EQ(Combine({}), O::kSuccessful);
}

TEST(OutcomeTest, NamesRoundTrip) {
  for (auto o : {Outcome::kPending, Outcome::kRunning, Outcome::kSuccessful, Outcome::kFailed,
                 Outcome::kError, Outcome::kInconclusive}) {
    EXPECT_EQ(ParseOutcome(ToString(o)), o);
  }
  EXPECT_EQ(ToString(Outcome::kInconclusive), "Inconclusive");
  EXPECT_FALSE(ParseOutcome("failed"));
  EXPECT_EQ(ToString(Severity::kWarning), "warning");
  EXPECT_EQ(ToString(OnCanaryFailure::kRevertAll), "revert-all");
  EXPECT_EQ(ParseOnCanaryFailure("revert-batch"), OnCanaryFailure::kRevertBatch);
  EXPECT_FALSE(ParseOnCanaryFailure("revert"));
}

}  // namespace
}  // namespace sluice::analysis
