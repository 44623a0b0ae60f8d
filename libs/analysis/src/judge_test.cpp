#include "sluice/analysis/judge.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace sluice::analysis {
namespace {

using Samples = std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>;

TEST(MannWhitneyTest, SeparatedSamples) {
  // canary {1,2,3}, baseline {4,5,6}: canary ranks 1+2+3 = 6, U = 6 - 3*4/2 = 0.
  // Exact: C(6,3) = 20 equally likely rank sets; only {1,2,3} and {4,5,6} are as far from the
  // mean rank sum (10.5) as 6 is, so the two-sided p = 2/20 = 0.1.
  const auto mw = MannWhitneyU({1, 2, 3}, {4, 5, 6});
  EXPECT_DOUBLE_EQ(mw.u, 0);
  EXPECT_DOUBLE_EQ(mw.p_value, 0.1);
  // Differences c - b: -3 -4 -5 -2 -3 -4 -1 -2 -3, median -3.
  EXPECT_DOUBLE_EQ(mw.hl_shift, -3);
  // Swapped: U' = n1*n2 - U = 9, same p, opposite shift.
  const auto swapped = MannWhitneyU({4, 5, 6}, {1, 2, 3});
  EXPECT_DOUBLE_EQ(swapped.u, 9);
  EXPECT_DOUBLE_EQ(swapped.p_value, 0.1);
  EXPECT_DOUBLE_EQ(swapped.hl_shift, 3);
}

TEST(MannWhitneyTest, TiesGetAveragedRanksAndAnExactP) {
  // Pooled sorted: 1 | 2 2 2 | 3 3 | 4 | 5 -> ranks 1 | 3 3 3 | 5.5 5.5 | 7 | 8.
  // canary {1,2,2,3}: 1 + 3 + 3 + 5.5 = 12.5, U = 12.5 - 4*5/2 = 2.5.
  // Exact over the C(8,4) = 70 draws of four midranks: 14 lie at least |12.5 - 18| = 5.5 from
  // the mean 18, so p = 14/70 = 0.2.
  const auto mw = MannWhitneyU({1, 2, 2, 3}, {2, 3, 4, 5});
  EXPECT_DOUBLE_EQ(mw.u, 2.5);
  EXPECT_NEAR(mw.p_value, 0.2, 1e-12);
  // 16 differences sorted: -4 -3 -3 -3 -2 -2 -2 -2 | -1 -1 -1 -1 0 0 0 1 -> median (-2-1)/2.
  EXPECT_DOUBLE_EQ(mw.hl_shift, -1.5);
}

TEST(MannWhitneyTest, ConstantAndAllZeroSamples) {
  // Every value equal: all ranks 3.5, U = 3*3/2 = 4.5, nothing to tell apart.
  auto mw = MannWhitneyU({5, 5, 5}, {5, 5, 5});
  EXPECT_DOUBLE_EQ(mw.u, 4.5);
  EXPECT_DOUBLE_EQ(mw.p_value, 1);
  EXPECT_DOUBLE_EQ(mw.hl_shift, 0);
  mw = MannWhitneyU({0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(mw.p_value, 1);
  EXPECT_DOUBLE_EQ(mw.hl_shift, 0);
}

TEST(MannWhitneyTest, TinyAndEmptySamples) {
  // {1} vs {2}: two equally likely orders, both as extreme: p = 1.
  auto mw = MannWhitneyU({1}, {2});
  EXPECT_DOUBLE_EQ(mw.u, 0);
  EXPECT_DOUBLE_EQ(mw.p_value, 1);
  // {1,2} vs {3,4}: C(4,2) = 6 draws, rank sums 3 and 7 as extreme: p = 2/6.
  mw = MannWhitneyU({1, 2}, {3, 4});
  EXPECT_NEAR(mw.p_value, 1.0 / 3, 1e-12);
  mw = MannWhitneyU({}, {1, 2, 3});
  EXPECT_DOUBLE_EQ(mw.p_value, 1);
  EXPECT_DOUBLE_EQ(mw.hl_shift, 0);
}

TEST(MannWhitneyTest, ExactUpToTenPerSide) {
  // canary 3..10, baseline 1..8 (n1 = n2 = 8): U = 46; exact count of rank sums at least as far
  // from the mean 68 as the observed 82: 1998 of C(16,8) = 12870 -> p = 0.155245.
  const auto mw = MannWhitneyU({3, 4, 5, 6, 7, 8, 9, 10}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_DOUBLE_EQ(mw.u, 46);
  EXPECT_NEAR(mw.p_value, 1998.0 / 12870, 1e-12);
  EXPECT_DOUBLE_EQ(mw.hl_shift, 2);
}

TEST(MannWhitneyTest, NormalApproximationForLargerSamples) {
  // canary 1..11, baseline 12..22: U = 0, mu = 60.5, sigma^2 = 11*11/12 * 23 = 231.9167,
  // z = (60.5 - 0.5) / 15.2288 = 3.93990, p = erfc(z / sqrt 2) = 8.1515e-5.
  std::vector<double> c, b;
  for (int i = 1; i <= 11; ++i) c.push_back(i);
  for (int i = 12; i <= 22; ++i) b.push_back(i);
  const auto mw = MannWhitneyU(c, b);
  EXPECT_DOUBLE_EQ(mw.u, 0);
  EXPECT_NEAR(mw.p_value, 8.151536e-5, 1e-9);
  EXPECT_DOUBLE_EQ(mw.hl_shift, -11);
}

TEST(MannWhitneyTest, NormalApproximationWithTieCorrection) {
  // canary {1,1,2,2,...,6,6}, baseline {3,3,...,8,8} (12 each): U = 32, mu = 72;
  // ties: 1,2,7,8 twice, 3..6 four times: sum(t^3 - t) = 4*6 + 4*60 = 264;
  // sigma^2 = 144/12 * (25 - 264/552) = 294.2609; z = (40 - 0.5)/17.1540 = 2.30267;
  // p = 0.0212977.
  const std::vector<double> c = {1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6};
  const std::vector<double> b = {3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8};
  const auto mw = MannWhitneyU(c, b);
  EXPECT_DOUBLE_EQ(mw.u, 32);
  EXPECT_NEAR(mw.p_value, 0.0212977, 1e-6);
  EXPECT_DOUBLE_EQ(mw.hl_shift, -2);
}

TEST(HodgesLehmannTest, MedianOfPairwiseDifferences) {
  EXPECT_DOUBLE_EQ(HodgesLehmannShift({10, 12}, {1}), 10);  // {9, 11} -> 10
  EXPECT_DOUBLE_EQ(HodgesLehmannShift({5}, {1, 2, 3}), 3);  // {4, 3, 2} -> 3
  EXPECT_DOUBLE_EQ(HodgesLehmannShift({}, {1}), 0);
}

TEST(RemoveOutliersTest, TukeyFences) {
  // {1,2,3,4,100}: Q1 = 2, Q3 = 4, IQR = 2, fences [-1, 7]: 100 goes.
  EXPECT_EQ(RemoveOutliers({1, 2, 3, 4, 100}), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(RemoveOutliers({1, 2, 100}), (std::vector<double>{1, 2, 100}));  // too few to tell
  EXPECT_EQ(RemoveOutliers({5, 5, 5, 5}), (std::vector<double>{5, 5, 5, 5}));
}

JudgeMetric Metric(const std::string& name, Direction d = Direction::kIncrease, double tol = 0.2) {
  JudgeMetric m;
  m.name = name;
  m.query = "q";
  m.direction = d;
  m.tolerance = tol;
  return m;
}

JudgeSpec Spec(std::vector<JudgeMetric> metrics) {
  JudgeSpec s;  // confidence 0.98: significant when p < 0.02
  s.metrics = std::move(metrics);
  return s;
}

const std::vector<double> kBase = {10, 11, 12, 13, 14};
const std::vector<double> kHigher = {20, 21, 22, 23, 24};  // vs kBase: U = 25, p = 2/252

TEST(JudgeTest, SimilarSamplesPass) {
  const auto j = Judge(
      Spec({Metric("latency")}),
      Samples{{"latency", {{10, 11, 12, 10, 11, 12, 10, 11}, {10, 11, 12, 11, 10, 12, 11, 10}}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(j.score, 100);
  ASSERT_EQ(j.metrics.size(), 1u);
  EXPECT_EQ(j.metrics[0].verdict, Outcome::kSuccessful);
  EXPECT_GT(j.metrics[0].p_value, 0.5);
  EXPECT_EQ(j.metrics[0].canary_n, 8u);
  EXPECT_NE(j.metrics[0].reason.find("no significant difference"), std::string::npos);
}

TEST(JudgeTest, SignificantIncreaseBeyondToleranceFails) {
  const auto j = Judge(Spec({Metric("latency")}), Samples{{"latency", {kHigher, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  EXPECT_DOUBLE_EQ(j.score, 0);
  const auto& m = j.metrics[0];
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_NEAR(m.p_value, 2.0 / 252, 1e-12);
  EXPECT_DOUBLE_EQ(m.canary_mean, 22);
  EXPECT_DOUBLE_EQ(m.baseline_mean, 12);
  EXPECT_DOUBLE_EQ(m.mean_ratio, 22.0 / 12);
  EXPECT_DOUBLE_EQ(m.hl_shift, 10);
  EXPECT_EQ(m.reason,
            "significantly worse: canary mean 22 vs baseline mean 12 (+83.3%, tolerance 20.0%), "
            "p=0.007937 < 0.02.");
}

TEST(JudgeTest, DirectionDecidesWhatIsWorse) {
  // An increase does not fail a metric judged on decrease ...
  auto j = Judge(Spec({Metric("throughput", Direction::kDecrease)}),
                 Samples{{"throughput", {kHigher, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_NE(j.metrics[0].reason.find("not worse for a metric judged on decrease"),
            std::string::npos)
      << j.metrics[0].reason;
  // ... a decrease does.
  j = Judge(Spec({Metric("throughput", Direction::kDecrease)}),
            Samples{{"throughput", {{1, 2, 3, 4, 5}, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  // Either direction fails on both.
  EXPECT_EQ(
      Judge(Spec({Metric("m", Direction::kEither)}), Samples{{"m", {kHigher, kBase}}}).verdict,
      Outcome::kFailed);
  EXPECT_EQ(Judge(Spec({Metric("m", Direction::kEither)}), Samples{{"m", {{1, 2, 3, 4, 5}, kBase}}})
                .verdict,
            Outcome::kFailed);
}

TEST(JudgeTest, ToleranceAbsorbsSmallSignificantChanges) {
  // Significant (p = 2/252) but the mean grows only 4.9%.
  const Samples s{{"latency", {{10.5, 10.6, 10.7, 10.8, 10.9}, {10.0, 10.1, 10.2, 10.3, 10.4}}}};
  auto j = Judge(Spec({Metric("latency", Direction::kIncrease, 0.2)}), s);
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_NE(j.metrics[0].reason.find("within tolerance"), std::string::npos) << j.metrics[0].reason;
  j = Judge(Spec({Metric("latency", Direction::kIncrease, 0.01)}), s);
  EXPECT_EQ(j.verdict, Outcome::kFailed);
}

TEST(JudgeTest, ZeroBaselineUsesTheAbsoluteDifference) {
  const std::vector<double> zeros = {0, 0, 0, 0, 0};
  // ratio = 1 + (0.3 - 0) = 1.3 > 1.2, and U = 25: p = 2/252.
  auto j = Judge(Spec({Metric("errors")}), Samples{{"errors", {{0.3, 0.3, 0.3, 0.3, 0.3}, zeros}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  EXPECT_DOUBLE_EQ(j.metrics[0].mean_ratio, 1.3);
  j = Judge(Spec({Metric("errors")}), Samples{{"errors", {{0.1, 0.1, 0.1, 0.1, 0.1}, zeros}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(j.metrics[0].mean_ratio, 1.1);
  // Both all zero: no difference at all.
  j = Judge(Spec({Metric("errors")}), Samples{{"errors", {zeros, zeros}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(j.metrics[0].p_value, 1);
  EXPECT_DOUBLE_EQ(j.metrics[0].mean_ratio, 1);
}

TEST(JudgeTest, FailedCriticalMetricFailsWhateverTheScore) {
  auto latency = Metric("latency");
  latency.critical = true;
  auto other = Metric("other");
  other.weight = 10;
  const Samples s{{"latency", {kHigher, kBase}}, {"other", {kBase, kBase}}};
  auto j = Judge(Spec({latency, other}), s);
  EXPECT_NEAR(j.score, 100.0 * 10 / 11, 1e-9);
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  EXPECT_NE(j.reason.find("critical metric latency failed"), std::string::npos) << j.reason;
  // Not critical: the score decides (90.9 < 95 but >= 75: Inconclusive).
  latency.critical = false;
  j = Judge(Spec({latency, other}), s);
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
}

TEST(JudgeTest, ScoreBands) {
  std::vector<JudgeMetric> four = {Metric("a"), Metric("b"), Metric("c"), Metric("d")};
  // One of four fails: 75 -> marginal -> Inconclusive.
  auto j = Judge(Spec(four), Samples{{"a", {kHigher, kBase}},
                                     {"b", {kBase, kBase}},
                                     {"c", {kBase, kBase}},
                                     {"d", {kBase, kBase}}});
  EXPECT_DOUBLE_EQ(j.score, 75);
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_EQ(j.reason, "score 75 is marginal (>= 75, < pass 95)");
  // Two of four: 50 -> Failed.
  j = Judge(Spec(four), Samples{{"a", {kHigher, kBase}},
                                {"b", {kHigher, kBase}},
                                {"c", {kBase, kBase}},
                                {"d", {kBase, kBase}}});
  EXPECT_DOUBLE_EQ(j.score, 50);
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  // A lower pass score makes 75 a pass.
  auto lenient = Spec(four);
  lenient.pass_score = 70;
  lenient.marginal_score = 50;
  j = Judge(lenient, Samples{{"a", {kHigher, kBase}},
                             {"b", {kBase, kBase}},
                             {"c", {kBase, kBase}},
                             {"d", {kBase, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
}

TEST(JudgeTest, OutlierRemovalChangesTheVerdict) {
  // Canary nine 11s and one 1000, baseline ten 10s: every canary value is above every baseline
  // one (significant). Mean 109.9 vs 10 fails; without the outlier (fences [11, 11]) the mean is
  // 11, 10% over the baseline: within the 20% tolerance.
  std::vector<double> canary(9, 11.0);
  canary.push_back(1000);
  const std::vector<double> baseline(10, 10.0);
  auto m = Metric("latency");
  auto j = Judge(Spec({m}), Samples{{"latency", {canary, baseline}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  EXPECT_EQ(j.metrics[0].canary_n, 10u);
  m.remove_outliers = true;
  j = Judge(Spec({m}), Samples{{"latency", {canary, baseline}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_EQ(j.metrics[0].canary_n, 9u);
  EXPECT_DOUBLE_EQ(j.metrics[0].canary_mean, 11);
}

TEST(JudgeTest, TooFewPointsIsInconclusive) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto j = Judge(Spec({Metric("latency")}), Samples{{"latency", {{1, 2, nan}, {1, 2, 3}}}});
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_EQ(j.metrics[0].verdict, Outcome::kInconclusive);
  EXPECT_EQ(j.metrics[0].canary_n, 2u);
  EXPECT_EQ(j.metrics[0].reason, "needs >= 3 points per side, got 2 canary and 3 baseline");
  EXPECT_EQ(j.reason, "no metric had enough data to judge");
  // An undecided metric is left out of the score.
  j = Judge(Spec({Metric("latency"), Metric("errors")}),
            Samples{{"latency", {{1, 2}, {1, 2, 3}}}, {"errors", {kBase, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(j.score, 100);
  // No samples at all for a metric.
  j = Judge(Spec({Metric("latency")}), Samples{});
  EXPECT_EQ(j.metrics[0].verdict, Outcome::kInconclusive);
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
}

TEST(JudgeTest, NanAndInfAreDropped) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto j = Judge(Spec({Metric("latency")}),
                       Samples{{"latency", {{20, 21, inf, 22, 23, nan, 24}, kBase}}});
  EXPECT_EQ(j.metrics[0].canary_n, 5u);
  EXPECT_DOUBLE_EQ(j.metrics[0].canary_mean, 22);
  EXPECT_EQ(j.verdict, Outcome::kFailed);
}

}  // namespace
}  // namespace sluice::analysis
