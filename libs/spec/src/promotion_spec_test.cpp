// `promotion:` of an environment: the chain a release moves along (delivery_spec.hpp).
#include <gtest/gtest.h>

#include <string>

#include "sluice/spec/delivery_spec.hpp"

namespace sluice::spec {
namespace {

std::string Env(const std::string& name, const std::string& extra = "") {
  return "  " + name +
         ":\n"
         "    targets:\n"
         "      web:\n"
         "        hosts:\n"
         "          - {name: " +
         name + "-1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}\n" +
         "    strategy: {type: all-at-once}\n" + extra;
}

std::string Spec(const std::string& envs) { return "app: shop\nenvironments:\n" + envs; }

SpecError Err(const std::string& yaml) {
  auto r = ParseDeliverySpec(yaml, "shop.yaml");
  if (!std::holds_alternative<SpecError>(r)) {
    ADD_FAILURE() << "expected an error for:\n" << yaml;
    return {};
  }
  return std::get<SpecError>(r);
}

DeliverySpec Ok(const std::string& yaml) {
  auto r = ParseDeliverySpec(yaml, "shop.yaml");
  if (const auto* e = std::get_if<SpecError>(&r)) {
    ADD_FAILURE() << e->ToString() << "\n" << yaml;
    return {};
  }
  return std::get<DeliverySpec>(std::move(r));
}

TEST(PromotionSpecTest, WithoutPromotionThereIsNoGate) {
  const auto s = Ok(Spec(Env("staging") + Env("production")));
  EXPECT_FALSE(s.environments[0].promotion);
  EXPECT_FALSE(s.environments[1].promotion);
  EXPECT_TRUE(s.PromotionsFrom("staging").empty());
}

TEST(PromotionSpecTest, TheShortFormsPromoteFromTheEnvironmentBeforeInTheFile) {
  const auto s = Ok(Spec(Env("dev") + Env("staging", "    promotion: auto\n") +
                         Env("production", "    promotion: manual\n")));
  ASSERT_TRUE(s.environments[1].promotion);
  EXPECT_EQ(*s.environments[1].promotion, (Promotion{"dev", PromotionMode::kAuto}));
  EXPECT_EQ(*s.environments[2].promotion, (Promotion{"staging", PromotionMode::kManual}));
  ASSERT_EQ(s.PromotionsFrom("dev").size(), 1u);
  EXPECT_EQ(s.PromotionsFrom("dev")[0]->name, "staging");
  EXPECT_TRUE(s.PromotionsFrom("production").empty());
}

TEST(PromotionSpecTest, FromNamesAnyOtherEnvironmentAndModeDefaultsToManual) {
  const auto s = Ok(Spec(Env("production", "    promotion: {from: staging}\n") + Env("staging") +
                         Env("eu", "    promotion: {from: staging, mode: auto}\n")));
  EXPECT_EQ(*s.environments[0].promotion, (Promotion{"staging", PromotionMode::kManual}));
  EXPECT_EQ(*s.environments[2].promotion, (Promotion{"staging", PromotionMode::kAuto}));
  EXPECT_EQ(s.PromotionsFrom("staging").size(), 2u);
}

TEST(PromotionSpecTest, MistakesAreNamedWithTheirPath) {
  struct Case {
    std::string yaml;
    std::string path;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Spec(Env("dev", "    promotion: auto\n")), "environments.dev.promotion",
       "the first environment has none before it"},
      {Spec(Env("dev") + Env("prod", "    promotion: sometimes\n")), "environments.prod.promotion",
       "must be manual or auto, got sometimes"},
      {Spec(Env("dev") + Env("prod", "    promotion: {from: qa}\n")),
       "environments.prod.promotion.from", "names no environment of this spec ('qa'); known: dev"},
      {Spec(Env("dev") + Env("prod", "    promotion: {from: prod}\n")),
       "environments.prod.promotion.from", "cannot be promoted from itself"},
      {Spec(Env("dev") + Env("prod", "    promotion: {from: dev, when: x}\n")),
       "environments.prod.promotion.when", "unknown key"},
      {Spec(Env("dev") + Env("prod", "    promotion: {mode: later}\n")),
       "environments.prod.promotion.mode", "must be manual or auto, got later"},
      {Spec(Env("a", "    promotion: {from: b}\n") + Env("b", "    promotion: {from: a}\n")),
       "environments.a.promotion.from", "the promotion chain loops: a <- b <- a"},
      {Spec(Env("dev") + Env("prod", "    policy: {autoDeploy: true}\n    promotion: auto\n")),
       "environments.prod.promotion", "cannot be combined with policy.autoDeploy"},
  };
  for (const auto& c : cases) {
    const auto e = Err(c.yaml);
    EXPECT_EQ(e.path, c.path) << c.yaml;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
    EXPECT_GT(e.line, 0) << c.yaml;
  }
}

}  // namespace
}  // namespace sluice::spec

namespace sluice::spec {
namespace {

TEST(WindowSpecTest, WindowsAreDaysATimeRangeAndAZone) {
  const auto s = Ok(Spec(Env("prod",
                             "    windows:\n"
                             "      - {days: [mon-fri], start: '09:00', end: '17:30', "
                             "timeZone: Europe/Berlin}\n"
                             "      - {days: [fri-mon], start: '22:00', end: '02:00'}\n")));
  const auto& w = s.environments[0].windows;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], (DeploymentWindow{{1, 2, 3, 4, 5}, 540, 1050, "Europe/Berlin"}));
  EXPECT_EQ(w[1], (DeploymentWindow{{0, 1, 5, 6}, 1320, 120, "UTC"}));
  EXPECT_TRUE(Ok(Spec(Env("dev"))).environments[0].windows.empty());
}

TEST(WindowSpecTest, MistakesAreNamedWithTheirPath) {
  struct Case {
    std::string windows;
    std::string path;
    std::string message;
  };
  const std::string p = "environments.prod.windows";
  const std::vector<Case> cases = {
      {"    windows: []\n", p, "non-empty list"},
      {"    windows: [{days: [mon], start: '9:00', end: '17:00'}]\n", p + "[0].start", "HH:MM"},
      {"    windows: [{days: [mon], start: '09:00', end: '24:00'}]\n", p + "[0].end", "HH:MM"},
      {"    windows: [{days: [mon], start: '09:00', end: '09:00'}]\n", p + "[0].end",
       "must differ from start"},
      {"    windows: [{days: [monday], start: '09:00', end: '10:00'}]\n", p + "[0].days[0]",
       "must be a day"},
      {"    windows: [{days: [mon, mon-tue], start: '09:00', end: '10:00'}]\n", p + "[0].days[1]",
       "names mon twice"},
      {"    windows: [{days: [], start: '09:00', end: '10:00'}]\n", p + "[0].days", "non-empty"},
      {"    windows: [{start: '09:00', end: '10:00'}]\n", p + "[0].days", "is required"},
      {"    windows: [{days: [mon], start: '09:00', end: '10:00', timeZone: '../etc/passwd'}]\n",
       p + "[0].timeZone", "tz database name"},
      {"    windows: [{days: [mon], start: '09:00', end: '10:00', tz: UTC}]\n", p + "[0].tz",
       "unknown key"},
  };
  for (const auto& c : cases) {
    const auto e = Err(Spec(Env("prod", c.windows)));
    EXPECT_EQ(e.path, c.path) << c.windows;
    EXPECT_NE(e.message.find(c.message), std::string::npos) << e.message;
  }
}

}  // namespace
}  // namespace sluice::spec
