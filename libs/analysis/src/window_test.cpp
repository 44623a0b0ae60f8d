#include "sluice/analysis/window.hpp"

#include <gtest/gtest.h>

namespace sluice::analysis {
namespace {

using namespace std::chrono_literals;

// A template whose one rule reads `query` ("m > 1").
Template WithQuery(const std::string& query) {
  Template t;
  t.name = "default";
  t.metrics.push_back({"m", query});
  ThresholdRule rule;
  rule.name = "r";
  rule.fail_when = "m > 1";
  rule.condition = *ParseCondition(rule.fail_when, nullptr);
  t.rules.push_back(rule);
  return t;
}

std::chrono::milliseconds WindowOf(const std::string& query) {
  const auto t = WithQuery(query);
  return RuleWindow(t, t.rules[0]);
}

TEST(WindowTest, ARangeReachesItsLength) {
  EXPECT_EQ(WindowOf("sum(rate(x[1m])) / sum(rate(y[30s]))"), 60s);
  EXPECT_EQ(WindowOf("rate(x[1m30s])"), 90s);
  EXPECT_EQ(WindowOf("x{app=\"a\"}"), 0s);  // an instant selector reads the last sample
}

// The old scan took the longest bracket only: each of these was measured while its data
// still reached back before the switch.
TEST(WindowTest, AnOffsetReachesFurtherBack) {
  EXPECT_EQ(WindowOf("rate(x[1m] offset 5m)"), 6min);
  EXPECT_EQ(WindowOf("x offset 10m"), 10min);  // the sample 10 minutes before
  EXPECT_EQ(WindowOf("x - x OFFSET 2m"), 2min);
  // A negative offset reads later, never earlier: the range alone.
  EXPECT_EQ(WindowOf("rate(x[5m] offset -1m)"), 5min);
}

TEST(WindowTest, ASubqueryAddsTheReachOfWhatItEvaluates) {
  // The subquery's first inner evaluation is 5 minutes back and reads 1 more minute.
  EXPECT_EQ(WindowOf("max_over_time(rate(x[1m])[5m:30s])"), 6min);
  EXPECT_EQ(WindowOf("max_over_time(x[5m:30s])"), 5min);  // over a bare selector
  EXPECT_EQ(WindowOf("max_over_time((rate(a[1m]) / rate(b[2m] offset 1m))[10m:1m] offset 1m)"),
            14min);
  EXPECT_EQ(WindowOf("min_over_time(max_over_time(rate(x[30s])[2m:])[10m:1m])"), 12min + 30s);
}

TEST(WindowTest, PromQLDurationUnits) {
  EXPECT_EQ(WindowOf("increase(x[1d])"), 24h);  // days: PromQL has them, specs do not
  EXPECT_EQ(WindowOf("increase(x[1w])"), 7 * 24h);
  EXPECT_EQ(WindowOf("increase(x[1y])"), 365 * 24h);
  EXPECT_EQ(WindowOf("rate(x[500ms])"), 500ms);
  EXPECT_EQ(WindowOf("rate(x[300])"), 300s);  // a number of seconds (Prometheus 3)
  EXPECT_EQ(WindowOf("rate(x[1h30m])"), 90min);
}

TEST(WindowTest, ModifiersInEitherOrder) {
  EXPECT_EQ(WindowOf("rate(x[5m] @ 1700000000 offset 1m)"), 6min);
  EXPECT_EQ(WindowOf("rate(x[5m] offset 1m @ end())"), 6min);
}

TEST(WindowTest, BracketsInsideStringsAreNotRanges) {
  EXPECT_EQ(WindowOf(R"(rate(x{path=~"/a[5m]"}[1m]))"), 60s);
  EXPECT_EQ(WindowOf(R"(x{path='/offset 9m', q=`[1h]`})"), 0s);
  EXPECT_EQ(WindowOf(R"(rate(x{p="a\"[1h]"}[20s]))"), 20s);
}

TEST(WindowTest, OnlyTheMetricsTheRuleReads) {
  auto t = WithQuery("rate(x[1m])");
  t.metrics.push_back({"other", "rate(x[1h])"});
  EXPECT_EQ(RuleWindow(t, t.rules[0]), 60s);
  t.rules[0].min_requests_metric = "other";
  EXPECT_EQ(RuleWindow(t, t.rules[0]), 1h);
}

TEST(WindowTest, JudgeWindowIsTheLongestFirstWindowOfItsMetrics) {
  JudgeSpec spec;
  spec.step = 30s;
  JudgeMetric ratio;
  ratio.kind = JudgeKind::kRatio;
  spec.metrics.push_back(ratio);
  EXPECT_EQ(JudgeWindow(spec), 30s);  // one step of counter increases
  JudgeMetric query;
  query.query = "histogram_quantile(0.95, sum by (le) (rate(x[2m])))";
  spec.metrics.push_back(query);
  EXPECT_EQ(JudgeWindow(spec), 2min);  // the first point a whole rate window after the switch
  EXPECT_EQ(JudgeWindow(JudgeSpec{}), 0s);
}

}  // namespace
}  // namespace sluice::analysis
