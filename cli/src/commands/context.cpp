// sluice login, sluice context list|current|use: the contexts of the config file (config.hpp).
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

// Checks the settings against the API (any viewer token reads releases), then stores them as a
// context and makes it the current one.
int Login(const Global& g, const std::string& config_path, const std::string& name) {
  const std::string token = Token(g);
  const auto a = Request(g, "GET", "/v1/releases?limit=1");
  if (a.status != 200) {
    std::cerr << "login: " << g.api << " did not accept the token\n";
    return PrintError(g, a);
  }
  auto config = LoadConfig(config_path);
  config.contexts[name] = {g.api, token};
  config.current = name;
  SaveConfig(config_path, config);
  std::cout << "logged in to " << g.api << " as context '" << name << "' (saved in " << config_path
            << ")\n";
  return 0;
}

int ContextList(const Global& g, const Config& config) {
  json items = json::array();
  for (const auto& [name, c] : config.contexts) {
    items.push_back({{"name", name}, {"api_url", c.api_url}, {"current", name == config.current}});
  }
  return Print(g, {{"current", config.current}, {"items", items}}, [](const json& body) {
    auto lines = RenderTable(body["items"], {{"NAME", "name"}, {"API-URL", "api_url"}},
                             "no contexts: run 'sluice login --api-url URL --token TOKEN'");
    if (lines.size() > 1) {
      lines[0] = "  " + lines[0];
      for (std::size_t i = 1; i < lines.size(); ++i) {
        lines[i] = (body["items"][i - 1].value("current", false) ? "* " : "  ") + lines[i];
      }
    }
    return lines;
  });
}

int ContextUse(Invocation& in, const std::string& name) {
  if (!in.config.contexts.contains(name)) {
    std::cerr << "no context named '" << name
              << "'; 'sluice context list' shows them, 'sluice login --name " << name
              << "' makes it\n";
    return kExitNotFound;
  }
  in.config.current = name;
  SaveConfig(in.config_path, in.config);
  std::cout << "now using context '" << name << "' (" << in.config.contexts[name].api_url << ")\n";
  return 0;
}

int ContextCurrent(const Invocation& in) {
  if (in.settings.context.empty()) {
    std::cout << "no context (API " << in.g.api << ", from " << in.settings.api_from
              << "); 'sluice login' makes one\n";
  } else {
    std::cout << in.settings.context << " (API " << in.g.api << ", from " << in.settings.api_from
              << ")\n";
  }
  return 0;
}

}  // namespace

void AddContextCommands(Commands& commands) {
  auto* login = commands.root().add_subcommand(
      "login", "check an API URL and token and save them as a context (the current one)");
  auto login_name = std::make_shared<std::string>("default");
  login->add_option("--name", *login_name, "the context's name (default: default)");
  commands.On(
      login, [login_name](Invocation& in) { return Login(in.g, in.config_path, *login_name); },
      Needs::kSettingsWithoutContext);

  auto* context = commands.root().add_subcommand("context", "the contexts of the config file");
  context->require_subcommand(1);
  auto* list = context->add_subcommand("list", "every context; * marks the current one");
  commands.On(
      list, [](Invocation& in) { return ContextList(in.g, in.config); }, Needs::kConfig);
  auto* current = context->add_subcommand("current", "the context in use and its API URL");
  commands.On(current, ContextCurrent);
  auto name = std::make_shared<std::string>();
  auto* use = context->add_subcommand("use", "make a context the current one");
  use->add_option("name", *name, "context name")->required();
  commands.On(
      use, [name](Invocation& in) { return ContextUse(in, *name); }, Needs::kConfig);
}

}  // namespace sluice::cli
