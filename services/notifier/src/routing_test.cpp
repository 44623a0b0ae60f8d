#include "routing.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace sluice::notifier {
namespace {

const char* kConfig = R"(settings:
  dedupe_window: 5m
  max_attempts: 4
  backoff_base: 1s
  backoff_max: 1m
channels:
  ops-slack:
    type: slack
    url_env: SLUICE_SLACK_WEBHOOK_URL
  ops-ding:
    type: dingtalk
    url_env: SLUICE_DINGTALK_URL
    secret_env: SLUICE_DINGTALK_SECRET
    format: actionCard
    at_mobiles: ["13800000000"]
    at_all: true
  team-wecom:
    type: wecom
    url_env: SLUICE_WECOM_URL
    format: text
    mentioned_list: [alice]
    language: en
    rate_limit_per_minute: 10
  oncall-mail:
    type: email
    smtp_url: smtp://127.0.0.1:2525
    starttls: false
    from: sluice@example.com
    to: [oncall@example.com]
    username_env: SLUICE_SMTP_USER
    password_env: SLUICE_SMTP_PASSWORD
  audit:
    type: webhook
    url_env: SLUICE_AUDIT_URL
    timeout: 2s
routes:
  - name: payments-prod
    match:
      apps: [payments]
      envs: [prod]
      severities: [warning, critical]
    channels: [ops-slack, ops-ding]
  - name: everything
    channels: [audit, ops-slack]
  - name: rollbacks
    match: {events: [rollback_started, rollback_completed]}
    channels: [team-wecom, oncall-mail]
)";

std::string ErrorOf(const std::string& yaml) {
  try {
    ParseRoutingConfig(yaml, "notifier.yaml");
  } catch (const RoutingConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(RoutingTest, ParsesEveryChannelType) {
  const auto c = ParseRoutingConfig(kConfig, "notifier.yaml");
  EXPECT_EQ(c.dedupe_window, std::chrono::minutes(5));
  EXPECT_EQ(c.max_attempts, 4);
  EXPECT_EQ(c.backoff_base, std::chrono::seconds(1));
  EXPECT_EQ(c.backoff_max, std::chrono::minutes(1));
  ASSERT_EQ(c.channels.size(), 5u);
  const auto& slack = c.channels.at("ops-slack");
  EXPECT_EQ(slack.type, ChannelType::kSlack);
  EXPECT_EQ(slack.language, Language::kEn);
  EXPECT_EQ(slack.rate_limit_per_minute, 0);
  const auto& ding = c.channels.at("ops-ding");
  EXPECT_EQ(ding.type, ChannelType::kDingTalk);
  EXPECT_EQ(ding.language, Language::kZh);
  EXPECT_EQ(ding.rate_limit_per_minute, 20);
  EXPECT_EQ(ding.dingtalk_format, DingTalkFormat::kActionCard);
  EXPECT_EQ(ding.mentions.mobiles, std::vector<std::string>{"13800000000"});
  EXPECT_TRUE(ding.mentions.all);
  EXPECT_EQ(ding.secret_env, "SLUICE_DINGTALK_SECRET");
  const auto& wecom = c.channels.at("team-wecom");
  EXPECT_EQ(wecom.language, Language::kEn);
  EXPECT_EQ(wecom.wecom_format, WeComFormat::kText);
  EXPECT_EQ(wecom.rate_limit_per_minute, 10);
  EXPECT_EQ(wecom.mentions.user_ids, std::vector<std::string>{"alice"});
  const auto& mail = c.channels.at("oncall-mail");
  EXPECT_EQ(mail.smtp_url, "smtp://127.0.0.1:2525");
  EXPECT_FALSE(mail.starttls);
  EXPECT_EQ(mail.to, std::vector<std::string>{"oncall@example.com"});
  EXPECT_EQ(c.channels.at("audit").timeout, std::chrono::seconds(2));
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].match.severities,
            (std::vector<Severity>{Severity::kWarning, Severity::kCritical}));
  EXPECT_EQ(c.routes[2].match.events,
            (std::vector<EventKind>{EventKind::kRollbackStarted, EventKind::kRollbackCompleted}));
  EXPECT_EQ(
      SecretVariables(c),
      (std::vector<std::string>{"SLUICE_AUDIT_URL", "SLUICE_DINGTALK_SECRET", "SLUICE_DINGTALK_URL",
                                "SLUICE_SLACK_WEBHOOK_URL", "SLUICE_SMTP_PASSWORD",
                                "SLUICE_SMTP_USER", "SLUICE_WECOM_URL"}));
}

