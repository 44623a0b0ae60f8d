// sluice version, sluice completion bash|zsh|fish, sluice lint -f app.yaml: no API, no config.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sluice/spec/delivery_spec.hpp>

#include "../commands.hpp"
#include "../completion.hpp"
#include "../render.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

// Validates a delivery spec with the parser intake uses (libs/spec), without the API.
int Lint(const std::string& file) {
  const std::string text = ReadFile(file);
  const auto parsed = sluice::spec::ParseDeliverySpec(text, file);
  if (const auto* err = std::get_if<sluice::spec::SpecError>(&parsed)) {
    const json error = {{"message", err->ToString()},
                        {"line", err->line > 0 ? json(err->line) : json()},
                        {"column", err->column > 0 ? json(err->column) : json()}};
    for (const auto& line : RenderSpecError(error, "", file, text)) std::cerr << line << "\n";
    return kExitError;
  }
  const auto& spec = std::get<sluice::spec::DeliverySpec>(parsed);
  std::cout << file << ": valid (app " << spec.app << ", " << spec.environments.size()
            << " environment" << (spec.environments.size() == 1 ? "" : "s") << ")\n";
  return 0;
}

int Completion(const Invocation& in, const std::string& shell) {
  auto tree = DescribeCommands(*in.root);
  tree.name = "sluice";  // not argv[0]: the script completes the command on the PATH
  std::cout << CompletionScript(tree, shell);
  return 0;
}

}  // namespace

void AddLocalCommands(Commands& commands) {
  auto* version = commands.root().add_subcommand("version", "print the CLI's version");
  commands.On(
      version,
      [](Invocation&) {
        std::cout << "sluice " << SLUICE_VERSION << "\n";
        return 0;
      },
      Needs::kNothing);

  auto shell = std::make_shared<std::string>();
  auto* completion = commands.root().add_subcommand(
      "completion", "print a shell completion script: source <(sluice completion bash)");
  completion->add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  commands.On(
      completion, [shell](Invocation& in) { return Completion(in, *shell); }, Needs::kNothing);

  auto file = std::make_shared<std::string>();
  auto* lint = commands.root().add_subcommand(
      "lint", "validate a delivery spec locally with the rollout-planner's parser (no API)");
  lint->add_option("-f,--file", *file, "delivery spec YAML")->required();
  commands.On(
      lint, [file](Invocation&) { return Lint(*file); }, Needs::kNothing);
}

}  // namespace sluice::cli
