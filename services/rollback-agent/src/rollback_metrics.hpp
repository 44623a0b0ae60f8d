#pragma once

// The rollback-agent's counters on /metrics.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <string_view>

namespace sluice::rollback {

class AgentMetrics {
 public:
  explicit AgentMetrics(::prometheus::Registry& registry);
  void Trigger(std::string_view kind, std::string_view decision, std::string_view reason);
  void Completed(bool success);
  void Incident(bool snapshot_available);

 private:
  ::prometheus::Family<::prometheus::Counter>& triggers_;
  ::prometheus::Family<::prometheus::Counter>& completed_;
  ::prometheus::Family<::prometheus::Counter>& incidents_;
};

}  // namespace sluice::rollback
