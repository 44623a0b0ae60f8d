#include "measure.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace sluice::watcher {
namespace {

using nlohmann::json;

std::vector<double> Samples(const prom::QueryResult& r) {
  std::vector<double> out;
  for (const auto& s : r.series) {
    for (const auto& p : s.points) {
      if (std::isfinite(p.value)) out.push_back(p.value);
    }
  }
  return out;
}

}  // namespace

json Finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::vector<std::string> MetricsOfRule(const analysis::Template& tmpl,
                                       const analysis::ThresholdRule& rule) {
  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (tmpl.FindMetric(name) != nullptr && std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(name);
    }
  };
  for (const auto* c : rule.condition.Comparisons()) add(c->metric);
  if (rule.min_requests_metric) add(*rule.min_requests_metric);
  return out;
}

std::string InstanceOf(const std::map<std::string, std::string>& labels) {
  for (const char* name : {"instance_name", "instance", "host"}) {
    const auto it = labels.find(name);
    if (it != labels.end() && !it->second.empty()) return it->second;
  }
  return "";
}

analysis::MetricResult ToMetricResult(const prom::QueryResult& result) {
  analysis::MetricResult out;
  for (const auto& s : result.series) {
    if (s.points.empty()) continue;
    out.series.push_back({s.labels, s.points.back().value});
  }
  return out;
}

RuleMeasurement MeasureThreshold(MetricProvider& provider, const analysis::Template& tmpl,
                                 const analysis::ThresholdRule& rule,
                                 const analysis::Bindings& bindings, core::SystemTime at) {
  RuleMeasurement m;
  for (const auto& name : MetricsOfRule(tmpl, rule)) {
    const analysis::MetricQuery* metric = tmpl.FindMetric(name);
    const std::string query = analysis::Render(metric->query, bindings);
    m.queries[name] = query;
    try {
      m.values[name] = ToMetricResult(provider.Query(query, at));
    } catch (const prom::QueryError& e) {
      analysis::MetricResult failed;
      failed.ok = false;
      failed.error = e.what();
      m.values[name] = std::move(failed);
    }
  }
  m.result = analysis::EvaluateThreshold(rule, m.values);
  return m;
}

std::string BaselineQueryOf(const analysis::JudgeMetric& metric) {
  if (!metric.baseline_query.empty()) return metric.baseline_query;
  return analysis::DeriveBaselineQuery(metric.query);
}

JudgeMeasurement MeasureJudge(MetricProvider& provider, const analysis::JudgeSpec& spec,
                              const analysis::Bindings& bindings, core::SystemTime start,
                              core::SystemTime end, std::chrono::milliseconds step) {
  JudgeMeasurement m;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> samples;
  for (const auto& metric : spec.metrics) {
    const std::string canary = analysis::Render(metric.query, bindings);
    const std::string baseline = analysis::Render(BaselineQueryOf(metric), bindings);
    m.queries[metric.name] = {canary, baseline};
    try {
      samples[metric.name] = {Samples(provider.QueryRange(canary, start, end, step)),
                              Samples(provider.QueryRange(baseline, start, end, step))};
    } catch (const prom::QueryError& e) {
      m.error = metric.name + ": " + e.what();
      m.judgement.verdict = analysis::Outcome::kError;
      m.judgement.score = 0;
      m.judgement.reason = "query failed: " + m.error;
      return m;
    }
  }
  m.judgement = analysis::Judge(spec, samples);
  return m;
}

json ValuesJson(const std::map<std::string, analysis::MetricResult>& values) {
  json out = json::object();
  for (const auto& [name, r] : values) {
    if (!r.ok) {
      out[name] = {{"error", r.error}};
      continue;
    }
    json series = json::array();
    for (const auto& s : r.series) {
      series.push_back({{"instance", InstanceOf(s.labels)}, {"value", Finite(s.value)}});
    }
    out[name] = series;
  }
  return out;
}

json ToJson(const RuleMeasurement& m, core::SystemTime at) {
  const auto& r = m.result;
  return {{"taken_at", core::FormatRfc3339(at)},
          {"verdict", std::string(analysis::ToString(r.verdict))},
          {"metric", r.metric},
          {"observed", Finite(r.observed)},
          {"threshold", Finite(r.threshold)},
          {"comparator", r.comparator},
          {"affected_instances", r.affected_instances},
          {"message", r.message},
          {"queries", m.queries},
          {"values", ValuesJson(m.values)}};
}

json ToJson(const analysis::Judgement& j) {
  json metrics = json::array();
  for (const auto& mj : j.metrics) {
    metrics.push_back({{"name", mj.name},
                       {"verdict", std::string(analysis::ToString(mj.verdict))},
                       {"canary_mean", Finite(mj.canary_mean)},
                       {"baseline_mean", Finite(mj.baseline_mean)},
                       {"mean_ratio", Finite(mj.mean_ratio)},
                       {"p_value", Finite(mj.p_value)},
                       {"hl_shift", Finite(mj.hl_shift)},
                       {"canary_n", mj.canary_n},
                       {"baseline_n", mj.baseline_n},
                       {"reason", mj.reason}});
  }
  return {{"verdict", std::string(analysis::ToString(j.verdict))},
          {"score", Finite(j.score)},
          {"reason", j.reason},
          {"metrics", metrics}};
}

json ToJson(const JudgeMeasurement& m, core::SystemTime at) {
  json out = ToJson(m.judgement);
  out["taken_at"] = core::FormatRfc3339(at);
  json queries = json::object();
  for (const auto& [name, q] : m.queries) {
    queries[name] = {{"canary", q.first}, {"baseline", q.second}};
  }
  out["queries"] = queries;
  if (!m.error.empty()) out["error"] = m.error;
  return out;
}

json ProgressJson(const analysis::RuleProgress& p) {
  return {{"taken", p.taken},
          {"failures", p.failures},
          {"inconclusives", p.inconclusives},
          {"errors", p.errors},
          {"consecutive_successes", p.consecutive_successes},
          {"outcome", std::string(analysis::ToString(p.outcome))}};
}

analysis::RuleProgress ProgressFromJson(const json& j) {
  analysis::RuleProgress p;
  p.taken = j.value("taken", 0);
  p.failures = j.value("failures", 0);
  p.inconclusives = j.value("inconclusives", 0);
  p.errors = j.value("errors", 0);
  p.consecutive_successes = j.value("consecutive_successes", 0);
  p.outcome =
      OutcomeFromString(j.value("outcome", "Pending")).value_or(analysis::Outcome::kPending);
  return p;
}

std::optional<analysis::Outcome> OutcomeFromString(std::string_view s) {
  return analysis::ParseOutcome(s);
}

}  // namespace sluice::watcher
