#include "watcher_metrics.hpp"

#include <string>

namespace sluice::watcher {

WatcherMetrics::WatcherMetrics(::prometheus::Registry& registry)
    : measurements_(::prometheus::BuildCounter()
                        .Name("sluice_watcher_measurements_total")
                        .Help("Measurements taken, by verdict")
                        .Register(registry)),
      query_seconds_(
          ::prometheus::BuildHistogram()
              .Name("sluice_watcher_query_seconds")
              .Help("Time of one metric provider query, retries included")
              .Register(registry)
              .Add({}, ::prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                                 0.25, 0.5, 1, 2.5, 5, 10})),
      running_(::prometheus::BuildGauge()
                   .Name("sluice_watcher_analyses_running")
                   .Help("Analyses currently running")
                   .Register(registry)
                   .Add({})),
      alerts_(::prometheus::BuildCounter()
                  .Name("sluice_watcher_alerts_total")
                  .Help("Alertmanager alerts received, by result (raised, recorded, ignored)")
                  .Register(registry)) {}

void WatcherMetrics::CountMeasurement(analysis::Outcome verdict) {
  measurements_.Add({{"verdict", std::string(analysis::ToString(verdict))}}).Increment();
}
void WatcherMetrics::ObserveQuery(double seconds) { query_seconds_.Observe(seconds); }
void WatcherMetrics::CountAlert(std::string_view result) {
  alerts_.Add({{"result", std::string(result)}}).Increment();
}
void WatcherMetrics::SetRunning(int analyses) { running_.Set(analyses); }

}  // namespace sluice::watcher
