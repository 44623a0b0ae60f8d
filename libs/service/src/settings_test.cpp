#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sluice/service/prometheus_settings.hpp>
#include <sluice/service/settings.hpp>

namespace sluice::service {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;
using ::testing::HasSubstr;

constexpr const char* kToken = "0123456789abcdef0123456789";

Shape Consumer() {
  Shape s;
  s.name = "svc";
  s.http_addr = "127.0.0.1:8099";
  s.pg_schema = "svc";
  s.pg_pool_size = 6;
  s.pg_pool_min = 3;
  s.pg_pool_max = 64;
  s.topics_key = "SLUICE_SVC_TOPICS";
  s.topics = "a.v1,b.v1";
  s.redis = true;
  return s;
}

Settings Read(Env env, const Shape& shape = Consumer()) {
  env.emplace("SLUICE_SERVICE_TOKEN", kToken);
  core::EnvConfig e(std::move(env));
  auto s = ReadSettings(e, shape);
  e.RejectUnknown();
  return s;
}

std::string ErrorOf(Env env, const Shape& shape = Consumer()) {
  try {
    Read(std::move(env), shape);
  } catch (const core::ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ReadSettingsTest, Defaults) {
  const auto s = Read({});
  EXPECT_EQ(s.name, "svc");
  EXPECT_EQ(s.http_addr, "127.0.0.1:8099");
  EXPECT_EQ(s.service_token, kToken);
  EXPECT_TRUE(s.internal_api);
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.pg.schema, "svc");
  EXPECT_EQ(s.pg.pool_size, 6);
  EXPECT_EQ(s.kafka.client_id, "svc");
  EXPECT_EQ(s.group_id, "svc");
  EXPECT_EQ(s.topics, (std::vector<std::string>{"a.v1", "b.v1"}));
  EXPECT_EQ(s.redis_url, "redis://127.0.0.1:16379/0");
  EXPECT_EQ(s.startup_timeout, 60s);
  EXPECT_EQ(s.retention.inbox, 14 * 24h);
  EXPECT_EQ(s.retention.outbox_published, 24h);
  EXPECT_EQ(s.housekeeping_interval, 10min);
}

TEST(ReadSettingsTest, Housekeeping) {
  const auto s = Read({{"SLUICE_INBOX_RETENTION", "30d"},
                       {"SLUICE_OUTBOX_RETENTION", "2h"},
                       {"SLUICE_HOUSEKEEPING_INTERVAL", "1m"}});
  EXPECT_EQ(s.retention.inbox, 30 * 24h);
  EXPECT_EQ(s.retention.outbox_published, 2h);
  EXPECT_EQ(s.housekeeping_interval, 1min);
  // An inbox shorter than a day would forget events Kafka can still redeliver.
  EXPECT_EQ(ErrorOf({{"SLUICE_INBOX_RETENTION", "12h"}}),
            "SLUICE_INBOX_RETENTION=12h: give at least 1d, and more than the consumed topics' "
            "retention.ms and Kafka's offsets.retention.minutes (both 7d by default)");
  EXPECT_THAT(ErrorOf({{"SLUICE_OUTBOX_RETENTION", "10s"}}),
              HasSubstr("SLUICE_OUTBOX_RETENTION=10s"));
  EXPECT_THAT(ErrorOf({{"SLUICE_HOUSEKEEPING_INTERVAL", "0s"}}),
              HasSubstr("SLUICE_HOUSEKEEPING_INTERVAL=0s"));
  EXPECT_THAT(ErrorOf({{"SLUICE_HOUSEKEEPING_INTERVAL", "often"}}),
              HasSubstr("SLUICE_HOUSEKEEPING_INTERVAL"));
}

TEST(ReadSettingsTest, Overrides) {
  const auto s = Read({{"SLUICE_HTTP_ADDR", "0.0.0.0:9000"},
                       {"SLUICE_LOG_LEVEL", "debug"},
                       {"SLUICE_PG_SCHEMA", "other"},
                       {"SLUICE_PG_POOL_SIZE", "10"},
                       {"SLUICE_KAFKA_BROKERS", "k:9092"},
                       {"SLUICE_KAFKA_GROUP", "g"},
                       {"SLUICE_SVC_TOPICS", "x,,y"},
                       {"SLUICE_REDIS_URL", "redis://r:6379/1"},
                       {"SLUICE_STARTUP_TIMEOUT", "5s"}});
  EXPECT_EQ(s.http_addr, "0.0.0.0:9000");
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.pg.schema, "other");
  EXPECT_EQ(s.pg.pool_size, 10);
  EXPECT_EQ(s.kafka.brokers, "k:9092");
  EXPECT_EQ(s.group_id, "g");
  EXPECT_EQ(s.topics, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(s.redis_url, "redis://r:6379/1");
  EXPECT_EQ(s.startup_timeout, 5s);
}

TEST(ReadSettingsTest, BadValuesNameTheKey) {
  EXPECT_EQ(ErrorOf({{"SLUICE_LOG_LEVEL", "loud"}}),
            "SLUICE_LOG_LEVEL=loud: use trace, debug, info, warn or error");
  EXPECT_THAT(ErrorOf({{"SLUICE_HTTP_ADDR", "nowhere"}}), HasSubstr("SLUICE_HTTP_ADDR"));
  EXPECT_THAT(ErrorOf({{"SLUICE_PG_POOL_SIZE", "2"}}), HasSubstr("SLUICE_PG_POOL_SIZE"));
  EXPECT_THAT(ErrorOf({{"SLUICE_PG_SCHEMA", "bad-schema;"}}), HasSubstr("SLUICE_PG_SCHEMA="));
  EXPECT_EQ(ErrorOf({{"SLUICE_SVC_TOPICS", ","}}), "SLUICE_SVC_TOPICS: give at least one topic");
  EXPECT_THAT(ErrorOf({{"SLUICE_STARTUP_TIMEOUT", "60"}}), HasSubstr("SLUICE_STARTUP_TIMEOUT"));
  EXPECT_THAT(ErrorOf({{"SLUICE_SVC_TOPIC", "a"}}), HasSubstr("did you mean SLUICE_SVC_TOPICS"));
}

TEST(ReadSettingsTest, TheServiceTokenIsRequired) {
  core::EnvConfig e(Env{});
  try {
    ReadSettings(e, Consumer());
    FAIL() << "no error";
  } catch (const core::ConfigError& err) {
    EXPECT_THAT(err.what(), HasSubstr("SLUICE_SERVICE_TOKEN"));
  }
}

TEST(ReadSettingsTest, AServiceThatDoesNotConsumeRefusesTheConsumerKeys) {
  Shape shape;
  shape.name = "api";
  shape.http_addr = "127.0.0.1:8080";
  shape.pg_schema = "api";
  shape.consumer = false;
  shape.internal_api = false;
  const auto s = Read({}, shape);
  EXPECT_TRUE(s.topics.empty());
  EXPECT_TRUE(s.group_id.empty());
  EXPECT_TRUE(s.redis_url.empty());
  EXPECT_FALSE(s.internal_api);
  EXPECT_THAT(ErrorOf({{"SLUICE_KAFKA_GROUP", "g"}}, shape), HasSubstr("SLUICE_KAFKA_GROUP"));
  EXPECT_THAT(ErrorOf({{"SLUICE_INSTANCE_ID", "x"}}, shape), HasSubstr("SLUICE_INSTANCE_ID"));
}

TEST(ReadSettingsTest, KafkaSecuritySettingsReachEveryClientOfTheService) {
  const std::string password_file = ::testing::TempDir() + "sluice-settings-kafka-password";
  std::ofstream(password_file, std::ios::trunc) << "pw-from-file\n";
  const auto s = Read({{"SLUICE_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"},
                       {"SLUICE_KAFKA_SASL_USERNAME", "svc"},
                       {"SLUICE_KAFKA_SASL_PASSWORD_FILE", password_file}});
  EXPECT_EQ(s.kafka.security.protocol, "sasl_plaintext");
  EXPECT_EQ(s.kafka.security.sasl_username, "svc");
  EXPECT_EQ(s.kafka.security.sasl_password, "pw-from-file");
  // A bad combination stops the service at start-up with one line naming the setting.
  EXPECT_THAT(ErrorOf({{"SLUICE_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"},
                       {"SLUICE_KAFKA_SASL_USERNAME", "svc"}}),
              HasSubstr("needs SLUICE_KAFKA_SASL_PASSWORD_FILE"));
  EXPECT_EQ(Read({}).kafka.security.protocol, "plaintext");
}

TEST(ReadSettingsTest, FixedTopicsWithoutAKey) {
  Shape shape = Consumer();
  shape.topics_key = "";
  EXPECT_EQ(Read({}, shape).topics, (std::vector<std::string>{"a.v1", "b.v1"}));
  EXPECT_THAT(ErrorOf({{"SLUICE_SVC_TOPICS", "x"}}, shape), HasSubstr("unknown setting"));
}

TEST(ReadPrometheusTest, UrlAuthorizationAndTimeout) {
  core::EnvConfig none(Env{});
  const auto d = ReadPrometheus(none);
  EXPECT_EQ(d.base_url, "http://127.0.0.1:19090");
  EXPECT_EQ(d.authorization, "");
  EXPECT_EQ(d.timeout, 5s);
  core::EnvConfig set(Env{{"SLUICE_PROMETHEUS_URL", "https://p.example"},
                          {"SLUICE_PROMETHEUS_AUTHORIZATION", "Bearer x"},
                          {"SLUICE_PROMETHEUS_TIMEOUT", "2s"}});
  const auto o = ReadPrometheus(set);
  EXPECT_EQ(o.base_url, "https://p.example");
  EXPECT_EQ(o.authorization, "Bearer x");
  EXPECT_EQ(o.timeout, 2s);
  core::EnvConfig bad(Env{{"SLUICE_PROMETHEUS_URL", "localhost:9090"}});
  try {
    ReadPrometheus(bad);
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_STREQ(e.what(), "SLUICE_PROMETHEUS_URL=localhost:9090: give an http:// or https:// URL");
  }
}

TEST(OwnerIdTest, HostPidAndARandomPart) {
  const auto a = OwnerId("svc");
  const auto b = OwnerId("svc");
  EXPECT_NE(a, b);
  EXPECT_THAT(a, HasSubstr(":" + std::to_string(::getpid()) + ":"));
  EXPECT_EQ(a.size() - a.rfind(':') - 1, 8u);
}

TEST(SplitListTest, DropsEmptyItems) {
  EXPECT_EQ(SplitList(""), std::vector<std::string>{});
  EXPECT_EQ(SplitList("a"), std::vector<std::string>{"a"});
  EXPECT_EQ(SplitList(",a,,b,"), (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace sluice::service
