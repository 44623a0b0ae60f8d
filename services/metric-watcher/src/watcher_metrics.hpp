#pragma once

// The metric-watcher's own /metrics: measurements by verdict, query time, running analyses,
// Alertmanager alerts by result.

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <sluice/analysis/analysis.hpp>
#include <string_view>

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

}  // namespace sluice::watcher
