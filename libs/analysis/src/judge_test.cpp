#include "sluice/analysis/judge.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

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

// Twelve points around 12 in no particular order (no autocorrelation), and the same 10 higher.
const std::vector<double> kBase = {12, 10, 14, 11, 13, 12, 10, 13, 11, 14, 12, 11};
std::vector<double> Plus(std::vector<double> v, double d) {
  for (auto& x : v) x += d;
  return v;
}
const std::vector<double> kHigher = Plus(kBase, 10);
const std::vector<double> kLower = Plus(kBase, -8);

TEST(JudgeTest, SimilarSamplesPass) {
  const std::vector<double> canary = {11, 13, 12, 10, 14, 12, 11, 13, 10, 12, 14, 11};
  const auto j = Judge(Spec({Metric("latency")}), Samples{{"latency", {canary, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(j.score, 100);
  ASSERT_EQ(j.metrics.size(), 1u);
  const auto& m = j.metrics[0];
  EXPECT_EQ(m.verdict, Outcome::kSuccessful);
  EXPECT_GT(m.p_value, 0.5);
  EXPECT_EQ(m.canary_n, 12u);
  EXPECT_EQ(m.kind, "query");
  EXPECT_NE(m.test.find("Mann-Whitney"), std::string::npos);
  EXPECT_NE(m.reason.find("within tolerance"), std::string::npos) << m.reason;
}

TEST(JudgeTest, SignificantIncreaseBeyondToleranceFails) {
  const auto j = Judge(Spec({Metric("latency")}), Samples{{"latency", {kHigher, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  EXPECT_DOUBLE_EQ(j.score, 0);
  const auto& m = j.metrics[0];
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_LT(m.p_value, 0.001);
  EXPECT_DOUBLE_EQ(m.hl_shift, 10);
  EXPECT_DOUBLE_EQ(m.effect, 10.0 / 12);  // the shift over the baseline median
  EXPECT_LT(m.effect_low, m.effect);
  EXPECT_GT(m.effect_high, m.effect);
  EXPECT_GT(m.effect_low, 0.2);  // the whole interval is beyond the tolerance
  EXPECT_EQ(m.reason.rfind("significantly higher beyond tolerance: shift +83%", 0), 0u) << m.reason;
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
            Samples{{"throughput", {kLower, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  // Either direction fails on both.
  EXPECT_EQ(
      Judge(Spec({Metric("m", Direction::kEither)}), Samples{{"m", {kHigher, kBase}}}).verdict,
      Outcome::kFailed);
  EXPECT_EQ(Judge(Spec({Metric("m", Direction::kEither)}), Samples{{"m", {kLower, kBase}}}).verdict,
            Outcome::kFailed);
}

TEST(JudgeTest, ToleranceIsAMarginNotJustAFilter) {
  // Every canary point is 0.6 above a baseline one (about +6%): clearly different, but within
  // a 20% tolerance; beyond a 1% one.
  const std::vector<double> base = {10.2, 10.0, 10.4, 10.1, 10.3, 10.2,
                                    10.0, 10.3, 10.1, 10.4, 10.2, 10.1};
  const Samples s{{"latency", {Plus(base, 0.6), base}}};
  auto j = Judge(Spec({Metric("latency", Direction::kIncrease, 0.2)}), s);
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_GT(j.metrics[0].p_value, 0.5);  // "canary > baseline + 20%" is not supported at all
  EXPECT_NE(j.metrics[0].reason.find("within tolerance"), std::string::npos) << j.metrics[0].reason;
  j = Judge(Spec({Metric("latency", Direction::kIncrease, 0.01)}), s);
  EXPECT_EQ(j.verdict, Outcome::kFailed);
}

TEST(JudgeTest, ZeroBaselineUsesTheAbsoluteDifference) {
  const std::vector<double> zeros(12, 0.0);
  // Baseline median 0: the tolerance is absolute, 0.3 - 0 > 0.2.
  auto j =
      Judge(Spec({Metric("errors")}), Samples{{"errors", {std::vector<double>(12, 0.3), zeros}}});
  EXPECT_EQ(j.verdict, Outcome::kFailed);
  EXPECT_DOUBLE_EQ(j.metrics[0].mean_ratio, 1.3);
  j = Judge(Spec({Metric("errors")}), Samples{{"errors", {std::vector<double>(12, 0.1), zeros}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(j.metrics[0].mean_ratio, 1.1);
  // Both all zero: no difference at all.
  j = Judge(Spec({Metric("errors")}), Samples{{"errors", {zeros, zeros}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful);
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
  // The line read in Slack carries the failing metric's own reason.
  EXPECT_NE(j.reason.find("; latency: significantly higher beyond tolerance: shift +83%"),
            std::string::npos)
      << j.reason;
  // Not critical: the score decides (90.9 < 95 but >= 75: Inconclusive).
  latency.critical = false;
  j = Judge(Spec({latency, other}), s);
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
}

TEST(JudgeTest, UndecidedCriticalMetricCannotPass) {
  auto latency = Metric("latency");
  latency.critical = true;
  const auto j = Judge(Spec({latency, Metric("other")}),
                       Samples{{"latency", {{1, 2}, kBase}}, {"other", {kBase, kBase}}});
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_NE(j.reason.find("critical metric latency could not be judged"), std::string::npos)
      << j.reason;
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
  EXPECT_EQ(j.reason.rfind("score 75 is marginal (>= 75, < pass 95)", 0), 0u) << j.reason;
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

TEST(JudgeTest, OutlierRemovalDropsPoints) {
  std::vector<double> canary(9, 11.0);
  canary.push_back(1000);
  const std::vector<double> baseline(10, 10.0);
  auto m = Metric("latency");
  m.remove_outliers = true;
  const auto j = Judge(Spec({m}), Samples{{"latency", {canary, baseline}}});
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
  auto canary = kHigher;
  canary.insert(canary.begin() + 3, inf);
  canary.insert(canary.begin() + 6, nan);
  const auto j = Judge(Spec({Metric("latency")}), Samples{{"latency", {canary, kBase}}});
  EXPECT_EQ(j.metrics[0].canary_n, 12u);
  EXPECT_EQ(j.verdict, Outcome::kFailed);
}

// ---- The statistical properties the judge is held to ----

// Deterministic standard normals (Box-Muller over mt19937, whose output is fixed by the
// standard).
class Normals {
 public:
  explicit Normals(std::uint32_t seed) : gen_(seed) {}
  double Next() {
    const double u1 = (static_cast<double>(gen_()) + 1) / 4294967297.0;
    const double u2 = static_cast<double>(gen_()) / 4294967296.0;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * std::acos(-1.0) * u2);
  }

 private:
  std::mt19937 gen_;
};

// AR(1) around `level`: x_t = level + rho (x_{t-1} - level) + e_t.
std::vector<double> Ar1(Normals& z, std::size_t n, double level, double rho, double sd) {
  std::vector<double> out;
  double x = level + z.Next() * sd / std::sqrt(1 - rho * rho);
  for (std::size_t i = 0; i < n; ++i) {
    x = level + rho * (x - level) + sd * z.Next();
    out.push_back(x);
  }
  return out;
}

TEST(JudgePropertyTest, AutocorrelatedHealthySeriesDoNotFail) {
  // 200 healthy canaries: canary and baseline the same AR(1) process (rho 0.9, level 100,
  // stationary sd 23), 60 points each. Treated as independent points, the rank test finds
  // "significant" differences often, and the wandering levels exceed a 20% tolerance; with the
  // effective sample size at most 1% may fail.
  int failed = 0, failed_if_independent = 0;
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    Normals z(seed);
    const auto canary = Ar1(z, 60, 100, 0.9, 10);
    const auto baseline = Ar1(z, 60, 100, 0.9, 10);
    const auto j = Judge(Spec({Metric("latency")}), Samples{{"latency", {canary, baseline}}});
    if (j.verdict == Outcome::kFailed) ++failed;
    EXPECT_GT(j.metrics[0].lag1, 0.5);
    // The same points shuffled out of time order: the correction has nothing to see.
    auto shuffled = baseline;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(seed));
    auto shuffled_canary = canary;
    std::shuffle(shuffled_canary.begin(), shuffled_canary.end(), std::mt19937(seed + 1000));
    if (Judge(Spec({Metric("latency")}), Samples{{"latency", {shuffled_canary, shuffled}}})
            .verdict == Outcome::kFailed) {
      ++failed_if_independent;
    }
  }
  EXPECT_LE(failed, 2) << failed << " of 200 failed";
  // What the correction is worth: the same test on the points as if independent fails more.
  EXPECT_GT(failed_if_independent, 3 * std::max(failed, 1)) << failed_if_independent;
}

JudgeMetric RatioMetric(double tolerance) {
  JudgeMetric m;
  m.name = "errors";
  m.kind = JudgeKind::kRatio;
  m.numerator = "errors_total";
  m.denominator = "requests_total";
  m.tolerance = tolerance;
  m.critical = true;
  return m;
}

// `steps` steps of `requests` requests each; `errors` errors spread one per step from the first.
SideSamples Counts(std::size_t steps, double requests, int errors) {
  SideSamples s;
  for (std::size_t i = 0; i < steps; ++i) {
    s.denominator.push_back(requests);
    s.numerator.push_back(0);
  }
  for (int e = 0; e < errors; ++e) s.numerator[static_cast<std::size_t>(e) % steps] += 1;
  return s;
}

Judgement JudgeCounts(double tolerance, SideSamples canary, SideSamples baseline) {
  std::map<std::string, MetricSamples> samples;
  samples["errors"] = {std::move(canary), std::move(baseline)};
  return Judge(Spec({RatioMetric(tolerance)}), samples);
}

TEST(JudgePropertyTest, SparseCountRegressionIsCaughtOnTheCounts) {
  // 20 errors in 1,800 requests against 2 in 3,600 (1.1% vs 0.056%), over 20 steps in which
  // most baseline steps have no error: a rate 20x the baseline's, beyond a 50% tolerance.
  auto j = JudgeCounts(0.5, Counts(20, 90, 20), Counts(20, 180, 2));
  const auto& m = j.metrics[0];
  EXPECT_EQ(j.verdict, Outcome::kFailed) << m.reason;
  EXPECT_EQ(m.kind, "ratio");
  EXPECT_DOUBLE_EQ(m.canary_count, 1800);
  EXPECT_DOUBLE_EQ(m.baseline_count, 3600);
  EXPECT_NEAR(m.effect, (20.0 / 1800) / (2.0 / 3600) - 1, 1e-9);
  EXPECT_LT(m.p_value, 1e-4);
  EXPECT_NE(m.test.find("rate-ratio"), std::string::npos);
  EXPECT_EQ(m.reason.rfind("error rate significantly beyond tolerance: canary 1.11% (20/1800) vs "
                           "baseline 0.0556% (2/3600)",
                           0),
            0u)
      << m.reason;
  // 5 in 1,800 against 2 in 3,600: the conditional binomial p of 5 or more of the 7 errors in
  // the canary at the margin (share 2700/6300) is 0.126; at no margin it is 0.045. Neither is
  // significant at 98%, and the traffic cannot show a doubled tolerated rate: Inconclusive,
  // never Successful.
  j = JudgeCounts(0.5, Counts(20, 90, 5), Counts(20, 180, 2));
  EXPECT_EQ(j.verdict, Outcome::kInconclusive) << j.metrics[0].reason;
  EXPECT_NEAR(j.metrics[0].p_value, 0.1260, 1e-3);
  EXPECT_NE(j.metrics[0].reason.find("1800 canary requests, would need about"), std::string::npos)
      << j.metrics[0].reason;
  // The same rates with a zero tolerance and ten times the traffic: 50/18,000 vs 20/36,000 fail.
  j = JudgeCounts(0, Counts(20, 900, 50), Counts(20, 1800, 20));
  EXPECT_EQ(j.verdict, Outcome::kFailed) << j.metrics[0].reason;
  // Equal low rates with plenty of traffic pass.
  j = JudgeCounts(0.5, Counts(20, 5000, 50), Counts(20, 10000, 100));
  EXPECT_EQ(j.verdict, Outcome::kSuccessful) << j.metrics[0].reason;
}

TEST(JudgePropertyTest, ASingleSpikePasses) {
  // Error counts: 60 steps of 100 requests at 0.5% for both, and one 30-second step of the
  // canary with 60 errors: 90/6,000 against 60/12,000 is "significant", but not without the
  // worst steps.
  auto canary = Counts(60, 100, 30);
  canary.numerator[40] = 60;
  auto j = JudgeCounts(0.5, canary, Counts(60, 200, 60));
  EXPECT_EQ(j.verdict, Outcome::kSuccessful) << j.metrics[0].reason;
  EXPECT_NE(j.metrics[0].reason.find("short burst"), std::string::npos) << j.metrics[0].reason;
  // Latency points: the canary 3% slower (a real but tolerated difference) and one spike of 50x
  // in 60 points, which lifts its mean 84% over the baseline's. The mean-based margin failed
  // this canary; the Hodges-Lehmann shift does not.
  Normals z(7);
  std::vector<double> base, cand;
  for (int i = 0; i < 60; ++i) {
    base.push_back(100 + z.Next());
    cand.push_back(103 + z.Next());
  }
  cand[30] = 5000;
  j = Judge(Spec({Metric("latency")}), Samples{{"latency", {cand, base}}});
  EXPECT_EQ(j.verdict, Outcome::kSuccessful) << j.metrics[0].reason;
  EXPECT_GT(j.metrics[0].mean_ratio, 1.8);
  EXPECT_NEAR(j.metrics[0].effect, 0.03, 0.01);
  // A regression that lasts is still caught.
  for (int i = 30; i < 60; ++i) canary.numerator[static_cast<std::size_t>(i)] = 3;
  EXPECT_EQ(JudgeCounts(0.5, canary, Counts(60, 200, 60)).verdict, Outcome::kFailed);
}

// Cumulative bucket counts of `n` log-normal latencies with this median and log sd.
std::vector<std::pair<double, double>> LogNormalBuckets(double n, double median, double sigma) {
  std::vector<std::pair<double, double>> out;
  for (double le : {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}) {
    const double z = (std::log(le) - std::log(median)) / sigma;
    out.emplace_back(le, std::round(n * 0.5 * std::erfc(-z / std::sqrt(2.0))));
  }
  out.emplace_back(std::numeric_limits<double>::infinity(), n);
  return out;
}

// The p95 histogram_quantile interpolates: linear inside the bucket holding the rank.
double InterpolatedQuantile(const std::vector<std::pair<double, double>>& cum, double q) {
  double prev_le = 0, prev_c = 0;
  for (const auto& [le, c] : cum) {
    if (c >= q * cum.back().second)
      return prev_le + (le - prev_le) * (q * cum.back().second - prev_c) / (c - prev_c);
    prev_le = le;
    prev_c = c;
  }
  return prev_le;
}

TEST(JudgePropertyTest, IntraBucketLatencyShiftIsCaught) {
  // Median latency 80 ms -> 130 ms (log sd 0.3): both p95s (131 ms, 213 ms) lie inside the
  // 0.1-0.25 s bucket, where the interpolated p95 series moves only 12% and passes a 20%
  // tolerance. The bucket counts move a lot: 77% of the baseline is under 0.1 s, 19% of the
  // canary.
  const auto base = LogNormalBuckets(6000, 0.080, 0.3);
  const auto cand = LogNormalBuckets(3000, 0.130, 0.3);
  const double p95_b = InterpolatedQuantile(base, 0.95), p95_c = InterpolatedQuantile(cand, 0.95);
  EXPECT_GT(p95_b, 0.1);
  EXPECT_LT(p95_c, 0.25);
  EXPECT_LT(p95_c / p95_b, 1.2);  // what the p95 series shows

  JudgeMetric h;
  h.name = "latency";
  h.kind = JudgeKind::kHistogram;
  h.numerator = "latency_bucket";
  h.tolerance = 0.2;
  std::map<std::string, MetricSamples> samples;
  samples["latency"].canary.buckets = cand;
  samples["latency"].baseline.buckets = base;
  auto j = Judge(Spec({h}), samples);
  EXPECT_EQ(j.verdict, Outcome::kFailed) << j.metrics[0].reason;
  EXPECT_GT(j.metrics[0].effect, 0.2);
  EXPECT_NE(j.metrics[0].test.find("bucket counts"), std::string::npos);
  // The same distributions: no failure.
  samples["latency"].canary.buckets = LogNormalBuckets(3000, 0.080, 0.3);
  j = Judge(Spec({h}), samples);
  EXPECT_EQ(j.verdict, Outcome::kSuccessful) << j.metrics[0].reason;

  // Mean latency from _sum / _count per step sees it too (20 steps of 150 / 300 requests).
  JudgeMetric mean;
  mean.name = "latency";
  mean.kind = JudgeKind::kMean;
  mean.numerator = "latency_sum";
  mean.denominator = "latency_count";
  mean.tolerance = 0.2;
  std::map<std::string, MetricSamples> steps;
  Normals z(3);
  for (int i = 0; i < 20; ++i) {
    // Mean of a log-normal is median * exp(sigma^2 / 2); each step's mean has a little noise.
    steps["latency"].canary.numerator.push_back(150 * 0.130 * 1.046 * (1 + 0.03 * z.Next()));
    steps["latency"].canary.denominator.push_back(150);
    steps["latency"].baseline.numerator.push_back(300 * 0.080 * 1.046 * (1 + 0.03 * z.Next()));
    steps["latency"].baseline.denominator.push_back(300);
  }
  j = Judge(Spec({mean}), steps);
  EXPECT_EQ(j.verdict, Outcome::kFailed) << j.metrics[0].reason;
  EXPECT_NEAR(j.metrics[0].effect, 130.0 / 80 - 1, 0.05);
  EXPECT_DOUBLE_EQ(j.metrics[0].canary_count, 3000);

  // A shift the buckets cannot resolve at all (every observation in 0.1-0.25) is not passed.
  samples["latency"].canary.buckets = {
      {0.1, 0}, {0.25, 500}, {std::numeric_limits<double>::infinity(), 500}};
  samples["latency"].baseline.buckets = {
      {0.1, 0}, {0.25, 900}, {std::numeric_limits<double>::infinity(), 900}};
  j = Judge(Spec({h}), samples);
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_NE(j.metrics[0].reason.find("cannot tell"), std::string::npos);
}

TEST(JudgePropertyTest, MissingBucketsDoNotHideARegression) {
  // The canary exposes no 0.1 and 0.5 buckets, so the sides share 0.05 and 0.25 only: median
  // 69 ms -> 138 ms stays mostly inside the merged 0.05-0.25 bucket. Spreading each bucket's
  // observations evenly over it would call that within tolerance; the shared bounds do not
  // (0.07% of the canary under 0.05 s against 16% of the baseline).
  auto without = [](std::vector<std::pair<double, double>> v) {
    std::erase_if(v, [](const auto& b) { return b.first == 0.1 || b.first == 0.5; });
    return v;
  };
  JudgeMetric h;
  h.name = "latency";
  h.kind = JudgeKind::kHistogram;
  h.numerator = "latency_bucket";
  h.tolerance = 0.2;
  std::map<std::string, MetricSamples> samples;
  samples["latency"].canary.buckets = without(LogNormalBuckets(17000, 0.138, 0.32));
  samples["latency"].baseline.buckets = LogNormalBuckets(34000, 0.069, 0.32);
  auto j = Judge(Spec({h}), samples);
  EXPECT_EQ(j.verdict, Outcome::kFailed) << j.metrics[0].reason;
  EXPECT_GT(j.metrics[0].effect, 0.2);
  // The same distribution with the buckets missing: no failure.
  samples["latency"].canary.buckets = without(LogNormalBuckets(17000, 0.069, 0.32));
  j = Judge(Spec({h}), samples);
  EXPECT_EQ(j.verdict, Outcome::kSuccessful) << j.metrics[0].reason;
}

TEST(JudgePropertyTest, LowTrafficIsInconclusive) {
  // 180 canary requests with 1 error against 360 with 2: the same rate, but far too few
  // requests to see a doubled tolerated rate.
  auto j = JudgeCounts(0.5, Counts(20, 9, 1), Counts(20, 18, 2));
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_EQ(j.metrics[0].verdict, Outcome::kInconclusive);
  EXPECT_NE(j.metrics[0].reason.find("180 canary requests, would need about"), std::string::npos)
      << j.metrics[0].reason;
  EXPECT_GT(j.metrics[0].needed, 180);
  EXPECT_NE(j.reason.find("would need about"), std::string::npos) << j.reason;
  // A silent canary.
  j = JudgeCounts(0.5, Counts(20, 0, 0), Counts(20, 18, 2));
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_NE(j.metrics[0].reason.find("no requests"), std::string::npos);
  // 12 latency observations in the canary's histogram.
  JudgeMetric h;
  h.name = "latency";
  h.kind = JudgeKind::kHistogram;
  h.numerator = "latency_bucket";
  std::map<std::string, MetricSamples> samples;
  samples["latency"].canary.buckets = LogNormalBuckets(12, 0.080, 0.3);
  samples["latency"].baseline.buckets = LogNormalBuckets(6000, 0.080, 0.3);
  j = Judge(Spec({h}), samples);
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_NE(j.metrics[0].reason.find("12 canary requests, would need about"), std::string::npos)
      << j.metrics[0].reason;
  // Three noisy points per side.
  j = Judge(Spec({Metric("latency")}), Samples{{"latency", {{10, 14, 11}, {12, 9, 15}}}});
  EXPECT_EQ(j.verdict, Outcome::kInconclusive);
  EXPECT_NE(j.metrics[0].reason.find("would need about"), std::string::npos);
}

}  // namespace
}  // namespace sluice::analysis
