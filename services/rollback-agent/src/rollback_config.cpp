#include "rollback_config.hpp"

#include <sstream>

namespace sluice::rollback {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool IsHttpUrl(const std::string& s) {
  return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

}  // namespace

RollbackConfig ParseRollbackConfig(core::EnvConfig& env) {
  RollbackConfig c;
  c.http_addr = env.HostPort("SLUICE_HTTP_ADDR", "127.0.0.1:8085");
  c.log_level = env.String("SLUICE_LOG_LEVEL", "info");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    throw core::ConfigError("SLUICE_LOG_LEVEL=" + c.log_level +
                            ": use trace, debug, info, warn or error");
  }
  c.pg.dsn = env.String("SLUICE_PG_DSN", c.pg.dsn);
  c.pg.schema = env.String("SLUICE_PG_SCHEMA", "rollback_agent");
  c.pg.pool_size = static_cast<int>(env.Int("SLUICE_PG_POOL_SIZE", 6, 2, 64));
  c.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", c.kafka.brokers);
  kafka::ApplyStartOffset(c.kafka, env.String("SLUICE_KAFKA_START_OFFSET", "earliest"));
  kafka::ApplyInstanceId(c.kafka, env.String("SLUICE_INSTANCE_ID", ""), c.http_addr);
  c.kafka.client_id = "rollback-agent";
  c.group_id = env.String("SLUICE_KAFKA_GROUP", "rollback-agent");
  c.topics = SplitList(env.String(
      "SLUICE_ROLLBACK_TOPICS",
      "sluice.analyses.v1,sluice.releases.v1,sluice.deployments.v1,sluice.executions.v1"));
  if (c.topics.empty()) throw core::ConfigError("SLUICE_ROLLBACK_TOPICS: give at least one topic");
  c.redis_url = env.String("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");
  c.lock_prefix = env.String("SLUICE_ROLLBACK_LOCK_PREFIX", "sluice:rollback:");

  c.prometheus.base_url = env.String("SLUICE_PROMETHEUS_URL", "http://127.0.0.1:19090");
  if (!IsHttpUrl(c.prometheus.base_url)) {
    throw core::ConfigError("SLUICE_PROMETHEUS_URL=" + c.prometheus.base_url +
                            ": give an http:// or https:// URL");
  }
  c.prometheus.authorization = env.Secret("SLUICE_PROMETHEUS_AUTHORIZATION").value_or("");
  c.prometheus.timeout = env.Duration("SLUICE_PROMETHEUS_TIMEOUT", 5s);

  auto& a = c.agent;
  a.public_url = env.String("SLUICE_PUBLIC_URL", "http://127.0.0.1:8080");
  if (!IsHttpUrl(a.public_url)) {
    throw core::ConfigError("SLUICE_PUBLIC_URL=" + a.public_url +
                            ": give the http(s) URL incident links start with");
  }
  a.revert.max_attempts = static_cast<int>(env.Int("SLUICE_ROLLBACK_REVERT_ATTEMPTS", 3, 1, 20));
  a.revert.backoff = env.Duration("SLUICE_ROLLBACK_REVERT_BACKOFF", 5s);
  a.revert.timeout = env.Duration("SLUICE_ROLLBACK_REVERT_TIMEOUT", 5min);
  if (a.revert.timeout < 1s) {
    throw core::ConfigError("SLUICE_ROLLBACK_REVERT_TIMEOUT: at least 1s");
  }
  a.lock_ttl = env.Duration("SLUICE_ROLLBACK_LOCK_TTL", 30s);
  a.lock_wait = env.Duration("SLUICE_ROLLBACK_LOCK_WAIT", 2s);
  a.snapshot_before = env.Duration("SLUICE_ROLLBACK_SNAPSHOT_BEFORE", 5min);
  c.poll = env.Duration("SLUICE_ROLLBACK_POLL_INTERVAL", 1s);
  if (c.poll < 50ms) throw core::ConfigError("SLUICE_ROLLBACK_POLL_INTERVAL: at least 50ms");
  c.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::rollback
