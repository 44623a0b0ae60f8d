#include "watcher_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/service/config_testing.hpp>

namespace sluice::watcher {
namespace {

using namespace std::chrono_literals;
using service::testing::Env;
using ::testing::HasSubstr;

constexpr const char* kAlertToken = "alertmanager-token-0123";

WatcherConfig Parse(Env env) {
  return service::testing::ParseWithToken(&ParseWatcherConfig, std::move(env));
}

std::string ErrorOf(Env env) {
  return service::testing::ConfigErrorOf(&ParseWatcherConfig, std::move(env));
}

TEST(WatcherConfigTest, Defaults) {
  const auto c = Parse({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken}});
  EXPECT_EQ(c.shared.http_addr, "127.0.0.1:8081");
  EXPECT_EQ(c.shared.pg.schema, "metric_watcher");
  EXPECT_EQ(c.shared.pg.pool_size, 8);
  EXPECT_EQ(c.shared.group_id, "metric-watcher");
  EXPECT_EQ(c.shared.kafka.client_id, "metric-watcher");
  EXPECT_EQ(c.shared.topics,
            (std::vector<std::string>{"sluice.deployments.v1", "sluice.rollbacks.v1",
                                      "sluice.releases.v1"}));
  EXPECT_TRUE(c.shared.redis_url.empty());
  EXPECT_EQ(c.prometheus.base_url, "http://127.0.0.1:19090");
  EXPECT_EQ(c.prometheus.attempts, 3);
  EXPECT_EQ(c.alert_token, kAlertToken);
  EXPECT_EQ(c.handler.alert_window, 1h);
  EXPECT_EQ(c.analyzer.poll, 200ms);
  EXPECT_EQ(c.analyzer.workers, 4);
}

TEST(WatcherConfigTest, Overrides) {
  const auto c = Parse({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken},
                        {"SLUICE_WATCHER_TOPICS", "a"},
                        {"SLUICE_PROMETHEUS_URL", "https://prom.example"},
                        {"SLUICE_PROMETHEUS_ATTEMPTS", "5"},
                        {"SLUICE_WATCHER_WORKERS", "8"},
                        {"SLUICE_PG_POOL_SIZE", "10"},
                        {"SLUICE_REDIS_URL", "redis://elsewhere:6379/0"}});  // suite-wide
  EXPECT_EQ(c.shared.topics, std::vector<std::string>{"a"});
  EXPECT_EQ(c.prometheus.base_url, "https://prom.example");
  EXPECT_EQ(c.prometheus.attempts, 5);
  EXPECT_EQ(c.analyzer.workers, 8);
  EXPECT_EQ(c.shared.pg.pool_size, 10);
}

TEST(WatcherConfigTest, BadValuesNameTheKey) {
  EXPECT_THAT(ErrorOf({}), HasSubstr("SLUICE_WATCHER_ALERT_TOKEN is not set"));
  EXPECT_THAT(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", "short"}}),
              HasSubstr("shorter than 16 characters"));
  EXPECT_EQ(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken},
                     {"SLUICE_PROMETHEUS_URL", "prom:9090"}}),
            "SLUICE_PROMETHEUS_URL=prom:9090: give an http:// or https:// URL");
  EXPECT_EQ(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken}, {"SLUICE_WATCHER_TOPICS", ","}}),
            "SLUICE_WATCHER_TOPICS: give at least one topic");
  EXPECT_EQ(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken}, {"SLUICE_WATCHER_WORKERS", "8"}}),
            "SLUICE_WATCHER_WORKERS=8 needs SLUICE_PG_POOL_SIZE of at least 10 (it is 8)");
  EXPECT_EQ(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken}, {"SLUICE_LOG_LEVEL", "x"}}),
            "SLUICE_LOG_LEVEL=x: use trace, debug, info, warn or error");
  EXPECT_THAT(
      ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken}, {"SLUICE_PROMETHEUS_ATTEMPTS", "0"}}),
      HasSubstr("SLUICE_PROMETHEUS_ATTEMPTS"));
  EXPECT_THAT(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken},
                       {"SLUICE_WATCHER_POLL_INTERVAL", "200"}}),
              HasSubstr("SLUICE_WATCHER_POLL_INTERVAL"));
  EXPECT_EQ(ErrorOf({{"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken}, {"SLUICE_WATCHER_WORKRS", "2"}}),
            "unknown setting SLUICE_WATCHER_WORKRS: did you mean SLUICE_WATCHER_WORKERS?");
}

}  // namespace
}  // namespace sluice::watcher
