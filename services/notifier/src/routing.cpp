#include "routing.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sluice/core/duration.hpp>

namespace sluice::notifier {
namespace {

[[noreturn]] void Fail(const std::string& origin, const YAML::Node& node, const std::string& msg) {
  const int line = node.Mark().line >= 0 ? node.Mark().line + 1 : 0;
  throw RoutingConfigError(origin + ":" + std::to_string(line) + ": " + msg);
}

void RejectUnknownKeys(const std::string& origin, const YAML::Node& map, std::string_view where,
                       const std::set<std::string>& known) {
  if (!map.IsMap()) Fail(origin, map, std::string(where) + " must be a mapping");
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (known.count(key) == 0) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      Fail(origin, kv.first,
           "unknown key '" + key + "' in " + std::string(where) + " (known: " + list + ")");
    }
  }
}

std::string Scalar(const std::string& origin, const YAML::Node& n, std::string_view what) {
  if (!n.IsScalar()) Fail(origin, n, std::string(what) + " must be a string");
  return n.as<std::string>();
}

bool Bool(const std::string& origin, const YAML::Node& n, std::string_view what) {
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    Fail(origin, n, std::string(what) + " must be true or false");
  }
  return v;
}

std::vector<std::string> StringList(const std::string& origin, const YAML::Node& n,
                                    std::string_view what) {
  if (!n.IsSequence()) Fail(origin, n, std::string(what) + " must be a list");
  std::vector<std::string> out;
  for (const auto& item : n) out.push_back(Scalar(origin, item, what));
  return out;
}

std::chrono::milliseconds Duration(const std::string& origin, const YAML::Node& n,
                                   std::string_view what) {
  const auto d = core::ParseDuration(Scalar(origin, n, what));
  if (!d) Fail(origin, n, std::string(what) + " must be a duration like 30s, 5m or 1m30s");
  return *d;
}

int Int(const std::string& origin, const YAML::Node& n, std::string_view what, int min, int max) {
  int v = 0;
  if (!n.IsScalar() || !YAML::convert<int>::decode(n, v) || v < min || v > max) {
    Fail(origin, n,
         std::string(what) + " must be an integer from " + std::to_string(min) + " to " +
             std::to_string(max));
  }
  return v;
}

std::string SecretVar(const std::string& origin, const YAML::Node& n, std::string_view what) {
  const auto v = Scalar(origin, n, what);
  if (v.rfind("SLUICE_", 0) != 0 || v.size() <= 7) {
    Fail(origin, n,
         std::string(what) +
             " names an environment variable and must start with SLUICE_ "
             "(the secret itself never goes in this file)");
  }
  return v;
}

// type (required) and the defaults that follow from it: DingTalk and WeCom speak Chinese and
// are rate-limited to 20 messages a minute (their own limit) unless told otherwise.
void ParseTypeAndDefaults(const std::string& origin, const std::string& name,
                          const YAML::Node& node, ChannelSpec& c) {
  if (!node["type"]) Fail(origin, node, "channel '" + name + "' has no type");
  const auto type = ParseChannelType(Scalar(origin, node["type"], "type"));
  if (!type) {
    Fail(origin, node["type"],
         "channel '" + name +
             "': unknown type (use slack, dingtalk, wecom, email, webhook or alertmanager)");
  }
  c.type = *type;
  const bool chinese_default = c.type == ChannelType::kDingTalk || c.type == ChannelType::kWeCom;
  c.language = chinese_default ? Language::kZh : Language::kEn;
  c.rate_limit_per_minute = chinese_default ? 20 : 0;
}

