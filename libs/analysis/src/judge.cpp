#include "sluice/analysis/judge.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
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

constexpr double kPowerZ = 0.8416;           // 80% power for the sample-size check
constexpr double kMinRateEffect = 0.001;     // a ratio alternative is at least 0.1 point above
constexpr double kTrimShare = 0.05;          // steps set aside per side before a ratio fails
constexpr std::size_t kMaxPairsSide = 1000;  // points per side for the Hodges–Lehmann pairs
const double kPi = std::acos(-1.0);

double UpperTail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

std::string Count(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string Rate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%%", v * 100);
  return buf;
}

// "+40% [+12%, +90%]" (an effect relative to the baseline and its interval).
std::string EffectText(double e, double lo, double hi) {
  auto one = [](double v) {
    if (!std::isfinite(v)) return std::string(v > 0 ? "+inf" : "-inf");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%+.0f%%", v * 100);
    return std::string(buf);
  };
  std::string out = one(e);
  if (!std::isnan(lo) && !std::isnan(hi)) out += " [" + one(lo) + ", " + one(hi) + "]";
  return out;
}

double MedianAbsDeviation(const std::vector<double>& v) {
  if (v.empty()) return 0;
  const double m = Median(v);
  std::vector<double> d;
  d.reserve(v.size());
  for (double x : v) d.push_back(std::fabs(x - m));
  return Median(std::move(d));
}

// Every k-th value so that at most `max` remain (time order kept).
std::vector<double> Thin(const std::vector<double>& v, std::size_t max) {
  if (v.size() <= max) return v;
  std::vector<double> out;
  const double stride = static_cast<double>(v.size()) / static_cast<double>(max);
  for (std::size_t i = 0; i < max; ++i) {
    out.push_back(v[static_cast<std::size_t>(static_cast<double>(i) * stride)]);
  }
  return out;
}

struct RankTest {
  double u = 0, sigma = 0;  // U of the canary and its (dependence-corrected) standard deviation
};

// U of the canary against the baseline shifted by `shift`, and its standard deviation with
// ties and effective sample sizes n1e, n2e.
RankTest RankAgainstShifted(const std::vector<double>& canary, const std::vector<double>& baseline,
                            double shift, double n1e, double n2e) {
  RankTest out;
  const std::size_t n1 = canary.size(), n2 = baseline.size(), n = n1 + n2;
  std::vector<std::pair<double, bool>> pooled;
  pooled.reserve(n);
  for (double v : canary) pooled.emplace_back(v, true);
  for (double v : baseline) pooled.emplace_back(v + shift, false);
  std::sort(pooled.begin(), pooled.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  double canary_ranks = 0, tie_term = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && pooled[j + 1].first == pooled[i].first) ++j;
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j + 1)) / 2;
    for (std::size_t k = i; k <= j; ++k) {
      if (pooled[k].second) canary_ranks += rank;
    }
    const double t = static_cast<double>(j - i + 1);
    tie_term += t * t * t - t;
    i = j + 1;
  }
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  const double dn = static_cast<double>(n);
  out.u = canary_ranks - dn1 * (dn1 + 1) / 2;
  double sigma2 = dn1 * dn2 / 12 * ((dn + 1) - tie_term / (dn * (dn - 1)));
  // The variance of U / (n1 n2) goes as (n1 + n2 + 1) / (12 n1 n2): with dependent points it is
  // that of the effective sample sizes.
  sigma2 *= ((n1e + n2e + 1) / (n1e * n2e)) / ((dn1 + dn2 + 1) / (dn1 * dn2));
  out.sigma = std::sqrt(std::max(0.0, sigma2));
  return out;
}

// One-sided p of "canary above the shifted baseline" (upper) or below it.
double OneSidedP(const RankTest& t, double n1, double n2, bool upper) {
  if (t.sigma <= 0) return 1;
  const double mu = n1 * n2 / 2;
  const double d = upper ? t.u - mu : mu - t.u;
  return std::min(1.0, UpperTail((d - 0.5) / t.sigma));
}

MetricJudgement Underpowered(MetricJudgement mj, const std::string& what, double have, double need,
                             const std::string& detail) {
  mj.verdict = Outcome::kInconclusive;
  mj.needed = std::ceil(need);
  mj.reason = "too little data: " + Count(have) + " " + what + ", would need about " +
              Count(std::ceil(need)) + " to see a regression of twice the tolerance (" + detail +
              ").";
  return mj;
}

// The finite points of each side (outliers removed when the metric says so), and the
// baseline's series apart for its autocorrelation.
struct PointSamples {
  std::vector<double> canary, baseline;
  std::vector<std::vector<double>> baseline_series;
};

PointSamples CollectPoints(const SideSamples& canary_side, const SideSamples& baseline_side,
                           bool remove_outliers) {
  PointSamples out;
  for (const auto& s : canary_side.series) {
    for (double v : Finite(s)) out.canary.push_back(v);
  }
  for (const auto& s : baseline_side.series) {
    out.baseline_series.push_back(Finite(s));
    for (double v : out.baseline_series.back()) out.baseline.push_back(v);
  }
  if (remove_outliers) {
    out.canary = RemoveOutliers(std::move(out.canary));
    out.baseline = RemoveOutliers(std::move(out.baseline));
  }
  return out;
}

// Dependence: the baseline's lag-1 autocorrelation r shrinks both samples to their effective
// sizes n (1 - r) / (1 + r) (an AR(1) approximation). Negative r is taken as none.
struct EffectiveSizes {
  double r = 0, inflation = 1, n1 = 0, n2 = 0, n1e = 1, n2e = 1;
};

