#pragma once

// The metric-watcher's HTTP API: POST /v1/alerts/alertmanager (adapters/alertmanager_receiver),
// GET /v1/alerts (?app= &deployment_id= &limit=), POST /v1/analyses (retrospective),
// GET /v1/analyses (?deployment_id= &limit=), GET /v1/analyses/{id}.

#include <sluice/core/clock.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <string>

#include "adapters/alertmanager_receiver.hpp"
#include "measure.hpp"
#include "watcher_metrics.hpp"

namespace sluice::watcher {

struct ApiDeps {
  pg::Database& db;
  MetricProvider& provider;
  const core::Clock& clock;
  WatcherMetrics* metrics;
  std::string alert_token;  // Alertmanager's bearer token
};

void MountWatcherApi(http::Server& server, ApiDeps deps);

}  // namespace sluice::watcher
