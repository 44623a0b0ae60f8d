#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/errors.hpp>
#include <sluice/kafka/message.hpp>
#include <sluice/kafka/producer.hpp>
#include <string>
#include <thread>
#include <vector>

namespace RdKafka {
class KafkaConsumer;
class Message;
}  // namespace RdKafka

namespace sluice::kafka {

// Headers added to a dead-lettered message, beside its original headers.
inline constexpr std::string_view kDlqReason = "dlq_reason";
inline constexpr std::string_view kDlqOriginalTopic = "dlq_original_topic";
inline constexpr std::string_view kDlqOriginalPartition = "dlq_original_partition";
inline constexpr std::string_view kDlqOriginalOffset = "dlq_original_offset";
inline constexpr std::string_view kDlqConsumerGroup = "dlq_consumer_group";
inline constexpr std::string_view kDlqAttempts = "dlq_attempts";

inline constexpr std::string_view kDefaultDeadLetterTopic = "sluice.deadletter.v1";

struct ConsumerOptions {
  std::string group_id;  // consumer group, e.g. "rollout-planner"
  std::vector<std::string> topics;
  int max_attempts = 5;                          // attempts per message before dead-lettering
  std::chrono::milliseconds retry_backoff{200};  // doubled per attempt, capped at 5 s
  std::string dead_letter_topic{kDefaultDeadLetterTopic};
  std::chrono::milliseconds poll_timeout{100};
  // How long one dead-letter produce may wait for its delivery report before it is retried.
  std::chrono::milliseconds dead_letter_timeout{std::chrono::seconds(10)};
};

// Handles one message. Returning normally means its effects are durable (its transaction
// committed): only then is the offset stored. Throw PermanentError for a message that can
// never be processed, anything else for a failure worth retrying.
using Handler = std::function<void(const ConsumedMessage&)>;

// The wait before retry number `attempt` (1 = the first retry): retry_backoff doubled per
// attempt, capped at kMaxRetryBackoff.
inline constexpr std::chrono::milliseconds kMaxRetryBackoff{5000};
std::chrono::milliseconds RetryBackoff(const ConsumerOptions& options, int attempt);

// The record sent to the dead-letter topic for `message`: same key, value and headers, plus
// the dlq_* headers.
OutgoingMessage DeadLetterMessage(const ConsumedMessage& message, const ConsumerOptions& options,
                                  int attempts, std::string_view reason);

// A consumer-group member that runs `handler` on one poll thread, one message at a time, with
// at-least-once delivery: the offset is stored only after the handler returned or the message
// was dead-lettered (and the dead-letter delivery confirmed).
class Consumer {
 public:
  Consumer(KafkaConfig config, ConsumerOptions options, Handler handler, Producer& dead_letters);
  ~Consumer();  // stops
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void Start();  // subscribes and spawns the poll thread
  // Finishes the message in hand (a pending retry or dead-letter wait is abandoned, leaving
  // that offset unstored), commits the stored offsets synchronously, closes the consumer.
  void Stop();
  bool Running() const { return running_.load(); }

  // Counters for /metrics and tests.
  uint64_t Processed() const { return processed_.load(); }
  uint64_t DeadLettered() const { return dead_lettered_.load(); }
  uint64_t Retries() const { return retries_.load(); }

 private:
  class Rebalance;
  class Events;

  void Run();
  void Handle(const RdKafka::Message& raw);
  bool DeadLetter(const ConsumedMessage& message, int attempts, const std::string& reason);
  void StoreOffset(const ConsumedMessage& message);
  // Waits up to `d` unless Stop() is called; false when stopping.
  bool WaitUnlessStopping(std::chrono::milliseconds d);
  void CloseConsumer();

  KafkaConfig config_;
  ConsumerOptions options_;
  Handler handler_;
  Producer& dead_letters_;

  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> processed_{0};
  std::atomic<uint64_t> dead_lettered_{0};
  std::atomic<uint64_t> retries_{0};
  std::mutex mu_;
  std::condition_variable stop_cv_;

  std::unique_ptr<Rebalance> rebalance_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::thread thread_;  // last: joined before the rest goes away
};

}  // namespace sluice::kafka
