#pragma once

// The executor's counters and batch duration histogram on /metrics, registered once per process.

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string_view>

#include "command.hpp"

namespace sluice::executor {

class ExecutorMetrics {
 public:
  explicit ExecutorMetrics(prometheus::Registry& registry);
  // outcome: "accepted", "refused", "duplicate".
  void Command(BatchOperation op, std::string_view outcome);
  void HostOutcome(BatchOperation op, OutcomeKind kind);
  void BatchDuration(BatchOperation op, std::string_view result, std::chrono::duration<double> d);

 private:
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Counter>& hosts_;
  prometheus::Family<prometheus::Histogram>& durations_;
};

}  // namespace sluice::executor
