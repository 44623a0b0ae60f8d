#pragma once

// release-intake's configuration from SLUICE_* environment variables (strict: a bad value or an
// unknown key is a core::ConfigError naming the key).

#include <cstddef>
#include <optional>
#include <sluice/core/config.hpp>
#include <sluice/service/settings.hpp>
#include <string>
#include <vector>

#include "intake.hpp"
#include "release_intake_component.hpp"

namespace sluice::service {
class App;
}

namespace sluice::release_intake {

struct IntakeConfig {
  service::Settings shared;  // SLUICE_HTTP_ADDR, SLUICE_PG_*, SLUICE_KAFKA_BROKERS, ...
  std::size_t max_body_bytes = 0;
  std::optional<std::string> admin_token;  // SLUICE_ADMIN_TOKEN[_FILE]: installed at start-up
  // The answers to the submissions of the inbound topics (SLUICE_INTAKE_TOPICS, default
  // sluice.intake.v1): SLUICE_INTAKE_RESULTS_TOPIC, default sluice.intake.results.v1.
  std::string results_topic;
  // The planner's, watcher's and rollback-agent's topics read for the promotion gate
  // (SLUICE_PROMOTION_TOPICS, comma-separated; default: sluice.deployments.v1,
  // sluice.analyses.v1, sluice.rollbacks.v1).
  std::vector<std::string> promotion_topics;
  // Kafka principals mapped to a Sluice role (SLUICE_INTAKE_KAFKA_PRINCIPALS, intake.hpp:
  // ParseKafkaPrincipals): each one's inbound topic is consumed too, its records carrying the
  // principal's authority instead of a token.
  std::vector<KafkaPrincipal> kafka_principals;
  ApiOptions api;  // the upstreams' URLs, the GitHub secret, the service token they are sent
};

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad or
// unknown.
IntakeConfig ParseIntakeConfig(core::EnvConfig& env);

// release-intake's parts on top of the standard ones: the bootstrap admin token and the public
// API (release_intake_app.cpp), and the consumer of the public inbound topic (Kafka producers'
// submissions, intake_consumer.hpp). Its events leave through the outbox.
void Register(service::App& app, const IntakeConfig& config);

}  // namespace sluice::release_intake
