#pragma once

// Glue between the event schemas, the outbox and Kafka: how a Sluice service publishes and
// consumes events while keeping DESIGN.md's invariants 1-3 (inbox, outbox, dead letters).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <sluice/core/health.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/kafka/consumer.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/outbox.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace sluice::eventbus {

// Finalizes the envelope (type from payload) and adds it to the outbox inside `tx`, with its
// topic, partition key and CloudEvents headers. It reaches Kafka when `tx` commits and the
// relay runs; if `tx` rolls back, it never does.
void Publish(pqxx::work& tx, events::v1::Envelope envelope);
// The same for many envelopes in one statement, published in the order given.
void PublishAll(pqxx::work& tx, std::vector<events::v1::Envelope> envelopes);

// The outbox's publisher: sends a batch of rows through `producer`, waits for the delivery
// reports (at most `timeout`) and reports each row: published; kRetry when its delivery failed
// in a way that may pass (broker away, timed out, not authorized, fatal producer); kRefused when
// Kafka refused the record itself for good (too large, invalid record), once a copy of it went
// to `dead_letter_topic` (OutboxDeadLetter); while that copy cannot be delivered, kRetry.
pg::OutboxPublisher KafkaOutboxPublisher(
    kafka::Producer& producer, std::chrono::milliseconds timeout,
    std::string dead_letter_topic = std::string(events::kTopicDeadLetter));

// The most a dead-letter copy of an outbox row weighs: far under the broker's message.max.bytes
// (1 MiB by default), so the copy of a row refused for its size is never refused in turn.
inline constexpr size_t kMaxOutboxDeadLetterBytes = 256 * 1024;
// A header value of the original longer than this is cut in the copy (with "...").
inline constexpr size_t kMaxDeadLetterHeaderBytes = 1024;

// The copy of a refused outbox row sent to the dead-letter topic: the row's key and headers
// (values cut to kMaxDeadLetterHeaderBytes), plus dlq_reason (cut likewise), dlq_source=outbox,
// dlq_original_topic, dlq_outbox_id, dlq_original_bytes and dlq_original_sha256 (of the value).
// The value is the original's when the copy then fits in kMaxOutboxDeadLetterBytes; otherwise
// it is empty and dlq_value_omitted=true (the row keeps it in the outbox table).
kafka::OutgoingMessage OutboxDeadLetter(const pg::OutboxRow& row, std::string_view reason,
                                        std::string dead_letter_topic);

// What a service does with one event, inside the transaction that also records the event id in
// its inbox and carries any events it publishes.
using EnvelopeHandler = std::function<void(pqxx::work&, const events::v1::Envelope&)>;

// Turns an EnvelopeHandler into a kafka::Handler: an undecodable or invalid envelope is a
// kafka::PermanentError (dead-lettered with the reason); a duplicate event id is skipped; the
// handler runs under the event's trace id; database outages propagate (retried, then
// dead-lettered by the consumer, which never stores the offset of an unhandled message).
//
// `wanted` (optional) says which valid events the handler acts on; the others are passed over
// without a transaction or an inbox row (a redelivery is passed over again). A service that
// consumes a busy topic for a few of its event types (the planner reads the executor's topic for
// the batch results, not for each host's record) then pays nothing for the rest.
using EnvelopeFilter = std::function<bool(const events::v1::Envelope&)>;
kafka::Handler TransactionalHandler(pg::Database& db, std::string consumer_name,
                                    EnvelopeHandler handler, EnvelopeFilter wanted = {});

// The same for a handler that needs an outside system before it can write (DESIGN.md invariant
// 9: no network I/O inside a database transaction). `prepare` runs first, under the event's
// trace id and with no transaction open (a Redis lease wait goes here); it returns the step that
// runs inside the event's transaction, beside its inbox row. The step is dropped once that
// transaction has ended (committed, rolled back or skipped as a duplicate), so what it captured
// (a lease) is given back after the commit. A retried event is prepared again.
using TransactionStep = std::function<void(pqxx::work&)>;
using PreparingHandler = std::function<TransactionStep(const events::v1::Envelope&)>;
kafka::Handler PreparedTransactionalHandler(pg::Database& db, std::string consumer_name,
                                            PreparingHandler prepare, EnvelopeFilter wanted = {});

