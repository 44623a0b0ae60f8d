#include "sluice/analysis/judge.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace sluice::analysis {
namespace {

constexpr std::size_t kExactMax = 10;  // exact p-value when both samples are at most this big
constexpr std::size_t kMinPoints = 3;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", fraction * 100);
  return buf;
}

std::vector<double> Finite(const std::vector<double>& v) {
  std::vector<double> out;
  out.reserve(v.size());
  for (double x : v) {
    if (std::isfinite(x)) out.push_back(x);
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

double Quantile(const std::vector<double>& sorted, double q) {  // linear interpolation
  const double h = (static_cast<double>(sorted.size()) - 1) * q;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

// Exact two-sided p: the share of all ways to draw n1 of the pooled (doubled, integer) ranks
// whose sum lies at least as far from its mean as the observed one.
double ExactP(const std::vector<long>& doubled_ranks, std::size_t n1, long observed) {
  const std::size_t n = doubled_ranks.size();
  const long max_sum = std::accumulate(doubled_ranks.begin(), doubled_ranks.end(), 0L);
  // ways[k][s]: subsets of size k with doubled rank sum s.
  std::vector<std::vector<double>> ways(n1 + 1, std::vector<double>(max_sum + 1, 0.0));
  ways[0][0] = 1;
  for (const long r : doubled_ranks) {
    for (std::size_t k = n1; k >= 1; --k) {
      for (long s = max_sum; s >= r; --s) ways[k][s] += ways[k - 1][s - r];
    }
  }
  // The canary's rank sum has mean n1 (n + 1) / 2, so its doubled sum has mean n1 (n + 1).
  const long mean2 = static_cast<long>(n1) * static_cast<long>(n + 1);
  const long obs_dev = std::labs(observed - mean2);
  double total = 0, extreme = 0;
  for (long s = 0; s <= max_sum; ++s) {
    const double w = ways[n1][s];
    if (w == 0) continue;
    total += w;
    if (std::labs(s - mean2) >= obs_dev) extreme += w;
  }
  return total > 0 ? std::min(1.0, extreme / total) : 1.0;
}

}  // namespace

MannWhitney MannWhitneyU(const std::vector<double>& canary, const std::vector<double>& baseline) {
  MannWhitney out;
  const std::size_t n1 = canary.size(), n2 = baseline.size();
  if (n1 == 0 || n2 == 0) return out;
  const std::size_t n = n1 + n2;

  struct Item {
    double value;
    bool canary;
  };
  std::vector<Item> pooled;
  pooled.reserve(n);
  for (double v : canary) pooled.push_back({v, true});
  for (double v : baseline) pooled.push_back({v, false});
  std::sort(pooled.begin(), pooled.end(),
            [](const Item& a, const Item& b) { return a.value < b.value; });

  // Doubled midranks stay integers: a tie over 1-based positions i..j has rank (i + j) / 2.
  std::vector<long> doubled(n);
  double tie_term = 0;  // sum of t^3 - t over tie groups
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && pooled[j + 1].value == pooled[i].value) ++j;
    const long rank2 = static_cast<long>(i + 1 + j + 1);
    for (std::size_t k = i; k <= j; ++k) doubled[k] = rank2;
    const double t = static_cast<double>(j - i + 1);
    tie_term += t * t * t - t;
    i = j + 1;
  }
  long canary_sum2 = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (pooled[k].canary) canary_sum2 += doubled[k];
  }
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  out.u = static_cast<double>(canary_sum2) / 2 - dn1 * (dn1 + 1) / 2;
  out.hl_shift = HodgesLehmannShift(canary, baseline);

  if (pooled.front().value == pooled.back().value) {
    out.p_value = 1;  // nothing to tell apart
    return out;
  }
  if (n1 <= kExactMax && n2 <= kExactMax) {
    out.p_value = ExactP(doubled, n1, canary_sum2);
    return out;
  }
  const double dn = static_cast<double>(n);
  const double mu = dn1 * dn2 / 2;
  const double sigma2 = dn1 * dn2 / 12 * ((dn + 1) - tie_term / (dn * (dn - 1)));
  if (sigma2 <= 0) {
    out.p_value = 1;
    return out;
  }
  const double z = std::max(0.0, std::fabs(out.u - mu) - 0.5) / std::sqrt(sigma2);
  out.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return out;
}

double HodgesLehmannShift(const std::vector<double>& canary, const std::vector<double>& baseline) {
  if (canary.empty() || baseline.empty()) return 0;
  std::vector<double> diffs;
  diffs.reserve(canary.size() * baseline.size());
  for (double c : canary) {
    for (double b : baseline) diffs.push_back(c - b);
  }
  return Median(std::move(diffs));
}

std::vector<double> RemoveOutliers(std::vector<double> values) {
  if (values.size() < 4) return values;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  const double q1 = Quantile(sorted, 0.25), q3 = Quantile(sorted, 0.75);
  const double iqr = q3 - q1;
  const double lo = q1 - 1.5 * iqr, hi = q3 + 1.5 * iqr;
  values.erase(
      std::remove_if(values.begin(), values.end(), [&](double v) { return v < lo || v > hi; }),
      values.end());
  return values;
}

