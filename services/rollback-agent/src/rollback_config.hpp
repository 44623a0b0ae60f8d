#pragma once

// The rollback-agent's configuration from SLUICE_* environment variables (strict: a bad value
// or an unknown key is a core::ConfigError naming the key).

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/service/settings.hpp>
#include <string>
#include <vector>

#include "adapters/metric_history.hpp"
#include "rollback_options.hpp"

namespace sluice::service {
class App;
}

namespace sluice::rollback {

struct RollbackConfig {
  service::Settings shared;  // SLUICE_HTTP_ADDR, SLUICE_PG_*, SLUICE_KAFKA_*, SLUICE_REDIS_URL, ...
  std::string lock_prefix;
  PrometheusHistoryOptions prometheus;
  AgentOptions agent;  // owner is filled at start-up
  std::chrono::milliseconds poll{};
};

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad or
// unknown.
RollbackConfig ParseRollbackConfig(core::EnvConfig& env);

// The rollback-agent's parts on top of the standard ones: the agent on the consumer, its worker
// pass, the API (rollback_app.cpp).
void Register(service::App& app, const RollbackConfig& config);

}  // namespace sluice::rollback
