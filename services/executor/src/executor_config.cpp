#include "executor_config.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;

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

std::vector<KubeClusterConfig> ParseKubeClusters(std::string_view key, const std::string& value) {
  std::vector<KubeClusterConfig> out;
  if (value.empty()) return out;
  const std::string k(key);
  const auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) {
    throw core::ConfigError(
        k + ": not a JSON object; give e.g. " +
        R"({"local": {"kubeconfig": "/etc/sluice/kubeconfig", "context": "ci"}, "here": "in-cluster"})");
  }
  for (const auto& [name, v] : j.items()) {
    KubeClusterConfig c;
    c.name = name;
    if (name.empty()) throw core::ConfigError(k + ": a cluster name is empty");
    if (v.is_string() && v.get<std::string>() == "in-cluster") {
      c.in_cluster = true;
    } else if (v.is_object()) {
      for (const auto& [field, fv] : v.items()) {
        if (field != "kubeconfig" && field != "context") {
          throw core::ConfigError(k + ": cluster " + name + ": unknown key \"" + field +
                                  "\" (kubeconfig, context)");
        }
        if (!fv.is_string()) {
          throw core::ConfigError(k + ": cluster " + name + ": " + field + " must be a string");
        }
      }
      c.kubeconfig = v.value("kubeconfig", "");
      c.context = v.value("context", "");
      if (c.kubeconfig.empty()) {
        throw core::ConfigError(k + ": cluster " + name + ": give a kubeconfig path");
      }
    } else {
      throw core::ConfigError(k + ": cluster " + name +
                              R"(: give "in-cluster" or {"kubeconfig": path, "context": name})");
    }
    out.push_back(std::move(c));
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

// The ssh driver (adapters/ssh_driver.hpp): off until a known_hosts file is given. Files are
// checked now, so a wrong path stops the start instead of failing every ssh host later.
void ParseSshAccess(core::EnvConfig& env, SshDriverConfig& ssh) {
  ssh.known_hosts_file = env.String("SLUICE_EXECUTOR_SSH_KNOWN_HOSTS", "");
  ssh.key_file = env.String("SLUICE_EXECUTOR_SSH_KEY_FILE", "");
  ssh.user = env.String("SLUICE_EXECUTOR_SSH_USER", "sluice");
  ssh.port = static_cast<int>(env.Int("SLUICE_EXECUTOR_SSH_PORT", 22, 1, 65535));
  ssh.trust_on_first_use = env.Bool("SLUICE_EXECUTOR_SSH_TRUST_ON_FIRST_USE", false);
  ssh.layout.release_root = env.String("SLUICE_EXECUTOR_SSH_RELEASE_ROOT", "/opt/sluice/app");
  ssh.layout.keep = static_cast<std::uint32_t>(env.Int("SLUICE_EXECUTOR_SSH_KEEP", 3, 1, 100));
  ssh.max_sessions_per_host =
      static_cast<int>(env.Int("SLUICE_EXECUTOR_SSH_MAX_SESSIONS_PER_HOST", 2, 1, 16));
  ssh.keepalive = env.Duration("SLUICE_EXECUTOR_SSH_KEEPALIVE", 15s);
  ssh.connect_timeout = env.Duration("SLUICE_EXECUTOR_SSH_CONNECT_TIMEOUT", 10s);
  if (ssh.keepalive < 1s) throw core::ConfigError("SLUICE_EXECUTOR_SSH_KEEPALIVE: at least 1s");
  if (ssh.connect_timeout < 1s) {
    throw core::ConfigError("SLUICE_EXECUTOR_SSH_CONNECT_TIMEOUT: at least 1s");
  }
  try {
    ValidateRoot(ssh.layout.release_root);
  } catch (const SshArgumentError& e) {
    throw core::ConfigError("SLUICE_EXECUTOR_SSH_RELEASE_ROOT: " + std::string(e.what()));
  }
  if (ssh.user.empty()) throw core::ConfigError("SLUICE_EXECUTOR_SSH_USER: must not be empty");
  ssh.limiter = std::make_shared<SshHostLimiter>(ssh.max_sessions_per_host);
  if (ssh.known_hosts_file.empty()) {
    if (!ssh.key_file.empty() || ssh.trust_on_first_use) {
      throw core::ConfigError(
          "SLUICE_EXECUTOR_SSH_KNOWN_HOSTS is not set: the ssh driver needs the operator's "
          "known_hosts file");
    }
    return;
  }
  // Trust on first use writes new keys into the file.
  const int mode = ssh.trust_on_first_use ? R_OK | W_OK : R_OK;
  if (access(ssh.known_hosts_file.c_str(), mode) != 0) {
    throw core::ConfigError("SLUICE_EXECUTOR_SSH_KNOWN_HOSTS: cannot " +
                            std::string(ssh.trust_on_first_use ? "read and write " : "read ") +
                            ssh.known_hosts_file);
  }
  if (!ssh.key_file.empty() && access(ssh.key_file.c_str(), R_OK) != 0) {
    throw core::ConfigError("SLUICE_EXECUTOR_SSH_KEY_FILE: cannot read " + ssh.key_file);
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
  auto& w = c.workers;
  w.workers = static_cast<int>(env.Int("SLUICE_EXECUTOR_WORKERS", 4, 1, 64));
  c.shared = service::ReadSettings(env, {.name = kServiceName,
                                         .http_addr = "127.0.0.1:8084",
                                         .pg_schema = "executor",
                                         .pg_pool_size = w.workers + 4,
                                         .pg_pool_max = 128,
                                         .topics_key = "SLUICE_EXECUTOR_TOPICS",
                                         .topics = "sluice.deployments.v1,sluice.rollbacks.v1",
                                         .redis = true});
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
  ParseSshAccess(env, w.ssh);

  c.defaults.host_timeout = env.Duration("SLUICE_EXECUTOR_HOST_TIMEOUT", 5min);
  c.defaults.max_parallel =
      static_cast<std::uint32_t>(env.Int("SLUICE_EXECUTOR_MAX_PARALLEL", 1, 1, 1000));
  c.defaults.revert_max_parallel =
      static_cast<std::uint32_t>(env.Int("SLUICE_EXECUTOR_REVERT_MAX_PARALLEL", 50, 1, 1000));
  c.defaults.restart_timeout = env.Duration("SLUICE_EXECUTOR_RESTART_TIMEOUT", 60s);
  c.defaults.health_timeout = env.Duration("SLUICE_EXECUTOR_HEALTH_TIMEOUT", 30s);
  w.default_service = ParseDefaultService(env, c.defaults);
  w.s3 = ParseS3Settings(env, c.defaults.host_timeout);
  w.lock_prefix = env.String("SLUICE_EXECUTOR_LOCK_PREFIX", "sluice:host:");
  c.kube_clusters = ParseKubeClusters("SLUICE_EXECUTOR_KUBE_CLUSTERS",
                                      env.String("SLUICE_EXECUTOR_KUBE_CLUSTERS", ""));
  w.kubernetes.workload.poll_interval =
      env.Duration("SLUICE_EXECUTOR_KUBE_POLL_INTERVAL", std::chrono::milliseconds(500));
  try {
    // Read now: a cluster that cannot be reached with what is configured stops the start.
    w.kubernetes.clusters = LoadClusters(c.kube_clusters);
  } catch (const std::exception& e) {
    throw core::ConfigError("SLUICE_EXECUTOR_KUBE_CLUSTERS: " + std::string(e.what()));
  }
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::executor
