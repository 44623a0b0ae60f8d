#include "notifier_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/service/config_testing.hpp>

namespace sluice::notifier {
namespace {

using namespace std::chrono_literals;
using service::testing::Env;
using ::testing::HasSubstr;

NotifierConfig Parse(Env env) {
  return service::testing::ParseWithToken(&ParseNotifierConfig, std::move(env));
}

std::string ErrorOf(Env env) {
  return service::testing::ConfigErrorOf(&ParseNotifierConfig, std::move(env));
}

constexpr const char* kRouting = R"(channels:
  ops-ding:
    type: dingtalk
    url_env: SLUICE_DINGTALK_URL
    secret_env: SLUICE_DINGTALK_SECRET
routes:
  - name: everything
    channels: [ops-ding]
)";

TEST(NotifierConfigTest, Defaults) {
  const auto c = Parse({});
  EXPECT_EQ(c.shared.http_addr, "127.0.0.1:8083");
  EXPECT_EQ(c.shared.pg.schema, "notifier");
  EXPECT_EQ(c.shared.pg.pool_size, 4);
  EXPECT_EQ(c.shared.group_id, "notifier");
  EXPECT_EQ(c.shared.topics,
            (std::vector<std::string>{"sluice.deployments.v1", "sluice.executions.v1",
                                      "sluice.analyses.v1", "sluice.rollbacks.v1"}));
  EXPECT_EQ(c.shared.redis_url, "redis://127.0.0.1:16379/0");
  EXPECT_EQ(c.poll, 500ms);
  EXPECT_TRUE(c.routing.routes.empty());
  EXPECT_TRUE(c.secrets.empty());
}

TEST(NotifierConfigTest, LinkKeysAndTtl) {
  EXPECT_TRUE(Parse({}).build.link_keys.empty());
  EXPECT_EQ(Parse({}).build.link_ttl, std::chrono::hours(24 * 7));
  const auto c =
      Parse({{"SLUICE_LINK_KEYS", "k1:" + std::string(32, 'x')}, {"SLUICE_LINK_TTL", "2d"}});
  ASSERT_EQ(c.build.link_keys.size(), 1U);
  EXPECT_EQ(c.build.link_keys[0].id, "k1");
  EXPECT_EQ(c.build.link_ttl, std::chrono::hours(48));
  EXPECT_THAT(ErrorOf({{"SLUICE_LINK_KEYS", "k1"}}), HasSubstr("SLUICE_LINK_KEYS: link key 1"));
  EXPECT_THAT(ErrorOf({{"SLUICE_LINK_TTL", "0s"}}), HasSubstr("SLUICE_LINK_TTL"));
}

TEST(NotifierConfigTest, BadValuesNameTheKey) {
  EXPECT_EQ(ErrorOf({{"SLUICE_NOTIFIER_CONFIG", "/nonexistent/routes.yaml"}}),
            "SLUICE_NOTIFIER_CONFIG=/nonexistent/routes.yaml: cannot read the file; give the path "
            "of the routing YAML");
  EXPECT_EQ(ErrorOf({{"SLUICE_NOTIFIER_TOPICS", ","}}),
            "SLUICE_NOTIFIER_TOPICS: give at least one topic");
  EXPECT_THAT(ErrorOf({{"SLUICE_NOTIFIER_POLL_INTERVAL", "5"}}),
              HasSubstr("SLUICE_NOTIFIER_POLL_INTERVAL"));
  EXPECT_EQ(ErrorOf({{"SLUICE_LOG_LEVEL", "x"}}),
            "SLUICE_LOG_LEVEL=x: use trace, debug, info, warn or error");
  EXPECT_EQ(ErrorOf({{"SLUICE_NOTIFIER_POLL_INTRVAL", "1s"}}),
            "unknown setting SLUICE_NOTIFIER_POLL_INTRVAL: did you mean "
            "SLUICE_NOTIFIER_POLL_INTERVAL?");
}

TEST(NotifierConfigTest, ChannelSecretsComeFromTheKeysTheirSpecNames) {
  const auto routing = ParseRoutingConfig(kRouting, "routes.yaml");
  core::EnvConfig env(
      Env{{"SLUICE_DINGTALK_URL", "https://ding.example/hook"}, {"SLUICE_DINGTALK_SECRET", "s"}});
  const auto secrets = ReadChannelSecrets(env, routing);
  ASSERT_EQ(secrets.count("ops-ding"), 1u);
  EXPECT_EQ(secrets.at("ops-ding").url, "https://ding.example/hook");
  EXPECT_EQ(secrets.at("ops-ding").secret, "s");
  env.RejectUnknown();  // the channels' keys count as known

  core::EnvConfig missing(Env{{"SLUICE_DINGTALK_URL", "https://ding.example/hook"}});
  try {
    ReadChannelSecrets(missing, routing);
    FAIL() << "no error";
  } catch (const core::ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "SLUICE_DINGTALK_SECRET is not set: channel 'ops-ding' needs it (set "
                 "SLUICE_DINGTALK_SECRET or SLUICE_DINGTALK_SECRET_FILE)");
  }
}

}  // namespace
}  // namespace sluice::notifier
