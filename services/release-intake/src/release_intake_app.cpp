// release-intake on the service skeleton: the public API over its tables and the outbox; the
// bootstrap admin token; the consumer of the public inbound topic.
#include <algorithm>
#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/service/app.hpp>

#include "intake_consumer.hpp"
#include "promotion_consumer.hpp"
#include "promotion_waits.hpp"
#include "release_intake_config.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& ReleaseIntakeMigrations();
}

namespace sluice::release_intake {

void Register(service::App& app, const IntakeConfig& config) {
  auto& db = app.Database(generated::ReleaseIntakeMigrations());
  if (config.admin_token) {
    EnsureAdminToken(db, app.Clock(), *config.admin_token);
    core::Logger("main")->info("bootstrap admin token 'local-admin' is installed");
  }
  // Not fatal: releases are accepted into the outbox and published once Kafka is back.
  auto topics = events::AllTopics();
  topics.push_back(config.results_topic);  // and the inbound topics (the settings')
  for (const auto& p : config.kafka_principals) topics.push_back(p.topic);
  for (const auto& t : config.promotion_topics) {
    if (std::find(topics.begin(), topics.end(), t) == topics.end()) topics.push_back(t);
  }
  app.EnsureTopics(topics, "events wait in the outbox until Kafka answers");
  http::ServerOptions server_options;
  server_options.max_body_bytes = config.max_body_bytes;
  // Each open event stream (GET /v1/events) holds a worker: one more per allowed stream.
  server_options.threads += config.api.events.max_streams;
  app.SetHttpOptions(server_options);
  auto& api = app.Make<ReleaseIntakeApi>(ApiDeps{db, app.Clock(), app.Http()}, config.api);
  api.Register();
  // Kafka producers' submissions: the same requests, answered on the results topic. Not
  // App::Consume: the HTTP API goes on taking releases into the outbox while Kafka is away, so
  // the consumer's state is on /readyz without making the service unready (as Redis is).
  kafka::ConsumerOptions options;
  options.group_id = config.shared.group_id;
  options.topics = config.shared.topics;
  if (!config.kafka_principals.empty() && !config.shared.kafka.security.Sasl()) {
    // Only the broker's ACLs keep others off a principal's topic; a broker reached without
    // SASL likely lets every client in as the same anonymous principal.
    core::Logger("main")->warn(
        "SLUICE_INTAKE_KAFKA_PRINCIPALS maps {} principal(s) but Kafka is reached over {}: "
        "unless the broker authenticates its producers and only each principal may write its "
        "topic, anyone who reaches the broker acts with the mapped roles",
        config.kafka_principals.size(), config.shared.kafka.security.protocol);
  }
  for (const auto& p : config.kafka_principals) {
    if (std::find(options.topics.begin(), options.topics.end(), p.topic) == options.topics.end()) {
      options.topics.push_back(p.topic);
    }
  }
  app.Relay();  // made (and so destroyed) before the consumer, which publishes through it
  auto& consumer = app.Start<eventbus::ConsumerComponent>(
      "intake-consumer", config.shared.kafka, options,
      IntakeHandler(db, {app.Clock(), config.results_topic,
                         [&api](const std::string& id) { return api.CheckAtPlanner(id); },
                         config.kafka_principals}),
      app.Producer(), &app.Registry());
  app.Retain("intake_answers", config.shared.retention.inbox, &DeleteIntakeAnswersBefore);
  // Deployments waiting for a deployment window start when it opens (promotion_waits.hpp).
  app.Every("deployment-windows", std::chrono::seconds(1),
            [&db, &clock = app.Clock()] { WakeWaitingDeployments(db, clock); });
  // The planner's, the watcher's and the rollback-agent's events: what became of each
  // deployment, for the promotion gate and `promotion: auto` (promotion_consumer.hpp).
  kafka::ConsumerOptions promotion_options;
  promotion_options.group_id = config.shared.group_id + "-promotion";
  promotion_options.topics = config.promotion_topics;
  auto& promotions = app.Start<eventbus::ConsumerComponent>(
      "promotion-consumer", config.shared.kafka, promotion_options,
      eventbus::TransactionalHandler(
          db, std::string(kPromotionConsumer),
          [&clock = app.Clock()](pqxx::work& tx, const events::v1::Envelope& e) {
            HandlePromotionEvent(tx, e, clock);
          },
          IsPromotionEvent),
      app.Producer(), &app.Registry());
  app.OnProbe([&promotions, &health = app.Health()] {
    promotions.RefreshMetrics();
    const auto status = promotions.Consumer().Status();
    const auto not_ready = kafka::ConsumerNotReadyReason(status, std::chrono::system_clock::now(),
                                                         eventbus::kConsumerStalledAfter);
    health.Set("kafka-promotion", true,
               not_ready ? "deployment outcomes are not consumed (promotions wait): " + *not_ready
                         : std::to_string(status.partitions) + " partition(s) assigned");
  });
  app.OnProbe([&consumer, &health = app.Health()] {
    consumer.RefreshMetrics();
    const auto status = consumer.Consumer().Status();
    const auto not_ready = kafka::ConsumerNotReadyReason(status, std::chrono::system_clock::now(),
                                                         eventbus::kConsumerStalledAfter);
    health.Set("kafka-intake", true,
               not_ready ? "the inbound topic is not consumed: " + *not_ready
                         : std::to_string(status.partitions) + " partition(s) assigned");
  });
}

}  // namespace sluice::release_intake
