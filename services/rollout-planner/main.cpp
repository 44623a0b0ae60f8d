// rollout-planner: wiring only. See README.md for topics, tables, config keys and endpoints.
#include <iostream>
#include <sluice/core/config.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/service_auth.hpp>

#include "src/rollout_planner_component.hpp"

namespace {

using namespace sluice;
using namespace sluice::rollout_planner;
using namespace std::chrono_literals;

struct Config {
  std::string log_level;
  ServiceOptions service;
};

Config ParseConfig() {
  core::EnvConfig env;
  Config c;
  auto& s = c.service;
  s.http_addr = env.HostPort("SLUICE_HTTP_ADDR", "127.0.0.1:8082");
  s.service_token = http::ServiceTokenFromEnv(env);
  c.log_level = env.String("SLUICE_LOG_LEVEL", "info");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    throw core::ConfigError("SLUICE_LOG_LEVEL=" + c.log_level +
                            ": use trace, debug, info, warn or error");
  }
  s.pg.dsn = env.String("SLUICE_PG_DSN", s.pg.dsn);
  s.pg.schema = env.String("SLUICE_PG_SCHEMA", "rollout_planner");
  s.pg.pool_size = static_cast<int>(env.Int("SLUICE_PG_POOL_SIZE", 6, 3, 64));
  s.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", s.kafka.brokers);
  kafka::ApplyStartOffset(s.kafka, env.String("SLUICE_KAFKA_START_OFFSET", "earliest"));
  kafka::ApplyInstanceId(s.kafka, env.String("SLUICE_INSTANCE_ID", ""), s.http_addr);
  s.kafka.client_id = std::string(kServiceName);
  s.group_id = env.String("SLUICE_KAFKA_GROUP", "rollout-planner");
  s.redis_url = env.String("SLUICE_REDIS_URL", s.redis_url);
  s.tick = env.Duration("SLUICE_PLANNER_TIMER_INTERVAL", 200ms);
  s.planner.lease_ttl = env.Duration("SLUICE_PLANNER_LEASE_TTL", 10s);
  s.planner.traffic_switch_timeout = env.Duration("SLUICE_PLANNER_TRAFFIC_SWITCH_TIMEOUT", 10s);
  s.planner.traffic_switch_attempts =
      static_cast<int>(env.Int("SLUICE_PLANNER_TRAFFIC_SWITCH_ATTEMPTS", 3, 1, 100));
  s.planner.rollback_wait = env.Duration("SLUICE_PLANNER_ROLLBACK_WAIT", 10min);
  s.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  try {
    pg::ValidateSchemaName(s.pg.schema);
  } catch (const std::exception& e) {
    throw core::ConfigError("SLUICE_PG_SCHEMA=" + s.pg.schema + ": " + e.what());
  }
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
    RolloutPlannerService service(config.service, core::SystemClock::Instance());
    service.Prepare();
    log->info("rollout-planner listening on http://{}", config.service.http_addr);
    const int sig = service.Lifecycle().RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("rollout-planner cannot start: {}", e.what());
    std::cerr << "rollout-planner: cannot start: " << e.what() << "\n";
    return 1;
  }
}
