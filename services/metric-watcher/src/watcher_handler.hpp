#pragma once

// The metric-watcher's events in. Inside the consumer's transaction (the inbox already recorded
// the event id): keeps the watched deployments current, cancels analyses of a rolled-back
// generation or a superseded bake watch, and turns an AnalysisRequested into a Running analysis
// whose rules are due now (or into an immediate AnalysisFailed "template_missing"). No network
// I/O: measuring is the worker's (watcher_worker.hpp).

#include <chrono>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>

namespace sluice::watcher {

class WatcherMetrics;

struct HandlerOptions {
  // After a deployment succeeded, its alerts still match for this long.
  std::chrono::milliseconds alert_window{std::chrono::hours(1)};
};

// Returns true when an analysis became due (the worker is then woken after the commit).
// An ExternalAlertReceived (release-intake's, from a Kafka producer) is matched as the
// Alertmanager receiver matches an alert (ReceiveAlerts), counted in `metrics` when given; the
// other events of release-intake's topic are not the watcher's.
bool HandleEvent(pqxx::work& tx, const events::v1::Envelope& envelope,
                 const HandlerOptions& options, const core::Clock& clock,
                 WatcherMetrics* metrics = nullptr);

}  // namespace sluice::watcher
