#pragma once

// The executor's configuration from SLUICE_* environment variables (strict: a bad value or an
// unknown key is a core::ConfigError naming the key).

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/kafka/config.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <vector>

#include "command.hpp"
#include "executor_worker.hpp"

namespace sluice::executor {

struct ExecutorConfig {
  std::string http_addr;
  std::string log_level;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::string group_id;
  std::vector<std::string> topics;
  std::string redis_url;
  CommandDefaults defaults;
  WorkerPoolOptions workers;  // owner is filled at start-up
  std::chrono::milliseconds startup_timeout{};
};

// An argv from one variable: a JSON array of strings (["bin/restart.sh", "--fast"]), or words
// separated by blanks. Throws core::ConfigError naming `key` when it is malformed.
std::vector<std::string> ParseArgv(std::string_view key, const std::string& value);

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad,
// missing, or unknown.
ExecutorConfig ParseExecutorConfig(core::EnvConfig& env);

}  // namespace sluice::executor
