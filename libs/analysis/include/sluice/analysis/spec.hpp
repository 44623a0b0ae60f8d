#pragma once

// The typed form of the `analysis:` section of one environment of a delivery spec: named
// templates of PromQL metrics, threshold rules and an optional canary-versus-baseline judge,
// plus the bake watch after full rollout, with every default applied. The engine judges these;
// the YAML is read (once, at intake) by libs/spec (sluice/spec/analysis_spec.hpp), and they
// travel between services as sluice.v1.AnalysisTemplate (sluice/spec/convert.hpp). The format
// is described in libs/analysis/README.md.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/analysis/condition.hpp"
#include "sluice/analysis/types.hpp"

namespace sluice::analysis {

// A named PromQL query; the text may hold {{placeholders}} (see render.hpp).
struct MetricQuery {
  std::string name;
  std::string query;

  bool operator==(const MetricQuery&) const = default;
};

struct ThresholdRule {
  std::string name;
  std::string fail_when;  // as written, or built from metric/max/min ("cpu > 0.9")
  Condition condition;
  Severity severity = Severity::kCritical;
  Limits limits;
  int min_samples = 1;  // usable series values needed per metric, else no data
  std::optional<std::string> min_requests_metric;
  double min_requests = 0;  // below (summed over the metric's series): inconclusive
  NoData no_data = NoData::kInconclusive;

  bool operator==(const ThresholdRule&) const = default;
};

// What a judge metric measures and so how it is judged (see libs/analysis/README.md):
//   kQuery      any PromQL series (the default); sampled once per non-overlapping window
//   kGauge      a level (memory, queue depth); sampled once per step, as written
//   kRatio      errors / requests from two counters, judged on the counts (rate-ratio test)
//   kHistogram  a latency histogram's _bucket counters, judged on the bucket counts
//   kMean       mean latency from a histogram's _sum / _count counters, per step
enum class JudgeKind { kQuery, kGauge, kRatio, kHistogram, kMean };

std::string_view ToString(JudgeKind kind);

struct JudgeMetric {
  std::string name;
  JudgeKind kind = JudgeKind::kQuery;
  std::string query;           // canary series (kQuery, kGauge)
  std::string baseline_query;  // baseline series (derived from `query` when not written)
  // Counter selectors (no range, no function): kRatio errors / requests, kHistogram buckets
  // (numerator only), kMean sum / count. The baseline ones are derived like baseline_query.
  std::string numerator, denominator;
  std::string baseline_numerator, baseline_denominator;
  Direction direction = Direction::kIncrease;
  double tolerance = 0.2;  // tolerated relative change of the mean (0.2 = 20%)
  double weight = 1;
  bool critical = false;  // failing it fails the judgment whatever the score
  bool remove_outliers = false;

  bool operator==(const JudgeMetric&) const = default;
};

struct JudgeSpec {
  double confidence = 0.98;  // a difference is significant when p < 1 - confidence
  double pass_score = 95, marginal_score = 75;
  std::chrono::milliseconds lookback{120000}, step{5000};
  std::vector<JudgeMetric> metrics;
  Limits limits;

  bool operator==(const JudgeSpec&) const = default;
};

struct Template {
  std::string name;
  std::vector<MetricQuery> metrics;  // in file order
  std::vector<ThresholdRule> rules;  // in file order
  std::optional<JudgeSpec> judge;

  const MetricQuery* FindMetric(std::string_view metric) const;
  bool operator==(const Template&) const = default;
};

struct BakeWatch {
  std::string template_name;
  std::chrono::milliseconds duration{0};

  bool operator==(const BakeWatch&) const = default;
};

struct AnalysisSpec {
  std::map<std::string, Template> templates;
  std::optional<BakeWatch> bake_watch;

  const Template* FindTemplate(std::string_view name) const;
  bool operator==(const AnalysisSpec&) const = default;
};

// A spec's duration: core::ParseDuration's grammar (sluice/core/duration.hpp) without the day
// unit, positive and at most a year ("5s", "2m", "500ms", "1h30m").
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s);

}  // namespace sluice::analysis
