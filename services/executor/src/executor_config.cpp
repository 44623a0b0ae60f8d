#include "executor_config.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

namespace sluice::executor {
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

}  // namespace

std::vector<std::string> ParseArgv(std::string_view key, const std::string& value) {
  std::vector<std::string> out;
  if (!value.empty() && value.front() == '[') {
    const auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_array()) {
      throw core::ConfigError(std::string(key) + ": not a JSON array; give e.g. " +
                              R"(["bin/restart.sh","--graceful"])");
    }
    for (const auto& v : j) {
      if (!v.is_string() || v.get<std::string>().empty()) {
        throw core::ConfigError(std::string(key) + ": every element must be a non-empty string");
      }
      out.push_back(v.get<std::string>());
    }
  } else {
    std::stringstream ss(value);
    std::string word;
    while (ss >> word) out.push_back(word);
  }
  return out;
}

namespace {

// The agents' bearer token, default port and TLS files.
void ParseAgentAccess(core::EnvConfig& env, AgentDriverConfig& agent) {
  const auto token = env.Secret("SLUICE_EXECUTOR_AGENT_TOKEN");
  if (!token || token->size() < 16) {
    throw core::ConfigError(
        "SLUICE_EXECUTOR_AGENT_TOKEN is not set or shorter than 16 characters: set it, or "
        "SLUICE_EXECUTOR_AGENT_TOKEN_FILE, to the agents' bearer token");
  }
  agent.token = *token;
  agent.default_port = static_cast<int>(env.Int("SLUICE_EXECUTOR_AGENT_PORT", 7070, 1, 65535));
  agent.ca_file = env.String("SLUICE_EXECUTOR_AGENT_CA_FILE", "");
  agent.client_cert_file = env.String("SLUICE_EXECUTOR_AGENT_CLIENT_CERT_FILE", "");
  agent.client_key_file = env.String("SLUICE_EXECUTOR_AGENT_CLIENT_KEY_FILE", "");
  if (agent.client_cert_file.empty() != agent.client_key_file.empty()) {
    throw core::ConfigError(
        "SLUICE_EXECUTOR_AGENT_CLIENT_CERT_FILE and SLUICE_EXECUTOR_AGENT_CLIENT_KEY_FILE go "
        "together: set both or neither");
  }
}

// The service block sent when a BatchRequested carries none: a restart command and its health
// check, both or neither.
std::optional<AgentServiceSpec> ParseDefaultService(core::EnvConfig& env,
                                                    const CommandDefaults& defaults) {
  const auto restart = ParseArgv("SLUICE_EXECUTOR_RESTART_COMMAND",
                                 env.String("SLUICE_EXECUTOR_RESTART_COMMAND", ""));
  const std::string health_url = env.String("SLUICE_EXECUTOR_HEALTH_URL", "");
  const auto health_command =
      ParseArgv("SLUICE_EXECUTOR_HEALTH_COMMAND", env.String("SLUICE_EXECUTOR_HEALTH_COMMAND", ""));
  if (!health_url.empty() && !health_command.empty()) {
    throw core::ConfigError(
        "SLUICE_EXECUTOR_HEALTH_URL and SLUICE_EXECUTOR_HEALTH_COMMAND: set one, not both");
  }
  if (!restart.empty()) {
    if (health_url.empty() && health_command.empty()) {
      throw core::ConfigError(
          "SLUICE_EXECUTOR_RESTART_COMMAND needs a health check: set SLUICE_EXECUTOR_HEALTH_URL "
          "or SLUICE_EXECUTOR_HEALTH_COMMAND");
    }
    AgentServiceSpec s;
    s.restart_command = restart;
    s.restart_timeout = defaults.restart_timeout;
    s.health.http_url = health_url;
    s.health.command = health_command;
    s.health.timeout = defaults.health_timeout;
    return s;
  }
  if (!health_url.empty() || !health_command.empty()) {
    throw core::ConfigError(
        "SLUICE_EXECUTOR_HEALTH_URL / SLUICE_EXECUTOR_HEALTH_COMMAND without "
        "SLUICE_EXECUTOR_RESTART_COMMAND: set the restart command too, or neither");
  }
  return std::nullopt;
}

}  // namespace

