#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/errors.hpp>
#include <sluice/kafka/message.hpp>
#include <sluice/kafka/producer.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace RdKafka {
class KafkaConsumer;
class Message;
class TopicPartition;
}  // namespace RdKafka

namespace sluice::kafka {

// Headers added to a dead-lettered message, beside its original headers.
inline constexpr std::string_view kDlqReason = "dlq_reason";
inline constexpr std::string_view kDlqOriginalTopic = "dlq_original_topic";
inline constexpr std::string_view kDlqOriginalPartition = "dlq_original_partition";
inline constexpr std::string_view kDlqOriginalOffset = "dlq_original_offset";
inline constexpr std::string_view kDlqConsumerGroup = "dlq_consumer_group";
inline constexpr std::string_view kDlqAttempts = "dlq_attempts";
// Added when the record had to be cut to fit the dead-letter budget: the original value's size
// in bytes (decimal) and SHA-256 (lowercase hex), "true" when the value was cut or left out,
// and the number of original headers cut or left out.
inline constexpr std::string_view kDlqValueSize = "dlq_value_size";
inline constexpr std::string_view kDlqValueSha256 = "dlq_value_sha256";
inline constexpr std::string_view kDlqValueTruncated = "dlq_value_truncated";
inline constexpr std::string_view kDlqHeadersTruncated = "dlq_headers_truncated";

// Headers (lowercase; matched without regard to case) whose values a dead-letter copy never
// carries: "[redacted]" instead (a producer's API token on sluice.intake.v1).
inline constexpr std::array<std::string_view, 2> kRedactedHeaders = {"authorization",
                                                                     "proxy-authorization"};

inline constexpr std::string_view kDefaultDeadLetterTopic = "sluice.deadletter.v1";

// Default budget of a dead-letter record (key, value and headers): well under the broker's
// 1 MB message.max.bytes, so the copy of any record fits the dead-letter topic.
inline constexpr std::size_t kDefaultDeadLetterMaxBytes = std::size_t{512} * 1024;
// Bounds on the parts of a dead-letter record that are kept whatever the budget.
inline constexpr std::size_t kDlqMaxReasonBytes = 4096;
inline constexpr std::size_t kDlqMaxKeyBytes = 4096;
inline constexpr std::size_t kDlqMaxHeaderValueBytes = 1024;

struct ConsumerOptions {
  std::string group_id;  // consumer group, e.g. "rollout-planner"
  std::vector<std::string> topics;
  int max_attempts = 5;                          // attempts per message before dead-lettering
  std::chrono::milliseconds retry_backoff{200};  // doubled per attempt, capped at 5 s
  std::string dead_letter_topic{kDefaultDeadLetterTopic};
  std::chrono::milliseconds poll_timeout{100};
  // How long one dead-letter produce may wait for its delivery report before it is retried.
  std::chrono::milliseconds dead_letter_timeout{std::chrono::seconds(10)};
  // Upper bound on a dead-letter record's key + value + headers; a bigger record is sent
  // with its value cut (see kDlqValueTruncated).
  std::size_t dead_letter_max_bytes = kDefaultDeadLetterMaxBytes;
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
// the dlq_* headers (credential headers redacted: kRedactedHeaders), within `max_bytes` (key +
// value + header keys and values, plus a few bytes per header). When the copy does not fit, the
// value is cut to what the budget leaves (possibly nothing) and dlq_value_size / dlq_value_sha256 /
// dlq_value_truncated describe the original; if the key and headers alone do not fit, original
// header values are cut to kDlqMaxHeaderValueBytes and the last ones dropped (dlq_headers_truncated
// counts them). The reason and key are always cut to kDlqMaxReasonBytes / kDlqMaxKeyBytes. With
// max_bytes 0, the minimal copy: coordinates, reason and digest only.
OutgoingMessage DeadLetterMessage(const ConsumedMessage& message, const ConsumerOptions& options,
                                  int attempts, std::string_view reason, std::size_t max_bytes);
// The same within options.dead_letter_max_bytes.
OutgoingMessage DeadLetterMessage(const ConsumedMessage& message, const ConsumerOptions& options,
                                  int attempts, std::string_view reason);
// The size a record counts for against the dead-letter budget.
std::size_t RecordSize(const OutgoingMessage& message);

// A snapshot of a consumer's progress, for readiness and metrics.
struct ConsumerStatus {
  using TimePoint = std::chrono::system_clock::time_point;
  bool running = false;
  // The group has given this member an assignment (possibly empty, when there are more members
  // than partitions) since Start(): until then it consumes nothing.
  bool assigned = false;
  int partitions = 0;  // partitions assigned now
  // When the handler (with its retries and the dead-letter produce) started on the message in
  // hand; empty when the consumer is polling.
  std::optional<TimePoint> in_hand_since;
  // The last time the poll loop was free: a message finished or a poll returned.
  TimePoint last_progress{};
};

// Why a consumer in `status` should not count as ready at `now`, or empty when it should:
// stopped; not assigned yet (after a restart, until the group hands its partitions back); or
// held by one message for longer than `stalled_after` (every partition waits behind it).
std::optional<std::string> ConsumerNotReadyReason(const ConsumerStatus& status,
                                                  ConsumerStatus::TimePoint now,
                                                  std::chrono::milliseconds stalled_after);

// A consumer-group member that runs `handler` on one poll thread, one message at a time, with
// at-least-once delivery: the offset is stored only after the handler returned or the message
// was dead-lettered (and the dead-letter delivery confirmed, or refused for good even in its
// minimal form). A message waiting for a retry pauses only its own partition.
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
  // Messages whose dead-letter copy the broker refused permanently, even the minimal one:
  // logged at ERROR with their coordinates and passed over.
  uint64_t DeadLetterDropped() const { return dead_letter_dropped_.load(); }
  // Times the group fenced this static member and it rejoined with a new client.
  uint64_t Rejoins() const { return rejoins_.load(); }
  ConsumerStatus Status() const;

