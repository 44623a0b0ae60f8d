#include "measure.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace sluice::watcher {
namespace {

using nlohmann::json;

}  // namespace

json Finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

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

namespace {

std::string Seconds(std::chrono::milliseconds d) {
  return std::to_string(std::max<std::int64_t>(1, d.count() / 1000)) + "s";
}

// Each series' values in time order.
std::vector<std::vector<double>> SeriesValues(const prom::QueryResult& r) {
  std::vector<std::vector<double>> out;
  for (const auto& s : r.series) {
    out.emplace_back();
    for (const auto& p : s.points) out.back().push_back(p.value);
  }
  return out;
}

// The sum over series at each timestamp.
std::map<core::SystemTime, double> ByTime(const prom::QueryResult& r) {
  std::map<core::SystemTime, double> out;
  for (const auto& s : r.series) {
    for (const auto& p : s.points) {
      if (std::isfinite(p.value)) out[p.at] += p.value;
    }
  }
  return out;
}

// Per-step counter increases of numerator and denominator, aligned on the denominator's steps
// (a numerator without a point at a step, e.g. no error series yet, counts 0 there).
void StepCounts(MetricProvider& provider, const std::string& numerator,
                const std::string& denominator, core::SystemTime start, core::SystemTime end,
                std::chrono::milliseconds step, analysis::SideSamples& side,
                std::pair<std::string, std::string>& shown) {
  const std::string num = "sum(increase(" + numerator + "[" + Seconds(step) + "]))";
  const std::string den = "sum(increase(" + denominator + "[" + Seconds(step) + "]))";
  shown = {num, den};
  if (start > end) return;
  const auto n = ByTime(provider.QueryRange(num, start, end, step));
  const auto d = ByTime(provider.QueryRange(den, start, end, step));
  for (const auto& [at, v] : d) {
    const auto it = n.find(at);
    side.numerator.push_back(it == n.end() ? 0.0 : it->second);
    side.denominator.push_back(v);
  }
}

std::string BucketsQuery(const std::string& selector, std::chrono::milliseconds window) {
  return "sum by (le) (increase(" + selector + "[" + Seconds(window) + "]))";
}

std::vector<std::pair<double, double>> Buckets(const prom::QueryResult& r) {
  std::vector<std::pair<double, double>> out;
  for (const auto& s : r.series) {
    const auto le = s.labels.find("le");
    if (le == s.labels.end() || s.points.empty()) continue;
    try {
      out.emplace_back(std::stod(le->second), s.points.back().value);
    } catch (const std::exception&) {
      continue;  // not a bucket bound
    }
  }
  return out;
}

}  // namespace

JudgeMeasurement MeasureJudge(MetricProvider& provider, const analysis::JudgeSpec& spec,
                              const analysis::Bindings& bindings, core::SystemTime start,
                              core::SystemTime end, std::chrono::milliseconds step) {
  JudgeMeasurement m;
  std::map<std::string, analysis::MetricSamples> samples;
  if (step.count() <= 0) step = spec.step;
  for (const auto& metric : spec.metrics) {
    auto& sample = samples[metric.name];
    auto& shown = m.queries[metric.name];
    try {
      switch (metric.kind) {
        case analysis::JudgeKind::kQuery:
        case analysis::JudgeKind::kGauge: {
          const std::string canary = analysis::Render(metric.query, bindings);
          const std::string baseline = analysis::Render(BaselineQueryOf(metric), bindings);
          shown = {canary, baseline};
          // Points a rate window apart share no data: the step is at least how far back the
          // query reads (ranges, subqueries, offsets), and the first point's window starts at
          // `start` (after the hosts switched).
          const auto window = Reach(canary);
          const auto every = std::max(step, window);
          const auto first = start + window;
          if (first > end) break;
          sample.canary.series = SeriesValues(provider.QueryRange(canary, first, end, every));
          sample.baseline.series = SeriesValues(provider.QueryRange(baseline, first, end, every));
          break;
        }
        case analysis::JudgeKind::kRatio:
        case analysis::JudgeKind::kMean: {
          // Counter increases over back-to-back steps, the first starting at `start`.
          std::pair<std::string, std::string> c, b;
          StepCounts(provider, analysis::Render(metric.numerator, bindings),
                     analysis::Render(metric.denominator, bindings), start + step, end, step,
                     sample.canary, c);
          StepCounts(provider, analysis::Render(metric.baseline_numerator, bindings),
                     analysis::Render(metric.baseline_denominator, bindings), start + step, end,
                     step, sample.baseline, b);
          shown = {c.first + " / " + c.second, b.first + " / " + b.second};
          break;
        }
        case analysis::JudgeKind::kHistogram: {
          // Each bucket's increase over the whole window [start, end].
          const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(end - start);
          const std::string canary =
              BucketsQuery(analysis::Render(metric.numerator, bindings), window);
          const std::string baseline =
              BucketsQuery(analysis::Render(metric.baseline_numerator, bindings), window);
          shown = {canary, baseline};
          if (window.count() < 1000) break;
          sample.canary.buckets = Buckets(provider.Query(canary, end));
          sample.baseline.buckets = Buckets(provider.Query(baseline, end));
          break;
        }
      }
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
                       {"kind", mj.kind},
                       {"test", mj.test},
                       {"effect", Finite(mj.effect)},
                       {"effect_interval", {Finite(mj.effect_low), Finite(mj.effect_high)}},
                       {"canary_count", Finite(mj.canary_count)},
                       {"baseline_count", Finite(mj.baseline_count)},
                       {"needed", Finite(mj.needed)},
                       {"lag1", Finite(mj.lag1)},
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
