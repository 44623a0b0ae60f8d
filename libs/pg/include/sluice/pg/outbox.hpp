#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <sluice/core/clock.hpp>
#include <sluice/pg/database.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::pg {

// An event waiting in the outbox. payload is raw bytes (a serialized envelope); header values
// are stored as JSON text and must be valid UTF-8 (CloudEvents headers are).
struct OutboxMessage {
  std::string topic;
  std::string key;
  std::string payload;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Inserts the message in the caller's transaction, so it commits (or not) with the state
// change that caused it, and NOTIFYs channel "<schema>_outbox" to wake the relay at commit.
void AddToOutbox(pqxx::work& tx, const OutboxMessage& message);
// The same for many messages in one statement, published in the order given.
void AddAllToOutbox(pqxx::work& tx, const std::vector<OutboxMessage>& messages);

// Deletes rows published before `published_before` (the outbox is not an archive); returns
// how many. Run it now and then, e.g. with a durable timer.
int64_t DeletePublishedOutbox(pqxx::work& tx, core::SystemTime published_before);

struct OutboxRow {
  int64_t id;
  OutboxMessage message;
  int attempts;
};

// What became of one row offered to the publisher.
enum class OutboxOutcome {
  kPublished,  // the broker has it
  kRetry,      // not published this time (broker unreachable, timed out, leader moving, ...)
  kRefused,    // the broker will never take this row as it is (too large, invalid record): it
               // is dead-lettered, and the rows behind it move on
};

struct OutboxResult {
  OutboxOutcome outcome = OutboxOutcome::kPublished;
  std::string error;  // why not published (kRetry, kRefused)
};

// Publishes a batch, in order, and reports one result per row, in the batch's order. A
// publisher that throws fails the whole batch (nothing is marked published, the batch is
// offered again later). It must be idempotent per row id: a crash between publishing and
// committing the marking publishes the rows again. For a kRefused row it is the publisher's
// job to keep a copy where operators look (the Kafka publisher sends one to the dead-letter
// topic; when that copy cannot be sent yet it answers kRetry instead).
using OutboxPublisher = std::function<std::vector<OutboxResult>(const std::vector<OutboxRow>&)>;

// The outbox's state, for /metrics and alerts.
struct OutboxStats {
  int64_t pending = 0;  // rows waiting to be published
  int64_t dead = 0;     // rows refused for good (dead_at set), kept until an operator acts
  double oldest_pending_age_seconds = 0;  // age of the oldest waiting row (0 when none)
};

// Thrown by RelayOnce when the publisher reported every row of a batch as failed.
class OutboxStalled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct OutboxRelayOptions {
  int batch_size = 200;
  std::chrono::milliseconds idle_poll{200};
  std::chrono::milliseconds max_backoff{5000};
  // Only one relay per schema works at a time (a transaction-level advisory lock), so events
  // of one key are published in id order even with many replicas. With false, relays share
  // the rows through FOR UPDATE SKIP LOCKED and order across batches is not kept.
  bool single_active_relay = true;
};

// Moves committed outbox rows to the publisher (Kafka) and marks them published.
class OutboxRelay {
 public:
  OutboxRelay(Database& db, OutboxPublisher publish, OutboxRelayOptions options = {});
  ~OutboxRelay();  // stops the background thread
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // One pass: in a transaction, SELECT the oldest live rows (unpublished, not dead) FOR UPDATE
  // SKIP LOCKED, leaving out the rows of a key whose earlier row failed on its own (they wait
  // behind it), publish them and commit the results:
  //  - kPublished: published_at = now(), unless an earlier row of the same key in the batch was
  //    not published; then it stays pending and is sent again after that row (a duplicate for
  //    consumers, who de-duplicate by event id, rather than a key out of order);
  //  - kRefused: dead_at = now(), last_error = the reason; logged at ERROR, counted in
  //    DeadLettered(); the rows behind it, of its key too, move on;
  //  - kRetry: attempts + 1, last_error, failed_at = now(); later rows of its key wait.
  // When the publisher throws, nothing is marked, attempts / last_error of the whole batch are
  // recorded in a separate transaction and the exception is rethrown; so is an OutboxStalled
  // when every row of the batch failed (so Run backs off). Returns the number of rows
  // published (0 when another relay holds the schema's relay lock).
  int RelayOnce();

  // Runs RelayOnce in a background thread until Stop: immediately again while batches are
  // full, otherwise after a NOTIFY on "<schema>_outbox" or idle_poll, whichever is first.
  // While publishing fails it backs off exponentially up to max_backoff and logs only when
  // the state changes (failing / recovered).
  void Start();
  void Stop();

  // Live unpublished rows (for /metrics and tests); dead rows are not counted.
  int64_t Pending();
  // Pending, dead and the age of the oldest pending row, in one query.
  OutboxStats Stats();
  // Rows this relay dead-lettered since it was made (for a counter).
  uint64_t DeadLettered() const { return dead_lettered_.load(); }

 private:
  void Run();
  // Waits for a notification or `timeout`; returns early on Stop.
  void WaitForWork(std::chrono::milliseconds timeout);
  void WaitStoppable(std::chrono::milliseconds timeout);

  Database& db_;
  const OutboxPublisher publish_;
  const OutboxRelayOptions options_;
  const std::string channel_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by mu_
  std::atomic<uint64_t> dead_lettered_{0};
  int wake_read_ = -1;  // self-pipe: Stop interrupts the wait on the listener socket
  int wake_write_ = -1;
  std::unique_ptr<pqxx::connection> listener_;  // only the relay thread touches it
  std::unique_ptr<pqxx::notification_receiver> receiver_;
  std::thread thread_;  // last: stopped first
};

}  // namespace sluice::pg
