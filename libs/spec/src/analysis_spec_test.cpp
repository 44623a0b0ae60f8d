#include "sluice/spec/analysis_spec.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::spec {
namespace {

using namespace ::sluice::analysis;  // NOLINT(google-build-using-namespace)

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kPath = "environments.production.analysis";

// A full `analysis:` section; line numbers below refer to this text (line 1 = "analysis:").
const std::string kFull = R"(analysis:
  bakeWatch: {template: default, duration: 5m}
  templates:
    default:
      interval: 5s
      count: 3
      failureLimit: 0
      consecutiveSuccessLimit: 0
      inconclusiveLimit: 1
      metrics:
        error_rate:
          query: 'sum(rate(e{version="{{version}}"}[30s]))'
        p95_latency:
          query: 'histogram_quantile(0.95, sum by (le) (rate(b[30s])))'
        requests:
          query: 'sum(increase(r[30s]))'
        cpu_seconds:
          query: 'sum(rate(cpu[1m]))'
      rules:
        - name: seed
          failWhen: "error_rate > 5% OR p95_latency > 500ms"
          severity: critical
          minRequests: {metric: requests, min: 20}
          minSamples: 1
          noData: inconclusive
          dryRun: false
          interval: 10s
        - name: cpu
          metric: cpu_seconds
          max: 0.9
          severity: warning
          count: 6
          dryRun: true
      judge:
        confidence: 0.95
        pass: 90
        marginal: 70
        lookback: 2m
        step: 5s
        metrics:
          - name: latency
            query: 'lat{instance_name=~"{{instances}}",version="{{version}}"}'
            direction: increase
            tolerance: 20%
            weight: 2
            critical: true
            removeOutliers: true
          - name: throughput
            query: 'tp{instance_name=~"{{instances}}"}'
            baselineQuery: 'tp{instance_name=~"{{baseline_instances}}"}'
            direction: decrease
            tolerance: 0.1
    quick:
      rules:
        - {name: errors, failWhen: "error_rate > 1%"}
      metrics:
        error_rate: {query: 'x'}
)";

std::variant<AnalysisSpec, SpecIssue> Parse(const std::string& yaml) {
  const auto root = YAML::Load(yaml);
  return ParseAnalysisSpec(root["analysis"], kPath);
}

AnalysisSpec ParseOk(const std::string& yaml) {
  auto r = Parse(yaml);
  if (const auto* e = std::get_if<SpecIssue>(&r)) {
    ADD_FAILURE() << "unexpected error: " << e->ToString() << "\n" << yaml;
    return {};
  }
  return std::get<AnalysisSpec>(std::move(r));
}

SpecIssue ParseErr(const std::string& yaml) {
  auto r = Parse(yaml);
  if (!std::holds_alternative<SpecIssue>(r)) {
    ADD_FAILURE() << "expected an error for:\n" << yaml;
    return {};
  }
  return std::get<SpecIssue>(r);
}

