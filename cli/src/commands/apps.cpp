// sluice apply -f app.yaml; sluice app list|get|history|diff: the delivery specs of the apps.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../commands.hpp"
#include "../render.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

int Apply(const Global& g, const std::string& file, std::string app) {
  const std::string text = ReadFile(file);
  if (app.empty()) app = SpecAppName(text);
  if (app.empty()) {
    std::cerr << file << ": no top-level 'app:' key; pass --app\n";
    return 1;
  }
  const auto a = Request(g, "PUT", "/v1/apps/" + app, text, "application/yaml");
  if (a.status == 422 && !a.body.is_discarded() && a.body.contains("error")) {
    for (const auto& line : RenderSpecError(a.body["error"], app, file, text)) {
      std::cerr << line << "\n";
    }
    return 1;
  }
  if (a.status != 200 && a.status != 201) return PrintError(g, a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
  } else if (a.body.value("unchanged", false)) {
    std::cout << app << ": unchanged (version " << a.body.value("version", 0) << ")\n";
  } else {
    std::cout << app << ": applied version " << a.body.value("version", 0) << "\n";
  }
  return 0;
}

// The YAML of one stored version of an app's spec.
std::string SpecYaml(const Global& g, const std::string& app, int version, int* exit_code) {
  const auto a = Request(g, "GET", "/v1/apps/" + Enc(app) + "?version=" + std::to_string(version));
  if (a.status != 200) {
    *exit_code = PrintError(g, a);
    return "";
  }
  return a.body.value("yaml", "");
}

int AppDiff(const Global& g, const std::string& app, int from, int to) {
  if (to <= 0) {
    const auto a = Request(g, "GET", "/v1/apps/" + Enc(app));
    if (a.status != 200) return PrintError(g, a);
    to = a.body.value("version", 0);
  }
  if (from <= 0) from = to - 1;
  if (from <= 0) {
    std::cerr << app << " has one spec version (" << to << "); nothing to compare it with\n";
    return kExitError;
  }
  int rc = 0;
  const std::string a = SpecYaml(g, app, from, &rc);
  if (rc != 0) return rc;
  const std::string b = SpecYaml(g, app, to, &rc);
  if (rc != 0) return rc;
  const std::string diff =
      UnifiedDiff(a, b, app + ".yaml@" + std::to_string(from), app + ".yaml@" + std::to_string(to));
  if (diff.empty()) {
    std::cout << app << ": versions " << from << " and " << to << " are the same\n";
  } else {
    std::cout << diff;
  }
  return 0;
}

// As a table: the fields, then the spec itself.
std::vector<std::string> AppView(const json& body) {
  json fields = body;
  fields.erase("yaml");
  auto lines = RenderFields(fields);
  lines.push_back("---");
  std::istringstream yaml(body.value("yaml", ""));
  for (std::string line; std::getline(yaml, line);) lines.push_back(line);
  return lines;
}

struct AppOptions {
  std::string app;
  int version = 0, from = 0, to = 0;
};

}  // namespace

void AddApplyCommand(Commands& commands) {
  struct Options {
    std::string file, app;
  };
  auto o = std::make_shared<Options>();
  auto* apply = commands.root().add_subcommand(
      "apply", "store a delivery spec (a new version when it changed)");
  apply->add_option("-f,--file", o->file, "delivery spec YAML")->required();
  apply->add_option("--app", o->app, "app name (default: the spec's top-level app)");
  commands.On(apply, [o](Invocation& in) { return Apply(in.g, o->file, o->app); });
}

void AddAppCommands(Commands& commands) {
  auto* apps =
      commands.root().add_subcommand("app", "applications and their delivery spec versions");
  apps->require_subcommand(1);
  auto o = std::make_shared<AppOptions>();
  auto* list = apps->add_subcommand("list", "every app with its latest spec version");
  commands.On(list, [](Invocation& in) {
    return Show(in.g, "/v1/apps",
                Items({{"APP", "app"},
                       {"VERSION", "version"},
                       {"APPLIED-BY", "applied_by"},
                       {"APPLIED", "applied_at_ms"},
                       {"SHA256", "sha256"}},
                      "no apps: store a delivery spec with 'sluice apply -f app.yaml'"));
  });
  auto* get = apps->add_subcommand("get", "an app's latest (or --version N) spec");
  get->add_option("app", o->app, "app name")->required();
  get->add_option("--version", o->version, "spec version (default: latest)");
  commands.On(get, [o](Invocation& in) {
    std::string path = "/v1/apps/" + Enc(o->app);
    if (o->version > 0) path += "?version=" + std::to_string(o->version);
    return Show(in.g, path, AppView);
  });
  auto* history = apps->add_subcommand("history", "every spec version of an app");
  history->add_option("app", o->app, "app name")->required();
  commands.On(history, [o](Invocation& in) {
    return Show(in.g, "/v1/apps/" + Enc(o->app) + "/versions",
                Items({{"VERSION", "version"},
                       {"APPLIED-BY", "applied_by"},
                       {"APPLIED", "applied_at_ms"},
                       {"SHA256", "sha256"}},
                      "no versions"));
  });
  auto* diff = apps->add_subcommand(
      "diff", "a unified diff between two spec versions (default: the latest and the one before)");
  diff->add_option("app", o->app, "app name")->required();
  diff->add_option("--from", o->from, "older version (default: --to minus one)");
  diff->add_option("--to", o->to, "newer version (default: the latest)");
  commands.On(diff, [o](Invocation& in) { return AppDiff(in.g, o->app, o->from, o->to); });
}

}  // namespace sluice::cli
