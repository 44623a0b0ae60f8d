#include "measure.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <sluice/http/errors.hpp>
#include <sluice/spec/analysis_spec.hpp>

#include "alerts.hpp"
#include "retrospective.hpp"

namespace sluice::watcher {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const core::SystemTime kT0 = core::SystemTime(std::chrono::seconds(1'700'000'000));

// Answers queries from a table: (query, time) -> per-instance values; a query containing
// "broken" fails.
class FakeProvider final : public MetricProvider {
 public:
  std::function<std::map<std::string, double>(std::string_view, core::SystemTime)> instant;
  std::vector<std::string> seen;

  prom::QueryResult Query(std::string_view promql, core::SystemTime at) override {
    seen.emplace_back(promql);
    if (promql.find("broken") != std::string_view::npos) {
      throw prom::QueryError("503 from Prometheus", true);
    }
    prom::QueryResult r;
    for (const auto& [instance, value] : instant(promql, at)) {
      prom::Series s;
      if (!instance.empty()) s.labels["instance_name"] = instance;
      s.points.push_back({at, value});
      r.series.push_back(std::move(s));
    }
    return r;
  }
  prom::QueryResult QueryRange(std::string_view promql, core::SystemTime start,
                               core::SystemTime end, std::chrono::milliseconds step) override {
    seen.emplace_back(promql);
    prom::QueryResult r;
    r.type = prom::ResultType::kMatrix;
    prom::Series s;
    const bool canary = promql.find("canary") != std::string_view::npos;
    int i = 0;
    for (auto t = start; t <= end; t += step, ++i) {
      // The canary is 10x slower than the baseline, with a little spread.
      s.points.push_back({t, (canary ? 1.0 : 0.1) + 0.001 * (i % 7)});
    }
    r.series.push_back(std::move(s));
    return r;
  }
};

constexpr const char* kTemplate = R"(
templates:
  default:
    interval: 5s
    count: 3
    metrics:
      error_rate:
        query: 'errors{app="{{app}}",instance_name=~"{{instances}}"}'
      requests:
        query: 'requests{app="{{app}}"}'
      latency:
        query: 'latency{app="{{app}}"}'
    rules:
      - name: seed
        failWhen: "error_rate > 5% OR latency > 500ms"
        minRequests: {metric: requests, min: 20}
)";

analysis::Template LoadTemplate(const char* text = kTemplate) {
  auto parsed = spec::ParseAnalysisSpec(YAML::Load(text), "analysis");
  if (auto* issue = std::get_if<spec::SpecIssue>(&parsed)) {
    ADD_FAILURE() << issue->ToString();
    return {};
  }
  return std::get<analysis::AnalysisSpec>(parsed).templates.at("default");
}

analysis::Bindings Bindings() {
  analysis::Bindings b;
  b.app = "shop";
  b.env = "production";
  b.version = "2.0.0";
  b.instances = {"web-1", "web-2"};
  return b;
}

TEST(MeasureTest, MetricsOfRuleAreTheConditionsThenMinRequests) {
  const auto t = LoadTemplate();
  ASSERT_EQ(t.rules.size(), 1U);
  EXPECT_EQ(MetricsOfRule(t, t.rules[0]),
            (std::vector<std::string>{"error_rate", "latency", "requests"}));
}

TEST(MeasureTest, BreachNamesTheInstanceAndKeepsResolvedQueries) {
  const auto t = LoadTemplate();
  FakeProvider p;
  p.instant = [](std::string_view q, core::SystemTime) -> std::map<std::string, double> {
    if (q.find("errors") != std::string_view::npos) return {{"web-1", 0.01}, {"web-2", 0.31}};
    if (q.find("requests") != std::string_view::npos) return {{"", 100}};
    return {{"web-1", 0.1}, {"web-2", 0.2}};
  };
  const auto m = MeasureThreshold(p, t, t.rules[0], Bindings(), kT0);
  EXPECT_EQ(m.result.verdict, analysis::Outcome::kFailed);
  EXPECT_EQ(m.result.metric, "error_rate");
  EXPECT_EQ(m.result.affected_instances, std::vector<std::string>{"web-2"});
  EXPECT_EQ(m.queries.at("error_rate"), R"(errors{app="shop",instance_name=~"web-1|web-2"})");
  const auto j = ToJson(m, kT0);
  EXPECT_EQ(j["verdict"], "Failed");
  EXPECT_EQ(j["values"]["error_rate"][1]["instance"], "web-2");
}

TEST(MeasureTest, QueryErrorIsAnErrorMeasurement) {
  const char* text = R"(
templates:
  default:
    metrics:
      error_rate: {query: 'broken{app="{{app}}"}'}
    rules:
      - {name: seed, failWhen: "error_rate > 5%"}
)";
  const auto t = LoadTemplate(text);
  FakeProvider p;
  p.instant = [](std::string_view, core::SystemTime) { return std::map<std::string, double>{}; };
  const auto m = MeasureThreshold(p, t, t.rules[0], Bindings(), kT0);
  EXPECT_EQ(m.result.verdict, analysis::Outcome::kError);
  EXPECT_TRUE(ValuesJson(m.values)["error_rate"].contains("error"));
}

TEST(MeasureTest, LowTrafficIsInconclusive) {
  const auto t = LoadTemplate();
  FakeProvider p;
  p.instant = [](std::string_view q, core::SystemTime) -> std::map<std::string, double> {
    if (q.find("requests") != std::string_view::npos) return {{"", 3}};
    return {{"web-1", 0.5}};
  };
  EXPECT_EQ(MeasureThreshold(p, t, t.rules[0], Bindings(), kT0).result.verdict,
            analysis::Outcome::kInconclusive);
}

TEST(MeasureTest, JudgeComparesCanaryWithBaseline) {
  const char* text = R"(
templates:
  default:
    metrics: {}
    judge:
      lookback: 2m
      step: 5s
      metrics:
        - name: latency
          query: 'latency{kind="canary",instance_name=~"{{instances}}"}'
          baselineQuery: 'latency{kind="baseline",instance_name=~"{{baseline_instances}}"}'
          direction: increase
          tolerance: 20%
          critical: true
)";
  const auto t = LoadTemplate(text);
  ASSERT_TRUE(t.judge);
  FakeProvider p;
  const auto m = MeasureJudge(p, *t.judge, Bindings(), kT0 - 2min, kT0, 5s);
  EXPECT_EQ(m.judgement.verdict, analysis::Outcome::kFailed);
  EXPECT_EQ(m.queries.at("latency").second, R"(latency{kind="baseline",instance_name=~"^$"})");
  EXPECT_EQ(ToJson(m, kT0)["metrics"][0]["name"], "latency");
}

