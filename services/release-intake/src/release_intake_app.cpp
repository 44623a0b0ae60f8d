// release-intake on the service skeleton: the public API over its tables and the outbox; the
// bootstrap admin token.
#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/service/app.hpp>

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
  app.EnsureTopics(events::AllTopics(), "events wait in the outbox until Kafka answers");
  http::ServerOptions server_options;
  server_options.max_body_bytes = config.max_body_bytes;
  // Each open event stream (GET /v1/events) holds a worker: one more per allowed stream.
  server_options.threads += config.api.events.max_streams;
  app.SetHttpOptions(server_options);
  app.Make<ReleaseIntakeApi>(ApiDeps{db, app.Clock(), app.Http()}, config.api).Register();
}

}  // namespace sluice::release_intake