// kFull with the first occurrence of `from` replaced by `to`.
std::string Replace(const std::string& from, const std::string& to) {
  std::string s = kFull;
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(AnalysisSpecTest, ParsesTheFullExample) {
  const auto spec = ParseOk(kFull);
  ASSERT_EQ(spec.templates.size(), 2u);
  ASSERT_TRUE(spec.bake_watch);
  EXPECT_EQ(spec.bake_watch->template_name, "default");
  EXPECT_EQ(spec.bake_watch->duration, minutes(5));

  const auto* t = spec.FindTemplate("default");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "default");
  ASSERT_EQ(t->metrics.size(), 4u);
  EXPECT_EQ(t->metrics[0].name, "error_rate");  // file order
  EXPECT_EQ(t->metrics[0].query, R"(sum(rate(e{version="{{version}}"}[30s])))");
  ASSERT_NE(t->FindMetric("cpu_seconds"), nullptr);
  EXPECT_EQ(t->FindMetric("nope"), nullptr);

  ASSERT_EQ(t->rules.size(), 2u);
  const auto& seed = t->rules[0];
  EXPECT_EQ(seed.name, "seed");
  EXPECT_EQ(seed.fail_when, "error_rate > 5% OR p95_latency > 500ms");
  EXPECT_EQ(seed.condition.ToString(), "(error_rate > 5% OR p95_latency > 500ms)");
  EXPECT_EQ(seed.severity, Severity::kCritical);
  EXPECT_EQ(seed.min_requests_metric, "requests");
  EXPECT_DOUBLE_EQ(seed.min_requests, 20);
  EXPECT_EQ(seed.min_samples, 1);
  EXPECT_EQ(seed.no_data, NoData::kInconclusive);
  // Template defaults, with the rule's own interval.
  EXPECT_EQ(seed.limits.interval, seconds(10));
  EXPECT_EQ(seed.limits.count, 3);
  EXPECT_EQ(seed.limits.failure_limit, 0);
  EXPECT_EQ(seed.limits.consecutive_success_limit, 0);
  EXPECT_EQ(seed.limits.inconclusive_limit, 1);
  EXPECT_FALSE(seed.limits.dry_run);

  const auto& cpu = t->rules[1];
  EXPECT_EQ(cpu.fail_when, "cpu_seconds > 0.9");
  EXPECT_EQ(cpu.condition.comparison.metric, "cpu_seconds");
  EXPECT_DOUBLE_EQ(cpu.condition.comparison.threshold, 0.9);
  EXPECT_EQ(cpu.severity, Severity::kWarning);
  EXPECT_EQ(cpu.limits.count, 6);
  EXPECT_EQ(cpu.limits.interval, seconds(5));
  EXPECT_TRUE(cpu.limits.dry_run);

  ASSERT_TRUE(t->judge);
  const auto& j = *t->judge;
  EXPECT_DOUBLE_EQ(j.confidence, 0.95);
  EXPECT_DOUBLE_EQ(j.pass_score, 90);
  EXPECT_DOUBLE_EQ(j.marginal_score, 70);
  EXPECT_EQ(j.lookback, minutes(2));
  EXPECT_EQ(j.step, seconds(5));
  EXPECT_EQ(j.limits.count, 3);
  ASSERT_EQ(j.metrics.size(), 2u);
  EXPECT_EQ(j.metrics[0].name, "latency");
  EXPECT_EQ(j.metrics[0].baseline_query,
            R"(lat{instance_name=~"{{baseline_instances}}",version="{{baseline_version}}"})");
  EXPECT_EQ(j.metrics[0].direction, Direction::kIncrease);
  EXPECT_DOUBLE_EQ(j.metrics[0].tolerance, 0.2);
  EXPECT_DOUBLE_EQ(j.metrics[0].weight, 2);
  EXPECT_TRUE(j.metrics[0].critical);
  EXPECT_TRUE(j.metrics[0].remove_outliers);
  EXPECT_EQ(j.metrics[1].baseline_query, R"(tp{instance_name=~"{{baseline_instances}}"})");
  EXPECT_EQ(j.metrics[1].direction, Direction::kDecrease);
  EXPECT_DOUBLE_EQ(j.metrics[1].tolerance, 0.1);
  EXPECT_FALSE(j.metrics[1].critical);

  const auto* quick = spec.FindTemplate("quick");
  ASSERT_NE(quick, nullptr);
  EXPECT_EQ(quick->rules[0].limits, Limits{});  // the struct's defaults
  EXPECT_FALSE(quick->judge);
}

TEST(AnalysisSpecTest, MinAndMaxTogetherMakeAnOr) {
  const auto spec =
      ParseOk(Replace("          max: 0.9\n", "          max: 0.9\n          min: 5%\n"));
  EXPECT_EQ(spec.templates.at("default").rules[1].fail_when,
            "cpu_seconds > 0.9 OR cpu_seconds < 5%");
}

struct ErrorCase {
  std::string what;
  std::string yaml;
  int line, column;
  std::string path;
  std::string message;  // a substring of the message
};

