#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <exception>
#include <map>
#include <sluice/eventbus/outbox_metrics.hpp>

namespace sluice::eventbus {

OutboxMetrics::OutboxMetrics(::prometheus::Registry& registry, const std::string& service) {
  const std::map<std::string, std::string> labels = {{"service", service}};
  pending_ = &::prometheus::BuildGauge()
                  .Name("sluice_outbox_pending")
                  .Help("Events written to the outbox and not yet published to Kafka")
                  .Register(registry)
                  .Add(labels);
  oldest_pending_age_ = &::prometheus::BuildGauge()
                             .Name("sluice_outbox_oldest_pending_age_seconds")
                             .Help(
                                 "Age of the oldest event waiting in the outbox (0 when none): "
                                 "when it keeps growing, the relay is not publishing")
                             .Register(registry)
                             .Add(labels);
  dead_ = &::prometheus::BuildGauge()
               .Name("sluice_outbox_dead")
               .Help("Outbox events Kafka refused for good (dead_at set), kept for an operator")
               .Register(registry)
               .Add(labels);
  dead_lettered_ = &::prometheus::BuildCounter()
                        .Name("sluice_outbox_dead_lettered_total")
                        .Help(
                            "Outbox events dead-lettered by this process (refused for good by "
                            "Kafka; each logged at ERROR and copied to the dead-letter topic)")
                        .Register(registry)
                        .Add(labels);
}

void OutboxMetrics::Update(pg::OutboxRelay& relay) {
  const auto dead_lettered = relay.DeadLettered();
  dead_lettered_->Increment(static_cast<double>(dead_lettered - dead_lettered_seen_));
  dead_lettered_seen_ = dead_lettered;
  try {
    const auto stats = relay.Stats();
    pending_->Set(static_cast<double>(stats.pending));
    oldest_pending_age_->Set(stats.oldest_pending_age_seconds);
    dead_->Set(static_cast<double>(stats.dead));
  } catch (const std::exception&) {
    // PostgreSQL unreachable: /readyz says so; the gauges keep their last values.
  }
}

}  // namespace sluice::eventbus