EffectiveSizes EffectiveSizesOf(const PointSamples& pts) {
  EffectiveSizes e;
  e.r = std::clamp(pts.baseline.size() >= 8 ? Lag1Autocorrelation(pts.baseline_series) : 0.0, 0.0,
                   0.95);
  e.inflation = (1 + e.r) / (1 - e.r);
  e.n1 = static_cast<double>(pts.canary.size());
  e.n2 = static_cast<double>(pts.baseline.size());
  e.n1e = std::max(1.0, e.n1 / e.inflation);
  e.n2e = std::max(1.0, e.n2 / e.inflation);
  return e;
}

// Effect: Hodges–Lehmann shift relative to the baseline median (`scale`), with the Moses
// interval at this confidence; sets hl_shift, effect, effect_low and effect_high.
void PointsEffect(const PointSamples& pts, double inflation, double scale, double alpha,
                  MetricJudgement& mj) {
  const auto tc = Thin(pts.canary, kMaxPairsSide), tb = Thin(pts.baseline, kMaxPairsSide);
  std::vector<double> diffs;
  diffs.reserve(tc.size() * tb.size());
  for (double c : tc) {
    for (double b : tb) diffs.push_back(c - b);
  }
  std::sort(diffs.begin(), diffs.end());
  const double hl = Median(diffs);
  mj.hl_shift = hl;
  mj.effect = hl / scale;
  const double m1 = static_cast<double>(tc.size()), m2 = static_cast<double>(tb.size());
  const double m1e = std::max(1.0, m1 / inflation), m2e = std::max(1.0, m2 / inflation);
  const double sd = m1 * m2 * std::sqrt((m1e + m2e + 1) / (12 * m1e * m2e));
  const double k = std::floor(m1 * m2 / 2 - NormalQuantileUpper(alpha / 2) * sd);
  if (k >= 0 && k < static_cast<double>(diffs.size())) {
    const auto ki = static_cast<std::size_t>(k);
    mj.effect_low = diffs[ki] / scale;
    mj.effect_high = diffs[diffs.size() - 1 - ki] / scale;
  }
}

// Power: points needed per side to see a shift of twice the tolerance (a margin's worth beyond
// it) with a rank test (efficiency 3/pi against a t-test) at this confidence.
double PointsNeeded(const std::vector<double>& baseline, double margin, double alpha_side,
                    double inflation) {
  const double sigma = 1.4826 * MedianAbsDeviation(baseline);
  const double zs = NormalQuantileUpper(alpha_side) + kPowerZ;
  const double need =
      margin > 0 ? inflation * (kPi / 3) * 2 * zs * zs * sigma * sigma / (margin * margin) : 0;
  return std::max(need, 4 * inflation);
}

// Neither significantly worse nor underpowered: within tolerance, better than it in a
// direction not judged, or beyond it without significance (the data cannot tell).
MetricJudgement PointsVerdict(const JudgeMetric& metric, MetricJudgement mj,
                              const std::string& figures) {
  mj.verdict = Outcome::kSuccessful;
  const bool beyond = (mj.effect > metric.tolerance && metric.direction != Direction::kDecrease) ||
                      (mj.effect < -metric.tolerance && metric.direction != Direction::kIncrease);
  if (beyond) {
    mj.verdict = Outcome::kInconclusive;
    mj.reason = "not significant but the estimate is beyond tolerance: " + figures + ".";
    return mj;
  }
  const bool other_way = (mj.effect > metric.tolerance || mj.effect < -metric.tolerance);
  mj.reason = std::string(other_way ? "a change that is not worse for a metric judged on " +
                                          std::string(ToString(metric.direction)) + ": "
                                    : "within tolerance: ") +
              figures + ".";
  return mj;
}

