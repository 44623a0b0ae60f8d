#include <unistd.h>

#include <sluice/core/ids.hpp>
#include <sluice/http/service_auth.hpp>
#include <sluice/service/prometheus_settings.hpp>
#include <sluice/service/settings.hpp>

namespace sluice::service {

std::string HttpUrl(core::EnvConfig& env, std::string_view key, std::string_view def,
                    std::string_view hint) {
  std::string url = env.String(key, def);
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    throw core::ConfigError(std::string(key) + "=" + url + ": " + std::string(hint));
  }
  return url;
}

prometheus::ClientOptions ReadPrometheus(core::EnvConfig& env) {
  using namespace std::chrono_literals;
  prometheus::ClientOptions o;
  o.base_url = HttpUrl(env, "SLUICE_PROMETHEUS_URL", o.base_url);
  o.authorization = env.Secret("SLUICE_PROMETHEUS_AUTHORIZATION").value_or("");
  o.timeout = env.Duration("SLUICE_PROMETHEUS_TIMEOUT", 5s);
  return o;
}

std::string OwnerId(std::string_view name) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? std::string_view(host) : name) + ":" +
         std::to_string(::getpid()) + ":" + core::NewUuid().substr(0, 8);
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const auto item = s.substr(0, comma);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

namespace {

// The inbox must outlive any redelivery: a consumer group whose offsets expired (Kafka's
// offsets.retention.minutes, 7 days by default) starts again at the oldest event the topic
// keeps (retention.ms, 7 days by default), and only the inbox tells those events apart.
void ReadRetention(core::EnvConfig& env, Settings& s) {
  using namespace std::chrono_literals;
  auto at_least = [&](std::string_view key, std::chrono::milliseconds def,
                      std::chrono::milliseconds min, std::string_view why) {
    const auto v = env.Duration(key, def);
    if (v < min) {
      throw core::ConfigError(std::string(key) + "=" + env.String(key, "") + ": " +
                              std::string(why));
    }
    return v;
  };
  s.retention.inbox = at_least("SLUICE_INBOX_RETENTION", s.retention.inbox, 24h,
                               "give at least 1d, and more than the consumed topics' retention.ms "
                               "and Kafka's offsets.retention.minutes (both 7d by default)");
  s.retention.outbox_published =
      at_least("SLUICE_OUTBOX_RETENTION", s.retention.outbox_published, 1min,
               "give at least 1m (published rows are kept only for inspection)");
  s.housekeeping_interval = at_least("SLUICE_HOUSEKEEPING_INTERVAL", s.housekeeping_interval, 1s,
                                     "give at least 1s, e.g. 10m");
}

}  // namespace

Settings ReadSettings(core::EnvConfig& env, const Shape& shape) {
  using namespace std::chrono_literals;
  Settings s;
  s.name = std::string(shape.name);
  s.http_addr = env.HostPort("SLUICE_HTTP_ADDR", shape.http_addr);
  s.service_token = http::ServiceTokenFromEnv(env);
  s.internal_api = shape.internal_api;
  s.log_level = core::LogLevelFromEnv(env);
  s.pg.dsn = env.String("SLUICE_PG_DSN", s.pg.dsn);
  s.pg.schema = env.String("SLUICE_PG_SCHEMA", shape.pg_schema);
  try {
    pg::ValidateSchemaName(s.pg.schema);
  } catch (const std::exception& e) {
    throw core::ConfigError("SLUICE_PG_SCHEMA=" + s.pg.schema + ": " + e.what());
  }
  s.pg.pool_size = static_cast<int>(
      env.Int("SLUICE_PG_POOL_SIZE", shape.pg_pool_size, shape.pg_pool_min, shape.pg_pool_max));
  s.kafka.brokers = env.String("SLUICE_KAFKA_BROKERS", s.kafka.brokers);
  s.kafka.client_id = s.name;
  s.kafka.security = kafka::ReadSecurity(env);
  if (shape.consumer) {
    kafka::ApplyStartOffset(s.kafka, env.String("SLUICE_KAFKA_START_OFFSET", "earliest"));
    kafka::ApplyInstanceId(s.kafka, env.String("SLUICE_INSTANCE_ID", ""), s.http_addr);
    s.group_id = env.String("SLUICE_KAFKA_GROUP", shape.name);
  }
  if (!shape.topics_key.empty()) {
    s.topics = SplitList(env.String(shape.topics_key, shape.topics));
    if (s.topics.empty()) {
      throw core::ConfigError(std::string(shape.topics_key) + ": give at least one topic");
    }
  } else {
    s.topics = SplitList(shape.topics);
  }
  if (shape.redis) s.redis_url = env.String("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");
  s.startup_timeout = env.Duration("SLUICE_STARTUP_TIMEOUT", 60s);
  ReadRetention(env, s);
  return s;
}

}  // namespace sluice::service
