// metric-watcher: wiring only. See README.md for topics, tables, config keys and endpoints.
#include <fmt/format.h>
#include <prometheus/registry.h>

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
#include <sluice/prometheus/client.hpp>
#include <sstream>

#include "src/run.hpp"
#include "src/watcher_component.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& MetricWatcherMigrations();
}

namespace {

using namespace sluice;
using namespace sluice::watcher;
using namespace std::chrono_literals;

struct Config {
  std::string http_addr;
  std::string service_token;  // SLUICE_SERVICE_TOKEN: every API call but the probes needs it
  std::string log_level;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::string group_id;
  std::vector<std::string> topics;
  sluice::prometheus::ClientOptions prometheus;
  std::string alert_token;
  HandlerOptions handler;
  AnalyzerOptions analyzer;
  std::chrono::milliseconds startup_timeout{};
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Config ParseConfig() {
  core::EnvConfig env;
  Config c;
  c.http_addr = env.HostPort("SLUICE_HTTP_ADDR", "127.0.0.1:8081");
  c.service_token = http::ServiceTokenFromEnv(env);
  c.log_level = env.String("SLUICE_LOG_LEVEL", "info");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    throw core::ConfigError("SLUICE_LOG_LEVEL=" + c.log_level +
                            ": use trace, debug, info, warn or error");
  }
  c.pg.dsn = env.String("SLUICE_PG_DSN", c.pg.dsn);
  c.pg.schema = env.String("SLUICE_PG_SCHEMA", "metric_watcher");
  c.pg.pool_size = static_cast<int>(env.Int("SLUICE_PG_POOL_SIZE", 8, 2, 64));
  c.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", c.kafka.brokers);
  kafka::ApplyStartOffset(c.kafka, env.String("SLUICE_KAFKA_START_OFFSET", "earliest"));
  kafka::ApplyInstanceId(c.kafka, env.String("SLUICE_INSTANCE_ID", ""), c.http_addr);
  c.kafka.client_id = "metric-watcher";
  c.group_id = env.String("SLUICE_KAFKA_GROUP", "metric-watcher");
  c.topics =
      SplitList(env.String("SLUICE_WATCHER_TOPICS", "sluice.deployments.v1,sluice.rollbacks.v1"));
  if (c.topics.empty()) throw core::ConfigError("SLUICE_WATCHER_TOPICS: give at least one topic");
  c.prometheus.base_url = env.String("SLUICE_PROMETHEUS_URL", c.prometheus.base_url);
  if (c.prometheus.base_url.rfind("http://", 0) != 0 &&
      c.prometheus.base_url.rfind("https://", 0) != 0) {
    throw core::ConfigError("SLUICE_PROMETHEUS_URL=" + c.prometheus.base_url +
                            ": give an http:// or https:// URL");
  }
  c.prometheus.authorization = env.Secret("SLUICE_PROMETHEUS_AUTHORIZATION").value_or("");
  c.prometheus.timeout = env.Duration("SLUICE_PROMETHEUS_TIMEOUT", 5s);
  c.prometheus.attempts = static_cast<int>(env.Int("SLUICE_PROMETHEUS_ATTEMPTS", 3, 1, 10));
  const auto token = env.Secret("SLUICE_WATCHER_ALERT_TOKEN");
  if (!token || token->size() < 16) {
    throw core::ConfigError(
        "SLUICE_WATCHER_ALERT_TOKEN is not set or shorter than 16 characters: set it, or "
        "SLUICE_WATCHER_ALERT_TOKEN_FILE, to the bearer token Alertmanager sends");
  }
  c.alert_token = *token;
  c.handler.alert_window = env.Duration("SLUICE_WATCHER_ALERT_WINDOW", 1h);
  c.analyzer.poll = env.Duration("SLUICE_WATCHER_POLL_INTERVAL", 200ms);
  c.analyzer.workers = static_cast<int>(env.Int("SLUICE_WATCHER_WORKERS", 4, 1, 32));
  if (c.analyzer.workers + 2 > c.pg.pool_size) {
    throw core::ConfigError("SLUICE_WATCHER_WORKERS=" + std::to_string(c.analyzer.workers) +
                            " needs SLUICE_PG_POOL_SIZE of at least " +
                            std::to_string(c.analyzer.workers + 2) + " (it is " +
                            std::to_string(c.pg.pool_size) + ")");
  }
  c.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  env.RejectUnknown();
  return c;
}

}  // namespace