TEST(AnalysisSpecTest, EveryErrorNamesLineColumnAndPath) {
  const std::string t = std::string(kPath) + ".templates.default";
  const std::vector<ErrorCase> cases = {
      {"unknown metric in failWhen", Replace("error_rate > 5% OR", "error_rat > 5% OR"), 21, 21,
       t + ".rules[0].failWhen",
       "unknown metric 'error_rat' in failWhen; the template defines error_rate, p95_latency, "
       "requests, cpu_seconds"},
      {"bad failWhen syntax", Replace("error_rate > 5% OR", "error_rate >> 5% OR"), 21, 21,
       t + ".rules[0].failWhen", "expected a number with an optional unit"},
      {"unknown rule key", Replace("          noData: inconclusive", "          nodata: x"), 25, 11,
       t + ".rules[0].nodata", "unknown key (known: "},
      {"unknown template key", Replace("      count: 3\n", "      count: 3\n      cuont: 3\n"), 7,
       7, t + ".cuont", "unknown key"},
      {"unknown analysis key", Replace("  templates:\n", "  template:\n"), 3, 3,
       std::string(kPath) + ".template", "unknown key (known: templates, bakeWatch)"},
      {"bad interval", Replace("interval: 5s", "interval: 5 seconds"), 5, 17, t + ".interval",
       "must be a positive duration like 5s, 2m or 1h30m, got 5 seconds"},
      {"negative count", Replace("count: 3", "count: -1"), 6, 14, t + ".count",
       "must be an integer from 1 to 100000"},
      {"bad severity", Replace("severity: critical", "severity: fatal"), 22, 21,
       t + ".rules[0].severity", "must be info, warning or critical, got fatal"},
      {"bad noData", Replace("noData: inconclusive", "noData: skip"), 25, 19,
       t + ".rules[0].noData", "must be inconclusive, pass or fail"},
      {"bad dryRun", Replace("dryRun: false", "dryRun: maybe"), 26, 19, t + ".rules[0].dryRun",
       "must be true or false"},
      {"unknown minRequests metric",
       Replace("{metric: requests, min: 20}", "{metric: reqs, min: 20}"), 23, 33,
       t + ".rules[0].minRequests.metric", "unknown metric 'reqs' in minRequests"},
      {"failWhen and metric",
       Replace("          metric: cpu_seconds\n",
               "          metric: cpu_seconds\n          failWhen: 'cpu_seconds > 1'\n"),
       28, 11, t + ".rules[1]", "either failWhen or metric"},
      {"neither failWhen nor metric",
       Replace("          metric: cpu_seconds\n          max: 0.9\n", ""), 28, 11, t + ".rules[1]",
       "needs failWhen"},
      {"metric without max", Replace("          max: 0.9\n", ""), 28, 11, t + ".rules[1]",
       "metric needs max or min"},
      {"bad max", Replace("max: 0.9", "max: lots"), 30, 16, t + ".rules[1].max",
       "must be a number with an optional unit"},
      {"unknown single metric", Replace("metric: cpu_seconds", "metric: cpu"), 29, 19,
       t + ".rules[1].metric", "unknown metric 'cpu' in metric"},
      {"duplicate rule", Replace("name: cpu", "name: seed"), 28, 17, t + ".rules[1].name",
       "duplicate rule name 'seed'"},
      {"rule without name", Replace("        - name: cpu\n", "        - minSamples: 2\n"), 28, 11,
       t + ".rules[1].name", "is required"},
      {"metric without query",
       Replace("          query: 'sum(increase(r[30s]))'\n", "          {}\n"), 16, 11,
       t + ".metrics.requests.query", "is required"},
      {"bad metric name", Replace("        requests:", "        req-uests:"), 15, 9,
       t + ".metrics.req-uests", "metric names must be identifiers"},
      {"bad confidence", Replace("confidence: 0.95", "confidence: 95"), 35, 21,
       t + ".judge.confidence", "must be at least 0.5 and below 1"},
      {"marginal above pass", Replace("marginal: 70", "marginal: 99"), 37, 19,
       t + ".judge.marginal", "must not exceed pass"},
      {"step above lookback", Replace("step: 5s", "step: 5m"), 39, 15, t + ".judge.step",
       "must not exceed lookback"},
      {"bad direction", Replace("direction: increase", "direction: up"), 43, 24,
       t + ".judge.metrics[0].direction", "must be increase, decrease or either, got up"},
      {"bad tolerance", Replace("tolerance: 20%", "tolerance: lots"), 44, 24,
       t + ".judge.metrics[0].tolerance", "must be a share like 20%"},
      {"zero weight", Replace("weight: 2", "weight: 0"), 45, 21, t + ".judge.metrics[0].weight",
       "must be positive"},
      {"empty judge metrics", Replace("    quick:\n", "    quick:\n      judge: {metrics: []}\n"),
       54, 24, std::string(kPath) + ".templates.quick.judge.metrics", "must be a non-empty list"},
      {"unknown judge metric key", Replace("            critical: true", "            crit: true"),
       46, 13, t + ".judge.metrics[0].crit", "unknown key"},
      {"bake watch of unknown template", Replace("{template: default,", "{template: slow,"), 2, 25,
       std::string(kPath) + ".bakeWatch.template",
       "unknown template 'slow'; environments.production.analysis.templates defines default, "
       "quick"},
      {"bake watch without duration", Replace(", duration: 5m}", "}"), 2, 14,
       std::string(kPath) + ".bakeWatch.duration", "is required"},
      {"bake watch shorter than a rule's rate window",
       Replace(", duration: 5m}", ", duration: 45s}"), 2, 44,
       std::string(kPath) + ".bakeWatch.duration",
       "is 45s, too short to measure rule 'cpu' of template 'default': its first measurement is "
       "due 1m (its query's rate window) after the watch starts and then every 5s; make the "
       "watch at least 1m5s"},
      {"reserved template name", Replace("    quick:", "    none:"), 53, 5,
       std::string(kPath) + ".templates.none", "'none' is reserved"},
      {"template without rules or judge",
       Replace("      rules:\n        - {name: errors, failWhen: \"error_rate > 1%\"}\n", ""), 54,
       7, std::string(kPath) + ".templates.quick", "needs at least one rule"},
      {"templates not a mapping", "analysis:\n  templates: [a, b]\n", 2, 14,
       std::string(kPath) + ".templates", "must be a mapping"},
      {"no templates", "analysis:\n  bakeWatch: {template: a, duration: 1m}\n", 2, 3,
       std::string(kPath) + ".templates", "is required"},
  };
  for (const auto& c : cases) {
    const auto e = ParseErr(c.yaml);
    EXPECT_EQ(e.line, c.line) << c.what << ": " << e.ToString();
    EXPECT_EQ(e.column, c.column) << c.what << ": " << e.ToString();
    EXPECT_EQ(e.path, c.path) << c.what << ": " << e.ToString();
    EXPECT_NE(e.message.find(c.message), std::string::npos) << c.what << ": " << e.ToString();
  }
}

