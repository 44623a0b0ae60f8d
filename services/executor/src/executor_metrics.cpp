#include "executor_metrics.hpp"

#include <string>

namespace sluice::executor {

ExecutorMetrics::ExecutorMetrics(prometheus::Registry& registry)
    : commands_(prometheus::BuildCounter()
                    .Name("sluice_executor_commands_total")
                    .Help("Commands received, by operation and outcome (accepted, refused, "
                          "duplicate)")
                    .Register(registry)),
      hosts_(prometheus::BuildCounter()
                 .Name("sluice_executor_host_outcomes_total")
                 .Help("Host results recorded, by operation and outcome kind")
                 .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("sluice_executor_batch_duration_seconds")
                     .Help("Time from a command's claim to its result, by operation and result")
                     .Register(registry)) {}

void ExecutorMetrics::Command(BatchOperation op, std::string_view outcome) {
  commands_.Add({{"operation", std::string(ToString(op))}, {"outcome", std::string(outcome)}})
      .Increment();
}

void ExecutorMetrics::HostOutcome(BatchOperation op, OutcomeKind kind) {
  hosts_.Add({{"operation", std::string(ToString(op))}, {"kind", std::string(ToString(kind))}})
      .Increment();
}

void ExecutorMetrics::BatchDuration(BatchOperation op, std::string_view result,
                                    std::chrono::duration<double> d) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1,   5,   15,  30,  60,
                                                                   120, 300, 600, 1800};
  durations_
      .Add({{"operation", std::string(ToString(op))}, {"result", std::string(result)}}, kBuckets)
      .Observe(d.count());
}

}  // namespace sluice::executor