ExecutorConfig ParseExecutorConfig(core::EnvConfig& env) {
  ExecutorConfig c;
  c.http_addr = env.HostPort("SLUICE_HTTP_ADDR", "127.0.0.1:8084");
  c.log_level = env.String("SLUICE_LOG_LEVEL", "info");
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error") {
    throw core::ConfigError("SLUICE_LOG_LEVEL=" + c.log_level +
                            ": use trace, debug, info, warn or error");
  }
  c.pg.dsn = env.String("SLUICE_PG_DSN", c.pg.dsn);
  c.pg.schema = env.String("SLUICE_PG_SCHEMA", "executor");
  c.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", c.kafka.brokers);
  kafka::ApplyStartOffset(c.kafka, env.String("SLUICE_KAFKA_START_OFFSET", "earliest"));
  kafka::ApplyInstanceId(c.kafka, env.String("SLUICE_INSTANCE_ID", ""), c.http_addr);
  c.kafka.client_id = "executor";
  c.group_id = env.String("SLUICE_KAFKA_GROUP", "executor");
  c.topics =
      SplitList(env.String("SLUICE_EXECUTOR_TOPICS", "sluice.deployments.v1,sluice.rollbacks.v1"));
  if (c.topics.empty()) throw core::ConfigError("SLUICE_EXECUTOR_TOPICS: give at least one topic");
  c.redis_url = env.String("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");

  auto& w = c.workers;
  w.workers = static_cast<int>(env.Int("SLUICE_EXECUTOR_WORKERS", 4, 1, 64));
  c.pg.pool_size = static_cast<int>(env.Int("SLUICE_PG_POOL_SIZE", w.workers + 4, 2, 128));
  w.poll = env.Duration("SLUICE_EXECUTOR_POLL_INTERVAL", 500ms);
  w.command_lease = env.Duration("SLUICE_EXECUTOR_COMMAND_LEASE", 30s);
  w.host_lock_ttl = env.Duration("SLUICE_EXECUTOR_HOST_LOCK_TTL", 30s);
  w.cancel_check = env.Duration("SLUICE_EXECUTOR_CANCEL_CHECK", 1s);
  if (w.command_lease < 1s) {
    throw core::ConfigError("SLUICE_EXECUTOR_COMMAND_LEASE: at least 1s");
  }
  if (w.host_lock_ttl < 1s) {
    throw core::ConfigError("SLUICE_EXECUTOR_HOST_LOCK_TTL: at least 1s");
  }
  w.retry.max_attempts =
      static_cast<std::uint32_t>(env.Int("SLUICE_EXECUTOR_MAX_ATTEMPTS", 3, 1, 20));
  w.retry.initial_backoff = env.Duration("SLUICE_EXECUTOR_RETRY_BACKOFF", 1s);
  w.retry.max_backoff = env.Duration("SLUICE_EXECUTOR_RETRY_MAX_BACKOFF", 30s);

  ParseAgentAccess(env, w.agent);

  c.defaults.host_timeout = env.Duration("SLUICE_EXECUTOR_HOST_TIMEOUT", 5min);
  c.defaults.max_parallel =
      static_cast<std::uint32_t>(env.Int("SLUICE_EXECUTOR_MAX_PARALLEL", 1, 1, 1000));
  c.defaults.revert_max_parallel =
      static_cast<std::uint32_t>(env.Int("SLUICE_EXECUTOR_REVERT_MAX_PARALLEL", 50, 1, 1000));
  c.defaults.restart_timeout = env.Duration("SLUICE_EXECUTOR_RESTART_TIMEOUT", 60s);
  c.defaults.health_timeout = env.Duration("SLUICE_EXECUTOR_HEALTH_TIMEOUT", 30s);
  w.default_service = ParseDefaultService(env, c.defaults);
  w.lock_prefix = env.String("SLUICE_EXECUTOR_LOCK_PREFIX", "sluice:host:");
  c.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::executor
