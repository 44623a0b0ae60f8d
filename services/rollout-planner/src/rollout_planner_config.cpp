#include "rollout_planner_config.hpp"

namespace sluice::rollout_planner {

using namespace std::chrono_literals;

PlannerConfig ParsePlannerConfig(core::EnvConfig& env) {
  PlannerConfig c;
  c.shared = service::ReadSettings(env, {.name = kServiceName,
                                         .http_addr = "127.0.0.1:8082",
                                         .pg_schema = "rollout_planner",
                                         .pg_pool_size = 6,
                                         .pg_pool_min = 3,
                                         .topics = kPlannerTopics,
                                         .redis = true});
  c.tick = env.Duration("SLUICE_PLANNER_TIMER_INTERVAL", 200ms);
  auto& p = c.planner;
  p.lease_ttl = env.Duration("SLUICE_PLANNER_LEASE_TTL", 10s);
  p.traffic_switch_timeout = env.Duration("SLUICE_PLANNER_TRAFFIC_SWITCH_TIMEOUT", 10s);
  p.traffic_switch_attempts =
      static_cast<int>(env.Int("SLUICE_PLANNER_TRAFFIC_SWITCH_ATTEMPTS", 3, 1, 100));
  p.rollback_wait = env.Duration("SLUICE_PLANNER_ROLLBACK_WAIT", 10min);
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::rollout_planner
