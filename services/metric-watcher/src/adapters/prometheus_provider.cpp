#include "adapters/prometheus_provider.hpp"

namespace sluice::watcher {
namespace {

class QueryTimer {
 public:
  explicit QueryTimer(WatcherMetrics* m) : metrics_(m), start_(std::chrono::steady_clock::now()) {}
  ~QueryTimer() {
    if (metrics_ != nullptr) {
      metrics_->ObserveQuery(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
  }
  QueryTimer(const QueryTimer&) = delete;
  QueryTimer& operator=(const QueryTimer&) = delete;

 private:
  WatcherMetrics* metrics_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

prom::QueryResult PrometheusProvider::Query(std::string_view promql, core::SystemTime at) {
  QueryTimer timer(metrics_);
  return client_.Query(promql, at);
}

prom::QueryResult PrometheusProvider::QueryRange(std::string_view promql, core::SystemTime start,
                                                 core::SystemTime end,
                                                 std::chrono::milliseconds step) {
  QueryTimer timer(metrics_);
  return client_.QueryRange(promql, start, end, step);
}

}  // namespace sluice::watcher