// Records every range query (text, start, step) and answers counters: requests 100 per step,
// errors 1 per step (canary 10), buckets for the histogram.
class RecordingProvider final : public MetricProvider {
 public:
  struct Range {
    std::string query;
    core::SystemTime start;
    std::chrono::milliseconds step;
  };
  std::vector<Range> ranges;
  std::vector<std::string> instants;

  prom::QueryResult Query(std::string_view promql, core::SystemTime at) override {
    instants.emplace_back(promql);
    prom::QueryResult r;
    const bool canary = promql.find("baseline") == std::string_view::npos;
    for (const auto& [le, c] : std::vector<std::pair<std::string, double>>{
             {"0.1", canary ? 100.0 : 900.0}, {"0.25", 950}, {"+Inf", 1000}}) {
      prom::Series s;
      s.labels["le"] = le;
      s.points.push_back({at, c});
      r.series.push_back(std::move(s));
    }
    return r;
  }
  prom::QueryResult QueryRange(std::string_view promql, core::SystemTime start,
                               core::SystemTime end, std::chrono::milliseconds step) override {
    ranges.push_back({std::string(promql), start, step});
    prom::QueryResult r;
    prom::Series s;
    const bool errors = promql.find("5..") != std::string_view::npos;
    const bool canary = promql.find("baseline") == std::string_view::npos;
    for (auto t = start; t <= end; t += step) {
      s.points.push_back({t, errors ? (canary ? 10.0 : 1.0) : 100.0});
    }
    r.series.push_back(std::move(s));
    return r;
  }
};

