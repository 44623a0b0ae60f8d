#include "run.hpp"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <sluice/spec/convert.hpp>

namespace sluice::watcher {
namespace {

using analysis::Outcome;

constexpr const char* kSpec = R"(
app: shop
environments:
  production:
    analysis:
      bakeWatch: {template: bake, duration: 10m}
      templates:
        default:
          metrics:
            error_rate: {query: 'errors{app="{{app}}"}'}
          rules:
            - {name: seed, failWhen: "error_rate > 5%"}
        bake:
          metrics:
            error_rate: {query: 'errors{app="{{app}}"}'}
          rules:
            - {name: seed, failWhen: "error_rate > 5%"}
)";

TEST(ResolveTemplateTest, FindsTheNamedTemplate) {
  auto r = ResolveTemplate(kSpec, "production", "default");
  ASSERT_TRUE(std::holds_alternative<analysis::Template>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<analysis::Template>(r).rules.size(), 1U);
}

TEST(ResolveTemplateTest, MissingTemplateOrEnvIsAnError) {
  auto r = ResolveTemplate(kSpec, "production", "nope");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("'nope'"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(ResolveTemplate(kSpec, "staging", "default")));
  EXPECT_TRUE(std::holds_alternative<std::string>(ResolveTemplate("", "production", "default")));
  EXPECT_TRUE(
      std::holds_alternative<std::string>(ResolveTemplate("a: [", "production", "default")));
}

std::string ResolvedJson(const std::string& name) {
  const auto t = spec::ResolvedTemplateOf(kSpec, "production", name);
  EXPECT_TRUE(t.has_value()) << name;
  std::string text;
  EXPECT_TRUE(
      google::protobuf::util::MessageToJsonString(t.value_or(events::v1::AnalysisTemplate{}), &text)
          .ok());
  return text;
}

TEST(TemplateFromRequestTest, TakesTheResolvedTemplateAsSent) {
  const auto direct = ResolveTemplate(kSpec, "production", "bake");
  ASSERT_TRUE(std::holds_alternative<analysis::Template>(direct));
  const auto r = TemplateFromRequest(ResolvedJson("bake"), "production", "bake");
  ASSERT_TRUE(std::holds_alternative<analysis::Template>(r)) << std::get<std::string>(r);
  EXPECT_EQ(std::get<analysis::Template>(r), std::get<analysis::Template>(direct));
  // "" names the default template.
  EXPECT_TRUE(std::holds_alternative<analysis::Template>(
      TemplateFromRequest(ResolvedJson("default"), "production", "")));
}

TEST(TemplateFromRequestTest, NoneOrAnotherOrAnUnreadableOneIsAnError) {
  const auto none = TemplateFromRequest("", "production", "strict");
  ASSERT_TRUE(std::holds_alternative<std::string>(none));
  EXPECT_EQ(std::get<std::string>(none),
            "analysis template 'strict' is not defined for environment 'production'");
  EXPECT_TRUE(std::holds_alternative<std::string>(
      TemplateFromRequest(ResolvedJson("bake"), "production", "default")));
  EXPECT_TRUE(
      std::holds_alternative<std::string>(TemplateFromRequest("{nope", "production", "default")));
}

TEST(EffectiveLimitsTest, BakeWatchNeverPassesByCount) {
  analysis::Limits l;
  l.count = 3;
  l.consecutive_success_limit = 2;
  const auto bake = EffectiveLimits(l, true);
  analysis::RuleProgress p;
  for (int i = 0; i < 10; ++i) p = analysis::Advance(bake, p, Outcome::kSuccessful);
  EXPECT_EQ(p.outcome, Outcome::kRunning);
  EXPECT_EQ(EffectiveLimits(l, false), l);
}

TEST(DecideTest, CanaryDecidedByCombine) {
  EXPECT_FALSE(
      Decide({{"a", false, Outcome::kRunning}, {"b", false, Outcome::kSuccessful}}, false, false));
  auto d = Decide({{"a", false, Outcome::kRunning}, {"b", false, Outcome::kFailed}}, false, false);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->outcome, Outcome::kFailed);
  EXPECT_EQ(d->reason, kReasonThresholdBreached);
  EXPECT_EQ(d->rules, std::vector<std::string>{"b"});
  d = Decide({{"a", false, Outcome::kSuccessful}, {"judge", true, Outcome::kFailed}}, false, false);
  EXPECT_EQ(d->reason, kReasonJudgeFailed);
  d = Decide({{"a", false, Outcome::kInconclusive}, {"b", false, Outcome::kSuccessful}}, false,
             false);
  EXPECT_EQ(d->reason, kReasonInconclusiveLimit);
  d = Decide({{"a", false, Outcome::kError}}, false, false);
  EXPECT_EQ(d->reason, kReasonQueryError);
  d = Decide({{"a", false, Outcome::kSuccessful}, {"b", false, Outcome::kSuccessful}}, false,
             false);
  EXPECT_EQ(d->outcome, Outcome::kSuccessful);
  EXPECT_TRUE(d->reason.empty());
  EXPECT_EQ(Decide({}, false, false)->outcome, Outcome::kSuccessful);
}

TEST(DecideTest, BakeWatchFailsAtOnceAndPassesOnlyAtTheEnd) {
  EXPECT_FALSE(Decide({{"a", false, Outcome::kRunning}}, true, false));
  const auto failed = Decide({{"a", false, Outcome::kFailed}}, true, false);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->outcome, Outcome::kFailed);
  const auto over = Decide({{"a", false, Outcome::kRunning}}, true, true);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->outcome, Outcome::kSuccessful);
  EXPECT_FALSE(Decide({}, true, false));
}

TEST(DecideTest, BakeWatchOverWithARuleNeverMeasuredIsInconclusive) {
  EXPECT_FALSE(Decide({{"a", false, Outcome::kPending}}, true, false));
  const auto over =
      Decide({{"a", false, Outcome::kRunning}, {"b", false, Outcome::kPending}}, true, true);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->outcome, Outcome::kInconclusive);
  EXPECT_EQ(over->reason, kReasonNothingMeasured);
  EXPECT_EQ(over->rules, std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace sluice::watcher