TEST(RoutingTest, RoutesByAppEnvSeverityAndEvent) {
  const auto c = ParseRoutingConfig(kConfig, "notifier.yaml");
  Notification n;
  n.app = "payments";
  n.env = "prod";
  n.severity = Severity::kCritical;
  n.kind = EventKind::kRollbackStarted;
  EXPECT_EQ(RouteNotification(c, n), (std::vector<RouteTarget>{{"payments-prod", "ops-slack"},
                                                               {"payments-prod", "ops-ding"},
                                                               {"everything", "audit"},
                                                               {"everything", "ops-slack"},
                                                               {"rollbacks", "team-wecom"},
                                                               {"rollbacks", "oncall-mail"}}));
  n.severity = Severity::kInfo;
  n.kind = EventKind::kBatchSucceeded;
  EXPECT_EQ(RouteNotification(c, n),
            (std::vector<RouteTarget>{{"everything", "audit"}, {"everything", "ops-slack"}}));
  n.severity = Severity::kCritical;
  n.env = "staging";
  EXPECT_EQ(RouteNotification(c, n).size(), 2u);
  EXPECT_TRUE(RouteNotification(ParseRoutingConfig("", "x"), n).empty());
}

TEST(RoutingTest, CaFileIsForEmailAndMustExist) {
  const std::string mail =
      "channels:\n  m:\n    type: email\n    smtp_url: smtp://relay:587\n    from: a@x\n"
      "    to: [b@x]\n";
  EXPECT_EQ(ErrorOf(mail + "    ca_file: /nonexistent/ca.pem\n"),
            "notifier.yaml:7: ca_file '/nonexistent/ca.pem' is not a readable file");
  const auto ca = std::filesystem::temp_directory_path() / "sluice-routing-test-ca.pem";
  std::ofstream(ca) << "-----BEGIN CERTIFICATE-----\n";
  EXPECT_EQ(ErrorOf("channels:\n  s:\n    type: slack\n    url_env: SLUICE_X\n"
                    "    ca_file: " +
                    ca.string() + "\n"),
            "notifier.yaml:5: ca_file applies only to an email channel");
  const auto c = ParseRoutingConfig(mail + "    ca_file: " + ca.string() + "\n", "notifier.yaml");
  EXPECT_EQ(c.channels.at("m").ca_file, ca.string());
  std::filesystem::remove(ca);
  EXPECT_TRUE(ParseRoutingConfig(mail, "notifier.yaml").channels.at("m").ca_file.empty());
}

TEST(RoutingTest, UnknownKeysAreErrorsWithLineNumbers) {
  EXPECT_EQ(ErrorOf("channels:\n  s:\n    type: slack\n    url_env: SLUICE_X\n    colour: red\n"),
            "notifier.yaml:5: unknown key 'colour' in channel 's' (known: at_all, at_mobiles, "
            "at_user_ids, ca_file, format, from, language, mentioned_list, mentioned_mobile_list, "
            "password_env, rate_limit_per_minute, resolve_timeout, secret_env, smtp_url, starttls, "
            "timeout, to, type, url_env, username_env)");
  EXPECT_EQ(ErrorOf("chanels: {}\n").rfind("notifier.yaml:1: unknown key 'chanels'", 0), 0u);
  EXPECT_EQ(ErrorOf("routes:\n  - name: r\n    channels: [x]\n    matches: {}\n")
                .rfind("notifier.yaml:4: unknown key 'matches' in route", 0),
            0u);
  EXPECT_EQ(ErrorOf("routes:\n  - name: r\n    match: {app: [a]}\n    channels: [x]\n")
                .rfind("notifier.yaml:3: unknown key 'app' in match of route 'r'", 0),
            0u);
  EXPECT_EQ(ErrorOf("settings:\n  retries: 3\n").rfind("notifier.yaml:2: unknown key 'retries'", 0),
            0u);
}

