#include "rollback_config.hpp"

#include <gtest/gtest.h>

#include <sluice/service/config_testing.hpp>

namespace sluice::rollback {
namespace {

using namespace std::chrono_literals;

std::map<std::string, std::string> WithToken(std::map<std::string, std::string> env) {
  env.emplace("SLUICE_SERVICE_TOKEN", service::testing::kTestServiceToken);
  return env;
}

TEST(RollbackConfigTest, Defaults) {
  core::EnvConfig env(WithToken({}));
  const auto c = ParseRollbackConfig(env);
  EXPECT_EQ(c.shared.http_addr, "127.0.0.1:8085");
  EXPECT_EQ(c.shared.pg.schema, "rollback_agent");
  EXPECT_EQ(c.shared.group_id, "rollback-agent");
  EXPECT_EQ(c.shared.topics,
            (std::vector<std::string>{"sluice.analyses.v1", "sluice.releases.v1",
                                      "sluice.deployments.v1", "sluice.executions.v1"}));
  EXPECT_EQ(c.prometheus.base_url, "http://127.0.0.1:19090");
  EXPECT_EQ(c.agent.public_url, "http://127.0.0.1:8080");
  EXPECT_EQ(c.agent.revert.max_attempts, 3);
  EXPECT_EQ(c.agent.revert.timeout, 5min);
  EXPECT_EQ(c.lock_prefix, "sluice:rollback:");
}

TEST(RollbackConfigTest, Overrides) {
  core::EnvConfig env(WithToken({{"SLUICE_ROLLBACK_REVERT_ATTEMPTS", "5"},
                                 {"SLUICE_ROLLBACK_REVERT_TIMEOUT", "30s"},
                                 {"SLUICE_ROLLBACK_TOPICS", "a,b"},
                                 {"SLUICE_PROMETHEUS_AUTHORIZATION", "Bearer x"},
                                 {"SLUICE_PUBLIC_URL", "https://sluice.example"}}));
  const auto c = ParseRollbackConfig(env);
  EXPECT_EQ(c.agent.revert.max_attempts, 5);
  EXPECT_EQ(c.agent.revert.timeout, 30s);
  EXPECT_EQ(c.shared.topics, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.prometheus.authorization, "Bearer x");
  EXPECT_EQ(c.agent.public_url, "https://sluice.example");
}

TEST(RollbackConfigTest, BadValuesNameTheKey) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"SLUICE_ROLLBACK_REVERT_ATTEMPTS", "0"},
           {"SLUICE_ROLLBACK_REVERT_TIMEOUT", "10"},
           {"SLUICE_PUBLIC_URL", "ftp://x"},
           {"SLUICE_PROMETHEUS_URL", "localhost:9090"},
           {"SLUICE_ROLLBACK_TYPO", "1"},
           {"SLUICE_LOG_LEVEL", "chatty"},
           {"SLUICE_ROLLBACK_TOPICS", ","},
           {"SLUICE_ROLLBACK_POLL_INTERVAL", "10ms"}}) {
    core::EnvConfig env(WithToken({{key, value}}));
    try {
      ParseRollbackConfig(env);
      ADD_FAILURE() << key << "=" << value << " was accepted";
    } catch (const core::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sluice::rollback
