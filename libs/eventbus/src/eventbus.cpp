#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <sluice/core/encoding.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/pg/inbox.hpp>

namespace sluice::eventbus {

namespace {

pg::OutboxMessage ToOutbox(events::v1::Envelope& envelope) {
  events::Finalize(envelope);
  pg::OutboxMessage message;
  message.topic = std::string(events::TopicFor(envelope));
  message.key = events::PartitionKey(envelope);
  message.headers = events::CloudEventHeaders(envelope);
  message.payload = envelope.SerializeAsString();
  return message;
}

// A header value as the dead-letter copy carries it: at most kMaxDeadLetterHeaderBytes.
std::string Cut(std::string value) {
  if (value.size() <= kMaxDeadLetterHeaderBytes) return value;
  value.resize(kMaxDeadLetterHeaderBytes - 3);
  return value + "...";
}

// One transaction: the inbox row of `id` and `step`, or `duplicate` when `consumer` has seen
// `id` before.
void RunOnce(pg::Database& db, const std::string& consumer, const std::string& id,
             const std::string& kind, const TransactionStep& step,
             const TransactionStep& duplicate) {
  db.WithTransaction([&](pqxx::work& tx) {
    if (!pg::RecordInbox(tx, consumer, id)) {
      core::Logger("eventbus")->debug("{} skips duplicate event {} ({})", consumer, id, kind);
      if (duplicate) duplicate(tx);
      return 0;
    }
    if (step) step(tx);
    return 0;
  });
}

}  // namespace

void Publish(pqxx::work& tx, events::v1::Envelope envelope) {
  pg::AddToOutbox(tx, ToOutbox(envelope));
}

void PublishAll(pqxx::work& tx, std::vector<events::v1::Envelope> envelopes) {
  std::vector<pg::OutboxMessage> messages;
  messages.reserve(envelopes.size());
  for (auto& e : envelopes) messages.push_back(ToOutbox(e));
  pg::AddAllToOutbox(tx, messages);
}

kafka::OutgoingMessage OutboxDeadLetter(const pg::OutboxRow& row, std::string_view reason,
                                        std::string dead_letter_topic) {
  kafka::OutgoingMessage m;
  m.topic = std::move(dead_letter_topic);
  m.key = row.message.key;
  for (const auto& [name, value] : row.message.headers) m.headers.push_back({name, Cut(value)});
  m.headers.push_back({std::string(kafka::kDlqReason), Cut(std::string(reason))});
  m.headers.push_back({"dlq_source", "outbox"});
  m.headers.push_back({std::string(kafka::kDlqOriginalTopic), Cut(row.message.topic)});
  m.headers.push_back({"dlq_outbox_id", std::to_string(row.id)});
  m.headers.push_back({"dlq_original_bytes", std::to_string(row.message.payload.size())});
  m.headers.push_back({"dlq_original_sha256", core::Sha256Hex(row.message.payload)});
  size_t bytes = m.key.size();
  for (const auto& h : m.headers) bytes += h.key.size() + h.value.size();
  if (bytes + row.message.payload.size() <= kMaxOutboxDeadLetterBytes) {
    m.value = row.message.payload;
  } else {
    m.headers.push_back({"dlq_value_omitted", "true"});
  }
  return m;
}

pg::OutboxPublisher KafkaOutboxPublisher(kafka::Producer& producer,
                                         std::chrono::milliseconds timeout,
                                         std::string dead_letter_topic) {
  return [&producer, timeout, dead_letter_topic = std::move(dead_letter_topic)](
             const std::vector<pg::OutboxRow>& rows) {
    std::vector<kafka::OutgoingMessage> messages;
    messages.reserve(rows.size());
    for (const auto& row : rows) {
      kafka::OutgoingMessage m;
      m.topic = row.message.topic;
      m.key = row.message.key;
      m.value = row.message.payload;
      m.headers.reserve(row.message.headers.size());
      for (const auto& [k, v] : row.message.headers) m.headers.push_back({k, v});
      messages.push_back(std::move(m));
    }
    const auto deliveries = producer.ProduceEach(messages, timeout);
    std::vector<pg::OutboxResult> results(rows.size());
    std::vector<size_t> refused;
    std::vector<kafka::OutgoingMessage> copies;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& d = deliveries[i];
      if (d.status == kafka::Delivery::Status::kDelivered) continue;
      results[i].error = d.error;
      if (d.status == kafka::Delivery::Status::kFailed) {
        results[i].outcome = pg::OutboxOutcome::kRetry;
        continue;
      }
      refused.push_back(i);
      copies.push_back(OutboxDeadLetter(rows[i], d.error, dead_letter_topic));
    }
    if (copies.empty()) return results;
    const auto copied = producer.ProduceEach(copies, timeout);
    for (size_t j = 0; j < refused.size(); ++j) {
      auto& result = results[refused[j]];
      if (copied[j].status == kafka::Delivery::Status::kFailed) {
        // Dead-lettered only once the copy is safe: until then the row waits, like any failure.
        result.outcome = pg::OutboxOutcome::kRetry;
        result.error += "; its dead-letter copy to " + dead_letter_topic +
                        " is not delivered yet: " + copied[j].error;
        continue;
      }
      result.outcome = pg::OutboxOutcome::kRefused;
      if (copied[j].status == kafka::Delivery::Status::kRejected) {
        result.error += "; its dead-letter copy was refused too: " + copied[j].error;
      } else {
        result.error += "; a copy is on " + dead_letter_topic;
      }
    }
    return results;
  };
}

