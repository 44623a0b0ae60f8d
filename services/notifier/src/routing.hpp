#pragma once

// Routing rules and channel definitions, read from a YAML file (SLUICE_NOTIFIER_CONFIG).
//
//   settings: {dedupe_window: 10m, max_attempts: 6, backoff_base: 2s, backoff_max: 5m}
//   channels:
//     ops-slack:   {type: slack, url_env: SLUICE_SLACK_WEBHOOK_URL}
//     ops-ding:    {type: dingtalk, url_env: SLUICE_DINGTALK_URL, secret_env:
//     SLUICE_DINGTALK_SECRET,
//                   format: actionCard, at_mobiles: ["13800000000"], at_all: false}
//     team-wecom:  {type: wecom, url_env: SLUICE_WECOM_URL, format: text, mentioned_list: [alice]}
//     oncall-mail: {type: email, smtp_url: "smtp://mail:587", starttls: true, from: ..., to: [...],
//                   username_env: SLUICE_SMTP_USER, password_env: SLUICE_SMTP_PASSWORD}
//     audit:       {type: webhook, url_env: SLUICE_AUDIT_URL, secret_env: SLUICE_AUDIT_SECRET}
//     alerts:      {type: alertmanager, resolve_timeout: 30m}  # url_env: SLUICE_ALERTMANAGER_URL
//   routes:
//     - name: payments-prod
//       match: {apps: [payments], envs: [prod], severities: [warning, critical],
//               events: [rollback_started, incident_reported]}
//       channels: [ops-slack, ops-ding]
//
// Secrets never appear in the file: only the names of SLUICE_* variables that hold them (or
// whose *_FILE variant names a mounted file).

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "notification.hpp"
#include "render.hpp"
#include "templates.hpp"

namespace sluice::notifier {

enum class ChannelType { kSlack, kDingTalk, kWeCom, kEmail, kWebhook, kAlertmanager };
// "slack", "dingtalk", "wecom", "email", "webhook", "alertmanager"
std::string_view ChannelTypeName(ChannelType t);
std::optional<ChannelType> ParseChannelType(std::string_view name);

// The suite-wide key an alertmanager channel reads its address from when it names no url_env.
inline constexpr std::string_view kAlertmanagerUrlEnv = "SLUICE_ALERTMANAGER_URL";

struct ChannelSpec {
  std::string name;
  ChannelType type = ChannelType::kWebhook;
  Language language = Language::kEn;  // default zh for dingtalk and wecom
  std::string url_env;                // variable holding the webhook URL (all but email)
  // DingTalk signing secret / webhook HMAC key / Alertmanager bearer token (optional)
  std::string secret_env;
  DingTalkFormat dingtalk_format = DingTalkFormat::kMarkdown;
  WeComFormat wecom_format = WeComFormat::kMarkdown;
  Mentions mentions;
  int rate_limit_per_minute = 0;  // 0 = unlimited; dingtalk and wecom default to 20
  std::chrono::milliseconds timeout{5000};
  // alertmanager: endsAt = send time + resolve_timeout, so a one-shot notice resolves itself
  std::chrono::milliseconds resolve_timeout{std::chrono::minutes(5)};
  // email
  std::string smtp_url;  // smtp://host:port or smtps://host:port
  bool starttls = true;  // require STARTTLS on smtp://
  std::string ca_file;   // PEM CA bundle that signed the relay's certificate; "" = system store
  std::string from;
  std::vector<std::string> to;
  std::string username_env;
  std::string password_env;
};

struct RouteMatch {
  std::vector<std::string> apps;  // empty = any
  std::vector<std::string> envs;
  std::vector<Severity> severities;
  std::vector<EventKind> events;
};

struct Route {
  std::string name;
  RouteMatch match;
  std::vector<std::string> channels;
};

struct RoutingConfig {
  std::map<std::string, ChannelSpec> channels;
  std::vector<Route> routes;
  std::chrono::milliseconds dedupe_window{std::chrono::minutes(10)};
  int max_attempts = 6;
  std::chrono::milliseconds backoff_base{std::chrono::seconds(2)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(5)};
};

// A configuration that cannot be used; the message starts with "<origin>:<line>: ".
class RoutingConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates the YAML text. Unknown keys, wrong types, unknown channel types, event
// kinds, severities or languages, routes naming undefined channels, secret variable names not
// starting with SLUICE_: RoutingConfigError with the line number.
RoutingConfig ParseRoutingConfig(std::string_view yaml, const std::string& origin);

struct RouteTarget {
  std::string route;
  std::string channel;
  bool operator==(const RouteTarget&) const = default;
};

// The (route, channel) pairs the notice goes to, in configuration order, each pair once.
std::vector<RouteTarget> RouteNotification(const RoutingConfig& config, const Notification& n);

// Every SLUICE_* variable the channels name (url_env, secret_env, username_env, password_env).
std::vector<std::string> SecretVariables(const RoutingConfig& config);

}  // namespace sluice::notifier
