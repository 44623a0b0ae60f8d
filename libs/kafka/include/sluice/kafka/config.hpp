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
  // Upper bound on the flush a Producer does when destroyed.
  std::chrono::milliseconds close_timeout{std::chrono::seconds(10)};
};

}  // namespace sluice::kafka
