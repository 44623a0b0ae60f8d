#pragma once

// The outbox's state on a service's /metrics, so an alert fires when its relay stops publishing
// (the service stays ready meanwhile: requests are accepted and wait in the outbox).

#include <cstdint>
#include <sluice/pg/outbox.hpp>
#include <string>

namespace prometheus {
class Counter;
class Gauge;
class Registry;
}  // namespace prometheus

namespace sluice::eventbus {

// Registers, labelled service="<service>":
//   sluice_outbox_pending                      events not yet published
//   sluice_outbox_oldest_pending_age_seconds   age of the oldest of them (0 when none)
//   sluice_outbox_dead                         events Kafka refused for good (dead_at set)
//   sluice_outbox_dead_lettered_total          events this process dead-lettered
class OutboxMetrics {
 public:
  OutboxMetrics(::prometheus::Registry& registry, const std::string& service);

  // Reads the relay's Stats() (one query) and its dead-letter count; call it from the probe.
  // While PostgreSQL is unreachable the gauges keep their last values.
  void Update(pg::OutboxRelay& relay);

 private:
  ::prometheus::Gauge* pending_;
  ::prometheus::Gauge* oldest_pending_age_;
  ::prometheus::Gauge* dead_;
  ::prometheus::Counter* dead_lettered_;
  uint64_t dead_lettered_seen_ = 0;  // only the probe thread calls Update
};

}  // namespace sluice::eventbus