TEST(MeasureTest, JudgeWindowsDoNotOverlapAndStartAfterTheSwitch) {
  const char* text = R"(
templates:
  default:
    metrics: {}
    judge:
      lookback: 10m
      step: 30s
      metrics:
        - name: errors
          kind: ratio
          errors: 'req{code=~"5..",i=~"{{instances}}"}'
          requests: 'req{i=~"{{instances}}"}'
          tolerance: 50%
        - name: rate
          query: 'rate(x{i=~"{{instances}}"}[1m])'
          baselineQuery: 'rate(x{i=~"{{baseline_instances}}",k="baseline"}[1m])'
        - name: latency
          kind: histogram
          buckets: 'lat_bucket{i=~"{{instances}}"}'
)";
  const auto t = LoadTemplate(text);
  ASSERT_TRUE(t.judge);
  RecordingProvider p;
  auto b = Bindings();
  b.baseline_instances = {"baseline-1"};
  const auto start = kT0 - 10min;
  const auto m = MeasureJudge(p, *t.judge, b, start, kT0, 30s);
  // Counters: increases over back-to-back 30 s steps, the first ending 30 s after the start.
  ASSERT_GE(p.ranges.size(), 6u);
  EXPECT_EQ(p.ranges[0].query, R"(sum(increase(req{code=~"5..",i=~"web-1|web-2"}[30s])))");
  EXPECT_EQ(p.ranges[0].start, start + 30s);
  EXPECT_EQ(p.ranges[0].step, 30s);
  // A 1m rate sampled every 30 s would share half its data between points: every minute, the
  // first a whole window after the start.
  EXPECT_EQ(p.ranges[4].query, R"(rate(x{i=~"web-1|web-2"}[1m]))");
  EXPECT_EQ(p.ranges[4].start, start + 1min);
  EXPECT_EQ(p.ranges[4].step, 1min);
  // The histogram: each bucket's increase over exactly the window.
  ASSERT_EQ(p.instants.size(), 2u);
  EXPECT_EQ(p.instants[0], R"(sum by (le) (increase(lat_bucket{i=~"web-1|web-2"}[600s])))");
  // 10 errors per 100 requests against 1: failed on the counts; the buckets: failed too.
  ASSERT_EQ(m.judgement.metrics.size(), 3u);
  EXPECT_EQ(m.judgement.metrics[0].verdict, analysis::Outcome::kFailed)
      << m.judgement.metrics[0].reason;
  EXPECT_DOUBLE_EQ(m.judgement.metrics[0].canary_count, 2000);
  EXPECT_EQ(m.judgement.metrics[2].verdict, analysis::Outcome::kFailed)
      << m.judgement.metrics[2].reason;
  const auto j = ToJson(m, kT0);
  EXPECT_EQ(j["metrics"][0]["kind"], "ratio");
  EXPECT_TRUE(j["metrics"][0]["p_value"].is_number());
  EXPECT_TRUE(j["metrics"][0]["effect_interval"].is_array());
  EXPECT_NE(j["metrics"][0]["test"].get<std::string>().find("rate-ratio"), std::string::npos);
  // Too soon after the switch for a whole rate window: no points, Inconclusive.
  RecordingProvider early;
  const auto soon = MeasureJudge(early, *t.judge, b, kT0 - 40s, kT0, 30s);
  EXPECT_EQ(soon.judgement.metrics[1].verdict, analysis::Outcome::kInconclusive);
}

json RetroBody() {
  return {{"app", "shop"},
          {"env", "production"},
          {"template_yaml", kTemplate},
          {"canary", {{"version", "2.0.0"}, {"instances", {"web-1", "web-2"}}}},
          {"baseline", {{"version", "1.0.0"}}},
          {"start", "2023-11-14T22:13:20Z"},
          {"end", "2023-11-14T22:14:20Z"}};
}

TEST(RetrospectiveTest, ParsesAndNamesBadFields) {
  const auto r = ParseRetrospectiveRequest(RetroBody());
  EXPECT_EQ(r.bindings.version, "2.0.0");
  EXPECT_EQ(r.bindings.baseline_version, "1.0.0");
  EXPECT_EQ(r.tmpl.rules.size(), 1U);
  auto field_of = [](json body) {
    try {
      ParseRetrospectiveRequest(body);
    } catch (const http::ApiException& e) {
      return std::to_string(e.Error().status) + " " + e.Error().field;
    }
    return std::string("no error");
  };
  auto b = RetroBody();
  b.erase("app");
  EXPECT_EQ(field_of(b), "400 app");
  b = RetroBody();
  b["start"] = "yesterday";
  EXPECT_EQ(field_of(b), "400 start");
  b = RetroBody();
  b["end"] = "2023-11-14T22:00:00Z";
  EXPECT_EQ(field_of(b), "422 end");
  b = RetroBody();
  b.erase("template_yaml");
  EXPECT_EQ(field_of(b), "400 spec_yaml");
  b = RetroBody();
  b["template_yaml"] = "metrics: {a: {query: x}}\nrules: [{name: r, failWhen: 'b > 1'}]";
  EXPECT_EQ(field_of(b), "422 template_yaml");
  b = RetroBody();
  b["canary"]["instances"] = "web-1";
  EXPECT_EQ(field_of(b), "400 canary.instances");
  b = RetroBody();
  b["step"] = "1ms";
  EXPECT_EQ(field_of(b), "400 step");
}

