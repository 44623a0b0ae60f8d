#include "sluice/analysis/condition.hpp"

#include <gtest/gtest.h>

namespace sluice::analysis {
namespace {

Condition ParseOk(std::string_view text) {
  ConditionError err;
  auto c = ParseCondition(text, &err);
  if (!c) {
    ADD_FAILURE() << "unexpected error for '" << text << "': " << err.message << " at "
                  << err.offset;
    return {};
  }
  return *c;
}

ConditionError ParseErr(std::string_view text) {
  ConditionError err;
  EXPECT_FALSE(ParseCondition(text, &err).has_value()) << text;
  return err;
}

TEST(ConditionTest, SingleComparisonWithUnits) {
  const auto c = ParseOk("error_rate > 5%");
  ASSERT_EQ(c.kind, Condition::Kind::kComparison);
  EXPECT_EQ(c.comparison.metric, "error_rate");
  EXPECT_EQ(c.comparison.op, ">");
  EXPECT_DOUBLE_EQ(c.comparison.threshold, 0.05);
  EXPECT_EQ(c.comparison.as_written, "error_rate > 5%");

  EXPECT_DOUBLE_EQ(ParseOk("p95 > 500ms").comparison.threshold, 0.5);
  EXPECT_DOUBLE_EQ(ParseOk("p95 >= 2s").comparison.threshold, 2.0);
  EXPECT_DOUBLE_EQ(ParseOk("cpu<0.9").comparison.threshold, 0.9);
  EXPECT_EQ(ParseOk("cpu<=0.9").comparison.op, "<=");
  EXPECT_EQ(ParseOk("cpu >= 1e3").comparison.threshold, 1000);
  EXPECT_DOUBLE_EQ(ParseOk("x > -1.5").comparison.threshold, -1.5);
}

TEST(ConditionTest, AndBindsTighterThanOr) {
  // a OR b AND c == a OR (b AND c)
  const auto c = ParseOk("a > 1 OR b > 2 AND c > 3");
  ASSERT_EQ(c.kind, Condition::Kind::kOr);
  ASSERT_EQ(c.children.size(), 2u);
  EXPECT_EQ(c.children[0].kind, Condition::Kind::kComparison);
  EXPECT_EQ(c.children[1].kind, Condition::Kind::kAnd);
  EXPECT_EQ(c.ToString(), "(a > 1 OR (b > 2 AND c > 3))");

  EXPECT_EQ(ParseOk("a > 1 AND b > 2 OR c > 3").ToString(), "((a > 1 AND b > 2) OR c > 3)");
}

TEST(ConditionTest, ParenthesesOverridePrecedence) {
  const auto c = ParseOk("(a > 1 OR b > 2) AND c > 3");
  ASSERT_EQ(c.kind, Condition::Kind::kAnd);
  EXPECT_EQ(c.children[0].kind, Condition::Kind::kOr);
  EXPECT_EQ(c.ToString(), "((a > 1 OR b > 2) AND c > 3)");
  EXPECT_EQ(ParseOk("((a > 1))").ToString(), "a > 1");
}

TEST(ConditionTest, KeywordsAreCaseInsensitiveAndChainsFlatten) {
  const auto c = ParseOk("a > 1 or b > 2 Or c > 3");
  ASSERT_EQ(c.kind, Condition::Kind::kOr);
  EXPECT_EQ(c.children.size(), 3u);
  EXPECT_EQ(ParseOk("a > 1 and b < 2 AnD c >= 3").children.size(), 3u);
  // A metric merely starting with a keyword is a name.
  EXPECT_EQ(ParseOk("orders > 1 AND android < 2").Metrics(),
            (std::set<std::string>{"android", "orders"}));
}

TEST(ConditionTest, ComparisonsAndMetricsInOrder) {
  const auto c = ParseOk("error_rate > 5% OR p95_latency > 500ms OR error_rate > 1%");
  const auto cmps = c.Comparisons();
  ASSERT_EQ(cmps.size(), 3u);
  EXPECT_EQ(cmps[0]->metric, "error_rate");
  EXPECT_EQ(cmps[1]->metric, "p95_latency");
  EXPECT_EQ(c.Metrics(), (std::set<std::string>{"error_rate", "p95_latency"}));
}

TEST(ConditionTest, BreachesPerOperator) {
  Comparison c{"x", ">", 1, "x > 1"};
  EXPECT_TRUE(c.Breaches(1.1));
  EXPECT_FALSE(c.Breaches(1));
  c.op = ">=";
  EXPECT_TRUE(c.Breaches(1));
  c.op = "<";
  EXPECT_TRUE(c.Breaches(0.9));
  EXPECT_FALSE(c.Breaches(1));
  c.op = "<=";
  EXPECT_TRUE(c.Breaches(1));
}

TEST(ConditionTest, ErrorsSayWhatAndWhere) {
  EXPECT_NE(ParseErr("").message.find("empty"), std::string::npos);
  auto e = ParseErr("error_rate 5%");
  EXPECT_NE(e.message.find("expected one of > >= < <="), std::string::npos) << e.message;
  EXPECT_EQ(e.offset, 11u);
  e = ParseErr("error_rate > five");
  EXPECT_NE(e.message.find("expected a number"), std::string::npos) << e.message;
  EXPECT_EQ(e.offset, 13u);
  e = ParseErr("a > 1 OR");
  EXPECT_NE(e.message.find("ends early"), std::string::npos) << e.message;
  e = ParseErr("(a > 1 OR b > 2");
  EXPECT_NE(e.message.find("expected ')'"), std::string::npos) << e.message;
  e = ParseErr("a > 1 b > 2");
  EXPECT_NE(e.message.find("expected AND, OR or the end"), std::string::npos) << e.message;
  EXPECT_EQ(e.offset, 6u);
  e = ParseErr("a > 5kb");
  EXPECT_NE(e.message.find("got '5kb'"), std::string::npos) << e.message;
  e = ParseErr("a == 1");
  EXPECT_FALSE(e.message.empty());
  e = ParseErr("OR a > 1");
  EXPECT_NE(e.message.find("metric name"), std::string::npos) << e.message;
}

TEST(ParseThresholdTest, Units) {
  EXPECT_DOUBLE_EQ(*ParseThreshold("5%"), 0.05);
  EXPECT_DOUBLE_EQ(*ParseThreshold("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(*ParseThreshold("3s"), 3);
  EXPECT_DOUBLE_EQ(*ParseThreshold("0.25"), 0.25);
  EXPECT_FALSE(ParseThreshold(""));
  EXPECT_FALSE(ParseThreshold("%"));
  EXPECT_FALSE(ParseThreshold("ms"));
  EXPECT_FALSE(ParseThreshold("1.2.3"));
  EXPECT_FALSE(ParseThreshold("5m"));
  EXPECT_FALSE(ParseThreshold("inf"));
}

}  // namespace
}  // namespace sluice::analysis