TEST(RoutingTest, InvalidValuesAreErrors) {
  const std::string ch = "channels:\n  s:\n    type: slack\n    url_env: SLUICE_X\n";
  EXPECT_EQ(ErrorOf("channels:\n  s:\n    type: teams\n    url_env: SLUICE_X\n")
                .rfind("notifier.yaml:3: channel 's': unknown type", 0),
            0u);
  EXPECT_NE(ErrorOf("channels:\n  s:\n    type: slack\n    url_env: https://hooks.slack.com/x\n")
                .find("notifier.yaml:4: url_env names an environment variable and must start with "
                      "SLUICE_"),
            std::string::npos);
  EXPECT_EQ(ErrorOf("channels:\n  s:\n    type: slack\n")
                .rfind("notifier.yaml:3: channel 's' needs url_env", 0),
            0u);
  EXPECT_EQ(ErrorOf(ch + "routes:\n  - name: r\n    channels: [s, nope]\n")
                .rfind("notifier.yaml:7: route 'r' names undefined channel 'nope'", 0),
            0u);
  EXPECT_EQ(
      ErrorOf(ch + "routes:\n  - name: r\n    match: {events: [deployed]}\n    channels: [s]\n")
          .rfind("notifier.yaml:7: unknown event 'deployed'", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(ch + "routes:\n  - name: r\n    match: {severities: [high]}\n    channels: [s]\n")
          .rfind("notifier.yaml:7: unknown severity", 0),
      0u);
  EXPECT_EQ(ErrorOf(ch + "routes:\n  - {name: r, channels: [s]}\n  - {name: r, channels: [s]}\n")
                .rfind("notifier.yaml:7: route name 'r' is used twice", 0),
            0u);
  EXPECT_EQ(ErrorOf(ch + "routes:\n  - name: r\n    channels: []\n")
                .rfind("notifier.yaml:7: route 'r' has no channels", 0),
            0u);
  EXPECT_EQ(
      ErrorOf(ch + "    format: text\n").rfind("notifier.yaml:5: format 'text' does not apply", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(ch + "    language: fr\n").rfind("notifier.yaml:5: language must be en or zh", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(ch + "    at_all: maybe\n").rfind("notifier.yaml:5: at_all must be true or false", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(ch + "    timeout: 5\n").rfind("notifier.yaml:5: timeout must be a duration", 0), 0u);
  EXPECT_EQ(
      ErrorOf("settings:\n  max_attempts: 0\n").rfind("notifier.yaml:2: max_attempts must be", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(
          "channels:\n  m:\n    type: email\n    smtp_url: http://x\n    from: a\n    to: [b]\n")
          .rfind("notifier.yaml:3: email channel 'm' needs smtp_url", 0),
      0u);
  EXPECT_EQ(
      ErrorOf("channels:\n  m:\n    type: email\n    smtp_url: smtp://x\n    from: a\n    to: [b]\n"
              "    username_env: SLUICE_U\n")
          .rfind("notifier.yaml:3: email channel 'm': give both", 0),
      0u);
  EXPECT_EQ(ErrorOf("channels: [\n").rfind("notifier.yaml:", 0), 0u);
  EXPECT_EQ(ErrorOf("routes: {}\n").rfind("notifier.yaml:1: routes must be a list", 0), 0u);
}

TEST(RoutingTest, AlertmanagerChannel) {
  using namespace std::chrono_literals;
  const auto c = ParseRoutingConfig(
      "channels:\n  am: {type: alertmanager}\n"
      "  am2: {type: alertmanager, url_env: SLUICE_AM_URL, secret_env: SLUICE_AM_TOKEN, "
      "resolve_timeout: 30m}\n",
      "notifier.yaml");
  const auto& am = c.channels.at("am");
  EXPECT_EQ(am.type, ChannelType::kAlertmanager);
  EXPECT_EQ(am.url_env, "SLUICE_ALERTMANAGER_URL");
  EXPECT_EQ(am.resolve_timeout, 5min);
  EXPECT_EQ(am.language, Language::kEn);
  EXPECT_EQ(am.rate_limit_per_minute, 0);
  const auto& am2 = c.channels.at("am2");
  EXPECT_EQ(am2.url_env, "SLUICE_AM_URL");
  EXPECT_EQ(am2.resolve_timeout, 30min);
  EXPECT_EQ(SecretVariables(c), (std::vector<std::string>{"SLUICE_ALERTMANAGER_URL",
                                                          "SLUICE_AM_TOKEN", "SLUICE_AM_URL"}));
  EXPECT_EQ(
      ErrorOf("channels:\n  s:\n    type: slack\n    url_env: SLUICE_X\n"
              "    resolve_timeout: 1m\n")
          .rfind("notifier.yaml:5: resolve_timeout applies only to an alertmanager channel", 0),
      0u);
  EXPECT_EQ(ErrorOf("channels:\n  a:\n    type: alertmanager\n    resolve_timeout: 10ms\n")
                .rfind("notifier.yaml:4: resolve_timeout must be at least 1s", 0),
            0u);
}

TEST(RoutingTest, ChannelTypeNames) {
  for (auto t : {ChannelType::kSlack, ChannelType::kDingTalk, ChannelType::kWeCom,
                 ChannelType::kEmail, ChannelType::kWebhook, ChannelType::kAlertmanager}) {
    EXPECT_EQ(ParseChannelType(ChannelTypeName(t)), t);
  }
  EXPECT_FALSE(ParseChannelType("teams"));
}

}  // namespace
}  // namespace sluice::notifier