TEST(AnalysisSpecTest, JudgeMetricKinds) {
  const std::string yaml = R"(analysis:
  templates:
    t:
      judge:
        step: 30s
        metrics:
          - name: errors
            kind: ratio
            errors: 'req_total{code=~"5..",instance_name=~"{{instances}}"}'
            requests: 'req_total{instance_name=~"{{instances}}"}'
            tolerance: 50%
          - name: latency
            kind: histogram
            buckets: 'lat_bucket{version="{{version}}"}'
          - name: mean_latency
            kind: mean
            sum: 'lat_sum{version="{{version}}"}'
            count: 'lat_count{version="{{version}}"}'
          - name: memory
            kind: gauge
            query: 'mem{instance_name=~"{{instances}}"}'
)";
  const auto spec = ParseOk(yaml);
  const auto& m = spec.FindTemplate("t")->judge->metrics;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].kind, JudgeKind::kRatio);
  EXPECT_EQ(m[0].numerator, R"(req_total{code=~"5..",instance_name=~"{{instances}}"})");
  EXPECT_EQ(m[0].baseline_denominator, R"(req_total{instance_name=~"{{baseline_instances}}"})");
  EXPECT_EQ(m[1].kind, JudgeKind::kHistogram);
  EXPECT_EQ(m[1].baseline_numerator, R"(lat_bucket{version="{{baseline_version}}"})");
  EXPECT_EQ(m[2].kind, JudgeKind::kMean);
  EXPECT_EQ(m[2].denominator, R"(lat_count{version="{{version}}"})");
  EXPECT_EQ(m[3].kind, JudgeKind::kGauge);
  EXPECT_EQ(m[3].baseline_query, R"(mem{instance_name=~"{{baseline_instances}}"})");

  auto err = [&](const std::string& from, const std::string& to) {
    const auto pos = yaml.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    std::string y = yaml;
    y.replace(pos, from.size(), to);
    return ParseErr(y);
  };
  const std::string p = std::string(kPath) + ".templates.t.judge.metrics";
  auto e = err("kind: ratio", "kind: rate");
  EXPECT_EQ(e.path, p + "[0].kind");
  EXPECT_NE(e.message.find("must be query, gauge, ratio, histogram or mean"), std::string::npos)
      << e.ToString();
  e = err("            requests: 'req_total{instance_name=~\"{{instances}}\"}'\n", "");
  EXPECT_EQ(e.path, p + "[0].requests");
  EXPECT_NE(e.message.find("is required"), std::string::npos) << e.ToString();
  e = err("kind: histogram", "kind: ratio");
  EXPECT_EQ(e.path, p + "[1].buckets");
  EXPECT_NE(e.message.find("not a key of a judge metric of kind ratio"), std::string::npos)
      << e.ToString();
  e = err("tolerance: 50%", "tolerance: 50%\n            direction: decrease");
  EXPECT_EQ(e.path, p + "[0].direction");
  EXPECT_NE(e.message.find("judged on increase"), std::string::npos) << e.ToString();
}