// kQuery, kGauge, kMean: ranks of the points with the tolerance as a margin.
MetricJudgement JudgePoints(const JudgeSpec& spec, const JudgeMetric& metric,
                            const SideSamples& canary_side, const SideSamples& baseline_side,
                            MetricJudgement mj) {
  const PointSamples pts = CollectPoints(canary_side, baseline_side, metric.remove_outliers);
  const auto& canary = pts.canary;
  const auto& baseline = pts.baseline;
  mj.canary_n = canary.size();
  mj.baseline_n = baseline.size();
  mj.canary_mean = Mean(canary);
  mj.baseline_mean = Mean(baseline);
  mj.effect = mj.effect_low = mj.effect_high = std::nan("");
  if (canary.size() < kMinPoints || baseline.size() < kMinPoints) {
    mj.reason = "needs >= 3 points per side, got " + std::to_string(canary.size()) +
                " canary and " + std::to_string(baseline.size()) + " baseline";
    if (canary.empty() && !baseline.empty()) mj.reason += " (the canary is silent)";
    if (baseline.empty() && !canary.empty()) mj.reason += " (the baseline is silent)";
    return mj;
  }
  const double change = mj.baseline_mean != 0
                            ? (mj.canary_mean - mj.baseline_mean) / std::fabs(mj.baseline_mean)
                            : mj.canary_mean - mj.baseline_mean;
  mj.mean_ratio = 1 + change;

  const EffectiveSizes es = EffectiveSizesOf(pts);
  const double r = es.r, n1 = es.n1, n2 = es.n2;
  mj.lag1 = r;

  const double med_b = Median(baseline);
  const double scale = med_b != 0 ? std::fabs(med_b) : 1.0;  // effects relative to this
  const double margin = metric.tolerance * scale;
  const double alpha = 1 - spec.confidence;
  const bool either = metric.direction == Direction::kEither;
  const double alpha_side = either ? alpha / 2 : alpha;

  const double p_up =
      OneSidedP(RankAgainstShifted(canary, baseline, margin, es.n1e, es.n2e), n1, n2, true);
  const double p_down =
      OneSidedP(RankAgainstShifted(canary, baseline, -margin, es.n1e, es.n2e), n1, n2, false);
  PointsEffect(pts, es.inflation, scale, alpha, mj);

  const bool worse_up =
      mj.effect > metric.tolerance && p_up < alpha_side && metric.direction != Direction::kDecrease;
  const bool worse_down = mj.effect < -metric.tolerance && p_down < alpha_side &&
                          metric.direction != Direction::kIncrease;
  mj.p_value = metric.direction == Direction::kIncrease   ? p_up
               : metric.direction == Direction::kDecrease ? p_down
                                                          : std::min(p_up, p_down);
  mj.test = "Mann-Whitney U, one-sided against the baseline " +
            std::string(metric.direction == Direction::kDecrease ? "minus" : "plus") +
            " the tolerance" +
            (r > 0 ? ", variance corrected for lag-1 autocorrelation " + Num(r) : std::string());
  const std::string sizes =
      Count(n1) + " canary / " + Count(n2) + " baseline points" +
      (r > 0 ? " (effective " + Count(es.n1e) + " / " + Count(es.n2e) + ")" : "");
  const std::string effect = "shift " + EffectText(mj.effect, mj.effect_low, mj.effect_high) +
                             " of the baseline median " + Num(med_b) + " (tolerance " +
                             Percent(metric.tolerance).substr(1) + ")";
  const std::string p = "p=" + Num(mj.p_value);
  if (worse_up || worse_down) {
    mj.verdict = Outcome::kFailed;
    mj.reason = "significantly " + std::string(worse_up ? "higher" : "lower") +
                " beyond tolerance: " + effect + ", " + p + " < " + Num(alpha_side) + ", " + sizes +
                ".";
    return mj;
  }
  const double need_points = PointsNeeded(baseline, margin, alpha_side, es.inflation);
  if (n1 < need_points) {
    return Underpowered(std::move(mj),
                        "canary points" + std::string(r > 0 ? " (autocorrelated)" : ""), n1,
                        need_points, effect + ", " + p);
  }
  return PointsVerdict(metric, std::move(mj), effect + ", " + p + ", " + sizes);
}

// The canary's share of all errors, given the requests, against the share it would have at
// the margin: one-sided p of "canary rate > baseline rate x (1 + tolerance)".
double RatioP(double xc, double nc, double xb, double nb, double tolerance, double phi) {
  const double x = xc + xb;
  if (x < 0.5 || nc <= 0 || nb <= 0) return 1;
  const double pi0 = nc * (1 + tolerance) / (nc * (1 + tolerance) + nb);
  if (phi <= 1.0) return BinomialUpperTail(std::round(xc), std::round(x), pi0);
  const double z = (xc - x * pi0 - 0.5) / std::sqrt(x * pi0 * (1 - pi0) * phi);
  return std::min(1.0, UpperTail(z));
}

// kRatio's steps: one per aligned sample, errors clamped to [0, requests].
struct RatioStep {
  double errors, requests;
};

std::vector<RatioStep> RatioSteps(const SideSamples& s) {
  std::vector<RatioStep> out;
  const std::size_t n = std::min(s.numerator.size(), s.denominator.size());
  for (std::size_t i = 0; i < n; ++i) {
    double req = std::isfinite(s.denominator[i]) ? std::max(0.0, s.denominator[i]) : 0;
    double err = std::isfinite(s.numerator[i]) ? std::max(0.0, s.numerator[i]) : 0;
    out.push_back({std::min(err, req), req});
  }
  return out;
}

// The sum of the steps without the `skip` ones with the most errors.
RatioStep RatioTotal(const std::vector<RatioStep>& v, std::size_t skip) {
  std::vector<RatioStep> sorted = v;
  std::sort(sorted.begin(), sorted.end(),
            [](const RatioStep& a, const RatioStep& b) { return a.errors > b.errors; });
  RatioStep t{0, 0};
  for (std::size_t i = std::min(skip, sorted.size()); i < sorted.size(); ++i) {
    t.errors += sorted[i].errors;
    t.requests += sorted[i].requests;
  }
  return t;
}

// Squared Pearson residuals of the canary's per-step error counts given both sides' errors,
// around the rate ratio `ratio`; `info` gets their summed variance.
std::vector<double> RatioResiduals(const std::vector<RatioStep>& cs,
                                   const std::vector<RatioStep>& bs, double ratio, double& info) {
  std::vector<double> r2;
  info = 0;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const double x = cs[i].errors + bs[i].errors;
    if (x <= 0 || cs[i].requests + bs[i].requests <= 0) continue;
    const double share = ratio * cs[i].requests / (ratio * cs[i].requests + bs[i].requests);
    const double v = x * share * (1 - share);
    if (v <= 0) continue;
    r2.push_back((cs[i].errors - x * share) * (cs[i].errors - x * share) / v);
    info += v;
  }
  return r2;
}