kafka::Handler TransactionalHandler(pg::Database& db, std::string consumer_name,
                                    EnvelopeHandler handler, EnvelopeFilter wanted) {
  return PreparedTransactionalHandler(
      db, std::move(consumer_name),
      [handler = std::move(handler)](const events::v1::Envelope& envelope) -> TransactionStep {
        return [&handler, &envelope](pqxx::work& tx) { handler(tx, envelope); };
      },
      std::move(wanted));
}

kafka::Handler PreparedTransactionalHandler(pg::Database& db, std::string consumer_name,
                                            PreparingHandler prepare, EnvelopeFilter wanted) {
  return [&db, consumer = std::move(consumer_name), prepare = std::move(prepare),
          wanted = std::move(wanted)](const kafka::ConsumedMessage& msg) {
    std::string error;
    auto envelope = events::Parse(msg.value, &error);
    if (!envelope) throw kafka::PermanentError(error);
    if (auto invalid = events::Validate(*envelope)) throw kafka::PermanentError(*invalid);
    if (wanted && !wanted(*envelope)) return;
    core::TraceScope trace(envelope->trace_id());
    const TransactionStep step = prepare(*envelope);
    RunOnce(db, consumer, envelope->event_id(), envelope->type(), step, {});
  };
}

kafka::Handler InboxRecordHandler(pg::Database& db, std::string consumer_name,
                                  RecordDecoder decode) {
  return [&db, consumer = std::move(consumer_name),
          decode = std::move(decode)](const kafka::ConsumedMessage& msg) {
    const InboxRecord record = decode(msg);
    if (record.id.empty()) throw kafka::PermanentError("the record carries no id");
    core::TraceScope trace(record.trace_id.empty() ? core::NewTraceId() : record.trace_id);
    RunOnce(db, consumer, record.id, record.kind, record.step, record.duplicate);
    if (record.dead_letter_reason) throw kafka::PermanentError(*record.dead_letter_reason);
  };
}

OutboxRelayComponent::OutboxRelayComponent(pg::Database& db, kafka::Producer& producer,
                                           pg::OutboxRelayOptions options)
    : relay_(db, KafkaOutboxPublisher(producer, std::chrono::seconds(10)), options) {}

