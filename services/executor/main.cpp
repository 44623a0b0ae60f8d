// executor: wiring only. See README.md for topics, tables, config keys and endpoints.
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
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>

#include "src/executor_api.hpp"
#include "src/executor_config.hpp"
#include "src/executor_handler.hpp"
#include "src/executor_metrics.hpp"
#include "src/executor_migrations.hpp"
#include "src/executor_worker.hpp"

namespace {

using namespace sluice;
using namespace sluice::executor;
using namespace std::chrono_literals;

// The lease owner of this process: host name, pid and a random part (a restarted process is a
// new owner; its old leases expire).
std::string OwnerId() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "executor") + ":" + std::to_string(::getpid()) + ":" +
         core::NewUuid().substr(0, 8);
}

// Keeps /readyz current.
void Probe(pg::Database& db, lock::RedisClient& redis, eventbus::ConsumerComponent& consumer,
           core::Health& health) {
  eventbus::ReportConsumerHealth(db, consumer, health);
  // Without Redis no host lease can be taken: commands wait, nothing breaks.
  const bool redis_ok = redis.Ping();
  health.Set("redis", true, redis_ok ? "" : "Redis unavailable: hosts wait for their lease");
}

}  // namespace

int main() {
  core::Lifecycle::BlockTerminationSignals();
  ExecutorConfig config;
  std::string service_token;
  try {
    core::EnvConfig env;
    service_token = http::ServiceTokenFromEnv(env);  // read first: the parser rejects unknown keys
    config = ParseExecutorConfig(env);
  } catch (const std::exception& e) {
    core::ExitOnConfigError(kServiceName, e);
  }
  core::InitLogging(kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    auto& clock = core::SystemClock::Instance();
    config.workers.owner = OwnerId();
    pg::Database db(config.pg);
    pg::ApplyMigrationsWithin(db, generated::ExecutorMigrations(), config.startup_timeout);
    try {
      auto topics = config.topics;
      topics.emplace_back(events::kTopicExecutions);
      kafka::EnsureTopics(config.kafka, topics);
    } catch (const std::exception& e) {
      log->warn("could not ensure Kafka topics ({}); consuming starts when Kafka answers",
                e.what());
    }
    lock::RedisConfig redis_config;
    redis_config.url = config.redis_url;
    lock::RedisClient redis(redis_config);

    auto registry = std::make_shared<prometheus::Registry>();
    ExecutorMetrics metrics(*registry);
    core::Health health;
    health.Set("postgres", true);

    kafka::Producer producer(config.kafka);
    eventbus::OutboxRelayComponent relay(db, producer);
    eventbus::OutboxMetrics outbox_metrics(*registry, std::string(kServiceName));
    WorkerPool workers({db, redis, clock, &metrics}, config.workers);
    const CommandDefaults defaults = config.defaults;
    kafka::ConsumerOptions consumer_options;
    consumer_options.group_id = config.group_id;
    consumer_options.topics = config.topics;
    // The handler only records the command: the consumer never waits for a batch to run.
    eventbus::ConsumerComponent consumer("consumer", config.kafka, consumer_options,
                                         eventbus::TransactionalHandler(
                                             db, std::string(kServiceName),
                                             [&](pqxx::work& tx, const events::v1::Envelope& e) {
                                               AcceptCommand(tx, e, defaults, &metrics);
                                             },
                                             &IsCommand),
                                         producer, registry.get());

    http::ServerOptions server_options;
    server_options.addr = config.http_addr;
    http::Server server("executor", server_options);
    server.MountOps(health, *registry);
    http::RequireServiceToken(server, service_token);
    MountExecutorApi(server, db);
    core::PeriodicTask probe("probe", 2s, [&] {
      Probe(db, redis, consumer, health);
      outbox_metrics.Update(relay.Relay());
    });

    core::Lifecycle lifecycle;
    lifecycle.Add(relay);
    lifecycle.Add(workers);
    lifecycle.Add(consumer);
    lifecycle.Add(probe);
    lifecycle.Add(server);
    log->info("executor listening on http://{} ({} worker(s), owner {}, topics {})",
              config.http_addr, config.workers.workers, config.workers.owner,
              fmt::join(config.topics, ","));
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("executor cannot start: {}", e.what());
    std::cerr << "executor: cannot start: " << e.what() << "\n";
    return 1;
  }
}
