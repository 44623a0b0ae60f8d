#pragma once

// Canary-versus-baseline judgment: each metric's canary is compared with its baseline by a
// test fit for its kind (ranks of points, counts of errors, histogram buckets) with the
// tolerance as a margin, a robust effect size and a power check; the metrics' verdicts are
// weighed into a score.

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sluice/analysis/spec.hpp"
#include "sluice/analysis/types.hpp"

namespace sluice::analysis {

struct MannWhitney {
  double u = 0;         // U of the canary: pairs with canary > baseline, ties counting 1/2
  double p_value = 1;   // two-sided
  double hl_shift = 0;  // Hodges–Lehmann: median of all canary_i - baseline_j
};

// Two-sided Mann–Whitney U test. Ranks are averaged over ties. When both samples have at most
// 10 values the p-value is exact: the distribution of the canary's rank sum over every way of
// drawing its size from the pooled (mid)ranks, ties included. Larger samples use the normal
// approximation with tie and continuity correction. An empty sample, or a pooled sample whose
// values are all equal, gives p = 1.
MannWhitney MannWhitneyU(const std::vector<double>& canary, const std::vector<double>& baseline);

// Median of all pairwise differences canary_i - baseline_j (0 when either is empty).
double HodgesLehmannShift(const std::vector<double>& canary, const std::vector<double>& baseline);

// Values inside the Tukey fences [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (quartiles by linear
// interpolation); samples of fewer than 4 values are returned unchanged.
std::vector<double> RemoveOutliers(std::vector<double> values);

// What one side (canary or baseline) of one judge metric measured over the window.
struct SideSamples {
  // kQuery, kGauge: each series' values in time order (one value per step).
  std::vector<std::vector<double>> series;
  // kRatio (errors, requests) and kMean (sum, count): the counters' increase in each
  // non-overlapping step of the window, aligned (numerator[i] and denominator[i] are one step).
  std::vector<double> numerator, denominator;
  // kHistogram: (upper bound le, cumulative count) of each bucket's increase over the window,
  // +Inf included; any order.
  std::vector<std::pair<double, double>> buckets;
};

struct MetricSamples {
  SideSamples canary, baseline;
};

struct MetricJudgement {
  std::string name;
  Outcome verdict = Outcome::kInconclusive;  // kSuccessful, kFailed or kInconclusive
  std::string kind;                          // query, gauge, ratio, histogram, mean
  std::string test;                          // the test used, in words
  double canary_mean = 0, baseline_mean = 0;
  double mean_ratio = 1;  // 1 + (canary_mean - baseline_mean) / |baseline_mean|
  double p_value = 1, hl_shift = 0;
  // The effect the verdict rests on, relative to the baseline (0.3 = 30% worse or higher), and
  // its interval at the judge's confidence; NaN when there is none.
  double effect = 0, effect_low = 0, effect_high = 0;
  std::size_t canary_n = 0, baseline_n = 0;     // points (after dropping NaN/Inf and outliers)
  double canary_count = 0, baseline_count = 0;  // requests / observations (count kinds)
  double needed = 0;   // when underpowered: about how many canary points / requests it would need
  double lag1 = 0;     // baseline lag-1 autocorrelation used to correct the variance
  std::string reason;  // one line, as read in Slack
};

struct Judgement {
  Outcome verdict = Outcome::kInconclusive;  // kSuccessful, kFailed or kInconclusive
  double score = 0;                          // 0..100
  std::vector<MetricJudgement> metrics;      // in spec order
  std::string reason;
};

// Judges each metric of the spec on its samples (see libs/analysis/README.md, "How the judge
// decides"). alpha = 1 - confidence; a metric fails only when the canary is worse than the
// baseline beyond the tolerance with significance (a one-sided test of "canary worse than
// baseline x (1 + tolerance)") and the estimated effect is beyond the tolerance too. It passes
// only when the data had the power to see a regression of twice the tolerance; otherwise it is
// Inconclusive, saying how much data it would need.
//   kQuery, kGauge, kMean: Mann-Whitney U of the canary's points against the baseline's shifted
//     by the margin (tolerance x |baseline median|, or the tolerance itself when that median is
//     0), the variance corrected for the baseline's lag-1 autocorrelation (effective sample
//     size n (1 - r) / (1 + r)); effect = Hodges-Lehmann shift / |baseline median| with its
//     Moses interval.
//   kRatio: the canary's share of all errors given the requests (conditional binomial, exact
//     without overdispersion, else normal with the dispersion of the steps' shares around the
//     ratio that fits most steps); a failure must hold with the canary's and the baseline's
//     worst 5% of steps (at least two) set aside, so a short burst does not fail a canary.
//   kHistogram: read only at the bucket bounds both sides share: at each, a one-sided z test
//     of the canary's share at or below the bound against the baseline's share below
//     bound / (1 + tolerance), Bonferroni over the bounds; shares between bounds interpolated
//     with their probit linear in log latency; effect = the median of the p25/p50/p75/p90
//     quantile ratios. No bound splitting the observations (all in one bucket) is Inconclusive.
// Score = 100 * passing weight / decided weight; a failed critical metric fails the judgment;
// otherwise score >= pass_score is Successful, >= marginal_score Inconclusive, below Failed.
// No decided metric at all is Inconclusive.
Judgement Judge(const JudgeSpec& spec, const std::map<std::string, MetricSamples>& samples);

// The same for point samples only: metric name -> (canary values, baseline values), each taken
// as one series in time order; NaN/Inf values are dropped first.
Judgement Judge(
    const JudgeSpec& spec,
    const std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>& samples);

// Building blocks, exposed for tests.
// Lag-1 autocorrelation pooled over the series (each centred on its own mean); 0 when there
// are too few points.
double Lag1Autocorrelation(const std::vector<std::vector<double>>& series);
// P(X >= k) for X ~ Binomial(n, p).
double BinomialUpperTail(double k, double n, double p);
// Upper-tail standard normal quantile: z with P(Z > z) = upper.
double NormalQuantileUpper(double upper);

}  // namespace sluice::analysis
