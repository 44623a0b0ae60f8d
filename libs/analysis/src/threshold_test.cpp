#include "sluice/analysis/threshold.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace sluice::analysis {
namespace {

ThresholdRule Rule(const std::string& fail_when) {
  ThresholdRule r;
  r.name = "seed";
  r.fail_when = fail_when;
  ConditionError err;
  auto c = ParseCondition(fail_when, &err);
  EXPECT_TRUE(c.has_value()) << err.message;
  if (c) r.condition = *c;
  return r;
}

SeriesValue On(const std::string& instance, double v) {
  return SeriesValue{{{"instance_name", instance}, {"app", "demo"}}, v};
}

MetricResult Series(std::vector<SeriesValue> s) {
  MetricResult r;
  r.series = std::move(s);
  return r;
}

MetricResult Scalar(double v) { return Series({SeriesValue{{}, v}}); }

const ThresholdRule kSeed = Rule("error_rate > 5% OR p95_latency > 500ms");

TEST(EvaluateThresholdTest, NoBreachIsSuccessful) {
  const auto m =
      EvaluateThreshold(kSeed, {{"error_rate", Series({On("h1", 0.01), On("h2", 0.02)})},
                                {"p95_latency", Series({On("h1", 0.1), On("h2", 0.2)})}});
  EXPECT_EQ(m.verdict, Outcome::kSuccessful);
  EXPECT_EQ(m.metric, "error_rate");
  EXPECT_DOUBLE_EQ(m.observed, 0.02);  // the worst value
  EXPECT_DOUBLE_EQ(m.threshold, 0.05);
  EXPECT_EQ(m.comparator, ">");
  EXPECT_TRUE(m.affected_instances.empty());
  EXPECT_EQ(m.message, "error_rate 0.02 (not > 0.05); p95_latency 0.2 (not > 0.5)");
}

TEST(EvaluateThresholdTest, OneBreachingSeriesFailsAndNamesItsInstance) {
  const auto m = EvaluateThreshold(
      kSeed, {{"error_rate", Series({On("sx-h1", 0.01), On("sx-h2", 0.31), On("sx-h3", 0.02)})},
              {"p95_latency", Series({On("sx-h1", 0.1)})}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_EQ(m.metric, "error_rate");
  EXPECT_DOUBLE_EQ(m.observed, 0.31);
  EXPECT_DOUBLE_EQ(m.threshold, 0.05);
  EXPECT_EQ(m.comparator, ">");
  EXPECT_EQ(m.affected_instances, (std::vector<std::string>{"sx-h2"}));
  EXPECT_EQ(m.message, "error_rate 0.31 > 0.05 on sx-h2; p95_latency 0.1 (not > 0.5)");
}

TEST(EvaluateThresholdTest, SeveralBreachesReportTheFirstComparisonAndAllInstances) {
  const auto m = EvaluateThreshold(
      kSeed, {{"error_rate", Series({On("h3", 0.4), On("h1", 0.2), On("h2", 0.01)})},
              {"p95_latency", Series({On("h4", 0.9), On("h1", 0.7)})}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_EQ(m.metric, "error_rate");
  EXPECT_DOUBLE_EQ(m.observed, 0.4);  // the worst breaching value
  EXPECT_EQ(m.affected_instances, (std::vector<std::string>{"h1", "h3", "h4"}));  // sorted
  EXPECT_EQ(m.message, "error_rate 0.4 > 0.05 on h1, h3; p95_latency 0.9 > 0.5 on h1, h4");
}

TEST(EvaluateThresholdTest, SecondComparisonAloneBreaching) {
  const auto m =
      EvaluateThreshold(kSeed, {{"error_rate", Scalar(0.0)}, {"p95_latency", Scalar(0.75)}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_EQ(m.metric, "p95_latency");
  EXPECT_DOUBLE_EQ(m.observed, 0.75);
  EXPECT_DOUBLE_EQ(m.threshold, 0.5);
  EXPECT_TRUE(m.affected_instances.empty());  // a series without instance labels
}

TEST(EvaluateThresholdTest, InstanceLabelIsTheFallback) {
  const auto rule = Rule("cpu > 0.9");
  const auto m = EvaluateThreshold(
      rule, {{"cpu", Series({SeriesValue{{{"instance", "10.0.0.1:9100"}}, 0.95}})}});
  EXPECT_EQ(m.affected_instances, (std::vector<std::string>{"10.0.0.1:9100"}));
}

TEST(EvaluateThresholdTest, LowerBoundRulesReportTheLowestValue) {
  const auto rule = Rule("throughput < 10");
  auto m = EvaluateThreshold(rule, {{"throughput", Series({On("a", 50), On("b", 4), On("c", 7)})}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_DOUBLE_EQ(m.observed, 4);
  EXPECT_EQ(m.affected_instances, (std::vector<std::string>{"b", "c"}));
  m = EvaluateThreshold(rule, {{"throughput", Series({On("a", 50), On("b", 20)})}});
  EXPECT_EQ(m.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(m.observed, 20);
}

TEST(EvaluateThresholdTest, AndNeedsEveryFactor) {
  const auto rule = Rule("error_rate > 5% AND requests > 100");
  EXPECT_EQ(
      EvaluateThreshold(rule, {{"error_rate", Scalar(0.5)}, {"requests", Scalar(50)}}).verdict,
      Outcome::kSuccessful);
  EXPECT_EQ(
      EvaluateThreshold(rule, {{"error_rate", Scalar(0.5)}, {"requests", Scalar(500)}}).verdict,
      Outcome::kFailed);
}

TEST(EvaluateThresholdTest, NanAndInfAreNoData) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const auto rule = Rule("error_rate > 5%");
  // A NaN series beside a good one: the good one decides.
  auto m = EvaluateThreshold(rule, {{"error_rate", Series({On("h1", nan), On("h2", 0.01)})}});
  EXPECT_EQ(m.verdict, Outcome::kSuccessful);
  EXPECT_DOUBLE_EQ(m.observed, 0.01);
  // Only NaN / Inf: neither breach nor pass.
  m = EvaluateThreshold(rule, {{"error_rate", Series({On("h1", nan), On("h2", inf)})}});
  EXPECT_EQ(m.verdict, Outcome::kInconclusive);
  EXPECT_TRUE(std::isnan(m.observed));
  EXPECT_TRUE(m.affected_instances.empty());
  EXPECT_EQ(m.message, "no data (noData: inconclusive): error_rate: no data");
}

TEST(EvaluateThresholdTest, EmptyResultFollowsTheNoDataPolicy) {
  auto rule = Rule("error_rate > 5%");
  const std::map<std::string, MetricResult> empty = {{"error_rate", Series({})}};
  EXPECT_EQ(EvaluateThreshold(rule, empty).verdict, Outcome::kInconclusive);
  rule.no_data = NoData::kPass;
  auto m = EvaluateThreshold(rule, empty);
  EXPECT_EQ(m.verdict, Outcome::kSuccessful);
  EXPECT_EQ(m.message, "no data (noData: pass): error_rate: no data");
  rule.no_data = NoData::kFail;
  m = EvaluateThreshold(rule, empty);
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_EQ(m.metric, "error_rate");
  EXPECT_TRUE(m.affected_instances.empty());
}

TEST(EvaluateThresholdTest, MissingDataOfOneOrTermDoesNotHideABreach) {
  // OR: a breach of one term decides even when the other has no data.
  auto m = EvaluateThreshold(kSeed, {{"error_rate", Series({})}, {"p95_latency", Scalar(0.9)}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
  EXPECT_EQ(m.metric, "p95_latency");
  // ... but a clear term does not: the other might have breached.
  m = EvaluateThreshold(kSeed, {{"error_rate", Series({})}, {"p95_latency", Scalar(0.1)}});
  EXPECT_EQ(m.verdict, Outcome::kInconclusive);
  EXPECT_EQ(m.metric, "error_rate");
  EXPECT_EQ(m.message,
            "no data (noData: inconclusive): error_rate: no data; p95_latency 0.1 (not > 0.5)");
  // AND: a clear factor decides even when the other has no data.
  const auto both = Rule("error_rate > 5% AND p95_latency > 500ms");
  m = EvaluateThreshold(both, {{"error_rate", Series({})}, {"p95_latency", Scalar(0.1)}});
  EXPECT_EQ(m.verdict, Outcome::kSuccessful);
}

TEST(EvaluateThresholdTest, MinSamplesCountsUsableSeries) {
  auto rule = Rule("error_rate > 5%");
  rule.min_samples = 3;
  auto m = EvaluateThreshold(rule, {{"error_rate", Series({On("h1", 0.5), On("h2", 0.5)})}});
  EXPECT_EQ(m.verdict, Outcome::kInconclusive);
  EXPECT_NE(m.message.find("error_rate: 2 usable series, need 3"), std::string::npos) << m.message;
  m = EvaluateThreshold(rule,
                        {{"error_rate", Series({On("h1", 0.5), On("h2", 0.5), On("h3", 0)})}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
}

TEST(EvaluateThresholdTest, TooFewRequestsIsInconclusive) {
  auto rule = kSeed;
  rule.min_requests_metric = "requests";
  rule.min_requests = 20;
  // Even a breach: too little traffic to tell.
  auto m = EvaluateThreshold(rule, {{"error_rate", Scalar(0.5)},
                                    {"p95_latency", Scalar(0.1)},
                                    {"requests", Series({On("h1", 7), On("h2", 5)})}});
  EXPECT_EQ(m.verdict, Outcome::kInconclusive);
  EXPECT_EQ(m.metric, "requests");
  EXPECT_DOUBLE_EQ(m.observed, 12);  // summed over series
  EXPECT_DOUBLE_EQ(m.threshold, 20);
  EXPECT_EQ(m.message, "only 12 requests (requests), need 20");
  m = EvaluateThreshold(
      rule, {{"error_rate", Scalar(0.5)}, {"p95_latency", Scalar(0.1)}, {"requests", Series({})}});
  EXPECT_EQ(m.verdict, Outcome::kInconclusive);
  EXPECT_EQ(m.message, "only 0 requests (requests), need 20");
  m = EvaluateThreshold(
      rule, {{"error_rate", Scalar(0.5)}, {"p95_latency", Scalar(0.1)}, {"requests", Scalar(20)}});
  EXPECT_EQ(m.verdict, Outcome::kFailed);
}

TEST(EvaluateThresholdTest, QueryErrorsAreErrors) {
  MetricResult failed;
  failed.ok = false;
  failed.error = "bad_data: parse error at char 5";
  auto m = EvaluateThreshold(kSeed, {{"error_rate", Scalar(0.5)}, {"p95_latency", failed}});
  EXPECT_EQ(m.verdict, Outcome::kError);
  EXPECT_EQ(m.metric, "p95_latency");
  EXPECT_EQ(m.message, "query of p95_latency failed: bad_data: parse error at char 5");
  m = EvaluateThreshold(kSeed, {{"error_rate", Scalar(0.5)}});
  EXPECT_EQ(m.verdict, Outcome::kError);
  EXPECT_EQ(m.message, "no result for metric p95_latency");
  auto rule = kSeed;
  rule.min_requests_metric = "requests";
  rule.min_requests = 1;
  m = EvaluateThreshold(
      rule, {{"error_rate", Scalar(0.5)}, {"p95_latency", Scalar(0.1)}, {"requests", failed}});
  EXPECT_EQ(m.verdict, Outcome::kError);
  EXPECT_EQ(m.metric, "requests");
}

}  // namespace
}  // namespace sluice::analysis
