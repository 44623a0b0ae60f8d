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
