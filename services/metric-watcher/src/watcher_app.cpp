// The metric-watcher on the service skeleton: the event handler on the consumer, the analyzer's
// workers, the API with the Alertmanager receiver.
#include <fmt/format.h>

#include <sluice/events/envelope.hpp>
#include <sluice/service/app.hpp>

#include "adapters/prometheus_provider.hpp"
#include "watcher_api.hpp"
#include "watcher_config.hpp"
#include "watcher_handler.hpp"
#include "watcher_metrics.hpp"
#include "watcher_repository.hpp"
#include "watcher_worker.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& MetricWatcherMigrations();
}

namespace sluice::watcher {

void Register(service::App& app, const WatcherConfig& config) {
  auto& db = app.Database(generated::MetricWatcherMigrations());
  app.EnsureTopics({std::string(events::kTopicAnalyses)});
  auto& metrics = app.Make<WatcherMetrics>(app.Registry());
  const auto& client = app.Make<sluice::prometheus::Client>(config.prometheus);
  auto& provider = app.Make<PrometheusProvider>(client, &metrics);
  auto& analyzer =
      app.Start<Analyzer>(AnalyzerDeps{db, provider, app.Clock(), &metrics}, config.analyzer);
  // An analysis made due by an event is measured as soon as the event's transaction committed.
  app.ConsumeAndWake(
      [&app, &metrics, options = config.handler](pqxx::work& tx, const events::v1::Envelope& e) {
        return HandleEvent(tx, e, options, app.Clock(), &metrics);
      },
      [&analyzer] { analyzer.Wake(); });
  // Alertmanager authenticates with its own token (SLUICE_WATCHER_ALERT_TOKEN), checked there.
  auto& server = app.Http({std::string(kAlertmanagerPath)});
  MountWatcherApi(server, {db, provider, app.Clock(), &metrics, config.alert_token});
  app.OnProbe([&db, &metrics] {
    try {
      metrics.SetRunning(db.WithTransaction([](pqxx::work& tx) { return CountRunning(tx); }));
    } catch (const std::exception&) {
      // Postgres is down: the standard probe already says so.
    }
  });
  app.Describe(fmt::format("Prometheus {}, topics {}", config.prometheus.base_url,
                           fmt::join(config.shared.topics, ",")));
}

}  // namespace sluice::watcher
