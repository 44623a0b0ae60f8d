// Issue 19 at the planner: an environment as release-intake resolved it (an inventory group's
// hosts in DeploymentRequested.spec, `failureTolerance: 50%`) is planned from the event alone,
// and each BatchRequested carries the tolerance resolved for its own batch.
#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/spec/convert.hpp>

#include "planner_model.hpp"

namespace sluice::rollout_planner {
namespace {

const core::SystemTime kT0 = core::FromUnixMillis(1'760'000'000'000);

constexpr const char* kInventorySpec = R"(app: shop
environments:
  production:
    targets:
      web:
        inventory: {url: "https://cmdb.example/inv", group: web,
                    agentEndpoint: "http://{address}:7070"}
    strategy:
      type: rolling
      batchSize: 2
      failureTolerance: 50%
)";

TEST(FleetPlannerTest, InventoryHostsFromTheEventArePlannedWithTheToleranceOfEachBatch) {
  auto parsed = ParseDeliverySpec(kInventorySpec, "shop.yaml");
  ASSERT_TRUE(std::holds_alternative<DeliverySpec>(parsed))
      << std::get<SpecError>(parsed).ToString();
  // What release-intake puts in DeploymentRequested.spec: the group with the hosts it read.
  auto wire = spec::ToProto(std::get<DeliverySpec>(parsed));
  auto* group = wire.mutable_environments(0)->mutable_targets(0);
  for (const char* name : {"w1", "w2", "w3"}) {
    auto* h = group->add_hosts();
    h->set_name(name);
    h->set_address(std::string("10.0.0.") + name[1]);
    h->set_agent_endpoint(std::string("http://10.0.0.") + name[1] + ":7070");
    h->set_port(22);
  }
  group->mutable_inventory()->add_removed_hosts("w0");
  const auto env = spec::FromProto(wire).environments.at(0);
  ASSERT_EQ(env.AllHosts().size(), 3u);
  EXPECT_EQ(env.targets.at(0).inventory->removed_hosts, std::vector<std::string>{"w0"});

  const auto batches = PlanRollout(env, env.AllHosts());
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].failure_tolerance, 1u);  // 50% of 2
  EXPECT_EQ(batches[1].failure_tolerance, 0u);  // 50% of 1, rounded down

  core::testing::ManualClock clock(kT0);
  DeploymentContext ctx;
  ctx.deployment_id = "d-inventory";
  ctx.release_id = "rel-1";
  ctx.app = "shop";
  ctx.env = "production";
  ctx.version = "1.4.0";
  ctx.strategy = StrategyType::kRolling;
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), batches);
  auto t = Next(d, Start{}, kT0);
  const auto first = EventFor(t.commands.back(), ctx, t.next, clock);
  ASSERT_TRUE(first && first->has_batch_requested());
  EXPECT_EQ(first->batch_requested().failure_tolerance(), 1u);
  ASSERT_EQ(first->batch_requested().targets_size(), 2);
  EXPECT_EQ(first->batch_requested().targets(0).host(), "w1");
  EXPECT_EQ(first->batch_requested().targets(0).agent_endpoint(), "http://10.0.0.1:7070");

  t = Next(t.next, BatchSucceeded{0, t.next.generation}, kT0);
  const auto second = EventFor(t.commands.back(), ctx, t.next, clock);
  ASSERT_TRUE(second && second->has_batch_requested());
  EXPECT_EQ(second->batch_requested().batch_index(), 1u);
  EXPECT_EQ(second->batch_requested().failure_tolerance(), 0u);
}

}  // namespace
}  // namespace sluice::rollout_planner
