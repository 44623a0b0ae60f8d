#pragma once

// The metric-watcher's configuration from SLUICE_* environment variables (strict: a bad value or
// an unknown key is a core::ConfigError naming the key).

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/prometheus/client.hpp>
#include <sluice/service/prometheus_settings.hpp>
#include <sluice/service/settings.hpp>
#include <string>

#include "run.hpp"
#include "watcher_handler.hpp"
#include "watcher_worker.hpp"

namespace sluice::service {
class App;
}

namespace sluice::watcher {

struct WatcherConfig {
  service::Settings shared;  // SLUICE_HTTP_ADDR, SLUICE_PG_*, SLUICE_KAFKA_*, ...
  sluice::prometheus::ClientOptions prometheus;
  std::string alert_token;  // SLUICE_WATCHER_ALERT_TOKEN[_FILE]: Alertmanager's bearer token
  HandlerOptions handler;
  AnalyzerOptions analyzer;
};

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad,
// missing, or unknown.
WatcherConfig ParseWatcherConfig(core::EnvConfig& env);

// The watcher's parts on top of the standard ones: the event handler, the analyzer, the
// Prometheus provider, the API with the Alertmanager receiver (watcher_app.cpp).
void Register(service::App& app, const WatcherConfig& config);

}  // namespace sluice::watcher
