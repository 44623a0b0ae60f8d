// release-intake on the service skeleton: the public API over its tables and the outbox; the
// bootstrap admin token; the consumer of the public inbound topic.
#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/service/app.hpp>

#include "intake_consumer.hpp"
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
  app.EnsureTopics(topics, "events wait in the outbox until Kafka answers");
  http::ServerOptions server_options;
  server_options.max_body_bytes = config.max_body_bytes;
  app.SetHttpOptions(server_options);
  app.Make<ReleaseIntakeApi>(ApiDeps{db, app.Clock(), app.Http()}, config.api).Register();
  // Kafka producers' submissions: the same requests, answered on the results topic.
  app.Consume(IntakeHandler(db, app.Clock(), config.results_topic));
}

}  // namespace sluice::release_intake
