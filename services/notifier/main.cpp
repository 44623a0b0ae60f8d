// notifier: wiring only. See README.md for topics, tables, config keys, endpoints and formats.
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <fstream>
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
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>
#include <sstream>
#include <thread>

#include "src/channels.hpp"
#include "src/notifier_component.hpp"
#include "src/routing.hpp"
#include "src/templates.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& NotifierMigrations();
}

namespace {

using namespace sluice;
using namespace sluice::notifier;
using namespace std::chrono_literals;

struct Config {
  std::string http_addr;
  std::string service_token;  // SLUICE_SERVICE_TOKEN: every API call but the probes needs it
  std::string log_level;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::string group_id;
  std::vector<std::string> topics;
  std::string redis_url;
  RoutingConfig routing;
  std::map<std::string, ChannelSecrets> secrets;
  std::string template_dir;
  BuildOptions build;
  std::chrono::milliseconds poll{};
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
  c.http_addr = env.HostPort("SLUICE_HTTP_ADDR", "127.0.0.1:8083");
  c.service_token = http::ServiceTokenFromEnv(env);
  c.log_level = env.String("SLUICE_LOG_LEVEL", "info");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    throw core::ConfigError("SLUICE_LOG_LEVEL=" + c.log_level +
                            ": use trace, debug, info, warn or error");
  }
  c.pg.dsn = env.String("SLUICE_PG_DSN", c.pg.dsn);
  c.pg.schema = env.String("SLUICE_PG_SCHEMA", "notifier");
  c.pg.pool_size = static_cast<int>(env.Int("SLUICE_PG_POOL_SIZE", 4, 2, 64));
  c.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", c.kafka.brokers);
  kafka::ApplyStartOffset(c.kafka, env.String("SLUICE_KAFKA_START_OFFSET", "earliest"));
  kafka::ApplyInstanceId(c.kafka, env.String("SLUICE_INSTANCE_ID", ""), c.http_addr);
  c.kafka.client_id = "notifier";
  c.group_id = env.String("SLUICE_KAFKA_GROUP", "notifier");
  c.topics = SplitList(env.String(
      "SLUICE_NOTIFIER_TOPICS",
      "sluice.deployments.v1,sluice.executions.v1,sluice.analyses.v1,sluice.rollbacks.v1"));
  if (c.topics.empty()) throw core::ConfigError("SLUICE_NOTIFIER_TOPICS: give at least one topic");
  c.redis_url = env.String("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");
  c.build.console_base_url = env.String("SLUICE_CONSOLE_URL", c.build.console_base_url);
  c.template_dir = env.String("SLUICE_NOTIFIER_TEMPLATE_DIR", "");
  c.poll = env.Duration("SLUICE_NOTIFIER_POLL_INTERVAL", 500ms);
  c.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  const std::string config_path = env.String("SLUICE_NOTIFIER_CONFIG", "");
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) {
      throw core::ConfigError("SLUICE_NOTIFIER_CONFIG=" + config_path +
                              ": cannot read the file; give the path of the routing YAML");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    c.routing = ParseRoutingConfig(ss.str(), config_path);
  }
  for (const auto& channel : c.routing.channels) {
    const std::string& name = channel.first;  // not a structured binding: the lambda captures it
    const auto& spec = channel.second;
    ChannelSecrets s;
    auto read = [&](const std::string& key, bool required) {
      if (key.empty()) return std::string();
      auto v = env.Secret(key);
      if (!v && required) {
        throw core::ConfigError(key + " is not set: channel '" + name + "' needs it (set " + key +
                                " or " + key + "_FILE)");
      }
      return v.value_or("");
    };
    s.url = read(spec.url_env, true);
    s.secret = read(spec.secret_env, true);
    s.username = read(spec.username_env, true);
    s.password = read(spec.password_env, true);
    c.secrets.emplace(name, std::move(s));
  }
  env.RejectUnknown();
  return c;
}

