#pragma once

// One measurement of a threshold rule from the instant query results of its metrics.

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "sluice/analysis/spec.hpp"
#include "sluice/analysis/types.hpp"

namespace sluice::analysis {

// One metric's instant result (what the watcher got from Prometheus), pure data.
struct SeriesValue {
  std::map<std::string, std::string> labels;
  double value = NAN;
};
struct MetricResult {
  bool ok = true;
  std::string error;
  std::vector<SeriesValue> series;
};

struct Measurement {
  Outcome verdict = Outcome::kInconclusive;  // kSuccessful, kFailed, kInconclusive or kError
  std::string metric;                        // the comparison that decided
  double observed = NAN;
  double threshold = NAN;
  std::string comparator;
  std::vector<std::string> affected_instances;  // instance_name, else instance, of breaching series
  std::string message;                          // e.g. "error_rate 0.31 > 0.05 on sx-h2"
};

// results: metric name -> result, for every metric the rule names and its min_requests_metric.
//
// A comparison breaches when any series of its metric does; NaN / Inf values are ignored (they
// are neither a breach nor a pass). With fewer than min_samples usable values a comparison has
// no data. The condition is evaluated in three-valued logic (breach, clear, no data): OR breaches
// when any term breaches, AND is clear when any factor is clear; what stays undecided is "no
// data" and resolved by the rule's no_data policy. A failed query (ok = false) or a missing
// result is kError; a request count below min_requests is kInconclusive.
Measurement EvaluateThreshold(const ThresholdRule& rule,
                              const std::map<std::string, MetricResult>& results);

}  // namespace sluice::analysis
