#pragma once

#include <chrono>
#include <memory>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/errors.hpp>
#include <sluice/kafka/message.hpp>
#include <string>
#include <vector>

namespace RdKafka {
class Producer;
}  // namespace RdKafka

namespace sluice::kafka {

// What became of one message of Producer::ProduceEach.
struct Delivery {
  enum class Status {
    kDelivered,
    kFailed,    // not delivered; trying again later may work (broker away, timed out, ...)
    kRejected,  // Kafka will never take this record as it is (too large, invalid record)
  };
  Status status = Status::kDelivered;
  std::string error;  // why not delivered, naming the topic
};

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

  // Produces all messages and waits for their delivery reports until `timeout`, and says for
  // each message, in order, what became of it. One message's failure does not stop the others.
  // kRejected: the client or the broker refused the record itself for good (message size too
  // large, invalid record, invalid topic name); kFailed: anything else, including a timeout
  // (the message may still be delivered later) and a fatal producer state.
  std::vector<Delivery> ProduceEach(const std::vector<OutgoingMessage>& messages,
                                    std::chrono::milliseconds timeout);

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