namespace {

MetricJudgement JudgeMetricSamples(const JudgeSpec& spec, const JudgeMetric& metric,
                                   const std::vector<double>& canary_in,
                                   const std::vector<double>& baseline_in) {
  MetricJudgement mj;
  mj.name = metric.name;
  auto canary = Finite(canary_in);
  auto baseline = Finite(baseline_in);
  if (metric.remove_outliers) {
    canary = RemoveOutliers(std::move(canary));
    baseline = RemoveOutliers(std::move(baseline));
  }
  mj.canary_n = canary.size();
  mj.baseline_n = baseline.size();
  mj.canary_mean = Mean(canary);
  mj.baseline_mean = Mean(baseline);
  if (canary.size() < kMinPoints || baseline.size() < kMinPoints) {
    mj.verdict = Outcome::kInconclusive;
    mj.reason = "needs >= 3 points per side, got " + std::to_string(canary.size()) +
                " canary and " + std::to_string(baseline.size()) + " baseline";
    return mj;
  }
  const auto mw = MannWhitneyU(canary, baseline);
  mj.p_value = mw.p_value;
  mj.hl_shift = mw.hl_shift;
  const double change = mj.baseline_mean != 0
                            ? (mj.canary_mean - mj.baseline_mean) / std::fabs(mj.baseline_mean)
                            : mj.canary_mean - mj.baseline_mean;
  mj.mean_ratio = 1 + change;
  const double alpha = 1 - spec.confidence;
  const bool significant = mw.p_value < alpha;
  const bool worse_up = change > metric.tolerance;
  const bool worse_down = change < -metric.tolerance;
  const bool worse = metric.direction == Direction::kIncrease   ? worse_up
                     : metric.direction == Direction::kDecrease ? worse_down
                                                                : worse_up || worse_down;
  const std::string means = "canary mean " + Num(mj.canary_mean) + " vs baseline mean " +
                            Num(mj.baseline_mean) + " (" + Percent(change) + ", tolerance " +
                            Percent(metric.tolerance).substr(1) + ")";
  const std::string p = "p=" + Num(mw.p_value);
  if (significant && worse) {
    mj.verdict = Outcome::kFailed;
    mj.reason = "significantly worse: " + means + ", " + p + " < " + Num(alpha) + ".";
  } else if (!significant) {
    mj.verdict = Outcome::kSuccessful;
    mj.reason = "no significant difference (" + p + ", needs < " + Num(alpha) + "): " + means + ".";
  } else if (!worse_up && !worse_down) {
    mj.verdict = Outcome::kSuccessful;
    mj.reason = "a significant difference (" + p + ") within tolerance: " + means + ".";
  } else {
    mj.verdict = Outcome::kSuccessful;
    mj.reason = "a significant " + std::string(worse_up ? "increase" : "decrease") + " (" + p +
                "), which is not worse for a metric judged on " +
                std::string(ToString(metric.direction)) + ": " + means + ".";
  }
  return mj;
}

}  // namespace

Judgement Judge(
    const JudgeSpec& spec,
    const std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>& samples) {
  Judgement j;
  double decided = 0, passed = 0;
  std::vector<std::string> critical_failures;
  for (const auto& metric : spec.metrics) {
    MetricJudgement mj;
    if (const auto it = samples.find(metric.name); it != samples.end()) {
      mj = JudgeMetricSamples(spec, metric, it->second.first, it->second.second);
    } else {
      mj.name = metric.name;
      mj.verdict = Outcome::kInconclusive;
      mj.reason = "no samples were collected for this metric.";
    }
    if (mj.verdict == Outcome::kSuccessful || mj.verdict == Outcome::kFailed) {
      decided += metric.weight;
      if (mj.verdict == Outcome::kSuccessful) passed += metric.weight;
      if (mj.verdict == Outcome::kFailed && metric.critical) critical_failures.push_back(mj.name);
    }
    j.metrics.push_back(std::move(mj));
  }
  if (decided <= 0) {
    j.verdict = Outcome::kInconclusive;
    j.score = 0;
    j.reason = "no metric had enough data to judge";
    return j;
  }
  j.score = 100 * passed / decided;
  const std::string score = "score " + Num(j.score);
  if (!critical_failures.empty()) {
    j.verdict = Outcome::kFailed;
    std::string names;
    for (const auto& n : critical_failures) names += (names.empty() ? "" : ", ") + n;
    j.reason = "critical metric " + names + " failed (" + score + ")";
  } else if (j.score >= spec.pass_score) {
    j.verdict = Outcome::kSuccessful;
    j.reason = score + " >= pass " + Num(spec.pass_score);
  } else if (j.score >= spec.marginal_score) {
    j.verdict = Outcome::kInconclusive;
    j.reason = score + " is marginal (>= " + Num(spec.marginal_score) + ", < pass " +
               Num(spec.pass_score) + ")";
  } else {
    j.verdict = Outcome::kFailed;
    j.reason = score + " < marginal " + Num(spec.marginal_score);
  }
  return j;
}

}  // namespace sluice::analysis