TEST(RetrospectiveTest, RefusesRequestsOverTheCaps) {
  auto message_of = [](json body) {
    try {
      ParseRetrospectiveRequest(body);
    } catch (const http::ApiException& e) {
      return std::to_string(e.Error().status) + " " + e.Error().field + ": " + e.Error().message;
    }
    return std::string("no error");
  };
  // The range: 8 days, with a step that keeps the measurements under their cap.
  auto b = RetroBody();
  b["start"] = "2023-11-01T00:00:00Z";
  b["end"] = "2023-11-09T00:00:00Z";
  b["step"] = "1h";
  EXPECT_EQ(message_of(b).substr(0, 7), "400 end");
  EXPECT_NE(message_of(b).find("168h"), std::string::npos);
  b["end"] = "2023-11-07T00:00:00Z";  // 6 days, 145 steps: under every cap
  EXPECT_EQ(message_of(b), "no error");
  // Steps of one rule: 1 min at 100 ms is 601.
  b = RetroBody();
  b["step"] = "100ms";
  EXPECT_EQ(message_of(b).substr(0, 8), "400 step");
  EXPECT_NE(message_of(b).find("cap of 500 per rule"), std::string::npos);
  // Rules: eleven copies of the one rule.
  b = RetroBody();
  std::string many = kTemplate;
  const auto at = many.find("rules:");
  ASSERT_NE(at, std::string::npos);
  const auto rule_start = many.find("- name:", at);
  const auto rule_end = many.find("\n", many.find("failWhen", rule_start));
  const std::string rule = many.substr(rule_start, rule_end + 1 - rule_start);
  std::string extra;
  for (int i = 1; i <= 10; ++i) {
    std::string copy = rule;
    copy.replace(copy.find("name: ") + 6, 0, "r" + std::to_string(i));
    extra += "      " + copy;
  }
  many.insert(rule_end + 1, extra);
  b["template_yaml"] = many;
  EXPECT_EQ(message_of(b).substr(0, 12), "400 template") << message_of(b);
  // Measurements of all rules: ten rules of 201 steps each.
  std::string ten = kTemplate;
  std::string nine;
  for (int i = 1; i <= 9; ++i) {
    std::string copy = rule;
    copy.replace(copy.find("name: ") + 6, 0, "r" + std::to_string(i));
    nine += "      " + copy;
  }
  ten.insert(rule_end + 1, nine);
  b["template_yaml"] = ten;
  b["step"] = "300ms";
  EXPECT_NE(message_of(b).find("cap of 2000 per request"), std::string::npos) << message_of(b);
}

TEST(RetrospectiveTest, StepsThroughTheRangeUntilTheRuleFails) {
  const auto r = ParseRetrospectiveRequest(RetroBody());
  FakeProvider p;
  const auto breach_at = r.start + 20s;
  p.instant = [&](std::string_view q, core::SystemTime at) -> std::map<std::string, double> {
    if (q.find("requests") != std::string_view::npos) return {{"", 100}};
    if (q.find("errors") != std::string_view::npos) {
      return {{"web-1", 0.01}, {"web-2", at >= breach_at ? 0.5 : 0.01}};
    }
    return {{"web-1", 0.1}};
  };
  const auto out = RunRetrospective(p, r);
  EXPECT_EQ(out["outcome"], "Failed");
  EXPECT_EQ(out["reason"], "threshold_breached");
  const auto& ms = out["rules"][0]["measurements"];
  ASSERT_EQ(ms.size(), 5U);  // 0s, 5s, 10s, 15s pass; 20s fails
  EXPECT_EQ(ms[4]["verdict"], "Failed");
  EXPECT_EQ(ms[4]["affected_instances"][0], "web-2");
  EXPECT_EQ(ms[0]["verdict"], "Successful");
}

