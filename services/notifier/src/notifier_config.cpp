#include "notifier_config.hpp"

#include <fstream>
#include <sstream>

namespace sluice::notifier {

using namespace std::chrono_literals;

std::map<std::string, ChannelSecrets> ReadChannelSecrets(core::EnvConfig& env,
                                                         const RoutingConfig& routing) {
  std::map<std::string, ChannelSecrets> out;
  for (const auto& [channel, spec] : routing.channels) {
    const std::string& name = channel;  // a structured binding cannot be captured (before C++20)
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
    out.emplace(name, std::move(s));
  }
  return out;
}

NotifierConfig ParseNotifierConfig(core::EnvConfig& env) {
  NotifierConfig c;
  c.shared = service::ReadSettings(
      env, {.name = kServiceName,
            .http_addr = "127.0.0.1:8083",
            .pg_schema = "notifier",
            .topics_key = "SLUICE_NOTIFIER_TOPICS",
            .topics = "sluice.deployments.v1,sluice.executions.v1,sluice.analyses.v1,"
                      "sluice.rollbacks.v1",
            .redis = true});
  c.build.console_base_url = env.String("SLUICE_CONSOLE_URL", c.build.console_base_url);
  if (auto keys = env.Secret("SLUICE_LINK_KEYS")) {
    try {
      c.build.link_keys = core::ParseLinkKeys(*keys);
    } catch (const std::invalid_argument& e) {
      throw core::ConfigError(std::string("SLUICE_LINK_KEYS: ") + e.what());
    }
  }
  const auto ttl = env.Duration("SLUICE_LINK_TTL", std::chrono::hours(24 * 7));
  if (ttl < 1s) throw core::ConfigError("SLUICE_LINK_TTL must be at least 1s");
  c.build.link_ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  const std::string template_dir = env.String("SLUICE_NOTIFIER_TEMPLATE_DIR", "");
  c.poll = env.Duration("SLUICE_NOTIFIER_POLL_INTERVAL", 500ms);
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
  c.secrets = ReadChannelSecrets(env, c.routing);
  env.RejectUnknown();
  c.templates =
      template_dir.empty() ? Templates::Defaults() : Templates::LoadWithOverrides(template_dir);
  return c;
}

}  // namespace sluice::notifier
