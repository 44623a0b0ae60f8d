#pragma once

// The rollback-agent's configuration from SLUICE_* environment variables (strict: a bad value
// or an unknown key is a core::ConfigError naming the key).

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/kafka/config.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <vector>

#include "adapters/metric_history.hpp"
#include "rollback_options.hpp"

namespace sluice::rollback {

struct RollbackConfig {
  std::string http_addr;
  std::string log_level;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::string group_id;
  std::vector<std::string> topics;
  std::string redis_url;
  std::string lock_prefix;
  PrometheusHistoryOptions prometheus;
  AgentOptions agent;  // owner is filled at start-up
  std::chrono::milliseconds poll{};
  std::chrono::milliseconds startup_timeout{};
};

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad or
// unknown.
RollbackConfig ParseRollbackConfig(core::EnvConfig& env);

}  // namespace sluice::rollback