// Overdispersion. Given each step's errors of both sides together, the canary's count is
// binomial whatever the shared traffic and error waves do, so only burstiness of one side
// alone widens the test: the median squared Pearson residual of those per-step counts (around
// the rate ratio that fits most steps) over its chi-square(1) value 0.455, then the mean over
// the steps that scale does not call outliers, so a burst or a late onset does not count as
// noise. Needs aligned steps with a few errors each; else none is assumed (1).
double RatioDispersion(const std::vector<RatioStep>& cs, const std::vector<RatioStep>& bs) {
  double phi = 1;
  if (cs.size() != bs.size() || cs.size() < 5) return phi;
  // The rate ratio that fits most steps best (least median of squares over a log grid), so
  // that a burst or a late onset does not pass for noise.
  double best = std::numeric_limits<double>::infinity(), best_ratio = 1, info = 0;
  for (int g = -40; g <= 60; ++g) {
    const double ratio = std::pow(10.0, g / 20.0);
    const auto r2 = RatioResiduals(cs, bs, ratio, info);
    if (r2.size() < 5) continue;
    const double med = Median(r2);
    if (med < best) {
      best = med;
      best_ratio = ratio;
    }
  }
  const auto r2 = RatioResiduals(cs, bs, best_ratio, info);
  if (r2.size() >= 5 && info / static_cast<double>(r2.size()) >= 2) {
    // Reweighted: the steps within the 99% chi-square(1) bound of the first (median) scale,
    // whose mean squared residual is 0.924 x the dispersion.
    const double phi0 = std::max(1.0, Median(r2) / 0.4549);
    double sum = 0;
    int kept = 0;
    for (double r : r2) {
      if (r <= 6.635 * phi0) {
        sum += r;
        ++kept;
      }
    }
    if (kept >= 5) phi = std::max(1.0, sum / kept / 0.924);
  }
  return phi;
}

// Whether a significant result is a burst: without the worst steps (at least two: a burst can
// straddle two steps) it is no longer significant; and the rate ratio minus 1 without them.
struct RatioBurst {
  bool burst = false;
  double trimmed_effect = 0;
};

RatioBurst RatioBurstCheck(const std::vector<RatioStep>& cs, const std::vector<RatioStep>& bs,
                           double tol, double phi, double alpha) {
  RatioBurst out;
  const std::size_t k = std::max<std::size_t>(
      2, static_cast<std::size_t>(std::ceil(kTrimShare * static_cast<double>(cs.size()))));
  const RatioStep ct = RatioTotal(cs, k), bt = RatioTotal(bs, k);
  const double p_trimmed = RatioP(ct.errors, ct.requests, bt.errors, bt.requests, tol, phi);
  out.burst = p_trimmed >= alpha;
  const double rct = ct.requests > 0 ? ct.errors / ct.requests : 0;
  const double rbt = bt.requests > 0 ? bt.errors / bt.requests : 0;
  out.trimmed_effect = rbt > 0 ? rct / rbt - 1 : (rct > 0 ? 1e9 : 0);
  return out;
}

// The effect's interval: from the Wilson interval of the canary's share of the errors.
void RatioEffectInterval(const RatioStep& c, const RatioStep& b, double phi, double alpha,
                         MetricJudgement& mj) {
  const double x = c.errors + b.errors;
  if (x <= 0) return;
  const double z = NormalQuantileUpper(alpha / 2);
  const double share = c.errors / x;
  const double z2 = z * z * phi;
  const double centre = (share + z2 / (2 * x)) / (1 + z2 / x);
  const double half =
      std::sqrt(z2 * share * (1 - share) / x + z2 * z2 / (4 * x * x)) / (1 + z2 / x);
  auto ratio = [&](double s) {
    if (s >= 1) return std::numeric_limits<double>::infinity();
    return s / (1 - s) * b.requests / c.requests - 1;
  };
  mj.effect_low = ratio(std::max(0.0, centre - half));
  mj.effect_high = ratio(std::min(1.0, centre + half));
}

// Power: requests the canary needs for a rate of twice the tolerated one (at least 0.1 point
// above it) to be significant 80% of the time.
double RatioRequestsNeeded(const RatioStep& b, double rb, double tol, double phi, double alpha) {
  const double rb_est = b.errors > 0 ? rb : 1 / b.requests;
  const double p0 = rb_est * (1 + tol);
  const double p1 = std::max(2 * p0, p0 + kMinRateEffect);
  const double zs = NormalQuantileUpper(alpha) + kPowerZ;
  const double denom =
      (p1 - p0) * (p1 - p0) / (zs * zs) - phi * (1 + tol) * (1 + tol) * rb_est / b.requests;
  // When the baseline itself is too small for that, the canary and baseline both would need
  // about this many.
  return denom > 0
             ? phi * p1 / denom
             : phi * zs * zs * (p1 + (1 + tol) * (1 + tol) * rb_est) / ((p1 - p0) * (p1 - p0));
}

// The rates, the effect and the p-value as a verdict's reason names them.
struct RatioText {
  std::string rates, effect, ptext;
};

RatioText RatioTexts(const RatioStep& c, const RatioStep& b, const MetricJudgement& mj, double tol,
                     double p, double phi) {
  const double rc = mj.canary_mean, rb = mj.baseline_mean;
  std::string rates = "canary " + Rate(rc) + " (" + Count(c.errors) + "/" + Count(c.requests) +
                      ") vs baseline " + Rate(rb) + " (" + Count(b.errors) + "/" +
                      Count(b.requests) + ")";
  std::string effect = (rb > 0 ? "ratio " + EffectText(mj.effect, mj.effect_low, mj.effect_high)
                               : std::string("baseline without errors")) +
                       " (tolerance " + Percent(tol).substr(1) + ")";
  std::string ptext = "p=" + Num(p) + (phi > 1 ? " (dispersion " + Num(phi) + ")" : std::string());
  return {std::move(rates), std::move(effect), std::move(ptext)};
}

