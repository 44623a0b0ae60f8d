#include "promotion.hpp"

#include <gtest/gtest.h>

namespace sluice::release_intake {
namespace {

spec::DeliverySpec Chain() {
  auto env = [](const std::string& name, const std::string& extra) {
    return "  " + name + ":\n    targets: {web: {hosts: [{name: " + name +
           "-1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}]}}\n"
           "    strategy: {type: all-at-once}\n" +
           extra;
  };
  auto parsed = spec::ParseDeliverySpec(
      "app: shop\nenvironments:\n" + env("dev", "") + env("staging", "    promotion: auto\n") +
          env("production", "    promotion: manual\n") +
          env("eu", "    promotion: {from: staging, mode: auto}\n"),
      "shop.yaml");
  return std::get<spec::DeliverySpec>(parsed);
}

GateInput Into(const spec::DeliverySpec& s, const std::string& env) {
  return GateInput{"shop", env, "rel-1", "1.4.2", s.FindEnvironment(env), {}, std::nullopt};
}

EnvDeployment In(const std::string& env, const std::string& id) {
  return EnvDeployment{id, "shop", env, "rel-1"};
}

TEST(PromotionGateTest, AnEnvironmentWithoutPromotionTakesAnyRelease) {
  const auto s = Chain();
  EXPECT_FALSE(CheckGate(Into(s, "dev")));
}

TEST(PromotionGateTest, NeverDeployedInTheEnvironmentBeforeIsRefusedWithTheCommandToRun) {
  const auto s = Chain();
  const auto r = CheckGate(Into(s, "staging"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "promotion_required");
  EXPECT_EQ(r->detail["requires"], "dev");
  EXPECT_EQ(r->next, "sluice deploy --release rel-1 --env dev");
  EXPECT_NE(r->message.find("release 1.4.2 (rel-1) has not been deployed to 'dev'"),
            std::string::npos)
      << r->message;
  const auto body = GateRefusalBody(*r);
  EXPECT_EQ(body["error"]["code"], "promotion_required");
  EXPECT_EQ(body["error"]["field"], "env");
}

TEST(PromotionGateTest, ARunningOrBakingDeploymentIsPending) {
  const auto s = Chain();
  auto in = Into(s, "production");
  in.previous = {In("staging", "d-2")};
  auto r = CheckGate(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "promotion_pending");
  EXPECT_EQ(r->detail["waiting_for"], "deployment");

  in.previous[0].succeeded = true;
  in.previous[0].bake_expected = true;
  r = CheckGate(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "promotion_pending");
  EXPECT_EQ(r->detail["waiting_for"], "bake_watch");
  EXPECT_NE(r->message.find("bake watch is still running"), std::string::npos);
  EXPECT_EQ(r->next, "sluice deployment get d-2 --watch");

  in.previous[0].bake_passed = true;
  EXPECT_FALSE(CheckGate(in));
}

TEST(PromotionGateTest, SucceededWithoutABakeWatchPasses) {
  const auto s = Chain();
  auto in = Into(s, "production");
  in.previous = {In("staging", "d-2")};
  in.previous[0].succeeded = true;
  EXPECT_FALSE(CheckGate(in));
}

TEST(PromotionGateTest, TheNewestDeploymentThereDecides) {
  const auto s = Chain();
  auto in = Into(s, "production");
  auto failed = In("staging", "d-3");
  failed.succeeded = true;
  failed.failed = true;  // rolled back by the bake watch
  in.previous = {failed};
  auto r = CheckGate(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "promotion_failed");
  EXPECT_EQ(r->detail["deployment_id"], "d-3");

  // An earlier pass does not outweigh the newer failure ...
  auto passed = In("staging", "d-1");
  passed.succeeded = true;
  in.previous.push_back(passed);
  EXPECT_EQ(CheckGate(in)->code, "promotion_failed");
  // ... and a newer pass counts.
  in.previous = {passed, failed};
  EXPECT_FALSE(CheckGate(in));
}

TEST(PromotionGateTest, AFrozenEnvironmentRefusesEvenAPassedRelease) {
  const auto s = Chain();
  auto in = Into(s, "dev");
  in.freeze = EnvFreeze{"shop", "dev", "quarter-end close", "alice-admin", 1000};
  const auto r = CheckGate(in);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, "environment_frozen");
  EXPECT_EQ(r->detail["frozen_by"], "alice-admin");
  EXPECT_NE(r->message.find("frozen by alice-admin: quarter-end close"), std::string::npos);
}

TEST(PromotionGateTest, AutoPromotionsFollowTheSpec) {
  const auto s = Chain();
  EXPECT_EQ(AutoPromotionsFrom(s, "dev"), std::vector<std::string>{"staging"});
  EXPECT_EQ(AutoPromotionsFrom(s, "staging"), std::vector<std::string>{"eu"});  // prod: manual
  EXPECT_TRUE(AutoPromotionsFrom(s, "production").empty());
  EXPECT_EQ(AutoPromotionKey("rel-1", "eu"), "promotion:rel-1:eu");
}

TEST(PromotionGateTest, AFreezeNeedsAReason) {
  std::string error;
  EXPECT_TRUE(ValidateFreeze({{"reason", "release freeze"}}, error));
  EXPECT_FALSE(ValidateFreeze(nlohmann::json::object(), error));
  EXPECT_NE(error.find("reason is required"), std::string::npos);
  EXPECT_FALSE(ValidateFreeze({{"reason", "x"}, {"until", 1}}, error));
  EXPECT_NE(error.find("unknown field 'until'"), std::string::npos);
  EXPECT_FALSE(ValidateFreeze({{"reason", std::string(501, 'x')}}, error));
}

}  // namespace
}  // namespace sluice::release_intake
