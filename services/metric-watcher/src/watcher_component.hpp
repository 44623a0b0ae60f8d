#pragma once

// The metric-watcher's plumbing: the event handler that records deployments and schedules
// analyses, the analyzer that takes due measurements and decides runs, the Prometheus provider,
// and the HTTP API (Alertmanager receiver, retrospective analyses, analysis records).

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sluice/core/clock.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/server.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "measure.hpp"
#include "watcher_repository.hpp"

namespace sluice::watcher {

class WatcherMetrics {
 public:
  explicit WatcherMetrics(::prometheus::Registry& registry);
  void CountMeasurement(analysis::Outcome verdict);
  void ObserveQuery(double seconds);
  void CountAlert(std::string_view result);  // raised, recorded, ignored
  void SetRunning(int analyses);

 private:
  ::prometheus::Family<::prometheus::Counter>& measurements_;
  ::prometheus::Histogram& query_seconds_;
  ::prometheus::Gauge& running_;
  ::prometheus::Family<::prometheus::Counter>& alerts_;
};

// The metric provider over the Prometheus HTTP API (or VictoriaMetrics), timing each query.
class PrometheusProvider final : public MetricProvider {
 public:
  PrometheusProvider(const prom::Client& client, WatcherMetrics* metrics)
      : client_(client), metrics_(metrics) {}
  prom::QueryResult Query(std::string_view promql, core::SystemTime at) override;
  prom::QueryResult QueryRange(std::string_view promql, core::SystemTime start,
                               core::SystemTime end, std::chrono::milliseconds step) override;

 private:
  const prom::Client& client_;
  WatcherMetrics* metrics_;
};

struct HandlerOptions {
  // After a deployment succeeded, its alerts still match for this long.
  std::chrono::milliseconds alert_window{std::chrono::hours(1)};
};

// Inside the consumer's transaction (the inbox already recorded the event id): keeps
// watched_deployments current, cancels analyses of a rolled-back generation, and turns an
// AnalysisRequested into a Running analysis whose rules are due now (or into an immediate
// AnalysisFailed "template_missing"). Returns true when an analysis became due.
bool HandleEvent(pqxx::work& tx, const events::v1::Envelope& envelope,
                 const HandlerOptions& options, const core::Clock& clock);

// Builds the evidence of one rule from its measurements (oldest first): the last measurement
// that was not Successful (else the last one), and the rule metric's recent values (<= 20).
v1::Evidence EvidenceOf(const std::vector<MeasurementRow>& rows, v1::Severity severity,
                        std::chrono::milliseconds window);
nlohmann::json EvidenceJson(const v1::Evidence& e);

// Takes the due measurements of one claimed analysis, advances its rules, and when the run is
// decided records it and publishes AnalysisPassed / AnalysisFailed in `tx`. Returns true when
// the run was decided.
bool StepAnalysis(pqxx::work& tx, const AnalysisRow& a, MetricProvider& provider,
                  const core::Clock& clock, WatcherMetrics* metrics);

struct AnalyzerDeps {
  pg::Database& db;
  MetricProvider& provider;
  const core::Clock& clock;
  WatcherMetrics* metrics;  // null: none
};

struct AnalyzerOptions {
  std::chrono::milliseconds poll{200};
  int max_per_pass = 50;
  // Threads measuring at once (each holds a database connection while it queries Prometheus).
  int workers = 4;
};

// The workers: each claims due analyses (FOR UPDATE SKIP LOCKED, so workers and replicas share
// them), one transaction each, until none is due; then waits for the poll interval or a Wake().
class Analyzer final : public core::Component {
 public:
  Analyzer(AnalyzerDeps deps, AnalyzerOptions options);
  ~Analyzer() override;
  std::string_view Name() const override { return "analyzer"; }
  void Start() override;
  void Stop() override;
  int RunOnce();
  void Wake();

 private:
  void Run();

  AnalyzerDeps deps_;
  AnalyzerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::vector<std::thread> threads_;  // last: stopped first
};

struct ApiDeps {
  pg::Database& db;
  MetricProvider& provider;
  const core::Clock& clock;
  WatcherMetrics* metrics;
  std::string alert_token;  // Alertmanager's bearer token
};

// The Alertmanager receiver: authenticated by SLUICE_WATCHER_ALERT_TOKEN, not the service token.
inline constexpr std::string_view kAlertmanagerPath = "/v1/alerts/alertmanager";

// POST /v1/alerts/alertmanager, GET /v1/alerts (?app= &deployment_id= &limit=), POST
// /v1/analyses (retrospective), GET /v1/analyses,
// GET /v1/analyses/{id}.
void MountWatcherApi(http::Server& server, ApiDeps deps);

// Receives one Alertmanager payload in `tx`; returns {raised, recorded, ignored, alerts: [...]}.
nlohmann::json ReceiveAlerts(pqxx::work& tx, const AlertPayload& payload, const core::Clock& clock);

}  // namespace sluice::watcher