// kRatio: errors / requests judged on the counts.
MetricJudgement JudgeRatio(const JudgeSpec& spec, const JudgeMetric& metric,
                           const SideSamples& canary_side, const SideSamples& baseline_side,
                           MetricJudgement mj) {
  const auto cs = RatioSteps(canary_side), bs = RatioSteps(baseline_side);
  const RatioStep c = RatioTotal(cs, 0), b = RatioTotal(bs, 0);
  mj.canary_n = cs.size();
  mj.baseline_n = bs.size();
  mj.canary_count = c.requests;
  mj.baseline_count = b.requests;
  mj.effect = mj.effect_low = mj.effect_high = std::nan("");
  mj.test =
      "rate-ratio test on the counts (canary share of errors given requests, one-sided "
      "against baseline rate x (1 + tolerance))";
  if (c.requests < 0.5) {
    mj.reason = "the canary served no requests in the window (" + std::to_string(cs.size()) +
                " steps): nothing to judge.";
    return mj;
  }
  if (b.requests < 0.5) {
    mj.reason = "the baseline served no requests in the window: nothing to compare with.";
    return mj;
  }
  const double rc = c.errors / c.requests, rb = b.errors / b.requests;
  mj.canary_mean = rc;
  mj.baseline_mean = rb;
  mj.mean_ratio = rb > 0 ? rc / rb : (rc > 0 ? std::numeric_limits<double>::infinity() : 1.0);
  const double phi = RatioDispersion(cs, bs);
  const double alpha = 1 - spec.confidence;
  const double tol = metric.tolerance;
  const double p = RatioP(c.errors, c.requests, b.errors, b.requests, tol, phi);
  mj.p_value = p;
  const RatioBurst trimmed = p < alpha ? RatioBurstCheck(cs, bs, tol, phi, alpha) : RatioBurst{};
  const bool burst = trimmed.burst;
  // Effect: the rate ratio minus 1.
  if (rb > 0) mj.effect = rc / rb - 1;
  RatioEffectInterval(c, b, phi, alpha, mj);
  const auto [rates, effect, ptext] = RatioTexts(c, b, mj, tol, p, phi);
  const bool beyond = rb > 0 ? mj.effect > tol : rc > 0;
  if (p < alpha && !burst && beyond) {
    mj.verdict = Outcome::kFailed;
    mj.reason = "error rate significantly beyond tolerance: " + rates + ", " + effect + ", " +
                ptext + " < " + Num(alpha) + ".";
    return mj;
  }
  if (burst && trimmed.trimmed_effect > tol) {
    // Without the worst steps it is no longer significant, but not within tolerance either.
    mj.verdict = Outcome::kInconclusive;
    mj.reason =
        "significant only with its worst steps, and beyond tolerance without them: " + rates +
        ", " + effect + ", " + ptext + ".";
    return mj;
  }
  const double need = RatioRequestsNeeded(b, rb, tol, phi, alpha);
  if (c.requests < need) {
    return Underpowered(std::move(mj), "canary requests", c.requests, need, rates + ", " + ptext);
  }
  if (!burst && beyond) {
    // Worse than the tolerance by the estimate, without significance: the data cannot tell.
    mj.verdict = Outcome::kInconclusive;
    mj.reason = "not significant but the estimate is beyond tolerance: " + rates + ", " + effect +
                ", " + ptext + ".";
    return mj;
  }
  mj.verdict = Outcome::kSuccessful;
  if (burst) {
    mj.reason =
        "a short burst of errors set aside (without the worst steps it is not "
        "significant): " +
        rates + ", " + effect + ", " + ptext + ".";
  } else {
    mj.reason = "error rate within tolerance: " + rates + ", " + effect + ", " + ptext + ".";
  }
  return mj;
}

// Inside a bucket (lo, hi] with shares flo, fhi at its bounds, of n observations in all: with
// lo > 0 the probit of the share is taken as linear in log latency (exact for log-normal
// latency, and far closer than a straight line for skewed ones), shares of 0 or 1 counted as
// half an observation from the end; else linear.
double ShareInside(double lo, double hi, double flo, double fhi, double n, double x) {
  if (hi <= lo || fhi <= flo) return fhi;
  if (lo > 0 && n > 1) {
    const double e = 0.5 / n;
    const double zlo = -NormalQuantileUpper(std::clamp(flo, e, 1 - e));
    const double zhi = -NormalQuantileUpper(std::clamp(fhi, e, 1 - e));
    const double t = (std::log(x) - std::log(lo)) / (std::log(hi) - std::log(lo));
    return std::clamp(UpperTail(-(zlo + (zhi - zlo) * t)), flo, fhi);
  }
  return flo + (fhi - flo) * (x - lo) / (hi - lo);
}

// The inverse: where inside (lo, hi] the share reaches f.
double PointInside(double lo, double hi, double flo, double fhi, double n, double f) {
  if (hi <= lo || fhi <= flo) return hi;
  if (lo > 0 && n > 1) {
    const double e = 0.5 / n;
    const double zlo = -NormalQuantileUpper(std::clamp(flo, e, 1 - e));
    const double zhi = -NormalQuantileUpper(std::clamp(fhi, e, 1 - e));
    const double z = -NormalQuantileUpper(std::clamp(f, e, 1 - e));
    if (zhi <= zlo) return hi;
    const double t = std::clamp((z - zlo) / (zhi - zlo), 0.0, 1.0);
    return std::exp(std::log(lo) + t * (std::log(hi) - std::log(lo)));
  }
  return lo + (hi - lo) * (f - flo) / (fhi - flo);
}

// The share of a cumulative histogram (le ascending, +Inf last) at or below x.
double BucketCdf(const std::vector<std::pair<double, double>>& cum, double x) {
  const double n = cum.back().second;
  if (n <= 0) return 0;
  double prev_le = 0, prev_c = 0;
  for (const auto& [le, c] : cum) {
    if (x <= le) {
      if (!std::isfinite(le)) return prev_c / n;
      return ShareInside(std::min(prev_le, le), le, prev_c / n, c / n, n, x);
    }
    prev_le = le;
    prev_c = c;
  }
  return 1;
}