// Keeps /readyz current.
void Probe(pg::Database& db, lock::RedisClient& redis, eventbus::ConsumerComponent& consumer,
           core::Health& health) {
  eventbus::ReportConsumerHealth(db, consumer, health);
  // Redis only delays rate-limited channels: reported, never fatal for readiness.
  const bool redis_ok = redis.Ping();
  health.Set("redis", true, redis_ok ? "" : "Redis unavailable: rate-limited channels wait");
}

}  // namespace

int main() {
  core::Lifecycle::BlockTerminationSignals();
  Config config;
  Templates templates;
  try {
    config = ParseConfig();
    templates = config.template_dir.empty() ? Templates::Defaults()
                                            : Templates::LoadWithOverrides(config.template_dir);
  } catch (const std::exception& e) {
    core::ExitOnConfigError(kServiceName, e);
  }
  core::InitLogging(kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    auto& clock = core::SystemClock::Instance();
    if (config.routing.routes.empty()) {
      log->warn(
          "no routes configured (SLUICE_NOTIFIER_CONFIG): events are recorded, nothing is sent");
    }
    pg::Database db(config.pg);
    pg::ApplyMigrationsWithin(db, generated::NotifierMigrations(), config.startup_timeout);
    try {
      auto topics = config.topics;
      topics.emplace_back(events::kTopicNotifications);
      kafka::EnsureTopics(config.kafka, topics);
    } catch (const std::exception& e) {
      log->warn("could not ensure Kafka topics ({}); consuming starts when Kafka answers",
                e.what());
    }
    lock::RedisConfig redis_config;
    redis_config.url = config.redis_url;
    lock::RedisClient redis(redis_config);

    auto registry = std::make_shared<prometheus::Registry>();
    core::Health health;
    health.Set("postgres", true);

    std::map<std::string, std::unique_ptr<Channel>> channels;
    for (const auto& [name, spec] : config.routing.channels) {
      channels.emplace(name, MakeChannel(spec, config.secrets.at(name), templates));
    }

    kafka::Producer producer(config.kafka);
    eventbus::OutboxRelayComponent relay(db, producer);
    eventbus::OutboxMetrics outbox_metrics(*registry, std::string(kServiceName));
    const auto routing = config.routing;
    const auto build = config.build;
    SenderOptions sender_options;
    sender_options.poll = config.poll;
    sender_options.max_attempts = config.routing.max_attempts;
    sender_options.backoff_base = config.routing.backoff_base;
    sender_options.backoff_max = config.routing.backoff_max;
    Sender sender({db, &redis, clock, registry.get()}, sender_options, std::move(channels));

    kafka::ConsumerOptions consumer_options;
    consumer_options.group_id = config.group_id;
    consumer_options.topics = config.topics;
    // Set inside the event's transaction; the sender is woken once that transaction committed.
    bool recorded = false;
    auto record = eventbus::TransactionalHandler(
        db, std::string(kServiceName), [&](pqxx::work& tx, const events::v1::Envelope& e) {
          recorded = RecordEvent(tx, e, routing, build, clock.Now()) > 0;
        });
    // Declared after the sender: it calls into it, so it is destroyed first.
    eventbus::ConsumerComponent consumer(
        "consumer", config.kafka, consumer_options,
        [&record, &recorded, &sender](const kafka::ConsumedMessage& m) {
          recorded = false;
          record(m);
          if (recorded) sender.Wake();
        },
        producer, registry.get());
    http::ServerOptions server_options;
    server_options.addr = config.http_addr;
    http::Server server("notifier", server_options);
    server.MountOps(health, *registry);
    http::RequireServiceToken(server, config.service_token);
    MountDeliveriesApi(server, db);
    core::PeriodicTask probe("probe", 2s, [&] {
      Probe(db, redis, consumer, health);
      outbox_metrics.Update(relay.Relay());
    });

    core::Lifecycle lifecycle;
    lifecycle.Add(relay);
    lifecycle.Add(sender);
    lifecycle.Add(consumer);
    lifecycle.Add(probe);
    lifecycle.Add(server);
    log->info("notifier listening on http://{} ({} channel(s), {} route(s))", config.http_addr,
              config.routing.channels.size(), config.routing.routes.size());
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("notifier cannot start: {}", e.what());
    std::cerr << "notifier: cannot start: " << e.what() << "\n";
    return 1;
  }
}
