#pragma once

#include <chrono>
#include <map>
#include <string>

namespace sluice::kafka {

// Where the brokers are and how the clients identify themselves. The defaults point at the
// local stack.
struct KafkaConfig {
  std::string brokers = "127.0.0.1:19092";
  std::string client_id = "sluice";
  // Raw librdkafka properties applied to every client made from this config (e.g.
  // "session.timeout.ms"). The delivery invariants (idempotence, acks=all, manual offset
  // store) are set after these and cannot be switched off here.
  std::map<std::string, std::string> extra;
  // Where a consumer group with no committed offset starts reading: "earliest" (nothing
  // published before the group's first start is missed) or "latest" (stacks whose topics hold
  // older traffic that is not this installation's, such as a shared test broker).
  std::string consumer_start = "earliest";
  // Upper bound on the flush a Producer does when destroyed.
  std::chrono::milliseconds close_timeout{std::chrono::seconds(10)};
};

// Reads SLUICE_KAFKA_START_OFFSET ("earliest" or "latest") into `config.consumer_start`;
// anything else throws core::ConfigError naming the key and the allowed values.
void ApplyStartOffset(KafkaConfig& config, const std::string& value);

}  // namespace sluice::kafka