// The quantile q of a cumulative histogram (the +Inf bucket answers its lower bound).
double BucketQuantile(const std::vector<std::pair<double, double>>& cum, double q) {
  const double n = cum.back().second;
  const double target = q * n;
  double prev_le = 0, prev_c = 0;
  for (const auto& [le, c] : cum) {
    if (c >= target && c > prev_c) {
      if (!std::isfinite(le)) return prev_le;
      return PointInside(std::min(prev_le, le), le, prev_c / n, c / n, n, q);
    }
    prev_le = std::isfinite(le) ? le : prev_le;
    prev_c = c;
  }
  return prev_le;
}

// The two histograms at the bucket bounds both sides have (+Inf last), cumulative; buckets
// missing on either side are merged into the next one both have.
struct SharedHistograms {
  std::vector<double> les;
  std::vector<std::pair<double, double>> cc, bc;  // (le, cumulative count) of canary, baseline
  double nc = 0, nb = 0;                          // the totals
  std::string unusable;                           // why they cannot be compared; else empty
};

SharedHistograms ShareBuckets(const SideSamples& canary_side, const SideSamples& baseline_side) {
  SharedHistograms h;
  std::map<double, double> cm, bm;
  for (const auto& [le, c] : canary_side.buckets) {
    if (!std::isnan(le) && std::isfinite(c)) cm[le] = std::max(cm[le], c);
  }
  for (const auto& [le, c] : baseline_side.buckets) {
    if (!std::isnan(le) && std::isfinite(c)) bm[le] = std::max(bm[le], c);
  }
  for (const auto& [le, c] : cm) {
    if (bm.count(le) != 0) h.les.push_back(le);
  }
  const double inf = std::numeric_limits<double>::infinity();
  if (h.les.empty() || h.les.back() != inf) {
    h.unusable = cm.empty() ? "the canary has no histogram buckets in the window (silent)."
                 : bm.empty()
                     ? "the baseline has no histogram buckets in the window (silent)."
                     : "no common +Inf bucket between canary and baseline: cannot compare.";
    return h;
  }
  double run_c = 0, run_b = 0;
  for (double le : h.les) {
    run_c = std::max(run_c, std::max(0.0, cm[le]));  // cumulative counts never fall
    run_b = std::max(run_b, std::max(0.0, bm[le]));
    h.cc.emplace_back(le, run_c);
    h.bc.emplace_back(le, run_b);
  }
  h.nc = run_c;
  h.nb = run_b;
  return h;
}

// Buckets holding any observation of either side.
std::size_t OccupiedBuckets(const SharedHistograms& h) {
  std::size_t occupied = 0;
  for (std::size_t i = 0; i < h.les.size(); ++i) {
    const double before = i == 0 ? 0 : h.cc[i - 1].second + h.bc[i - 1].second;
    if (h.cc[i].second + h.bc[i].second > before) ++occupied;
  }
  return occupied;
}

// Only the bucket bounds are measured; inside a bucket nothing is known. So the test and the
// effect are read at the bounds the two sides share (merged where one lacks a bucket).
// Test, at each informative bound le: is the canary's share at or below le smaller than the
// baseline's share below le / scale (the baseline made slower by the tolerance, interpolated
// inside one of its buckets)? One-sided z per bound, the smallest p times the number of bounds
// (Bonferroni).
double BoundP(const SharedHistograms& h, double scale, bool slower) {
  const double nc = h.nc, nb = h.nb;
  double best = 1;
  int tested = 0;
  for (std::size_t i = 0; i + 1 < h.les.size(); ++i) {
    const double le = h.les[i];
    const double fc = h.cc[i].second / nc, fb = BucketCdf(h.bc, le / scale);
    if ((fc < 0.01 || fc > 0.99) && (fb < 0.01 || fb > 0.99)) continue;
    const double fcs = (h.cc[i].second + 0.5) / (nc + 1), fbs = (fb * nb + 0.5) / (nb + 1);
    const double sd = std::sqrt(fcs * (1 - fcs) / nc + fbs * (1 - fbs) / nb);
    const double z = slower ? (fb - fc) / sd : (fc - fb) / sd;
    best = std::min(best, UpperTail(z));
    ++tested;
  }
  return tested > 0 ? std::min(1.0, best * tested) : 1.0;
}

// The canary/baseline quantile ratios minus 1 at p25, p50, p75 and p90 (shares interpolated as
// above), sorted: a shift of the body, or of a slow path holding a quarter or more of the
// requests, counts; a burst in a few percent of them does not.
std::vector<double> QuantileRatios(const SharedHistograms& h) {
  std::vector<double> ratios;
  for (double q : {0.25, 0.5, 0.75, 0.9}) {
    const double bq = BucketQuantile(h.bc, q), cq = BucketQuantile(h.cc, q);
    if (bq > 0) ratios.push_back(cq / bq - 1);
  }
  std::sort(ratios.begin(), ratios.end());
  return ratios;
}

// Bounds where either side's share is between 1% and 99%.
int InformativeBounds(const SharedHistograms& h) {
  int informative = 0;
  for (std::size_t i = 0; i + 1 < h.les.size(); ++i) {
    const double fc = h.cc[i].second / h.nc, fb = h.bc[i].second / h.nb;
    if ((fc >= 0.01 && fc <= 0.99) || (fb >= 0.01 && fb <= 0.99)) ++informative;
  }
  return informative;
}