 private:
  class Rebalance;
  class Events;

  // A message whose handler failed and that waits for its next attempt while its partition
  // is paused (the other partitions go on). Poll thread only.
  struct Deferred {
    ConsumedMessage message;
    int attempts = 0;  // made so far
    std::chrono::steady_clock::time_point due;
  };
  using PartitionKey = std::pair<std::string, int32_t>;

  void Run();
  void Handle(const RdKafka::Message& raw);
  // Attempt number `attempt` at `message`: stored when it succeeds; deferred when it failed
  // and attempts are left; dead-lettered otherwise.
  void Attempt(const ConsumedMessage& message, int attempt);
  void Defer(const ConsumedMessage& message, int attempts,
             std::chrono::steady_clock::time_point due);
  void RetryDue();
  // Unpauses the partition of `done`, fetching from the message after it.
  void Resume(const ConsumedMessage& done);
  // Forgets (and unpauses) the deferred messages of partitions taken away.
  void DropDeferred(const std::vector<RdKafka::TopicPartition*>& partitions);
  std::chrono::milliseconds NextPollTimeout() const;
  enum class DeadLetterOutcome { kDelivered, kDropped, kStopping };
  DeadLetterOutcome DeadLetter(const ConsumedMessage& message, int attempts,
                               const std::string& reason);
  void StoreOffset(const ConsumedMessage& message);
  // Waits up to `d` unless Stop() is called; false when stopping.
  bool WaitUnlessStopping(std::chrono::milliseconds d);
  void CloseConsumer();
  std::unique_ptr<RdKafka::KafkaConsumer> Create();
  // After the group fenced this static member (FENCED_INSTANCE_ID, fatal in librdkafka): a new
  // client in its place, unless it was fenced again within kFencedAgainWithinMs of the last
  // rejoin, which means another live consumer has the same instance id. False: stop.
  bool Rejoin(const std::string& reason);
  static constexpr int64_t kFencedAgainWithinMs = 30000;

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
  std::atomic<uint64_t> dead_letter_dropped_{0};
  std::atomic<uint64_t> rejoins_{0};
  int64_t rejoined_at_ms_ = 0;  // poll thread only; system clock ms of the last rejoin
  std::atomic<bool> assigned_{false};
  std::atomic<int> partitions_{0};
  std::atomic<int64_t> in_hand_since_ms_{0};   // system clock ms; 0 = polling
  std::atomic<int64_t> last_progress_ms_{0};   // system clock ms
  std::map<PartitionKey, Deferred> deferred_;  // poll thread only
  std::mutex mu_;
  std::condition_variable stop_cv_;

  std::unique_ptr<Rebalance> rebalance_;
  std::unique_ptr<Events> events_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::thread thread_;  // last: joined before the rest goes away
};

}  // namespace sluice::kafka
