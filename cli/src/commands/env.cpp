// sluice env list APP | env freeze APP ENV --reason TEXT | env unfreeze APP ENV: an app's
// environments (their promotion chain and freeze switch); freezing and lifting is for admins.
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

std::string Text(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

std::vector<std::string> EnvironmentTable(const json& b) {
  json rows = json::array();
  for (const auto& e : b.value("items", json::array())) {
    json row = {{"name", Text(e, "name")}, {"promotion", "any release"}, {"frozen", "-"}};
    if (e.contains("promotion") && e["promotion"].is_object()) {
      row["promotion"] =
          "after " + Text(e["promotion"], "from") + " (" + Text(e["promotion"], "mode") + ")";
    }
    if (e.contains("frozen") && e["frozen"].is_object()) {
      row["frozen"] = "by " + Text(e["frozen"], "frozen_by") + ": " + Text(e["frozen"], "reason");
    }
    rows.push_back(row);
  }
  return RenderTable(rows, {{"ENV", "name"}, {"PROMOTION", "promotion"}, {"FROZEN", "frozen"}},
                     "no environments");
}

std::string FreezePath(const std::string& app, const std::string& env) {
  return "/v1/apps/" + Enc(app) + "/environments/" + Enc(env) + "/freeze";
}

struct EnvOptions {
  std::string app, env, reason;
};

}  // namespace

void AddEnvCommands(Commands& commands) {
  auto* env = commands.root().add_subcommand(
      "env", "an app's environments: promotion chain and freeze switch");
  env->require_subcommand(1);

  auto o = std::make_shared<EnvOptions>();
  auto* list = env->add_subcommand("list", "the environments of an app, in promotion order");
  list->add_option("app", o->app, "app name")->required();
  commands.On(list, [o](Invocation& in) {
    return Show(in.g, "/v1/apps/" + Enc(o->app) + "/environments", EnvironmentTable);
  });

  auto* freeze =
      env->add_subcommand("freeze", "refuse deployments into an environment until lifted (admin)");
  freeze->add_option("app", o->app, "app name")->required();
  freeze->add_option("env", o->env, "environment")->required();
  freeze->add_option("--reason", o->reason, "why (shown to whoever is refused)")->required();
  commands.On(freeze, [o](Invocation& in) {
    return Call(in.g, "PUT", FreezePath(o->app, o->env), json{{"reason", o->reason}});
  });

  auto* unfreeze = env->add_subcommand("unfreeze", "lift an environment's freeze (admin)");
  unfreeze->add_option("app", o->app, "app name")->required();
  unfreeze->add_option("env", o->env, "environment")->required();
  commands.On(unfreeze, [o](Invocation& in) {
    return Call(in.g, "DELETE", FreezePath(o->app, o->env), std::nullopt);
  });
}

}  // namespace sluice::cli