// The same guarantees for a topic whose records are not Sluice envelopes (release-intake's
// public inbound topic, sluice.intake.v1): `decode` reads a record into an InboxRecord, or
// throws kafka::PermanentError when it has no usable id (dead-lettered with that reason). The
// record's id goes into the inbox in the transaction that runs `step`; a redelivery with a
// recorded id runs `duplicate` instead (e.g. to answer again), in a transaction of its own. When
// `dead_letter_reason` is set, the record is dead-lettered with it once that transaction has
// committed (a malformed record that still carries an id: answered, then dead-lettered).
struct InboxRecord {
  std::string id;        // the inbox key
  std::string trace_id;  // empty: a new one
  std::string kind;      // for the log
  TransactionStep step;
  TransactionStep duplicate;  // optional
  std::optional<std::string> dead_letter_reason;
};
using RecordDecoder = std::function<InboxRecord(const kafka::ConsumedMessage&)>;
kafka::Handler InboxRecordHandler(pg::Database& db, std::string consumer_name,
                                  RecordDecoder decode);

// The outbox relay as a lifecycle component.
class OutboxRelayComponent final : public core::Component {
 public:
  OutboxRelayComponent(pg::Database& db, kafka::Producer& producer,
                       pg::OutboxRelayOptions options = {});
  std::string_view Name() const override { return "outbox-relay"; }
  void Start() override { relay_.Start(); }
  void Stop() override { relay_.Stop(); }
  pg::OutboxRelay& Relay() { return relay_; }

 private:
  pg::OutboxRelay relay_;
};

// A Kafka consumer as a lifecycle component. With a registry, it exports (label `group`):
//   sluice_consumer_assigned_partitions           partitions assigned now
//   sluice_consumer_message_in_hand_seconds       how long the message in hand has held the
//                                                 consumer (0 while polling)
//   sluice_consumer_last_progress_timestamp_seconds  when the poll loop was last free
//   sluice_consumer_messages_total{outcome}       processed, dead_lettered, dead_letter_dropped
//   sluice_consumer_retries_total                 handler retries
// refreshed by ReportConsumerHealth (the services' probe, every 2 s).
class ConsumerComponent final : public core::Component {
 public:
  ConsumerComponent(std::string name, kafka::KafkaConfig config,
                    const kafka::ConsumerOptions& options, kafka::Handler handler,
                    kafka::Producer& dead_letters, ::prometheus::Registry* registry = nullptr);
  ~ConsumerComponent() override;
  std::string_view Name() const override { return name_; }
  void Start() override { consumer_.Start(); }
  void Stop() override { consumer_.Stop(); }
  kafka::Consumer& Consumer() { return consumer_; }
  // Copies the consumer's counters and status into the metrics (no-op without a registry).
  void RefreshMetrics();

 private:
  class Metrics;
  std::string name_;
  kafka::Consumer consumer_;
  std::unique_ptr<Metrics> metrics_;
};

// How long one message may hold a consumer before /readyz says so.
inline constexpr std::chrono::seconds kConsumerStalledAfter{120};

// The readiness of a service that consumes into PostgreSQL: "postgres" (the pool answers) and
// "kafka-consumer" (kafka::ConsumerNotReadyReason: the consumer runs, has had its partition
// assignment since it started, and no message has held it for kConsumerStalledAfter), each
// with a message saying what is wrong. Also refreshes the consumer's metrics.
void ReportConsumerHealth(pg::Database& db, ConsumerComponent& consumer, core::Health& health);

}  // namespace sluice::eventbus
