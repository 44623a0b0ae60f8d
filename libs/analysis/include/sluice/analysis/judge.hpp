#pragma once

// Canary-versus-baseline judgment in the manner of Kayenta: each metric's canary sample is
// compared with its baseline sample by a Mann–Whitney U test and an effect-size tolerance on the
// means; the metrics' verdicts are weighed into a score.

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

struct MetricJudgement {
  std::string name;
  Outcome verdict = Outcome::kInconclusive;  // kSuccessful, kFailed or kInconclusive
  double canary_mean = 0, baseline_mean = 0;
  double mean_ratio = 1;  // 1 + (canary_mean - baseline_mean) / |baseline_mean|; see Judge
  double p_value = 1, hl_shift = 0;
  std::size_t canary_n = 0, baseline_n = 0;  // after dropping NaN/Inf and outliers
  std::string reason;                        // one sentence
};

struct Judgement {
  Outcome verdict = Outcome::kInconclusive;  // kSuccessful, kFailed or kInconclusive
  double score = 0;                          // 0..100
  std::vector<MetricJudgement> metrics;      // in spec order
  std::string reason;
};

// samples: metric name -> (canary values, baseline values); NaN/Inf values are dropped first.
//
// A metric fails when the difference is significant (p < 1 - confidence) and the canary's mean
// is worse than the baseline's by more than the tolerance in the metric's direction. When the
// baseline mean is 0 the ratio is built from the absolute difference: mean_ratio =
// 1 + canary_mean - baseline_mean (a baseline error rate of 0 and a canary one of 0.3 is a
// ratio of 1.3). Fewer than 3 values on either side leave the metric Inconclusive and out of
// the score. Score = 100 * passing weight / decided weight; a failed critical metric fails the
// judgment; otherwise score >= pass_score is Successful, >= marginal_score Inconclusive, below
// Failed. No decided metric at all is Inconclusive.
Judgement Judge(
    const JudgeSpec& spec,
    const std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>& samples);

}  // namespace sluice::analysis
