#include "watcher_config.hpp"

namespace sluice::watcher {

using namespace std::chrono_literals;

WatcherConfig ParseWatcherConfig(core::EnvConfig& env) {
  WatcherConfig c;
  c.shared = service::ReadSettings(
      env, {.name = kServiceName,
            .http_addr = "127.0.0.1:8081",
            .pg_schema = "metric_watcher",
            .pg_pool_size = 8,
            .topics_key = "SLUICE_WATCHER_TOPICS",
            .topics = "sluice.deployments.v1,sluice.rollbacks.v1,sluice.releases.v1"});
  c.prometheus = service::ReadPrometheus(env);
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
  const int pool_size = c.shared.pg.pool_size;
  if (c.analyzer.workers + 2 > pool_size) {
    throw core::ConfigError("SLUICE_WATCHER_WORKERS=" + std::to_string(c.analyzer.workers) +
                            " needs SLUICE_PG_POOL_SIZE of at least " +
                            std::to_string(c.analyzer.workers + 2) + " (it is " +
                            std::to_string(pool_size) + ")");
  }
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::watcher
