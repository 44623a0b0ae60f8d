// release-intake: wiring only. See README.md for endpoints, topics, tables and config keys.
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <iostream>
#include <sluice/core/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/core/periodic_task.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/eventbus/outbox_metrics.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/server.hpp>
#include <sluice/http/service_auth.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>
#include <thread>

#include "src/delivery.hpp"
#include "src/release_intake_component.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& ReleaseIntakeMigrations();
}

namespace {

using namespace sluice;
using namespace std::chrono_literals;

struct Config {
  std::string http_addr;
  std::size_t max_body_bytes = 0;
  std::string log_level;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::optional<std::string> admin_token;
  std::optional<std::string> github_secret;
  std::string service_token;  // sent to the internal APIs
  std::chrono::milliseconds startup_timeout{};
  std::string planner_url;
  std::string executor_url;
  std::chrono::milliseconds upstream_timeout{};
  std::string watcher_url;
  std::string rollback_agent_url;
  std::chrono::milliseconds analysis_timeout{};
};

std::string UpstreamUrl(core::EnvConfig& env, std::string_view key, std::string_view def) {
  const std::string raw = env.String(key, def);
  auto url = release_intake::NormalizeBaseUrl(raw);
  if (!url) {
    throw core::ConfigError(std::string(key) + "=" + raw + ": use an http(s) base URL such as " +
                            std::string(def));
  }
  return *url;
}

Config ParseConfig() {
  core::EnvConfig env;
  Config c;
  c.http_addr = env.HostPort("SLUICE_HTTP_ADDR", "127.0.0.1:8080");
  c.max_body_bytes =
      static_cast<std::size_t>(env.Int("SLUICE_HTTP_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20));
  c.log_level = env.String("SLUICE_LOG_LEVEL", "info");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    throw core::ConfigError("SLUICE_LOG_LEVEL=" + c.log_level +
                            ": use trace, debug, info, warn or error");
  }
  c.pg.dsn = env.String("SLUICE_PG_DSN", c.pg.dsn);
  c.pg.schema = env.String("SLUICE_PG_SCHEMA", "release_intake");
  c.pg.pool_size = static_cast<int>(env.Int("SLUICE_PG_POOL_SIZE", 8, 1, 64));
  c.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", c.kafka.brokers);
  c.kafka.client_id = "release-intake";
  c.admin_token = env.Secret("SLUICE_ADMIN_TOKEN");
  if (c.admin_token && c.admin_token->size() < 24) {
    throw core::ConfigError("SLUICE_ADMIN_TOKEN is shorter than 24 characters; use a random token");
  }
  c.github_secret = env.Secret("SLUICE_GITHUB_WEBHOOK_SECRET");
  c.service_token = http::ServiceTokenFromEnv(env);
  c.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  c.planner_url = UpstreamUrl(env, "SLUICE_PLANNER_URL", "http://127.0.0.1:8082");
  c.executor_url = UpstreamUrl(env, "SLUICE_EXECUTOR_URL", "http://127.0.0.1:8084");
  c.upstream_timeout = env.Duration("SLUICE_UPSTREAM_TIMEOUT", 3s);
  c.watcher_url = UpstreamUrl(env, "SLUICE_WATCHER_URL", "http://127.0.0.1:8081");
  c.rollback_agent_url = UpstreamUrl(env, "SLUICE_ROLLBACK_AGENT_URL", "http://127.0.0.1:8085");
  c.analysis_timeout = env.Duration("SLUICE_ANALYSIS_TIMEOUT", 60s);
  env.RejectUnknown();
  return c;
}

// Keeps /readyz and the outbox metrics current.
void Probe(pg::Database& db, pg::OutboxRelay& relay, core::Health& health,
           eventbus::OutboxMetrics& outbox) {
  const bool ok = db.Ping();
  health.Set("postgres", ok, ok ? "" : "PostgreSQL does not answer at the configured DSN");
  if (ok) outbox.Update(relay);
}

}  // namespace

int main() {
  core::Lifecycle::BlockTerminationSignals();
  Config config;
  try {
    config = ParseConfig();
  } catch (const std::exception& e) {
    core::ExitOnConfigError(release_intake::kServiceName, e);
  }
  core::InitLogging(release_intake::kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    auto& clock = core::SystemClock::Instance();
    pg::Database db(config.pg);
    pg::ApplyMigrationsWithin(db, generated::ReleaseIntakeMigrations(), config.startup_timeout);
    if (config.admin_token) {
      release_intake::EnsureAdminToken(db, clock, *config.admin_token);
      log->info("bootstrap admin token 'local-admin' is installed");
    }
    try {
      kafka::EnsureTopics(config.kafka, events::AllTopics());
    } catch (const std::exception& e) {
      // Not fatal: releases are accepted into the outbox and published once Kafka is back.
      log->warn("could not ensure Kafka topics ({}); events wait in the outbox until Kafka answers",
                e.what());
    }

    auto registry = std::make_shared<prometheus::Registry>();
    eventbus::OutboxMetrics outbox(*registry, "release-intake");
    core::Health health;
    health.Set("postgres", true);

    kafka::Producer producer(config.kafka);
    eventbus::OutboxRelayComponent relay(db, producer);
    http::ServerOptions server_options;
    server_options.addr = config.http_addr;
    server_options.max_body_bytes = config.max_body_bytes;
    http::Server server("release-intake", server_options);
    server.MountOps(health, *registry);
    release_intake::ApiOptions api_options;
    api_options.github_secret = config.github_secret;
    api_options.service_token = config.service_token;
    api_options.retry_after_seconds = 2;
    api_options.planner_url = config.planner_url;
    api_options.executor_url = config.executor_url;
    api_options.upstream_timeout = config.upstream_timeout;
    api_options.watcher_url = config.watcher_url;
    api_options.rollback_agent_url = config.rollback_agent_url;
    api_options.analysis_timeout = config.analysis_timeout;
    release_intake::ReleaseIntakeApi api({db, clock, server}, api_options);
    api.Register();
    core::PeriodicTask probe("probe", 2s, [&] { Probe(db, relay.Relay(), health, outbox); });

    core::Lifecycle lifecycle;
    lifecycle.Add(relay);
    lifecycle.Add(probe);
    lifecycle.Add(server);
    log->info("release-intake listening on http://{}", config.http_addr);
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("release-intake cannot start: {}", e.what());
    std::cerr << "release-intake: cannot start: " << e.what() << "\n";
    return 1;
  }
}