int main() {
  core::Lifecycle::BlockTerminationSignals();
  Config config;
  try {
    config = ParseConfig();
  } catch (const std::exception& e) {
    core::ExitOnConfigError(kServiceName, e);
  }
  core::InitLogging(kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    auto& clock = core::SystemClock::Instance();
    pg::Database db(config.pg);
    pg::ApplyMigrationsWithin(db, generated::MetricWatcherMigrations(), config.startup_timeout);
    try {
      auto topics = config.topics;
      topics.emplace_back(events::kTopicAnalyses);
      kafka::EnsureTopics(config.kafka, topics);
    } catch (const std::exception& e) {
      log->warn("could not ensure Kafka topics ({}); consuming starts when Kafka answers",
                e.what());
    }

    auto registry = std::make_shared<::prometheus::Registry>();
    WatcherMetrics metrics(*registry);
    core::Health health;
    health.Set("postgres", true);

    const sluice::prometheus::Client prometheus_client(config.prometheus);
    PrometheusProvider provider(prometheus_client, &metrics);

    kafka::Producer producer(config.kafka);
    eventbus::OutboxRelayComponent relay(db, producer);
    eventbus::OutboxMetrics outbox_metrics(*registry, std::string(kServiceName));
    Analyzer analyzer({db, provider, clock, &metrics}, config.analyzer);

    kafka::ConsumerOptions consumer_options;
    consumer_options.group_id = config.group_id;
    consumer_options.topics = config.topics;
    const HandlerOptions handler_options = config.handler;
    // Set inside the event's transaction; the analyzer is woken once that transaction
    // committed, so the first measurement is taken at once.
    bool scheduled = false;
    auto record = eventbus::TransactionalHandler(
        db, std::string(kServiceName), [&](pqxx::work& tx, const events::v1::Envelope& e) {
          scheduled = HandleEvent(tx, e, handler_options, clock);
        });
    // Declared after the analyzer: it calls into it, so it is destroyed first.
    eventbus::ConsumerComponent consumer(
        "consumer", config.kafka, consumer_options,
        [&record, &scheduled, &analyzer](const kafka::ConsumedMessage& m) {
          scheduled = false;
          record(m);
          if (scheduled) analyzer.Wake();
        },
        producer, registry.get());

    http::ServerOptions server_options;
    server_options.addr = config.http_addr;
    http::Server server("metric-watcher", server_options);
    server.MountOps(health, *registry);
    // Alertmanager authenticates with its own token (SLUICE_WATCHER_ALERT_TOKEN), checked there.
    http::RequireServiceToken(server, config.service_token, {std::string(kAlertmanagerPath)});
    MountWatcherApi(server, {db, provider, clock, &metrics, config.alert_token});
    core::PeriodicTask probe("probe", 2s, [&] {
      eventbus::ReportConsumerHealth(db, consumer, health);
      outbox_metrics.Update(relay.Relay());
      try {
        metrics.SetRunning(db.WithTransaction([](pqxx::work& tx) { return CountRunning(tx); }));
      } catch (const std::exception&) {
        // Postgres is down: ReportConsumerHealth already says so.
      }
    });

    core::Lifecycle lifecycle;
    lifecycle.Add(relay);
    lifecycle.Add(analyzer);
    lifecycle.Add(consumer);
    lifecycle.Add(probe);
    lifecycle.Add(server);
    log->info("metric-watcher listening on http://{} (Prometheus {}, topics {})", config.http_addr,
              config.prometheus.base_url, fmt::join(config.topics, ","));
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("metric-watcher cannot start: {}", e.what());
    std::cerr << "metric-watcher: cannot start: " << e.what() << "\n";
    return 1;
  }
}
