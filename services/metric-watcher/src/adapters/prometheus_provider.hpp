#pragma once

// The metric provider over the Prometheus HTTP API (or VictoriaMetrics), timing each query.
// Network I/O: the analyzer calls it with no database transaction open.

#include <chrono>
#include <sluice/core/clock.hpp>
#include <string_view>

#include "measure.hpp"
#include "watcher_metrics.hpp"

namespace sluice::watcher {

class PrometheusProvider final : public MetricProvider {
 public:
  PrometheusProvider(const prom::Client& client, WatcherMetrics* metrics)
      : client_(client), metrics_(metrics) {}
  prom::QueryResult Query(std::string_view promql, core::SystemTime at) override;
  prom::QueryResult QueryRange(std::string_view promql, core::SystemTime start,
                               core::SystemTime end, std::chrono::milliseconds step) override;

 private:
  const prom::Client& client_;
  WatcherMetrics* metrics_;  // null: none
};

}  // namespace sluice::watcher
