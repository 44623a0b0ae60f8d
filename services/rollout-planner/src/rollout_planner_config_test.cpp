#include "rollout_planner_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/service/config_testing.hpp>

namespace sluice::rollout_planner {
namespace {

using namespace std::chrono_literals;
using service::testing::Env;
using ::testing::HasSubstr;

PlannerConfig Parse(Env env) {
  return service::testing::ParseWithToken(&ParsePlannerConfig, std::move(env));
}

std::string ErrorOf(Env env) {
  return service::testing::ConfigErrorOf(&ParsePlannerConfig, std::move(env));
}

TEST(PlannerConfigTest, Defaults) {
  const auto c = Parse({});
  EXPECT_EQ(c.shared.http_addr, "127.0.0.1:8082");
  EXPECT_EQ(c.shared.pg.schema, "rollout_planner");
  EXPECT_EQ(c.shared.pg.pool_size, 6);
  EXPECT_EQ(c.shared.group_id, "rollout-planner");
  EXPECT_EQ(c.shared.kafka.client_id, "rollout-planner");
  EXPECT_EQ(c.shared.topics,
            (std::vector<std::string>{"sluice.releases.v1", "sluice.executions.v1",
                                      "sluice.analyses.v1", "sluice.rollbacks.v1"}));
  EXPECT_EQ(c.shared.redis_url, "redis://127.0.0.1:16379/0");
  EXPECT_EQ(c.shared.startup_timeout, 60s);
  EXPECT_EQ(c.tick, 200ms);
  EXPECT_TRUE(c.ensure_topics);
  EXPECT_EQ(c.planner.lease_ttl, 10s);
  EXPECT_EQ(c.planner.traffic_switch_timeout, 10s);
  EXPECT_EQ(c.planner.traffic_switch_attempts, 3);
  EXPECT_EQ(c.planner.rollback_wait, 10min);
}

TEST(PlannerConfigTest, Overrides) {
  const auto c = Parse({{"SLUICE_PLANNER_TIMER_INTERVAL", "50ms"},
                        {"SLUICE_PLANNER_LEASE_TTL", "30s"},
                        {"SLUICE_PLANNER_TRAFFIC_SWITCH_ATTEMPTS", "7"},
                        {"SLUICE_PLANNER_ROLLBACK_WAIT", "1m"},
                        {"SLUICE_KAFKA_GROUP", "planners"}});
  EXPECT_EQ(c.tick, 50ms);
  EXPECT_EQ(c.planner.lease_ttl, 30s);
  EXPECT_EQ(c.planner.traffic_switch_attempts, 7);
  EXPECT_EQ(c.planner.rollback_wait, 1min);
  EXPECT_EQ(c.shared.group_id, "planners");
}

TEST(PlannerConfigTest, BadValuesNameTheKey) {
  EXPECT_THAT(ErrorOf({{"SLUICE_PG_SCHEMA", "Bad-Schema"}}),
              HasSubstr("SLUICE_PG_SCHEMA=Bad-Schema: "));
  EXPECT_THAT(ErrorOf({{"SLUICE_PG_POOL_SIZE", "2"}}), HasSubstr("SLUICE_PG_POOL_SIZE"));
  EXPECT_THAT(ErrorOf({{"SLUICE_PLANNER_TRAFFIC_SWITCH_ATTEMPTS", "0"}}),
              HasSubstr("SLUICE_PLANNER_TRAFFIC_SWITCH_ATTEMPTS"));
  EXPECT_THAT(ErrorOf({{"SLUICE_PLANNER_LEASE_TTL", "10"}}), HasSubstr("SLUICE_PLANNER_LEASE_TTL"));
  EXPECT_EQ(ErrorOf({{"SLUICE_LOG_LEVEL", "x"}}),
            "SLUICE_LOG_LEVEL=x: use trace, debug, info, warn or error");
  // The topics are not settable.
  EXPECT_THAT(ErrorOf({{"SLUICE_PLANNER_TOPICS", "a"}}),
              HasSubstr("unknown setting SLUICE_PLANNER_TOPICS"));
  EXPECT_EQ(ErrorOf({{"SLUICE_PLANNER_LEASE_TL", "1s"}}),
            "unknown setting SLUICE_PLANNER_LEASE_TL: did you mean SLUICE_PLANNER_LEASE_TTL?");
}

}  // namespace
}  // namespace sluice::rollout_planner
