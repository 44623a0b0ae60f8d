// rollback-agent: wiring only. See README.md for topics, tables, config keys and endpoints.
#include <fmt/format.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <iostream>
#include <sluice/core/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/core/ids.hpp>
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
#include <sluice/lock/lease_lock.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>

#include "src/adapters/metric_history.hpp"
#include "src/rollback_api.hpp"
#include "src/rollback_config.hpp"
#include "src/rollback_handler.hpp"
#include "src/rollback_metrics.hpp"
#include "src/rollback_worker.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& RollbackMigrations();
}

namespace {

using namespace sluice;
using namespace sluice::rollback;
using namespace std::chrono_literals;

std::string OwnerId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "rollback-agent") + ":" + std::to_string(::getpid()) +
         ":" + core::NewUuid().substr(0, 8);
}

void Probe(pg::Database& db, lock::RedisClient& redis, eventbus::ConsumerComponent& consumer,
           core::Health& health) {
  eventbus::ReportConsumerHealth(db, consumer, health);
  // Without Redis the duplicate-work guard is gone; the unique rollback row still decides.
  const bool redis_ok = redis.Ping();
  health.Set("redis", true, redis_ok ? "" : "Redis unavailable: rollbacks go ahead unleased");
}

}  // namespace

int main() {
  core::Lifecycle::BlockTerminationSignals();
  RollbackConfig config;
  std::string service_token;
  try {
    core::EnvConfig env;
    service_token = http::ServiceTokenFromEnv(env);  // read first: the parser rejects unknown keys
    config = ParseRollbackConfig(env);
  } catch (const std::exception& e) {
    core::ExitOnConfigError(kServiceName, e);
  }
  core::InitLogging(kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    auto& clock = core::SystemClock::Instance();
    config.agent.owner = OwnerId();
    pg::Database db(config.pg);
    pg::ApplyMigrationsWithin(db, generated::RollbackMigrations(), config.startup_timeout);
    try {
      auto topics = config.topics;
      topics.emplace_back(events::kTopicRollbacks);
      kafka::EnsureTopics(config.kafka, topics);
    } catch (const std::exception& e) {
      log->warn("could not ensure Kafka topics ({}); consuming starts when Kafka answers",
                e.what());
    }
    lock::RedisConfig redis_config;
    redis_config.url = config.redis_url;
    lock::RedisClient redis(redis_config);
    lock::LeaseLock locks(redis, clock, config.lock_prefix);
    auto history = MakePrometheusHistory(config.prometheus);

    auto registry = std::make_shared<prometheus::Registry>();
    AgentMetrics metrics(*registry);
    core::Health health;
    health.Set("postgres", true);

    const AgentDeps deps{db, clock, &locks, *history, &metrics};
    RollbackHandler handler(deps, config.agent);
    RollbackWorker rollback_worker(deps, config.agent);
    kafka::Producer producer(config.kafka);
    eventbus::OutboxRelayComponent relay(db, producer);
    eventbus::OutboxMetrics outbox_metrics(*registry, std::string(kServiceName));
    kafka::ConsumerOptions consumer_options;
    consumer_options.group_id = config.group_id;
    consumer_options.topics = config.topics;
    eventbus::ConsumerComponent consumer(
        "consumer", config.kafka, consumer_options,
        eventbus::PreparedTransactionalHandler(
            db, std::string(kServiceName),
            [&](const events::v1::Envelope& e) { return handler.Prepare(e); }),
        producer, registry.get());

    http::ServerOptions server_options;
    server_options.addr = config.http_addr;
    http::Server server("rollback-agent", server_options);
    server.MountOps(health, *registry);
    http::RequireServiceToken(server, service_token);
    MountRollbackApi(server, db);
    // Revert retries and timeouts live in rollback rows (due times), incidents in pending rows:
    // a restarted agent picks them up on its first pass.
    core::PeriodicTask worker("worker", config.poll, [&] {
      rollback_worker.RunDue();
      rollback_worker.WriteIncidents();
    });
    core::PeriodicTask probe("probe", 2s, [&] {
      Probe(db, redis, consumer, health);
      outbox_metrics.Update(relay.Relay());
    });

    core::Lifecycle lifecycle;
    lifecycle.Add(relay);
    lifecycle.Add(consumer);
    lifecycle.Add(worker);
    lifecycle.Add(probe);
    lifecycle.Add(server);
    log->info("rollback-agent listening on http://{} (owner {}, topics {}, prometheus {})",
              config.http_addr, config.agent.owner, fmt::join(config.topics, ","),
              config.prometheus.base_url);
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("rollback-agent cannot start: {}", e.what());
    std::cerr << "rollback-agent: cannot start: " << e.what() << "\n";
    return 1;
  }
}
