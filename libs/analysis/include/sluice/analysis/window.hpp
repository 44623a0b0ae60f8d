#pragma once

// How far back a measurement's queries read, so that a measurement is taken only once
// everything it reads is from after a start (the batch's switch, the watch's beginning). A
// threshold rule is measured with instant queries, and an instant query at t reads
// [t - reach, t]: `rate(x[5m])` one minute after the switch still counts four minutes of the
// version before. The watcher keeps each rule Pending until its reach fits after the switch
// (see libs/analysis/README.md, "When a rule is first measured"); the spec parser refuses a bake
// watch too short to measure anything by it.

#include <chrono>
#include <sluice/analysis/spec.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::analysis {

// The metrics a threshold rule reads: its conditions' metrics, then its minRequests metric,
// each once, in that order; names the template does not define are left out.
std::vector<std::string> MetricsOfRule(const Template& tmpl, const ThresholdRule& rule);

// How far before its evaluation time a PromQL expression reads samples:
//   - a range selector its range (`rate(x[5m])`: 5m);
//   - a subquery its range plus the reach of the expression it evaluates (its first inner
//     evaluation is a range back: `max_over_time(rate(x[1m])[5m:30s])` reads 6m back);
//   - `offset d` adds d to the selector or subquery it modifies (`rate(x[1m] offset 5m)`: 6m;
//     an instant selector `x offset 10m`: 10m); a negative offset adds nothing;
//   - the longest of these over the whole expression.
// Durations in PromQL's units (ms, s, m, h, d, w, y = 365d, combined as in `1h30m`) or a number
// of seconds. Strings (quoted, backquoted) and comments are skipped. Not counted: an instant
// selector's lookback for its latest sample (a series that ends is marked stale at once), and
// `@ <timestamp>`, which reads a fixed time whatever the evaluation time.
std::chrono::milliseconds Reach(std::string_view promql);

// The longest reach of the queries of the metrics a threshold rule reads, or 0.
std::chrono::milliseconds RuleWindow(const Template& tmpl, const ThresholdRule& rule);

// How long after a start the judge's first measurement has a point of every metric: the step
// (counter kinds: the first step's increase), or a query's reach (query and gauge kinds: the
// first point is a whole window after the start); the longest over its metrics, 0 for none.
std::chrono::milliseconds JudgeWindow(const JudgeSpec& spec);

}  // namespace sluice::analysis
