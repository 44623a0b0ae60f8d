#include "metric_history.hpp"

#include <sluice/core/clock.hpp>
#include <sluice/prometheus/client.hpp>

namespace sluice::rollback {
namespace {

class PrometheusHistory final : public MetricHistory {
 public:
  explicit PrometheusHistory(const PrometheusHistoryOptions& o) : client_(Options(o)) {}
  std::vector<SnapshotSeries> QueryRange(const std::string& query, std::int64_t start_ms,
                                         std::int64_t end_ms,
                                         std::chrono::milliseconds step) override {
    const auto result = client_.QueryRange(query, core::FromUnixMillis(start_ms),
                                           core::FromUnixMillis(end_ms), step);
    std::vector<SnapshotSeries> out;
    for (const auto& s : result.series) {
      SnapshotSeries series;
      series.labels = s.labels;
      for (const auto& p : s.points) series.points.push_back({core::ToUnixMillis(p.at), p.value});
      out.push_back(std::move(series));
    }
    return out;
  }

 private:
  static prometheus::ClientOptions Options(const PrometheusHistoryOptions& o) {
    prometheus::ClientOptions c;
    c.base_url = o.base_url;
    c.authorization = o.authorization;
    c.timeout = o.timeout;
    c.attempts = 2;
    return c;
  }
  prometheus::Client client_;
};

}  // namespace

std::unique_ptr<MetricHistory> MakePrometheusHistory(const PrometheusHistoryOptions& options) {
  return std::make_unique<PrometheusHistory>(options);
}

}  // namespace sluice::rollback