// format: DingTalk markdown or actionCard, WeCom markdown or text; no other channel has one.
void ParseChannelFormat(const std::string& origin, const YAML::Node& n, ChannelSpec& c) {
  const auto f = Scalar(origin, n, "format");
  if (c.type == ChannelType::kDingTalk && (f == "markdown" || f == "actionCard")) {
    c.dingtalk_format = f == "markdown" ? DingTalkFormat::kMarkdown : DingTalkFormat::kActionCard;
  } else if (c.type == ChannelType::kWeCom && (f == "markdown" || f == "text")) {
    c.wecom_format = f == "markdown" ? WeComFormat::kMarkdown : WeComFormat::kText;
  } else {
    Fail(origin, n,
         "format '" + f + "' does not apply to a " + std::string(ChannelTypeName(c.type)) +
             " channel (dingtalk: markdown or actionCard; wecom: markdown or text)");
  }
}

// Who a message mentions, in DingTalk's words (at_*) or WeCom's (mentioned_*).
void ParseMentions(const std::string& origin, const YAML::Node& node, ChannelSpec& c) {
  if (const auto n = node["at_mobiles"]) c.mentions.mobiles = StringList(origin, n, "at_mobiles");
  if (const auto n = node["mentioned_mobile_list"]) {
    c.mentions.mobiles = StringList(origin, n, "mentioned_mobile_list");
  }
  if (const auto n = node["at_user_ids"])
    c.mentions.user_ids = StringList(origin, n, "at_user_ids");
  if (const auto n = node["mentioned_list"]) {
    c.mentions.user_ids = StringList(origin, n, "mentioned_list");
  }
  if (const auto n = node["at_all"]) c.mentions.all = Bool(origin, n, "at_all");
}

// An email channel's server, TLS and addresses.
void ParseEmailKeys(const std::string& origin, const YAML::Node& node, ChannelSpec& c) {
  if (const auto n = node["smtp_url"]) c.smtp_url = Scalar(origin, n, "smtp_url");
  if (const auto n = node["starttls"]) c.starttls = Bool(origin, n, "starttls");
  if (const auto n = node["ca_file"]) {
    if (c.type != ChannelType::kEmail) Fail(origin, n, "ca_file applies only to an email channel");
    c.ca_file = Scalar(origin, n, "ca_file");
    if (!std::filesystem::is_regular_file(c.ca_file)) {
      Fail(origin, n, "ca_file '" + c.ca_file + "' is not a readable file");
    }
  }
  if (const auto n = node["from"]) c.from = Scalar(origin, n, "from");
  if (const auto n = node["to"]) c.to = StringList(origin, n, "to");
}

// An alertmanager channel's resolve_timeout, and the suite-wide Alertmanager address unless the
// channel names its own variable.
void ParseAlertmanagerKeys(const std::string& origin, const YAML::Node& node, ChannelSpec& c) {
  if (const auto n = node["resolve_timeout"]) {
    if (c.type != ChannelType::kAlertmanager) {
      Fail(origin, n, "resolve_timeout applies only to an alertmanager channel");
    }
    c.resolve_timeout = Duration(origin, n, "resolve_timeout");
    if (c.resolve_timeout < std::chrono::seconds(1)) {
      Fail(origin, n, "resolve_timeout must be at least 1s");
    }
  }
  if (c.type == ChannelType::kAlertmanager && c.url_env.empty()) {
    c.url_env = std::string(kAlertmanagerUrlEnv);
  }
}

// What each type needs: an email channel its server and addresses, every other one url_env.
void CheckChannelComplete(const std::string& origin, const std::string& name,
                          const YAML::Node& node, const ChannelSpec& c) {
  if (c.type == ChannelType::kEmail) {
    if (c.smtp_url.rfind("smtp://", 0) != 0 && c.smtp_url.rfind("smtps://", 0) != 0) {
      Fail(origin, node,
           "email channel '" + name + "' needs smtp_url: smtp://host:port or smtps://host:port");
    }
    if (c.from.empty() || c.to.empty()) {
      Fail(origin, node, "email channel '" + name + "' needs from and a non-empty to list");
    }
    if (c.username_env.empty() != c.password_env.empty()) {
      Fail(origin, node,
           "email channel '" + name + "': give both username_env and password_env, or neither");
    }
  } else if (c.url_env.empty()) {
    Fail(origin, node,
         "channel '" + name + "' needs url_env (the variable holding its webhook URL)");
  }
}

