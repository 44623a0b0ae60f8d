#pragma once

// The settings every Sluice service reads the same way: its HTTP address, the service token, the
// log level, PostgreSQL, Kafka (and, for a consumer, its group, start offset, static member id
// and topics), Redis, the start-up timeout and the housekeeping of the delivery tables. A service's
// own Parse reads these with ReadSettings, then its own keys, then calls env.RejectUnknown().

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/kafka/config.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/retention.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::service {

// What a service has of the shared settings, and its defaults.
struct Shape {
  std::string_view name{};       // "executor": Kafka client id, default group, metrics label
  std::string_view http_addr{};  // default of SLUICE_HTTP_ADDR
  std::string_view pg_schema{};  // default of SLUICE_PG_SCHEMA
  int pg_pool_size = 4;          // default of SLUICE_PG_POOL_SIZE, and its range
  int pg_pool_min = 2;
  int pg_pool_max = 64;
  bool consumer = true;  // SLUICE_KAFKA_GROUP, SLUICE_KAFKA_START_OFFSET, SLUICE_INSTANCE_ID
  std::string_view topics_key{};  // "SLUICE_EXECUTOR_TOPICS"; empty: the topics are not settable
  std::string_view topics{};      // its default, comma-separated
  bool redis = false;             // SLUICE_REDIS_URL
  bool internal_api = true;       // its HTTP API is called only with the service token
};

struct Settings {
  std::string name;
  std::string http_addr;
  std::string service_token;  // SLUICE_SERVICE_TOKEN[_FILE], at least 24 characters
  bool internal_api = true;   // every API path but the probes needs service_token
  std::string log_level;
  pg::PgConfig pg;
  kafka::KafkaConfig kafka;
  std::string group_id;             // consumers only
  std::vector<std::string> topics;  // consumers only: the topics consumed
  std::string redis_url;            // empty: the service uses no Redis
  std::chrono::milliseconds startup_timeout{60000};
  // Housekeeping (pg/retention.hpp): SLUICE_INBOX_RETENTION, SLUICE_OUTBOX_RETENTION, every
  // SLUICE_HOUSEKEEPING_INTERVAL.
  pg::RetentionOptions retention;
  std::chrono::milliseconds housekeeping_interval{std::chrono::minutes(10)};
};

// Reads the shared keys of `shape` (each bad value a core::ConfigError naming its key). Does not
// call RejectUnknown: the service's own keys come next.
Settings ReadSettings(core::EnvConfig& env, const Shape& shape);

// An http:// or https:// URL from `key`; otherwise a ConfigError "<key>=<value>: <hint>".
std::string HttpUrl(core::EnvConfig& env, std::string_view key, std::string_view def,
                    std::string_view hint = "give an http:// or https:// URL");

// This process as the owner of a lease: "<host>:<pid>:<8 random hex>" (`name` when the host has
// no name). A restarted process is a new owner; its old leases expire.
std::string OwnerId(std::string_view name);

// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> SplitList(std::string_view s);

}  // namespace sluice::service
