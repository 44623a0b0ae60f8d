#include "rollback_metrics.hpp"

#include <string>

namespace sluice::rollback {

AgentMetrics::AgentMetrics(::prometheus::Registry& registry)
    : triggers_(::prometheus::BuildCounter()
                    .Name("sluice_rollback_triggers_total")
                    .Help("Rollback triggers received, by kind, decision (act, record) and reason")
                    .Register(registry)),
      completed_(::prometheus::BuildCounter()
                     .Name("sluice_rollbacks_completed_total")
                     .Help("Rollbacks completed, by result (success, failure)")
                     .Register(registry)),
      incidents_(::prometheus::BuildCounter()
                     .Name("sluice_rollback_incidents_total")
                     .Help("Incident reports written, by whether the metric snapshot was had")
                     .Register(registry)) {}

void AgentMetrics::Trigger(std::string_view kind, std::string_view decision,
                           std::string_view reason) {
  triggers_
      .Add({{"kind", std::string(kind)},
            {"decision", std::string(decision)},
            {"reason", std::string(reason)}})
      .Increment();
}

void AgentMetrics::Completed(bool success) {
  completed_.Add({{"result", success ? "success" : "failure"}}).Increment();
}

void AgentMetrics::Incident(bool snapshot_available) {
  incidents_.Add({{"snapshot", snapshot_available ? "available" : "unavailable"}}).Increment();
}

}  // namespace sluice::rollback