ChannelSpec ParseChannel(const std::string& origin, const std::string& name,
                         const YAML::Node& node) {
  RejectUnknownKeys(origin, node, "channel '" + name + "'",
                    {"type",
                     "language",
                     "url_env",
                     "secret_env",
                     "format",
                     "at_mobiles",
                     "at_user_ids",
                     "at_all",
                     "mentioned_list",
                     "mentioned_mobile_list",
                     "rate_limit_per_minute",
                     "timeout",
                     "smtp_url",
                     "starttls",
                     "ca_file",
                     "from",
                     "to",
                     "username_env",
                     "password_env",
                     "resolve_timeout"});
  ChannelSpec c;
  c.name = name;
  ParseTypeAndDefaults(origin, name, node, c);
  if (const auto n = node["language"]) {
    const auto l = ParseLanguage(Scalar(origin, n, "language"));
    if (!l) Fail(origin, n, "language must be en or zh");
    c.language = *l;
  }
  if (const auto n = node["url_env"]) c.url_env = SecretVar(origin, n, "url_env");
  if (const auto n = node["secret_env"]) c.secret_env = SecretVar(origin, n, "secret_env");
  if (const auto n = node["username_env"]) c.username_env = SecretVar(origin, n, "username_env");
  if (const auto n = node["password_env"]) c.password_env = SecretVar(origin, n, "password_env");
  if (const auto n = node["format"]) ParseChannelFormat(origin, n, c);
  ParseMentions(origin, node, c);
  if (const auto n = node["rate_limit_per_minute"]) {
    c.rate_limit_per_minute = Int(origin, n, "rate_limit_per_minute", 0, 100000);
  }
  if (const auto n = node["timeout"]) c.timeout = Duration(origin, n, "timeout");
  ParseEmailKeys(origin, node, c);
  ParseAlertmanagerKeys(origin, node, c);
  CheckChannelComplete(origin, name, node, c);
  return c;
}

Route ParseRoute(const std::string& origin, const YAML::Node& node, const RoutingConfig& config) {
  RejectUnknownKeys(origin, node, "route", {"name", "match", "channels"});
  Route r;
  if (!node["name"]) Fail(origin, node, "route has no name");
  r.name = Scalar(origin, node["name"], "name");
  if (const auto m = node["match"]) {
    RejectUnknownKeys(origin, m, "match of route '" + r.name + "'",
                      {"apps", "envs", "severities", "events"});
    if (const auto n = m["apps"]) r.match.apps = StringList(origin, n, "apps");
    if (const auto n = m["envs"]) r.match.envs = StringList(origin, n, "envs");
    if (const auto n = m["severities"]) {
      if (!n.IsSequence()) Fail(origin, n, "severities must be a list");
      for (const auto& item : n) {
        const auto s = ParseSeverity(Scalar(origin, item, "severity"));
        if (!s) Fail(origin, item, "unknown severity (use info, warning or critical)");
        r.match.severities.push_back(*s);
      }
    }
    if (const auto n = m["events"]) {
      if (!n.IsSequence()) Fail(origin, n, "events must be a list");
      for (const auto& item : n) {
        const auto k = ParseEventKind(Scalar(origin, item, "event"));
        if (!k) {
          std::string list;
          for (auto kind : AllEventKinds())
            list += (list.empty() ? "" : ", ") + std::string(EventKindName(kind));
          Fail(origin, item,
               "unknown event '" + item.as<std::string>() + "' (known: " + list + ")");
        }
        r.match.events.push_back(*k);
      }
    }
  }
  if (!node["channels"]) Fail(origin, node, "route '" + r.name + "' has no channels");
  const auto channels = node["channels"];
  r.channels = StringList(origin, channels, "channels");
  if (r.channels.empty()) Fail(origin, channels, "route '" + r.name + "' has no channels");
  for (std::size_t i = 0; i < r.channels.size(); ++i) {
    if (config.channels.count(r.channels[i]) == 0) {
      Fail(origin, channels[i],
           "route '" + r.name + "' names undefined channel '" + r.channels[i] + "'");
    }
  }
  return r;
}

