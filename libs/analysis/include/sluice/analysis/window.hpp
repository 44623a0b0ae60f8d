#pragma once

// How long after a start a threshold rule can first be measured: the longest range window of
// the queries it reads. A measurement taken sooner would still count data from before the start
// (the hosts' switch, the watch's beginning). The watcher schedules by it; the spec parser
// refuses a bake watch too short to measure anything by it.

#include <chrono>
#include <sluice/analysis/spec.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::analysis {

// The metrics a threshold rule reads: its conditions' metrics, then its minRequests metric,
// each once, in that order; names the template does not define are left out.
std::vector<std::string> MetricsOfRule(const Template& tmpl, const ThresholdRule& rule);

// The longest range of a range selector or subquery in a PromQL text ("[1m]", "[5m:30s]"), or 0.
std::chrono::milliseconds LongestRange(std::string_view promql);

// The longest range window of the queries of the metrics a threshold rule reads, or 0.
std::chrono::milliseconds RuleWindow(const Template& tmpl, const ThresholdRule& rule);

}  // namespace sluice::analysis
