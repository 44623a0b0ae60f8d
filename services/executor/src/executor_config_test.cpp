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

TEST(ExecutorConfigTest, S3Settings) {
  EXPECT_FALSE(Parse({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}}).workers.s3.has_value());
  const auto c = Parse({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
                        {"SLUICE_EXECUTOR_S3_ENDPOINT", "http://127.0.0.1:18333"},
                        {"SLUICE_EXECUTOR_S3_ACCESS_KEY_ID", "sluice"},
                        {"SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY", "s3-secret-value"},
                        {"SLUICE_EXECUTOR_S3_URL_TTL", "1h"}});
  ASSERT_TRUE(c.workers.s3.has_value());
  EXPECT_EQ(c.workers.s3->url_ttl, 1h);
  EXPECT_TRUE(c.workers.s3->signer.path_style);
  // The TTL is checked against the host timeout as configured.
  const auto error = service::testing::ConfigErrorOf(
      &ParseExecutorConfig, {{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
                             {"SLUICE_EXECUTOR_HOST_TIMEOUT", "20m"},
                             {"SLUICE_EXECUTOR_S3_ENDPOINT", "http://127.0.0.1:18333"},
                             {"SLUICE_EXECUTOR_S3_ACCESS_KEY_ID", "sluice"},
                             {"SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY", "s3-secret-value"}});
  EXPECT_NE(error.find("SLUICE_EXECUTOR_S3_URL_TTL: 15m is shorter than "
                       "SLUICE_EXECUTOR_HOST_TIMEOUT (20m)"),
            std::string::npos)
      << error;
  EXPECT_EQ(error.find("s3-secret-value"), std::string::npos);
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

TEST(ExecutorConfigTest, KubeClustersByName) {
  const auto clusters = ParseKubeClusters(
      "K", R"({"local": {"kubeconfig": "var/local/kubeconfig-executor", "context": "sluice"},
               "here": "in-cluster"})");
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_EQ(clusters[0], (KubeClusterConfig{"here", true, "", ""}));
  EXPECT_EQ(clusters[1],
            (KubeClusterConfig{"local", false, "var/local/kubeconfig-executor", "sluice"}));
  EXPECT_TRUE(ParseKubeClusters("K", "").empty());
}

TEST(ExecutorConfigTest, ABadKubeClusterIsOneLineNamingIt) {
  auto error = [](const std::string& v) {
    try {
      ParseKubeClusters("SLUICE_EXECUTOR_KUBE_CLUSTERS", v);
    } catch (const core::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("[1]").find("SLUICE_EXECUTOR_KUBE_CLUSTERS: not a JSON object"),
            std::string::npos);
  EXPECT_NE(error(R"({"a": "elsewhere"})").find("cluster a: give \"in-cluster\""),
            std::string::npos);
  EXPECT_NE(error(R"({"a": {"context": "x"}})").find("cluster a: give a kubeconfig path"),
            std::string::npos);
  EXPECT_NE(error(R"({"a": {"kubeconfig": "k", "contxt": "x"}})").find("unknown key \"contxt\""),
            std::string::npos);
  // Credentials are loaded at start-up: a missing file stops it, naming the cluster and file.
  const std::string missing = service::testing::ConfigErrorOf(
      &ParseExecutorConfig, {{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
                             {"SLUICE_EXECUTOR_KUBE_CLUSTERS",
                              R"({"prod": {"kubeconfig": "/nonexistent/kubeconfig"}})"}});
  EXPECT_NE(missing.find("SLUICE_EXECUTOR_KUBE_CLUSTERS: kubernetes cluster prod: "),
            std::string::npos)
      << missing;
  EXPECT_NE(missing.find("/nonexistent/kubeconfig"), std::string::npos) << missing;
  EXPECT_EQ(missing.find('\n'), std::string::npos) << missing;
}

TEST(ExecutorConfigTest, SshDriverIsOffWithoutKnownHosts) {
  const auto c = Parse({{"SLUICE_EXECUTOR_AGENT_TOKEN", kToken}});
  EXPECT_FALSE(c.workers.ssh.Configured());
  EXPECT_EQ(c.workers.ssh.user, "sluice");
  EXPECT_EQ(c.workers.ssh.port, 22);
  EXPECT_EQ(c.workers.ssh.layout.release_root, "/opt/sluice/app");
  EXPECT_EQ(c.workers.ssh.layout.keep, 3u);
  EXPECT_FALSE(c.workers.ssh.trust_on_first_use);
  ASSERT_NE(c.workers.ssh.limiter, nullptr);
}

TEST(ExecutorConfigTest, BadSshSettingsNameTheKey) {
  auto message = [](service::testing::Env env) {
    env.emplace("SLUICE_EXECUTOR_AGENT_TOKEN", kToken);
    return service::testing::ConfigErrorOf(&ParseExecutorConfig, std::move(env));
  };
  EXPECT_NE(message({{"SLUICE_EXECUTOR_SSH_RELEASE_ROOT", "srv/app"}})
                .find("SLUICE_EXECUTOR_SSH_RELEASE_ROOT"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_SSH_RELEASE_ROOT", "/srv/$(id)"}})
                .find("SLUICE_EXECUTOR_SSH_RELEASE_ROOT"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_SSH_KEY_FILE", "/etc/sluice/id_ed25519"}})
                .find("SLUICE_EXECUTOR_SSH_KNOWN_HOSTS is not set"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_SSH_TRUST_ON_FIRST_USE", "true"}})
                .find("SLUICE_EXECUTOR_SSH_KNOWN_HOSTS"),
            std::string::npos);
  EXPECT_NE(message({{"SLUICE_EXECUTOR_SSH_PORT", "0"}}).find("SLUICE_EXECUTOR_SSH_PORT"),
            std::string::npos);
}

}  // namespace
}  // namespace sluice::executor