TEST(AnalysisSpecTest, FailWhenErrorSaysWhereInTheText) {
  const auto e =
      ParseErr(Replace("error_rate > 5% OR p95_latency", "error_rate > 5% OR p95_latency >"));
  EXPECT_NE(e.message.find("at character"), std::string::npos) << e.ToString();
  EXPECT_EQ(e.ToString().rfind(
                "21:21: environments.production.analysis.templates.default.rules[0].failWhen: ", 0),
            0u)
      << e.ToString();
}

TEST(AnalysisFromDeliverySpecTest, FindsTheEnvironmentsSection) {
  std::string spec =
      "app: demo\nenvironments:\n  staging:\n    targets: {}\n  production:\n    targets: {}\n";
  std::string analysis = kFull;
  // Indent the analysis section under production.
  std::string indented;
  for (std::size_t pos = 0; pos < analysis.size();) {
    const auto nl = analysis.find('\n', pos);
    indented += "    " + analysis.substr(pos, nl - pos + 1);
    pos = nl + 1;
  }
  spec += indented;
  auto r = ParseAnalysisFromDeliverySpec(spec, "production");
  ASSERT_TRUE(std::holds_alternative<AnalysisSpec>(r)) << std::get<SpecIssue>(r).ToString();
  EXPECT_EQ(std::get<AnalysisSpec>(r).templates.size(), 2u);

  auto staging = ParseAnalysisFromDeliverySpec(spec, "staging");
  ASSERT_TRUE(std::holds_alternative<AnalysisSpec>(staging));
  EXPECT_TRUE(std::get<AnalysisSpec>(staging).templates.empty());

  auto missing = ParseAnalysisFromDeliverySpec(spec, "qa");
  ASSERT_TRUE(std::holds_alternative<SpecIssue>(missing));
  EXPECT_NE(std::get<SpecIssue>(missing).message.find("no environment 'qa'"), std::string::npos);

  auto bad = ParseAnalysisFromDeliverySpec("app: [", "production");
  ASSERT_TRUE(std::holds_alternative<SpecIssue>(bad));
  EXPECT_NE(std::get<SpecIssue>(bad).message.find("invalid YAML"), std::string::npos);

  // Errors carry lines of the whole text: the failWhen line moved down by 6.
  std::string broken = spec;
  broken.replace(broken.find("error_rate > 5%"), 10, "error_rat");
  auto err = ParseAnalysisFromDeliverySpec(broken, "production");
  ASSERT_TRUE(std::holds_alternative<SpecIssue>(err));
  EXPECT_EQ(std::get<SpecIssue>(err).line, 27);
  EXPECT_EQ(std::get<SpecIssue>(err).path,
            "environments.production.analysis.templates.default.rules[0].failWhen");
}

TEST(ParseDurationTest, SameGrammarAsThePlanner) {
  EXPECT_EQ(ParseDuration("5s"), seconds(5));
  EXPECT_EQ(ParseDuration("2m"), minutes(2));
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("1h30m"), minutes(90));
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("0s"));
  EXPECT_FALSE(ParseDuration("5"));
  EXPECT_FALSE(ParseDuration("5d"));
  EXPECT_FALSE(ParseDuration("-5s"));
}

}  // namespace
}  // namespace sluice::spec
