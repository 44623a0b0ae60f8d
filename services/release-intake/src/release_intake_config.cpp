#include "release_intake_config.hpp"

#include <sluice/core/duration.hpp>

#include "delivery.hpp"
#include "intake.hpp"

namespace sluice::release_intake {
namespace {

using namespace std::chrono_literals;

std::string UpstreamUrl(core::EnvConfig& env, std::string_view key, std::string_view def) {
  const std::string raw = env.String(key, def);
  auto url = NormalizeBaseUrl(raw);
  if (!url) {
    throw core::ConfigError(std::string(key) + "=" + raw + ": use an http(s) base URL such as " +
                            std::string(def));
  }
  return *url;
}

void ParseSessionOptions(core::EnvConfig& env, SessionOptions& o) {
  const auto idle = env.Duration("SLUICE_SESSION_IDLE", 30min);
  const auto max = env.Duration("SLUICE_SESSION_MAX", 12h);
  if (idle < 1min) throw core::ConfigError("SLUICE_SESSION_IDLE must be at least 1m");
  if (max < idle) {
    throw core::ConfigError("SLUICE_SESSION_MAX must be at least SLUICE_SESSION_IDLE (" +
                            core::FormatDuration(idle) + ")");
  }
  o.idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(idle);
  o.max_lifetime = std::chrono::duration_cast<std::chrono::seconds>(max);
  const std::string secure = env.String("SLUICE_SESSION_SECURE", "auto");
  if (secure == "auto") {
    o.secure = SessionOptions::Secure::kAuto;
  } else if (secure == "always") {
    o.secure = SessionOptions::Secure::kAlways;
  } else if (secure == "never") {
    o.secure = SessionOptions::Secure::kNever;
  } else {
    throw core::ConfigError("SLUICE_SESSION_SECURE=" + secure + ": use auto, always or never");
  }
}

// Inventory host groups: where their files may be, how long and how much is read.
void ParseInventoryOptions(core::EnvConfig& env, InventoryLimits& l) {
  l.file_root = env.String("SLUICE_INVENTORY_DIR", l.file_root);
  if (l.file_root.empty() || l.file_root.front() != '/') {
    throw core::ConfigError("SLUICE_INVENTORY_DIR=" + l.file_root + ": use an absolute path");
  }
  const auto timeout = env.Duration("SLUICE_INVENTORY_TIMEOUT", 5s);
  if (timeout < 100ms || timeout > 60s) {
    throw core::ConfigError("SLUICE_INVENTORY_TIMEOUT must be from 100ms to 60s");
  }
  l.timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  l.max_bytes = static_cast<std::size_t>(env.Int(
      "SLUICE_INVENTORY_MAX_BYTES", static_cast<std::int64_t>(l.max_bytes), 1024, 64 << 20));
  l.max_hosts = static_cast<std::size_t>(
      env.Int("SLUICE_INVENTORY_MAX_HOSTS", static_cast<std::int64_t>(l.max_hosts), 1, 100000));
  const std::string urls = env.String("SLUICE_INVENTORY_URLS", "");
  for (std::size_t start = 0; start < urls.size();) {
    auto end = urls.find(',', start);
    if (end == std::string::npos) end = urls.size();
    std::string prefix = urls.substr(start, end - start);
    start = end + 1;
    if (prefix.empty()) continue;
    const bool http = prefix.rfind("http://", 0) == 0 || prefix.rfind("https://", 0) == 0;
    const auto host = prefix.find("//") + 2;
    if (!http || prefix.back() != '/' || prefix.find('/', host) == host ||
        prefix.find_first_of(" @?#") != std::string::npos) {
      throw core::ConfigError("SLUICE_INVENTORY_URLS: '" + prefix +
                              "' must be an http(s) URL ending in '/', e.g. "
                              "https://cmdb.example/ansible/");
    }
    l.url_prefixes.push_back(std::move(prefix));
  }
}

std::vector<std::string> PromotionTopicsFrom(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto end = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, end - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  if (out.empty()) throw core::ConfigError("SLUICE_PROMOTION_TOPICS: give at least one topic");
  return out;
}

}  // namespace

IntakeConfig ParseIntakeConfig(core::EnvConfig& env) {
  IntakeConfig c;
  c.shared = service::ReadSettings(env, {.name = kServiceName,
                                         .http_addr = "127.0.0.1:8080",
                                         .pg_schema = "release_intake",
                                         .pg_pool_size = 8,
                                         .pg_pool_min = 1,
                                         .consumer = true,
                                         .topics_key = "SLUICE_INTAKE_TOPICS",
                                         .topics = kIntakeTopic,
                                         .internal_api = false});
  c.results_topic = env.String("SLUICE_INTAKE_RESULTS_TOPIC", kIntakeResultsTopic);
  c.promotion_topics = PromotionTopicsFrom(env.String(
      "SLUICE_PROMOTION_TOPICS", "sluice.deployments.v1,sluice.analyses.v1,sluice.rollbacks.v1"));
  auto principals = ParseKafkaPrincipals(env.String("SLUICE_INTAKE_KAFKA_PRINCIPALS", ""));
  if (const auto* e = std::get_if<std::string>(&principals)) {
    throw core::ConfigError("SLUICE_INTAKE_KAFKA_PRINCIPALS: " + *e);
  }
  c.kafka_principals = std::get<std::vector<KafkaPrincipal>>(std::move(principals));
  for (const auto& p : c.kafka_principals) {
    if (p.topic == c.results_topic) {
      throw core::ConfigError("SLUICE_INTAKE_KAFKA_PRINCIPALS: principal '" + p.name +
                              "''s inbound topic is SLUICE_INTAKE_RESULTS_TOPIC");
    }
  }
  c.max_body_bytes =
      static_cast<std::size_t>(env.Int("SLUICE_HTTP_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20));
  c.admin_token = env.Secret("SLUICE_ADMIN_TOKEN");
  if (c.admin_token && c.admin_token->size() < 24) {
    throw core::ConfigError("SLUICE_ADMIN_TOKEN is shorter than 24 characters; use a random token");
  }
  auto& a = c.api;
  a.github_secret = env.Secret("SLUICE_GITHUB_WEBHOOK_SECRET");
  a.service_token = c.shared.service_token;
  a.retry_after_seconds = 2;
  a.planner_url = UpstreamUrl(env, "SLUICE_PLANNER_URL", "http://127.0.0.1:8082");
  a.executor_url = UpstreamUrl(env, "SLUICE_EXECUTOR_URL", "http://127.0.0.1:8084");
  a.upstream_timeout = env.Duration("SLUICE_UPSTREAM_TIMEOUT", 3s);
  a.watcher_url = UpstreamUrl(env, "SLUICE_WATCHER_URL", "http://127.0.0.1:8081");
  a.rollback_agent_url = UpstreamUrl(env, "SLUICE_ROLLBACK_AGENT_URL", "http://127.0.0.1:8085");
  a.analysis_timeout = env.Duration("SLUICE_ANALYSIS_TIMEOUT", 60s);
  if (auto keys = env.Secret("SLUICE_LINK_KEYS")) {
    try {
      a.link_keys = core::ParseLinkKeys(*keys);
    } catch (const std::invalid_argument& e) {
      throw core::ConfigError(std::string("SLUICE_LINK_KEYS: ") + e.what());
    }
  }
  const auto ttl = env.Duration("SLUICE_LINK_MAX_TTL", std::chrono::hours(24 * 30));
  if (ttl < 1s) throw core::ConfigError("SLUICE_LINK_MAX_TTL must be at least 1s");
  a.link_max_lifetime = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  ParseSessionOptions(env, a.sessions);
  a.events.max_streams = static_cast<int>(env.Int("SLUICE_EVENTS_MAX_STREAMS", 8, 0, 256));
  a.events.poll = env.Duration("SLUICE_EVENTS_POLL", 1s);
  if (a.events.poll < 100ms || a.events.poll > 30s) {
    throw core::ConfigError("SLUICE_EVENTS_POLL must be from 100ms to 30s");
  }
  const auto age = env.Duration("SLUICE_EVENTS_MAX_AGE", 10min);
  if (age < 10s) throw core::ConfigError("SLUICE_EVENTS_MAX_AGE must be at least 10s");
  a.events.max_age = std::chrono::duration_cast<std::chrono::seconds>(age);
  ParseInventoryOptions(env, a.inventory);
  env.RejectUnknown();
  return c;
}

}  // namespace sluice::release_intake
