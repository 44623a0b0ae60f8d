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

pg::OutboxPublisher KafkaOutboxPublisher(kafka::Producer& producer,
                                         std::chrono::milliseconds timeout) {
  return [&producer, timeout](const std::vector<pg::OutboxRow>& rows) {
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
    producer.ProduceSync(messages, timeout);
  };
}

kafka::Handler TransactionalHandler(pg::Database& db, std::string consumer_name,
                                    EnvelopeHandler handler, EnvelopeFilter wanted) {
  return [&db, consumer = std::move(consumer_name), handler = std::move(handler),
          wanted = std::move(wanted)](const kafka::ConsumedMessage& msg) {
    std::string error;
    auto envelope = events::Parse(msg.value, &error);
    if (!envelope) throw kafka::PermanentError(error);
    if (auto invalid = events::Validate(*envelope)) throw kafka::PermanentError(*invalid);
    if (wanted && !wanted(*envelope)) return;
    core::TraceScope trace(envelope->trace_id());
    db.WithTransaction([&](pqxx::work& tx) {
      if (!pg::RecordInbox(tx, consumer, envelope->event_id())) {
        core::Logger("eventbus")
            ->debug("{} skips duplicate event {} ({})", consumer, envelope->event_id(),
                    envelope->type());
        return 0;
      }
      handler(tx, *envelope);
      return 0;
    });
  };
}

OutboxRelayComponent::OutboxRelayComponent(pg::Database& db, kafka::Producer& producer,
                                           pg::OutboxRelayOptions options)
    : relay_(db, KafkaOutboxPublisher(producer, std::chrono::seconds(10)), options) {}

ConsumerComponent::ConsumerComponent(std::string name, kafka::KafkaConfig config,
                                     kafka::ConsumerOptions options, kafka::Handler handler,
                                     kafka::Producer& dead_letters)
    : name_(std::move(name)),
      consumer_(std::move(config), std::move(options), std::move(handler), dead_letters) {}

void ReportConsumerHealth(pg::Database& db, ConsumerComponent& consumer, core::Health& health) {
  const bool pg_ok = db.Ping();
  health.Set("postgres", pg_ok, pg_ok ? "" : "PostgreSQL does not answer at the configured DSN");
  const bool consumer_ok = consumer.Consumer().Running();
  health.Set("kafka-consumer", consumer_ok, consumer_ok ? "" : "the Kafka consumer stopped");
}

}  // namespace sluice::eventbus