TEST(RetrospectiveTest, HealthyRangeSucceeds) {
  const auto r = ParseRetrospectiveRequest(RetroBody());
  FakeProvider p;
  p.instant = [](std::string_view q, core::SystemTime) -> std::map<std::string, double> {
    if (q.find("requests") != std::string_view::npos) return {{"", 100}};
    return {{"web-1", 0.01}};
  };
  const auto out = RunRetrospective(p, r);
  EXPECT_EQ(out["outcome"], "Successful");
  EXPECT_EQ(out["rules"][0]["measurements"].size(), 13U);  // every 5s over one minute
}

constexpr const char* kWindowedTemplate = R"(
templates:
  default:
    interval: 5s
    count: 3
    metrics:
      error_rate:
        query: 'sum(rate(errors{app="{{app}}"}[1m])) / sum(rate(requests{app="{{app}}"}[30s]))'
      p95:
        query: 'histogram_quantile(0.95, sum by (le) (rate(latency_bucket[20s])))'
      level:
        query: 'max_over_time(queue_depth[5m:30s])'
    rules:
      - {name: errors, failWhen: "error_rate > 5%"}
      - {name: latency, failWhen: "p95 > 500ms"}
      - {name: queue, failWhen: "level > 100"}
)";

TEST(MeasureTest, RuleWindowIsTheLongestRangeOfTheMetricsTheRuleReads) {
  const auto t = LoadTemplate(kWindowedTemplate);
  ASSERT_EQ(t.rules.size(), 3U);
  EXPECT_EQ(RuleWindow(t, t.rules[0]), 60s);                           // [1m] beats [30s]
  EXPECT_EQ(RuleWindow(t, t.rules[1]), 20s);                           // only p95's window
  EXPECT_EQ(RuleWindow(t, t.rules[2]), 300s);                          // a subquery's range
  EXPECT_EQ(RuleWindow(LoadTemplate(), LoadTemplate().rules[0]), 0s);  // instant selectors only
}

TEST(RetrospectiveTest, TheFirstMeasurementWaitsUntilTheRateWindowIsAfterTheStart) {
  auto body = RetroBody();
  body["template_yaml"] = R"(
templates:
  default:
    interval: 5s
    metrics:
      error_rate: {query: 'sum(rate(errors{app="{{app}}"}[20s]))'}
    rules:
      - {name: seed, failWhen: "error_rate > 5%"}
)";
  const auto r = ParseRetrospectiveRequest(body);
  FakeProvider p;
  std::vector<core::SystemTime> asked;
  // Before the switch (and for a window after it) the old release's errors are still counted.
  p.instant = [&](std::string_view, core::SystemTime at) -> std::map<std::string, double> {
    asked.push_back(at);
    return {{"web-1", at < r.start + 20s ? 0.5 : 0.01}};
  };
  const auto out = RunRetrospective(p, r);
  EXPECT_EQ(out["outcome"], "Successful") << out.dump();
  ASSERT_FALSE(asked.empty());
  EXPECT_EQ(asked.front(), r.start + 20s);
}

TEST(RetrospectiveTest, ARangeShorterThanTheRateWindowIsInconclusive) {
  auto body = RetroBody();
  body["template_yaml"] = R"(
templates:
  default:
    metrics:
      error_rate: {query: 'sum(rate(errors{app="{{app}}"}[5m]))'}
    rules:
      - {name: seed, failWhen: "error_rate > 5%"}
)";
  const auto r = ParseRetrospectiveRequest(body);
  FakeProvider p;
  p.instant = [](std::string_view, core::SystemTime) -> std::map<std::string, double> {
    return {{"web-1", 0.01}};
  };
  const auto out = RunRetrospective(p, r);
  EXPECT_EQ(out["rules"][0]["outcome"], "Inconclusive") << out.dump();
  EXPECT_TRUE(out["rules"][0]["measurements"].empty());
}

TEST(DurationTest, Parses) {
  EXPECT_EQ(ParseDuration("5s"), 5000ms);
  EXPECT_EQ(ParseDuration("1m30s"), 90000ms);
  EXPECT_EQ(ParseDuration("250ms"), 250ms);
  EXPECT_EQ(ParseDuration("10"), 10000ms);
  EXPECT_FALSE(ParseDuration("5x"));
  EXPECT_FALSE(ParseDuration(""));
}

}  // namespace
}  // namespace sluice::watcher
