#include "rollback_config.hpp"

#include <sluice/service/prometheus_settings.hpp>

namespace sluice::rollback {

using namespace std::chrono_literals;

RollbackConfig ParseRollbackConfig(core::EnvConfig& env) {
  RollbackConfig c;
  c.shared = service::ReadSettings(
      env, {.name = kServiceName,
            .http_addr = "127.0.0.1:8085",
            .pg_schema = "rollback_agent",
            .pg_pool_size = 6,
            .topics_key = "SLUICE_ROLLBACK_TOPICS",
            .topics = "sluice.analyses.v1,sluice.releases.v1,sluice.deployments.v1,"
                      "sluice.executions.v1",
            .redis = true});
  c.lock_prefix = env.String("SLUICE_ROLLBACK_LOCK_PREFIX", "sluice:rollback:");
  const auto prometheus = service::ReadPrometheus(env);
  c.prometheus.base_url = prometheus.base_url;
  c.prometheus.authorization = prometheus.authorization;
  c.prometheus.timeout = prometheus.timeout;

  auto& a = c.agent;
  a.public_url = service::HttpUrl(env, "SLUICE_PUBLIC_URL", "http://127.0.0.1:8080",
                                  "give the http(s) URL incident links start with");
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
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::rollback