template <typename T>
bool MatchesAny(const std::vector<T>& wanted, const T& value) {
  return wanted.empty() || std::find(wanted.begin(), wanted.end(), value) != wanted.end();
}

}  // namespace

std::string_view ChannelTypeName(ChannelType t) {
  switch (t) {
    case ChannelType::kSlack:
      return "slack";
    case ChannelType::kDingTalk:
      return "dingtalk";
    case ChannelType::kWeCom:
      return "wecom";
    case ChannelType::kEmail:
      return "email";
    case ChannelType::kWebhook:
      return "webhook";
    case ChannelType::kAlertmanager:
      return "alertmanager";
  }
  return "webhook";
}

std::optional<ChannelType> ParseChannelType(std::string_view name) {
  for (auto t : {ChannelType::kSlack, ChannelType::kDingTalk, ChannelType::kWeCom,
                 ChannelType::kEmail, ChannelType::kWebhook, ChannelType::kAlertmanager}) {
    if (ChannelTypeName(t) == name) return t;
  }
  return std::nullopt;
}

RoutingConfig ParseRoutingConfig(std::string_view yaml, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    throw RoutingConfigError(origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  RoutingConfig config;
  if (!root || root.IsNull()) return config;
  RejectUnknownKeys(origin, root, "the top level", {"settings", "channels", "routes"});
  if (const auto s = root["settings"]) {
    RejectUnknownKeys(origin, s, "settings",
                      {"dedupe_window", "max_attempts", "backoff_base", "backoff_max"});
    if (const auto n = s["dedupe_window"])
      config.dedupe_window = Duration(origin, n, "dedupe_window");
    if (const auto n = s["max_attempts"])
      config.max_attempts = Int(origin, n, "max_attempts", 1, 100);
    if (const auto n = s["backoff_base"]) config.backoff_base = Duration(origin, n, "backoff_base");
    if (const auto n = s["backoff_max"]) config.backoff_max = Duration(origin, n, "backoff_max");
    if (config.backoff_base.count() <= 0 || config.backoff_max < config.backoff_base) {
      Fail(origin, s, "backoff_base must be positive and at most backoff_max");
    }
  }
  if (const auto channels = root["channels"]) {
    if (!channels.IsMap()) Fail(origin, channels, "channels must be a mapping of name to channel");
    for (const auto& kv : channels) {
      const auto name = kv.first.as<std::string>();
      config.channels.emplace(name, ParseChannel(origin, name, kv.second));
    }
  }
  if (const auto routes = root["routes"]) {
    if (!routes.IsSequence()) Fail(origin, routes, "routes must be a list");
    std::set<std::string> names;
    for (const auto& r : routes) {
      auto route = ParseRoute(origin, r, config);
      if (!names.insert(route.name).second) {
        Fail(origin, r, "route name '" + route.name + "' is used twice");
      }
      config.routes.push_back(std::move(route));
    }
  }
  return config;
}

std::vector<RouteTarget> RouteNotification(const RoutingConfig& config, const Notification& n) {
  std::vector<RouteTarget> out;
  for (const auto& r : config.routes) {
    if (!MatchesAny(r.match.apps, n.app) || !MatchesAny(r.match.envs, n.env) ||
        !MatchesAny(r.match.severities, n.severity) || !MatchesAny(r.match.events, n.kind)) {
      continue;
    }
    for (const auto& c : r.channels) {
      RouteTarget t{r.name, c};
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
    }
  }
  return out;
}

std::vector<std::string> SecretVariables(const RoutingConfig& config) {
  std::set<std::string> vars;
  for (const auto& [name, c] : config.channels) {
    for (const auto* v : {&c.url_env, &c.secret_env, &c.username_env, &c.password_env}) {
      if (!v->empty()) vars.insert(*v);
    }
  }
  return {vars.begin(), vars.end()};
}

}  // namespace sluice::notifier
