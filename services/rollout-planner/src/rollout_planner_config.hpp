#pragma once

// The rollout-planner's configuration from SLUICE_* environment variables (strict: a bad value
// or an unknown key is a core::ConfigError naming the key).

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/service/settings.hpp>

#include "rollout_planner_component.hpp"

namespace sluice::rollout_planner {

// The topics the planner consumes (not settable): releases, batch results, analysis verdicts,
// rollbacks.
inline constexpr std::string_view kPlannerTopics =
    "sluice.releases.v1,sluice.executions.v1,sluice.analyses.v1,sluice.rollbacks.v1";

struct PlannerConfig {
  // SLUICE_HTTP_ADDR, SLUICE_PG_*, SLUICE_KAFKA_*, SLUICE_REDIS_URL (empty: no Redis), ...
  service::Settings shared;
  std::chrono::milliseconds tick{200};  // timer sweep
  std::chrono::milliseconds traffic_switch_poll{500};
  bool ensure_topics = true;  // tests that share a Kafka cluster turn it off
  PlannerOptions planner;
};

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad or
// unknown.
PlannerConfig ParsePlannerConfig(core::EnvConfig& env);

}  // namespace sluice::rollout_planner
