#pragma once

// What the rollback-agent's handler and worker are given: their options (from the config) and
// their dependencies, as a struct of references.

#include <chrono>
#include <sluice/core/clock.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>

#include "adapters/metric_history.hpp"
#include "rollback_domain.hpp"
#include "rollback_metrics.hpp"

namespace sluice::rollback {

inline constexpr std::string_view kServiceName = "rollback-agent";

struct AgentOptions {
  RevertPolicy revert;
  std::string public_url = "http://127.0.0.1:8080";  // incident links: <url>/v1/incidents/<id>
  std::string owner = "rollback-agent";              // lease owner id of this process
  std::chrono::milliseconds lock_ttl{30000};
  std::chrono::milliseconds lock_wait{2000};          // wait for another holder before going ahead
  std::chrono::milliseconds snapshot_before{300000};  // snapshot starts this long before planning
  int batch_limit = 20;
};

struct AgentDeps {
  pg::Database& db;
  const core::Clock& clock;
  lock::LeaseLock* locks;  // null: no Redis lease (the unique row still decides)
  MetricHistory& history;
  AgentMetrics* metrics;  // may be null
};

}  // namespace sluice::rollback