// Power: observations for a shift of twice the tolerance, from the baseline's log spread (at
// least 20).
double ObservationsNeeded(const SharedHistograms& h, double tol, double alpha_side) {
  const double q25 = BucketQuantile(h.bc, 0.25), q75 = BucketQuantile(h.bc, 0.75);
  const double sigma_log = q25 > 0 && q75 > q25 ? (std::log(q75) - std::log(q25)) / 1.349 : 0.5;
  const double delta = std::log(1 + 2 * tol) - std::log(1 + tol);
  const double zs = NormalQuantileUpper(alpha_side) + kPowerZ;
  const double need =
      delta > 0 ? (kPi / 3) * 2 * zs * zs * sigma_log * sigma_log / (delta * delta) : 0;
  return std::max(need, 20.0);
}

// Why two shared histograms cannot show a shift, or empty.
std::string HistogramUnjudgeable(const SharedHistograms& h) {
  if (h.nc < 0.5) return "the canary observed no requests in the window: nothing to judge.";
  if (h.nb < 0.5) {
    return "the baseline observed no requests in the window: nothing to compare with.";
  }
  if (OccupiedBuckets(h) <= 1) {
    return "every observation of both sides fell in one bucket: the buckets cannot tell "
           "a shift inside it (use finer buckets or kind: mean).";
  }
  return "";
}

// kHistogram: the two distributions of bucket counts.
MetricJudgement JudgeHistogram(const JudgeSpec& spec, const JudgeMetric& metric,
                               const SideSamples& canary_side, const SideSamples& baseline_side,
                               MetricJudgement mj) {
  mj.effect = mj.effect_low = mj.effect_high = std::nan("");
  mj.test =
      "bucket counts at the shared bounds, one-sided against the baseline's latencies x (1 + "
      "tolerance), Bonferroni over the bounds; effect = median of the p25-p90 quantile "
      "ratios";
  const SharedHistograms h = ShareBuckets(canary_side, baseline_side);
  if (!h.unusable.empty()) {
    mj.reason = h.unusable;
    return mj;
  }
  const double nc = h.nc, nb = h.nb;
  mj.canary_count = nc;
  mj.baseline_count = nb;
  mj.canary_n = mj.baseline_n = h.les.size();
  if (auto why = HistogramUnjudgeable(h); !why.empty()) {
    mj.reason = std::move(why);
    return mj;
  }
  const double tol = metric.tolerance;
  const double p_up = BoundP(h, 1 + tol, true);
  const double p_down = BoundP(h, std::max(1e-9, 1 - tol), false);
  const std::vector<double> ratios = QuantileRatios(h);
  if (ratios.empty() || InformativeBounds(h) == 0) {
    mj.reason =
        "no bucket bound splits the observations (nearly all of both sides in one bucket): the "
        "buckets cannot tell a shift inside it (use finer buckets or kind: mean).";
    return mj;
  }
  mj.effect = Median(ratios);
  mj.effect_low = ratios.front();
  mj.effect_high = ratios.back();
  const double b50 = BucketQuantile(h.bc, 0.5), c50 = BucketQuantile(h.cc, 0.5);
  mj.canary_mean = c50;
  mj.baseline_mean = b50;
  mj.mean_ratio = b50 > 0 ? c50 / b50 : 1;
  const double alpha = 1 - spec.confidence;
  const bool either = metric.direction == Direction::kEither;
  const double alpha_side = either ? alpha / 2 : alpha;
  const bool effect_known = !std::isnan(mj.effect);
  const bool worse_up = effect_known && mj.effect > tol && p_up < alpha_side &&
                        metric.direction != Direction::kDecrease;
  const bool worse_down = effect_known && mj.effect < -tol && p_down < alpha_side &&
                          metric.direction != Direction::kIncrease;
  mj.p_value = metric.direction == Direction::kIncrease   ? p_up
               : metric.direction == Direction::kDecrease ? p_down
                                                          : std::min(p_up, p_down);
  const std::string sizes = Count(nc) + " canary / " + Count(nb) + " baseline observations";
  const std::string effect = "median " + Num(c50) + " vs " + Num(b50) + ", quantile shift " +
                             EffectText(mj.effect, mj.effect_low, mj.effect_high) +
                             " across p25-p90 (tolerance " + Percent(tol).substr(1) + ")";
  const std::string ptext = "p=" + Num(mj.p_value);
  if (worse_up || worse_down) {
    mj.verdict = Outcome::kFailed;
    mj.reason = "latency distribution significantly " + std::string(worse_up ? "higher" : "lower") +
                " beyond tolerance: " + effect + ", " + ptext + " < " + Num(alpha_side) + ", " +
                sizes + ".";
    return mj;
  }
  const double need = ObservationsNeeded(h, tol, alpha_side);
  if (nc < need) {
    return Underpowered(std::move(mj), "canary requests", nc, need, effect + ", " + ptext);
  }
  const bool beyond =
      effect_known && ((mj.effect > tol && metric.direction != Direction::kDecrease) ||
                       (mj.effect < -tol && metric.direction != Direction::kIncrease));
  if (beyond) {
    mj.verdict = Outcome::kInconclusive;
    mj.reason = "not significant but the estimate is beyond tolerance: " + effect + ", " + ptext +
                ", " + sizes + ".";
    return mj;
  }
  mj.verdict = Outcome::kSuccessful;
  mj.reason = "latency within tolerance: " + effect + ", " + ptext + ", " + sizes + ".";
  return mj;
}

