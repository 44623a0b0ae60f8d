#pragma once

// Alertmanager's webhook: POST /v1/alerts/alertmanager, authenticated by its own bearer token
// (SLUICE_WATCHER_ALERT_TOKEN), not the service token. Each alert is recorded once per firing
// ((fingerprint, startsAt)); one that names an active deployment is raised as AlertRaised.

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>

#include "alerts.hpp"
#include "watcher_metrics.hpp"

namespace sluice::watcher {

inline constexpr std::string_view kAlertmanagerPath = "/v1/alerts/alertmanager";

struct AlertReceiverDeps {
  pg::Database& db;
  const core::Clock& clock;
  WatcherMetrics* metrics;  // null: none
  std::string alert_token;  // Alertmanager's bearer token
};

void MountAlertmanagerReceiver(http::Server& server, AlertReceiverDeps deps);

// Receives one Alertmanager payload in `tx`; returns {raised, recorded, ignored, alerts: [...]}.
nlohmann::json ReceiveAlerts(pqxx::work& tx, const AlertPayload& payload, const core::Clock& clock);

}  // namespace sluice::watcher
