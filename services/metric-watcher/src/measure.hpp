#pragma once

// Taking one measurement: rendering a rule's queries, asking the metric provider, and judging
// the answer with libs/analysis. The live analysis and the retrospective API share this code.

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/analysis/analysis.hpp>
#include <sluice/analysis/window.hpp>
#include <sluice/core/clock.hpp>
// Before sluice/prometheus: server.hpp names prometheus-cpp's `prometheus::` from inside
// namespace sluice, where sluice::prometheus would otherwise be found first.
#include <sluice/http/server.hpp>
#include <sluice/prometheus/client.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::watcher {

namespace prom = ::sluice::prometheus;

// Where measurements come from: Prometheus, or anything speaking its HTTP API
// (VictoriaMetrics). Throws prom::QueryError when a query fails.
class MetricProvider {
 public:
  virtual ~MetricProvider() = default;
  virtual prom::QueryResult Query(std::string_view promql, core::SystemTime at) = 0;
  virtual prom::QueryResult QueryRange(std::string_view promql, core::SystemTime start,
                                       core::SystemTime end, std::chrono::milliseconds step) = 0;
};

// The template's metrics a threshold rule names in failWhen, then its minRequests metric; how
// far back a query reads (its ranges, subqueries and offsets); the longest of a rule's queries
// (libs/analysis/window.hpp: the spec parser checks bake watches by it too).
using analysis::JudgeWindow;
using analysis::MetricsOfRule;
using analysis::Reach;
using analysis::RuleWindow;

// The instance a series stands for: label instance_name, else instance, else host, else "".
std::string InstanceOf(const std::map<std::string, std::string>& labels);

// An instant answer as analysis::MetricResult (each series' last point).
analysis::MetricResult ToMetricResult(const prom::QueryResult& result);

struct RuleMeasurement {
  analysis::Measurement result;
  std::map<std::string, std::string> queries;            // metric -> resolved PromQL
  std::map<std::string, analysis::MetricResult> values;  // metric -> what came back
};

// One measurement of a threshold rule at `at`: every metric it needs, as an instant query.
// A failing query becomes a not-ok MetricResult (EvaluateThreshold then answers kError).
RuleMeasurement MeasureThreshold(MetricProvider& provider, const analysis::Template& tmpl,
                                 const analysis::ThresholdRule& rule,
                                 const analysis::Bindings& bindings, core::SystemTime at);

struct JudgeMeasurement {
  analysis::Judgement judgement;
  // judge metric -> (canary query, baseline query), resolved
  std::map<std::string, std::pair<std::string, std::string>> queries;
  std::string error;  // set when a query failed (judgement.verdict is then kError)
};

// The baseline query of a judge metric: its own, else the canary query with {{instances}} ->
// {{baseline_instances}} and {{version}} -> {{baseline_version}}.
std::string BaselineQueryOf(const analysis::JudgeMetric& metric);

// One judgment over [start, end]: a range query per metric for the canary and the baseline,
// every point of every series as a sample.
JudgeMeasurement MeasureJudge(MetricProvider& provider, const analysis::JudgeSpec& spec,
                              const analysis::Bindings& bindings, core::SystemTime start,
                              core::SystemTime end, std::chrono::milliseconds step);

// JSON renderings used by the API and the measurements table.
nlohmann::json ValuesJson(const std::map<std::string, analysis::MetricResult>& values);
nlohmann::json ToJson(const RuleMeasurement& m, core::SystemTime at);
nlohmann::json ToJson(const analysis::Judgement& j);
nlohmann::json ToJson(const JudgeMeasurement& m, core::SystemTime at);
nlohmann::json ProgressJson(const analysis::RuleProgress& p);
analysis::RuleProgress ProgressFromJson(const nlohmann::json& j);

std::optional<analysis::Outcome> OutcomeFromString(std::string_view s);

// A finite double, or null in JSON.
nlohmann::json Finite(double v);

}  // namespace sluice::watcher