class ConsumerComponent::Metrics {
 public:
  Metrics(::prometheus::Registry& registry, const std::string& group)
      : partitions_(::prometheus::BuildGauge()
                        .Name("sluice_consumer_assigned_partitions")
                        .Help("Partitions assigned to this Kafka consumer now")
                        .Register(registry)
                        .Add({{"group", group}})),
        in_hand_(::prometheus::BuildGauge()
                     .Name("sluice_consumer_message_in_hand_seconds")
                     .Help("How long the message in hand (handler, retries, dead-lettering) has "
                           "held the consumer; 0 while it polls")
                     .Register(registry)
                     .Add({{"group", group}})),
        last_progress_(::prometheus::BuildGauge()
                           .Name("sluice_consumer_last_progress_timestamp_seconds")
                           .Help("When the consumer's poll loop was last free (a message "
                                 "finished or a poll returned), Unix time")
                           .Register(registry)
                           .Add({{"group", group}})),
        messages_(::prometheus::BuildCounter()
                      .Name("sluice_consumer_messages_total")
                      .Help("Messages the consumer finished, by outcome: processed, "
                            "dead_lettered, dead_letter_dropped (the dead-letter topic refused "
                            "even the minimal copy)")
                      .Register(registry)),
        processed_(messages_.Add({{"group", group}, {"outcome", "processed"}})),
        dead_lettered_(messages_.Add({{"group", group}, {"outcome", "dead_lettered"}})),
        dropped_(messages_.Add({{"group", group}, {"outcome", "dead_letter_dropped"}})),
        retries_(::prometheus::BuildCounter()
                     .Name("sluice_consumer_retries_total")
                     .Help("Handler attempts that failed and were retried")
                     .Register(registry)
                     .Add({{"group", group}})) {}

  void Refresh(const kafka::Consumer& consumer) {
    using Seconds = std::chrono::duration<double>;
    const auto status = consumer.Status();
    const auto now = std::chrono::system_clock::now();
    partitions_.Set(status.partitions);
    in_hand_.Set(status.in_hand_since ? Seconds(now - *status.in_hand_since).count() : 0.0);
    last_progress_.Set(Seconds(status.last_progress.time_since_epoch()).count());
    Advance(processed_, consumer.Processed());
    Advance(dead_lettered_, consumer.DeadLettered());
    Advance(dropped_, consumer.DeadLetterDropped());
    Advance(retries_, consumer.Retries());
  }

 private:
  static void Advance(::prometheus::Counter& counter, uint64_t total) {
    const double delta = static_cast<double>(total) - counter.Value();
    if (delta > 0) counter.Increment(delta);
  }

  ::prometheus::Gauge& partitions_;
  ::prometheus::Gauge& in_hand_;
  ::prometheus::Gauge& last_progress_;
  ::prometheus::Family<::prometheus::Counter>& messages_;
  ::prometheus::Counter& processed_;
  ::prometheus::Counter& dead_lettered_;
  ::prometheus::Counter& dropped_;
  ::prometheus::Counter& retries_;
};

ConsumerComponent::ConsumerComponent(std::string name, kafka::KafkaConfig config,
                                     const kafka::ConsumerOptions& options, kafka::Handler handler,
                                     kafka::Producer& dead_letters,
                                     ::prometheus::Registry* registry)
    : name_(std::move(name)),
      consumer_(std::move(config), options, std::move(handler), dead_letters) {
  if (registry != nullptr) metrics_ = std::make_unique<Metrics>(*registry, options.group_id);
}

ConsumerComponent::~ConsumerComponent() = default;

void ConsumerComponent::RefreshMetrics() {
  if (metrics_) metrics_->Refresh(consumer_);
}

void ReportConsumerHealth(pg::Database& db, ConsumerComponent& consumer, core::Health& health) {
  const bool pg_ok = db.Ping();
  health.Set("postgres", pg_ok, pg_ok ? "" : "PostgreSQL does not answer at the configured DSN");
  consumer.RefreshMetrics();
  const auto status = consumer.Consumer().Status();
  const auto not_ready = kafka::ConsumerNotReadyReason(status, std::chrono::system_clock::now(),
                                                       kConsumerStalledAfter);
  std::string detail = not_ready.value_or("");
  if (!not_ready) detail = std::to_string(status.partitions) + " partition(s) assigned";
  health.Set("kafka-consumer", !not_ready, std::move(detail));
}

}  // namespace sluice::eventbus
