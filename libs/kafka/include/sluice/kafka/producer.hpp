#pragma once

#include <chrono>
#include <memory>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/errors.hpp>
#include <sluice/kafka/message.hpp>
#include <vector>

namespace RdKafka {
class Producer;
}  // namespace RdKafka

namespace sluice::kafka {

// An idempotent producer (enable.idempotence=true, acks=all, linger.ms=5). Thread-safe: one
// instance is meant to be shared by a whole process.
class Producer {
 public:
  explicit Producer(KafkaConfig config);
  ~Producer();  // flushes, waiting at most config.close_timeout
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Produces all messages and waits for every delivery report. Throws KafkaError naming the
  // first failure if any failed or if `timeout` passed first (retryable when the broker is
  // unreachable / timed out). After a timeout the undelivered messages stay queued and may
  // still be delivered later: callers that retry must tolerate duplicates (event ids).
  void ProduceSync(const std::vector<OutgoingMessage>& messages, std::chrono::milliseconds timeout);

  // Waits until everything queued so far is delivered. Throws a retryable KafkaError when
  // `timeout` passes first.
  void Flush(std::chrono::milliseconds timeout);

 private:
  class DeliveryReports;
  class Events;

  KafkaConfig config_;
  std::unique_ptr<DeliveryReports> delivery_reports_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<RdKafka::Producer> producer_;  // last: uses the callbacks above
};

}  // namespace sluice::kafka
