#pragma once

// Where the incident snapshot comes from (Prometheus or VictoriaMetrics query_range), behind a
// narrow interface the worker calls with no transaction open.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "incident.hpp"

namespace sluice::rollback {

class MetricHistory {
 public:
  virtual ~MetricHistory() = default;
  // Throws std::exception whose what() says why the history cannot be had.
  virtual std::vector<SnapshotSeries> QueryRange(const std::string& query, std::int64_t start_ms,
                                                 std::int64_t end_ms,
                                                 std::chrono::milliseconds step) = 0;
};

struct PrometheusHistoryOptions {
  std::string base_url = "http://127.0.0.1:19090";
  std::string authorization;  // never logged
  std::chrono::milliseconds timeout{5000};
};
std::unique_ptr<MetricHistory> MakePrometheusHistory(const PrometheusHistoryOptions& options);

}  // namespace sluice::rollback
