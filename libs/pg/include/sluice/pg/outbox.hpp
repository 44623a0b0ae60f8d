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

// Publishes a batch, in order; throws on failure (then nothing of the batch is marked
// published and the whole batch is offered again later). It must be idempotent per row id:
// a crash between publishing and committing the marking publishes the batch again.
using OutboxPublisher = std::function<void(const std::vector<OutboxRow>&)>;

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

  // One pass: in a transaction, SELECT the oldest unpublished rows FOR UPDATE SKIP LOCKED,
  // publish them, mark published_at = now() and commit. When the publisher throws, the
  // marking is rolled back, attempts / last_error are recorded in a separate transaction and
  // the publisher's exception is rethrown. Returns the number of rows published (0 when
  // another relay holds the schema's relay lock).
  int RelayOnce();

  // Runs RelayOnce in a background thread until Stop: immediately again while batches are
  // full, otherwise after a NOTIFY on "<schema>_outbox" or idle_poll, whichever is first.
  // While publishing fails it backs off exponentially up to max_backoff and logs only when
  // the state changes (failing / recovered).
  void Start();
  void Stop();

  // Unpublished rows (for /metrics and tests).
  int64_t Pending();

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
  int wake_read_ = -1;     // self-pipe: Stop interrupts the wait on the listener socket
  int wake_write_ = -1;
  std::unique_ptr<pqxx::connection> listener_;  // only the relay thread touches it
  std::unique_ptr<pqxx::notification_receiver> receiver_;
  std::thread thread_;  // last: stopped first
};

}  // namespace sluice::pg
