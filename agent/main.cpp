// sluice-agent: wiring only. See README.md for the API, the layout on disk and config keys.
#include <prometheus/registry.h>

#include <filesystem>
#include <iostream>
#include <sluice/core/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/server.hpp>
#include <string_view>
#include <utility>
#include <vector>

#include "src/agent_api.hpp"
#include "src/enroll.hpp"
#include "src/heartbeat.hpp"
#include "src/host_agent.hpp"

namespace {

using namespace sluice;
using namespace std::chrono_literals;

struct Config {
  std::string addr;
  std::string log_level;
  std::string token;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  agent::HostAgentOptions host;
  // Set when the host is enrolled (enrolled.conf, written by `sluice-agent enroll`).
  std::optional<agent::HeartbeatOptions> heartbeat;
};

Config ParseConfig() {
  core::EnvConfig env;
  for (const auto key : core::SuiteWideKeys()) env.MarkKnown(key);
  Config c;
  c.addr = env.HostPort("SLUICE_AGENT_ADDR", "127.0.0.1:7070");
  c.log_level = core::LogLevelFromEnv(env);
  c.host.root = env.Required("SLUICE_AGENT_ROOT");
  if (!c.host.root.is_absolute()) {
    throw core::ConfigError("SLUICE_AGENT_ROOT=" + c.host.root.string() +
                            ": use an absolute path (the install root)");
  }
  c.host.keep = static_cast<std::size_t>(env.Int("SLUICE_AGENT_KEEP", 5, 2, 1000));
  c.host.max_artifact_bytes = static_cast<std::uint64_t>(
      env.Int("SLUICE_AGENT_MAX_ARTIFACT_BYTES", 1ll << 30, 1024, 1ll << 40));
  c.host.extract.max_total_bytes = static_cast<std::uint64_t>(
      env.Int("SLUICE_AGENT_MAX_UNPACKED_BYTES", 4ll << 30, 1024, 1ll << 42));
  c.host.download_timeout = env.Duration("SLUICE_AGENT_DOWNLOAD_TIMEOUT", 10min);
  const auto token = env.Secret("SLUICE_AGENT_TOKEN");
  if (!token) {
    throw core::ConfigError(
        "SLUICE_AGENT_TOKEN (or SLUICE_AGENT_TOKEN_FILE) is not set; the API needs a token");
  }
  if (token->size() < 16) {
    throw core::ConfigError("SLUICE_AGENT_TOKEN is shorter than 16 characters; use a random token");
  }
  c.token = *token;
  c.tls_cert_file = env.String("SLUICE_AGENT_TLS_CERT_FILE", "");
  c.tls_key_file = env.String("SLUICE_AGENT_TLS_KEY_FILE", "");
  c.tls_client_ca_file = env.String("SLUICE_AGENT_TLS_CLIENT_CA_FILE", "");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    throw core::ConfigError(
        "SLUICE_AGENT_TLS_CERT_FILE and SLUICE_AGENT_TLS_KEY_FILE go together: set both (HTTPS) "
        "or neither (plain HTTP)");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    throw core::ConfigError(
        "SLUICE_AGENT_TLS_CLIENT_CA_FILE needs SLUICE_AGENT_TLS_CERT_FILE and "
        "SLUICE_AGENT_TLS_KEY_FILE: client certificates are checked over HTTPS only");
  }
  for (const auto& [key, file] :
       {std::pair{"SLUICE_AGENT_TLS_CERT_FILE", c.tls_cert_file},
        std::pair{"SLUICE_AGENT_TLS_KEY_FILE", c.tls_key_file},
        std::pair{"SLUICE_AGENT_TLS_CLIENT_CA_FILE", c.tls_client_ca_file}}) {
    if (!file.empty() && !std::filesystem::is_regular_file(file)) {
      throw core::ConfigError(std::string(key) + "=" + file + ": no such file");
    }
  }
  // Enrolment (`sluice-agent enroll` writes these to enrolled.conf): the agent reports to
  // release-intake with its own credential.
  const auto server = env.String("SLUICE_AGENT_SERVER", "");
  const auto name = env.String("SLUICE_AGENT_NAME", "");
  const auto credential = env.Secret("SLUICE_AGENT_CREDENTIAL");
  const auto server_ca = env.String("SLUICE_AGENT_SERVER_CA_FILE", "");
  const auto interval = env.Duration("SLUICE_AGENT_HEARTBEAT_INTERVAL", 30s);
  if (!server.empty() || credential) {
    if (server.empty() || !credential || name.empty()) {
      throw core::ConfigError(
          "SLUICE_AGENT_SERVER, SLUICE_AGENT_NAME and SLUICE_AGENT_CREDENTIAL[_FILE] go together "
          "(an enrolled host; `sluice-agent enroll` writes them): set all or none");
    }
    if (interval < 1s || interval > 1h) {
      throw core::ConfigError("SLUICE_AGENT_HEARTBEAT_INTERVAL: between 1s and 1h");
    }
    c.heartbeat = agent::HeartbeatOptions{server, name, *credential, server_ca, interval};
  }
  env.RejectUnknown();
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "enroll") {
    try {
      const auto options = agent::ParseEnrollArgs(std::vector<std::string>(argv + 2, argv + argc));
      return agent::RunEnroll(options, std::cout, std::cerr);
    } catch (const agent::UsageError& e) {
      if (*e.what()) std::cerr << "sluice-agent enroll: " << e.what() << "\n";
      std::cerr << agent::kEnrollUsage;
      return 2;
    }
  }
  if (argc >= 2) {
    std::cerr << "sluice-agent: unknown command '" << argv[1]
              << "'; run it without arguments (configured by SLUICE_AGENT_* variables) or as "
                 "`sluice-agent enroll ...`\n"
              << agent::kEnrollUsage;
    return 2;
  }
  core::Lifecycle::BlockTerminationSignals();
  Config config;
  try {
    config = ParseConfig();
  } catch (const std::exception& e) {
    core::ExitOnConfigError(agent::kServiceName, e);
  }
  core::InitLogging(agent::kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    auto& clock = core::SystemClock::Instance();
    agent::HostAgent host(clock, config.host);
    host.Load();

    auto registry = std::make_shared<prometheus::Registry>();
    core::Health health;
    health.Set("state", true);
    http::ServerOptions server_options;
    server_options.addr = config.addr;
    server_options.threads = 4;
    server_options.tls_cert_file = config.tls_cert_file;
    server_options.tls_key_file = config.tls_key_file;
    server_options.tls_client_ca_file = config.tls_client_ca_file;
    http::Server server(std::string(agent::kServiceName), server_options);
    server.MountOps(health, *registry);
    std::optional<agent::Heartbeat> heartbeat;
    if (config.heartbeat) heartbeat.emplace(*config.heartbeat);
    agent::AgentApiDeps deps{host, server};
    if (heartbeat) deps.refusal = [&heartbeat] { return heartbeat->Refusal(); };
    agent::AgentApi api(deps, config.token);
    api.Register();

    core::Lifecycle lifecycle;
    lifecycle.Add(server);
    if (heartbeat) {
      lifecycle.Add(*heartbeat);
      log->info("enrolled as '{}' with {}: heartbeat every {}s", config.heartbeat->name,
                config.heartbeat->server, config.heartbeat->interval.count() / 1000);
    }
    log->info("sluice-agent listening on {}://{} (root {}{})", server.Scheme(), config.addr,
              config.host.root.string(),
              config.tls_client_ca_file.empty() ? "" : ", client certificates required");
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("sluice-agent cannot start: {}", e.what());
    std::cerr << "sluice-agent: cannot start: " << e.what() << "\n";
    return 1;
  }
}
