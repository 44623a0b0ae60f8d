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

// GET /v1/deployments: the deployments release-intake holds (waiting for a window, or aborted
// while they waited), as HeldDeploymentJson gives them, before the planner's.
nlohmann::json Held(const std::string& id, const std::string& app, const std::string& env,
                    const std::string& status, std::int64_t requested_at_ms) {
  return {{"id", id},
          {"deployment_id", id},
          {"app", app},
          {"env", env},
          {"status", status},
          {"requested_at_ms", requested_at_ms},
          {"waiting", {{"code", "outside_window"}, {"message", "closed"}}}};
}

std::vector<nlohmann::json> HeldRows() {
  return {Held("w1", "shop", "production", "waiting", 100),
          Held("w2", "shop", "staging", "waiting", 300),
          Held("a1", "shop", "production", "aborted", 200),
          Held("w3", "web", "production", "waiting", 250)};
}

// The planner's answer: one running deployment, and a key of its own.
nlohmann::json PlannerPage() {
  return {{"deployments",
           {{{"id", "p1"}, {"app", "shop"}, {"env", "production"}, {"status", "running"}}}},
          {"next_cursor", "p1"}};
}

std::vector<std::string> Ids(const nlohmann::json& list) {
  std::vector<std::string> out;
  for (const auto& d : list.at("deployments")) out.push_back(d.at("id"));
  return out;
}

using Ids_ = std::vector<std::string>;

TEST(DeploymentListTest, WaitingOnesComeFirstNewestFirstThenThePlannersPage) {
  DeploymentListQuery q;
  EXPECT_TRUE(PlannerListsStatus(q));
  EXPECT_EQ(HeldStateListed(q), "waiting");
  const auto list = ListWithHeld(q, HeldRows(), PlannerPage());
  // Aborted ones stay out unless asked for; the planner's other keys are kept.
  ASSERT_EQ(Ids(list), (Ids_{"w2", "w3", "w1", "p1"}));
  EXPECT_EQ(list.at("next_cursor"), "p1");
  EXPECT_EQ(list.at("deployments").at(0).at("waiting").at("code"), "outside_window");
  // The same time: the id decides, so the order is the same on every read.
  EXPECT_EQ(Ids(ListWithHeld(
                q, {Held("b", "shop", "dev", "waiting", 5), Held("c", "shop", "dev", "waiting", 5)},
                {{"deployments", nlohmann::json::array()}})),
            (Ids_{"c", "b"}));
}

TEST(DeploymentListTest, HeldOnesMatchTheAppAndEnvironmentFilters) {
  DeploymentListQuery q;
  q.app = "shop";
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"w2", "w1", "p1"}));
  q.env = "production";
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"w1", "p1"}));
  q.app = "nothing";
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"p1"}));
}

TEST(DeploymentListTest, HeldOnesMatchSinceInclusiveAndUntilExclusive) {
  DeploymentListQuery q;
  // requested_at_ms: w1 100, w3 250, w2 300 (the range is in microseconds).
  q.created.since_us = 250 * 1000;
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"w2", "w3", "p1"}));
  q.created.until_us = 300 * 1000;
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"w3", "p1"}));
  q.created.since_us.reset();
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"w3", "w1", "p1"}));
  // The planner's page is its own: it filtered it with the same bounds.
  q.created = {std::int64_t{400 * 1000}, std::nullopt};
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"p1"}));
}

TEST(DeploymentListTest, TheStatusFilterWaitingShowsOnlyHeldOnesAndAbortedAddsTheAbortedOnes) {
  EXPECT_TRUE(IsDeploymentListStatus("waiting"));
  EXPECT_TRUE(IsDeploymentListStatus("aborted"));
  EXPECT_TRUE(IsDeploymentListStatus("rolling_back"));
  EXPECT_FALSE(IsDeploymentListStatus("started"));
  EXPECT_FALSE(IsDeploymentListStatus(""));

  DeploymentListQuery q;
  q.status = "waiting";
  EXPECT_FALSE(PlannerListsStatus(q));  // the planner has none and refuses the value
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), nlohmann::json())), (Ids_{"w2", "w3", "w1"}));
  q.status = "aborted";
  EXPECT_TRUE(PlannerListsStatus(q));
  EXPECT_EQ(HeldStateListed(q), "aborted");
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"a1", "p1"}));
  q.status = "running";
  EXPECT_EQ(HeldStateListed(q), std::nullopt);
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"p1"}));
}

TEST(DeploymentListTest, HeldOnesComeOnTheFirstPageOnlyBoundedByTheLimitInAddition) {
  DeploymentListQuery q;
  q.limit = 2;
  // Up to `limit` held ones, in addition to the planner's page (itself up to `limit`).
  EXPECT_EQ(Ids(ListWithHeld(q, HeldRows(), PlannerPage())), (Ids_{"w2", "w3", "p1"}));
  q.first_page = false;  // a cursor was given: the planner's page as it is
  EXPECT_EQ(HeldStateListed(q), std::nullopt);
  EXPECT_EQ(ListWithHeld(q, HeldRows(), PlannerPage()), PlannerPage());
}

TEST(DeploymentListTest, NextCursorIsThePlannersAndNullWhenItHasNone) {
  DeploymentListQuery q;
  // The first page: the held ones first, the planner's cursor to its second page.
  EXPECT_EQ(ListWithHeld(q, HeldRows(), PlannerPage()).at("next_cursor"), "p1");
  // A later page passes it on as it is, null on the planner's last page.
  q.first_page = false;
  nlohmann::json last = PlannerPage();
  last["next_cursor"] = nullptr;
  EXPECT_EQ(ListWithHeld(q, HeldRows(), last), last);
  // Present (null) when the planner was not asked (status=waiting), did not page (a planner
  // from before cursors) or sent something that is not a cursor.
  q.first_page = true;
  q.status = "waiting";
  auto list = ListWithHeld(q, HeldRows(), nlohmann::json());
  ASSERT_TRUE(list.contains("next_cursor")) << list.dump();
  EXPECT_TRUE(list.at("next_cursor").is_null());
  q.status.reset();
  list = ListWithHeld(q, HeldRows(), {{"deployments", nlohmann::json::array()}});
  ASSERT_TRUE(list.contains("next_cursor")) << list.dump();
  EXPECT_TRUE(list.at("next_cursor").is_null());
  list = ListWithHeld(q, {}, {{"deployments", nlohmann::json::array()}, {"next_cursor", 7}});
  EXPECT_TRUE(list.at("next_cursor").is_null());
}

TEST(DeploymentListTest, OneThePlannerListsTooIsListedOnceAsThePlannersItem) {
  // It started between the two reads.
  nlohmann::json planner = PlannerPage();
  planner["deployments"].push_back(
      {{"id", "w2"}, {"app", "shop"}, {"env", "staging"}, {"status", "pending"}});
  const auto list = ListWithHeld(DeploymentListQuery{}, HeldRows(), planner);
  ASSERT_EQ(Ids(list), (Ids_{"w3", "w1", "p1", "w2"}));
  EXPECT_EQ(list.at("deployments").at(3).at("status"), "pending");
}

}  // namespace
}  // namespace sluice::release_intake