MetricJudgement JudgeMetricSamples(const JudgeSpec& spec, const JudgeMetric& metric,
                                   const MetricSamples& samples) {
  MetricJudgement mj;
  mj.name = metric.name;
  mj.kind = std::string(ToString(metric.kind));
  switch (metric.kind) {
    case JudgeKind::kRatio:
      return JudgeRatio(spec, metric, samples.canary, samples.baseline, std::move(mj));
    case JudgeKind::kHistogram:
      return JudgeHistogram(spec, metric, samples.canary, samples.baseline, std::move(mj));
    case JudgeKind::kMean: {
      // The mean of each step: sum increase / count increase, for steps that saw requests.
      auto means = [](const SideSamples& s, double& requests) {
        SideSamples out;
        out.series.emplace_back();
        const std::size_t n = std::min(s.numerator.size(), s.denominator.size());
        for (std::size_t i = 0; i < n; ++i) {
          if (std::isfinite(s.denominator[i]) && s.denominator[i] > 0 &&
              std::isfinite(s.numerator[i])) {
            out.series.back().push_back(s.numerator[i] / s.denominator[i]);
            requests += s.denominator[i];
          }
        }
        return out;
      };
      double cr = 0, br = 0;
      const auto c = means(samples.canary, cr), b = means(samples.baseline, br);
      mj.canary_count = cr;
      mj.baseline_count = br;
      auto out = JudgePoints(spec, metric, c, b, std::move(mj));
      out.test = "mean latency (_sum/_count) per step; " + out.test;
      return out;
    }
    case JudgeKind::kQuery:
    case JudgeKind::kGauge:
      break;
  }
  return JudgePoints(spec, metric, samples.canary, samples.baseline, std::move(mj));
}

}  // namespace

double Lag1Autocorrelation(const std::vector<std::vector<double>>& series) {
  double num = 0, den = 0;
  for (const auto& s : series) {
    if (s.size() < 3) continue;
    const double m = Mean(s);
    for (std::size_t i = 0; i < s.size(); ++i) {
      den += (s[i] - m) * (s[i] - m);
      if (i + 1 < s.size()) num += (s[i] - m) * (s[i + 1] - m);
    }
  }
  return den > 0 ? num / den : 0;
}

double BinomialUpperTail(double k, double n, double p) {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  if (n > 20000) {
    const double z = (k - 0.5 - n * p) / std::sqrt(n * p * (1 - p));
    return std::min(1.0, UpperTail(z));
  }
  const double lp = std::log(p), lq = std::log1p(-p);
  double sum = 0;
  for (double i = k; i <= n; i += 1) {
    const double term = std::exp(std::lgamma(n + 1) - std::lgamma(i + 1) - std::lgamma(n - i + 1) +
                                 i * lp + (n - i) * lq);
    sum += term;
    if (i > n * p && term < sum * 1e-16) break;
  }
  return std::min(1.0, sum);
}

double NormalQuantileUpper(double upper) {
  upper = std::clamp(upper, 1e-300, 1.0);
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    if (UpperTail(mid) > upper) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return (lo + hi) / 2;
}

Judgement Judge(const JudgeSpec& spec, const std::map<std::string, MetricSamples>& samples) {
  Judgement j;
  double decided = 0, passed = 0;
  std::vector<std::string> critical_failures;
  for (const auto& metric : spec.metrics) {
    MetricJudgement mj;
    if (const auto it = samples.find(metric.name); it != samples.end()) {
      mj = JudgeMetricSamples(spec, metric, it->second);
    } else {
      mj.name = metric.name;
      mj.kind = std::string(ToString(metric.kind));
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
    for (const auto& mj : j.metrics) {
      if (mj.needed > 0) {
        j.reason += " (" + mj.name + ": " +
                    Count(mj.kind == "query" || mj.kind == "gauge" || mj.kind == "mean"
                              ? static_cast<double>(mj.canary_n)
                              : mj.canary_count) +
                    ", would need about " + Count(mj.needed) + ")";
        break;
      }
    }
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
    // Passing needs every critical metric decided: an undecided critical one cannot vouch.
    std::string undecided;
    for (std::size_t i = 0; i < spec.metrics.size(); ++i) {
      if (spec.metrics[i].critical && j.metrics[i].verdict == Outcome::kInconclusive) {
        undecided += (undecided.empty() ? "" : ", ") + spec.metrics[i].name;
      }
    }
    if (!undecided.empty()) {
      j.verdict = Outcome::kInconclusive;
      j.reason = "critical metric " + undecided + " could not be judged (" + score + ")";
    } else {
      j.verdict = Outcome::kSuccessful;
      j.reason = score + " >= pass " + Num(spec.pass_score);
    }
  } else if (j.score >= spec.marginal_score) {
    j.verdict = Outcome::kInconclusive;
    j.reason = score + " is marginal (>= " + Num(spec.marginal_score) + ", < pass " +
               Num(spec.pass_score) + ")";
  } else {
    j.verdict = Outcome::kFailed;
    j.reason = score + " < marginal " + Num(spec.marginal_score);
  }
  // The one line a person reads: the verdict's reason and the first metric behind it.
  const Outcome behind = j.verdict == Outcome::kSuccessful ? Outcome::kPending : j.verdict;
  for (const auto& mj : j.metrics) {
    if (mj.verdict == behind) {
      j.reason += "; " + mj.name + ": " + mj.reason;
      break;
    }
  }
  return j;
}

Judgement Judge(
    const JudgeSpec& spec,
    const std::map<std::string, std::pair<std::vector<double>, std::vector<double>>>& samples) {
  std::map<std::string, MetricSamples> converted;
  for (const auto& [name, pair] : samples) {
    MetricSamples m;
    m.canary.series.push_back(pair.first);
    m.baseline.series.push_back(pair.second);
    converted.emplace(name, std::move(m));
  }
  return Judge(spec, converted);
}

}  // namespace sluice::analysis
