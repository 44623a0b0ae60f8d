#include "release_intake_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/http/errors.hpp>
#include <sluice/service/config_testing.hpp>

#include "intake_actions.hpp"

namespace sluice::release_intake {
namespace {

using namespace std::chrono_literals;
using service::testing::Env;
using ::testing::HasSubstr;

IntakeConfig Parse(Env env) {
  return service::testing::ParseWithToken(&ParseIntakeConfig, std::move(env));
}

std::string ErrorOf(Env env) {
  return service::testing::ConfigErrorOf(&ParseIntakeConfig, std::move(env));
}

TEST(IntakeConfigTest, Defaults) {
  const auto c = Parse({});
  EXPECT_EQ(c.shared.http_addr, "127.0.0.1:8080");
  EXPECT_FALSE(c.shared.internal_api);  // the public API: its own tokens, not the service token
  EXPECT_EQ(c.shared.pg.schema, "release_intake");
  EXPECT_EQ(c.shared.pg.pool_size, 8);
  EXPECT_EQ(c.shared.kafka.client_id, "release-intake");
  // It consumes the public inbound topic, answering on the results topic.
  EXPECT_EQ(c.shared.topics, std::vector<std::string>{"sluice.intake.v1"});
  EXPECT_EQ(c.shared.group_id, "release-intake");
  EXPECT_EQ(c.results_topic, "sluice.intake.results.v1");
  EXPECT_EQ(c.max_body_bytes, 1u << 20);
  EXPECT_FALSE(c.admin_token.has_value());
  EXPECT_FALSE(c.api.github_secret.has_value());
  EXPECT_EQ(c.api.service_token, service::testing::kTestServiceToken);
  EXPECT_EQ(c.api.planner_url, "http://127.0.0.1:8082");
  EXPECT_EQ(c.api.executor_url, "http://127.0.0.1:8084");
  EXPECT_EQ(c.api.watcher_url, "http://127.0.0.1:8081");
  EXPECT_EQ(c.api.rollback_agent_url, "http://127.0.0.1:8085");
  EXPECT_EQ(c.api.upstream_timeout, 3s);
  EXPECT_EQ(c.api.analysis_timeout, 60s);
}

TEST(IntakeConfigTest, Overrides) {
  const auto c = Parse({{"SLUICE_PG_POOL_SIZE", "1"},
                        {"SLUICE_HTTP_MAX_BODY_BYTES", "4096"},
                        {"SLUICE_ADMIN_TOKEN", "admin-token-0123456789abcd"},
                        {"SLUICE_GITHUB_WEBHOOK_SECRET", "gh"},
                        {"SLUICE_PLANNER_URL", "https://planner.internal:9000/"},
                        {"SLUICE_UPSTREAM_TIMEOUT", "1s"}});
  EXPECT_EQ(c.shared.pg.pool_size, 1);
  EXPECT_EQ(c.max_body_bytes, 4096u);
  EXPECT_EQ(c.admin_token, "admin-token-0123456789abcd");
  EXPECT_EQ(c.api.github_secret, "gh");
  EXPECT_THAT(c.api.planner_url, HasSubstr("https://planner.internal:9000"));
  EXPECT_EQ(c.api.upstream_timeout, 1s);
  const auto k = Parse({{"SLUICE_INTAKE_TOPICS", "a.intake,b.intake"},
                        {"SLUICE_INTAKE_RESULTS_TOPIC", "a.results"},
                        {"SLUICE_KAFKA_GROUP", "intake-2"}});
  EXPECT_EQ(k.shared.topics, (std::vector<std::string>{"a.intake", "b.intake"}));
  EXPECT_EQ(k.results_topic, "a.results");
  EXPECT_EQ(k.shared.group_id, "intake-2");
}

TEST(IntakeConfigTest, BadValuesNameTheKey) {
  EXPECT_EQ(ErrorOf({{"SLUICE_ADMIN_TOKEN", "short"}}),
            "SLUICE_ADMIN_TOKEN is shorter than 24 characters; use a random token");
  EXPECT_EQ(ErrorOf({{"SLUICE_EXECUTOR_URL", "executor:8084"}}),
            "SLUICE_EXECUTOR_URL=executor:8084: use an http(s) base URL such as "
            "http://127.0.0.1:8084");
  EXPECT_THAT(ErrorOf({{"SLUICE_HTTP_MAX_BODY_BYTES", "10"}}),
              HasSubstr("SLUICE_HTTP_MAX_BODY_BYTES"));
  EXPECT_THAT(ErrorOf({{"SLUICE_PG_POOL_SIZE", "0"}}), HasSubstr("SLUICE_PG_POOL_SIZE"));
  EXPECT_EQ(ErrorOf({{"SLUICE_LOG_LEVEL", "x"}}),
            "SLUICE_LOG_LEVEL=x: use trace, debug, info, warn or error");
  EXPECT_THAT(ErrorOf({{"SLUICE_INTAKE_TOPICS", ","}}), HasSubstr("SLUICE_INTAKE_TOPICS"));
  EXPECT_EQ(ErrorOf({{"SLUICE_PLANER_URL", "http://x"}}),
            "unknown setting SLUICE_PLANER_URL: did you mean SLUICE_PLANNER_URL?");
}

TEST(IntakeConfigTest, LinkKeys) {
  EXPECT_TRUE(Parse({}).api.link_keys.empty());
  EXPECT_EQ(Parse({}).api.link_max_lifetime, std::chrono::hours(24 * 30));
  const auto c =
      Parse({{"SLUICE_LINK_KEYS", "k2:" + std::string(32, 'b') + ",k1:" + std::string(40, 'a')},
             {"SLUICE_LINK_MAX_TTL", "7d"}});
  ASSERT_EQ(c.api.link_keys.size(), 2U);
  EXPECT_EQ(c.api.link_keys[0].id, "k2");
  EXPECT_EQ(c.api.link_max_lifetime, std::chrono::hours(24 * 7));
  EXPECT_THAT(ErrorOf({{"SLUICE_LINK_KEYS", "k1:short"}}),
              HasSubstr("SLUICE_LINK_KEYS: link key 1 ('k1'): the secret has 5 bytes"));
  EXPECT_THAT(ErrorOf({{"SLUICE_LINK_MAX_TTL", "0s"}}), HasSubstr("SLUICE_LINK_MAX_TTL"));
}

TEST(IntakeConfigTest, KafkaPrincipalsGetATopicAndARoleEach) {
  EXPECT_TRUE(Parse({}).kafka_principals.empty());  // none mapped unless configured
  const auto c = Parse({{"SLUICE_INTAKE_KAFKA_PRINCIPALS",
                         "ci=deployer@production:viewer+qa:approver, approver=approver"}});
  ASSERT_EQ(c.kafka_principals.size(), 2u);
  const auto& ci = c.kafka_principals[0];
  EXPECT_EQ(ci.name, "ci");
  EXPECT_EQ(ci.topic, "sluice.intake.p.ci.v1");
  EXPECT_EQ(ci.role, Role::kDeployer);
  EXPECT_EQ(ci.environments, (EnvGrants{{"production", Role::kViewer}, {"qa", Role::kApprover}}));
  EXPECT_EQ(c.kafka_principals[1].name, "approver");
  EXPECT_EQ(c.kafka_principals[1].topic, "sluice.intake.p.approver.v1");
  EXPECT_EQ(c.kafka_principals[1].role, Role::kApprover);
  EXPECT_TRUE(c.kafka_principals[1].environments.empty());
  // The public inbound topic is still consumed as it was.
  EXPECT_EQ(c.shared.topics, std::vector<std::string>{"sluice.intake.v1"});
}

TEST(IntakeConfigTest, BadKafkaPrincipalsNameTheSettingAndTheEntry) {
  const auto error = [](const std::string& value) {
    return ErrorOf({{"SLUICE_INTAKE_KAFKA_PRINCIPALS", value}});
  };
  EXPECT_EQ(error("ci"),
            "SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci': use PRINCIPAL=ROLE[@ENV:ROLE[+ENV:ROLE...]], "
            "e.g. ci=deployer@production:viewer");
  EXPECT_EQ(error("ci=boss"),
            "SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci=boss': role 'boss' is none of viewer, deployer, "
            "approver, admin");
  EXPECT_THAT(error("CI.x=deployer"),
              HasSubstr("SLUICE_INTAKE_KAFKA_PRINCIPALS: 'CI.x=deployer': 'CI.x' is not a "
                        "principal name"));
  EXPECT_EQ(error("ci=deployer,ci=approver"),
            "SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci=approver': principal 'ci' is mapped twice");
  EXPECT_THAT(error("ci=deployer@staging"),
              HasSubstr("SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci=deployer@staging': 'staging' is not "
                        "ENV:ROLE"));
  EXPECT_THAT(error("ci=deployer@Prod:viewer"),
              HasSubstr("SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci=deployer@Prod:viewer': 'Prod' is "
                        "not an environment name"));
  EXPECT_THAT(error("ci=deployer@prod:root"),
              HasSubstr("SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci=deployer@prod:root': "
                        "environments.prod must be viewer, deployer, approver or admin"));
  EXPECT_EQ(error("ci=deployer@prod:viewer+prod:admin"),
            "SLUICE_INTAKE_KAFKA_PRINCIPALS: 'ci=deployer@prod:viewer+prod:admin': environment "
            "'prod' is named twice");
  EXPECT_THAT(ErrorOf({{"SLUICE_INTAKE_KAFKA_PRINCIPALS", "ci=deployer"},
                       {"SLUICE_INTAKE_RESULTS_TOPIC", "sluice.intake.p.ci.v1"}}),
              HasSubstr("SLUICE_INTAKE_KAFKA_PRINCIPALS"));
}

// A record on a principal's topic is authorized as a token with the mapped role and grants:
// the same Authorize and RequireRoleIn, no second check.
TEST(IntakeConfigTest, APrincipalsAuthorityIsCheckedAsATokensIs) {
  const auto c = Parse(
      {{"SLUICE_INTAKE_KAFKA_PRINCIPALS", "ci=deployer@production:viewer,approver=approver"}});
  const auto& principals = c.kafka_principals;
  EXPECT_FALSE(PrincipalAuthority(principals, "sluice.intake.v1"));  // the public topic: token
  EXPECT_FALSE(PrincipalAuthority(principals, "sluice.intake.p.other.v1"));
  const auto ci = PrincipalAuthority(principals, "sluice.intake.p.ci.v1");
  const auto approver = PrincipalAuthority(principals, "sluice.intake.p.approver.v1");
  ASSERT_TRUE(ci && approver);
  EXPECT_EQ(ci->name, "kafka:ci");
  const BearerLookup as_ci{true, ci};
  const BearerLookup as_approver{true, approver};
  // ci submits releases and deploys, but may not approve; the approver may.
  EXPECT_EQ(Authorize(as_ci, Role::kDeployer, 0).name, "kafka:ci");
  try {
    Authorize(as_ci, Role::kApprover, 0, /*any_environment=*/true);
    FAIL() << "ci was authorized to approve";
  } catch (const http::ApiException& e) {
    EXPECT_EQ(e.Error().status, 403);
    EXPECT_THAT(e.Error().message, HasSubstr("token 'kafka:ci' has role deployer"));
  }
  EXPECT_EQ(Authorize(as_approver, Role::kApprover, 0, true).name, "kafka:approver");
  // Its grants decide in an environment, as a token's: ci is a viewer in production.
  const Caller caller = CallerOf(Authorize(as_ci, Role::kDeployer, 0, true), "kafka");
  EXPECT_EQ(caller.name, "kafka:ci");  // the audit log's actor
  EXPECT_NO_THROW(RequireRoleIn(caller, "staging", Role::kDeployer, "deploy"));
  EXPECT_THROW(RequireRoleIn(caller, "production", Role::kDeployer, "deploy"), http::ApiException);
}

TEST(IntakeConfigTest, ConsoleSessions) {
  const auto d = Parse({}).api.sessions;
  EXPECT_EQ(d.idle_timeout, std::chrono::minutes(30));
  EXPECT_EQ(d.max_lifetime, std::chrono::hours(12));
  EXPECT_EQ(d.secure, SessionOptions::Secure::kAuto);
  const auto c = Parse({{"SLUICE_SESSION_IDLE", "10m"},
                        {"SLUICE_SESSION_MAX", "1h"},
                        {"SLUICE_SESSION_SECURE", "always"}})
                     .api.sessions;
  EXPECT_EQ(c.idle_timeout, std::chrono::minutes(10));
  EXPECT_EQ(c.max_lifetime, std::chrono::hours(1));
  EXPECT_EQ(c.secure, SessionOptions::Secure::kAlways);
  EXPECT_THAT(ErrorOf({{"SLUICE_SESSION_IDLE", "10s"}}), HasSubstr("SLUICE_SESSION_IDLE"));
  EXPECT_THAT(ErrorOf({{"SLUICE_SESSION_IDLE", "13h"}}),
              HasSubstr("SLUICE_SESSION_MAX must be at least SLUICE_SESSION_IDLE (13h)"));
  EXPECT_EQ(ErrorOf({{"SLUICE_SESSION_SECURE", "yes"}}),
            "SLUICE_SESSION_SECURE=yes: use auto, always or never");
}

TEST(IntakeConfigTest, Inventories) {
  const auto d = Parse({}).api.inventory;
  EXPECT_EQ(d.file_root, "/etc/sluice/inventories");
  EXPECT_EQ(d.timeout_ms, 5000);
  EXPECT_EQ(d.max_bytes, 4u << 20);
  EXPECT_EQ(d.max_hosts, 5000u);
  EXPECT_TRUE(d.url_prefixes.empty());  // no URL inventory unless listed
  const auto c =
      Parse({{"SLUICE_INVENTORY_DIR", "/srv/inv"},
             {"SLUICE_INVENTORY_TIMEOUT", "2s"},
             {"SLUICE_INVENTORY_MAX_BYTES", "65536"},
             {"SLUICE_INVENTORY_MAX_HOSTS", "10"},
             {"SLUICE_INVENTORY_URLS", "https://cmdb.example/ansible/,http://10.0.0.5/"}})
          .api.inventory;
  EXPECT_EQ(c.file_root, "/srv/inv");
  EXPECT_EQ(c.timeout_ms, 2000);
  EXPECT_EQ(c.max_bytes, 65536u);
  EXPECT_EQ(c.max_hosts, 10u);
  EXPECT_EQ(c.url_prefixes,
            (std::vector<std::string>{"https://cmdb.example/ansible/", "http://10.0.0.5/"}));
  EXPECT_THAT(ErrorOf({{"SLUICE_INVENTORY_DIR", "inv"}}), HasSubstr("SLUICE_INVENTORY_DIR"));
  EXPECT_THAT(ErrorOf({{"SLUICE_INVENTORY_TIMEOUT", "2m"}}), HasSubstr("SLUICE_INVENTORY_TIMEOUT"));
  for (const char* bad : {"https://cmdb.example", "ftp://x/", "https:///", "https://u@x/"}) {
    EXPECT_THAT(ErrorOf({{"SLUICE_INVENTORY_URLS", bad}}), HasSubstr("SLUICE_INVENTORY_URLS"))
        << bad;
  }
}

}  // namespace
}  // namespace sluice::release_intake
