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
  // The stable identity of this replica (librdkafka group.instance.id, static membership):
  // a consumer restarted with the same id gets its partitions back as soon as it rejoins,
  // instead of after its predecessor's session expires. Empty: dynamic membership. Two live
  // members of one group must never share it (the older one is fenced and stops).
  std::string instance_id;
  // session.timeout.ms of consumers: how long a member that stopped heartbeating (crashed,
  // or a static member that shut down, which does not leave its group) keeps its partitions.
  std::chrono::milliseconds session_timeout{std::chrono::seconds(10)};
  // Upper bound on the flush a Producer does when destroyed.
  std::chrono::milliseconds close_timeout{std::chrono::seconds(10)};
};

// Reads SLUICE_KAFKA_START_OFFSET ("earliest" or "latest") into `config.consumer_start`;
// anything else throws core::ConfigError naming the key and the allowed values.
void ApplyStartOffset(KafkaConfig& config, const std::string& value);

// Sets `config.instance_id` from SLUICE_INSTANCE_ID (`configured`), or when that is empty
// from what is stable across restarts and distinct between live replicas: the host name and
// the port of the replica's HTTP address (two replicas on one host cannot listen on one port),
// e.g. "host-1:8084". "none", or an address with port 0 (picked at start, so not stable):
// dynamic membership. A configured id longer than 200 bytes or with control characters throws
// core::ConfigError.
void ApplyInstanceId(KafkaConfig& config, const std::string& configured,
                     const std::string& http_addr);

}  // namespace sluice::kafka
