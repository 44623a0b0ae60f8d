#include "executor_config.hpp"

#include <gtest/gtest.h>

#include <sluice/service/config_testing.hpp>

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "0123456789abcdef-token";

ExecutorConfig Parse(service::testing::Env env) {
  return service::testing::ParseWithToken(&ParseExecutorConfig, std::move(env));
}

TEST(ExecutorConfigTest, Defaults) {
  const auto c = Parse({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}});
  EXPECT_EQ(c.shared.http_addr, "127.0.0.1:8084");
  EXPECT_EQ(c.shared.group_id, "executor");
  EXPECT_EQ(c.shared.pg.schema, "executor");
  EXPECT_EQ(c.shared.topics,
            (std::vector<std::string>{"sluice.deployments.v1", "sluice.rollbacks.v1"}));
  EXPECT_EQ(c.workers.workers, 4);
  EXPECT_EQ(c.shared.pg.pool_size, 8);
  EXPECT_EQ(c.shared.kafka.client_id, "executor");
  EXPECT_EQ(c.shared.redis_url, "redis://127.0.0.1:16379/0");
  EXPECT_EQ(c.workers.agent.token, kToken);
  EXPECT_EQ(c.workers.lock_prefix, "sluice:host:");
  EXPECT_FALSE(c.workers.default_service.has_value());
  EXPECT_EQ(c.defaults.host_timeout, 5min);
  EXPECT_EQ(c.defaults.max_parallel, 1u);
  EXPECT_EQ(c.defaults.revert_max_parallel, 50u);
}

TEST(ExecutorConfigTest, DefaultServiceFromArgvs) {
  const auto c = Parse({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
                        {"SLUICE_EXECUTOR_WORKERS", "2"},
                        {"SLUICE_EXECUTOR_RESTART_COMMAND", R"(["bin/restart.sh","--a b"])"},
                        {"SLUICE_EXECUTOR_HEALTH_COMMAND", "/bin/check --quick"},
                        {"SLUICE_EXECUTOR_HEALTH_TIMEOUT", "5s"}});
  EXPECT_EQ(c.workers.workers, 2);
  EXPECT_EQ(c.shared.pg.pool_size, 6);  // the workers' connections and four more
  ASSERT_TRUE(c.workers.default_service.has_value());
  EXPECT_EQ(c.workers.default_service->restart_command,
            (std::vector<std::string>{"bin/restart.sh", "--a b"}));
  EXPECT_EQ(c.workers.default_service->health.command,
            (std::vector<std::string>{"/bin/check", "--quick"}));
  EXPECT_EQ(c.workers.default_service->health.timeout, 5s);
}

TEST(ExecutorConfigTest, BadValuesNameTheKey) {
  auto message = [](service::testing::Env env) {
    return service::testing::ConfigErrorOf(&ParseExecutorConfig, std::move(env));
  };
  EXPECT_NE(message({}).find("SLUICE_EXECUTOR_AGENT_TOKEN"), std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", "short"}}).find("16"), std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}, {"SLUICE_EXECUTOR_WORKERS", "0"}})
                .find("SLUICE_EXECUTOR_WORKERS"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
                     {"SLUICE_EXECUTOR_RESTART_COMMAND", "/bin/restart"}})
                .find("health check"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
                     {"SLUICE_EXECUTOR_RESTART_COMMAND", "[1]"},
                     {"SLUICE_EXECUTOR_HEALTH_URL", "http://x"}})
                .find("SLUICE_EXECUTOR_RESTART_COMMAND"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}, {"SLUICE_EXECUTOR_WORKRS", "2"}})
                .find("did you mean SLUICE_EXECUTOR_WORKERS"),
            std::string::npos);
  EXPECT_EQ(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}, {"SLUICE_LOG_LEVEL", "all"}}),
            "SLUICE_LOG_LEVEL=all: use trace, debug, info, warn or error");
  EXPECT_EQ(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}, {"SLUICE_EXECUTOR_TOPICS", ","}}),
            "SLUICE_EXECUTOR_TOPICS: give at least one topic");
  EXPECT_NE(message({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}, {"SLUICE_PG_POOL_SIZE", "1"}})
                .find("SLUICE_PG_POOL_SIZE"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::executor
