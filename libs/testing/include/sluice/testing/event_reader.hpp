#pragma once

// Reads every event of a Kafka topic from its start, in a thread of its own, so a test can wait
// for what a service published and check what it did not. Used only by tests.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/events/envelope.hpp>
#include <string>
#include <thread>
#include <vector>

namespace RdKafka {
class KafkaConsumer;
}

namespace sluice::testing {

struct SeenEvent {
  events::v1::Envelope envelope;
  std::string key;                             // the Kafka message key
  std::map<std::string, std::string> headers;  // the Kafka message headers
  std::chrono::steady_clock::time_point at;    // when this reader got it
};

class EventReader {
 public:
  // Subscribes a consumer group of its own (`group_prefix` + a random suffix) to `topic`, from
  // the earliest offset; messages that are not an Envelope are skipped.
  EventReader(const std::string& brokers, const std::string& topic,
              const std::string& group_prefix = "itest-reader-");
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Every event seen so far that `match` accepts, in the order read.
  std::vector<SeenEvent> Seen(const std::function<bool(const events::v1::Envelope&)>& match) const;
  // The events of one deployment.
  std::vector<events::v1::Envelope> For(const std::string& deployment_id) const;
  // The first event of the deployment with that payload, once seen.
  std::optional<events::v1::Envelope> First(const std::string& deployment_id,
                                            events::v1::Envelope::PayloadCase kind) const;
  // Distinct events (by event id) of the deployment with that payload: the outbox relay may
  // publish an event twice after a crash, and consumers de-duplicate on the id.
  int Count(const std::string& deployment_id, events::v1::Envelope::PayloadCase kind) const;

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<SeenEvent> seen_;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace sluice::testing
