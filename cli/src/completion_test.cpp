#include "completion.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace sluice::cli {
namespace {

std::unique_ptr<CLI::App> Sample() {
  auto owner = std::make_unique<CLI::App>("demo", "sluice");
  auto& app = *owner;
  app.add_option(
      "-o,--output", [](const CLI::results_t&) { return true; }, "format");
  auto* dep = app.add_subcommand("deployment", "deployments");
  auto* list = dep->add_subcommand("list", "list them");
  list->add_option(
      "--app", [](const CLI::results_t&) { return true; }, "app");
  auto* get = dep->add_subcommand("get", "one");
  get->add_option(
      "id", [](const CLI::results_t&) { return true; }, "id");
  app.add_subcommand("version", "the version's");
  return owner;
}

TEST(DescribeCommands, WalksSubcommandsAndOptions) {
  const auto app = Sample();
  const auto tree = DescribeCommands(*app);
  EXPECT_EQ(tree.name, "sluice");
  EXPECT_EQ(tree.options, (std::vector<std::string>{"-h", "--help", "-o", "--output"}));
  ASSERT_EQ(tree.subcommands.size(), 2u);
  const auto& dep = tree.subcommands[0];
  EXPECT_EQ(dep.name, "deployment");
  ASSERT_EQ(dep.subcommands.size(), 2u);
  EXPECT_EQ(dep.subcommands[0].options, (std::vector<std::string>{"-h", "--help", "--app"}));
  // The positional `id` is not an option.
  EXPECT_EQ(dep.subcommands[1].options, (std::vector<std::string>{"-h", "--help"}));
}

TEST(CompletionScript, BashNamesEveryLevel) {
  const auto app = Sample();
  const auto script = CompletionScript(DescribeCommands(*app), "bash");
  EXPECT_NE(script.find("'sluice') words='deployment version -h --help -o --output' ;;"),
            std::string::npos)
      << script;
  EXPECT_NE(script.find("'sluice deployment list') path=\"$path $w\" ;;"), std::string::npos)
      << script;
  // Below the top, the global options are offered too.
  EXPECT_NE(script.find("'sluice deployment list') words='-h --help --app -o --output'"),
            std::string::npos)
      << script;
  EXPECT_NE(script.find("complete -o default -F _sluice_complete sluice"), std::string::npos);
  const auto zsh = CompletionScript(DescribeCommands(*app), "zsh");
  EXPECT_NE(zsh.find("bashcompinit"), std::string::npos);
}

TEST(CompletionScript, FishConditionsOnTheParent) {
  const auto app = Sample();
  const auto script = CompletionScript(DescribeCommands(*app), "fish");
  EXPECT_NE(script.find("complete -c sluice -n '__fish_use_subcommand' -a 'deployment' -d "
                        "'deployments'"),
            std::string::npos)
      << script;
  EXPECT_NE(script.find("complete -c sluice -n '__fish_seen_subcommand_from deployment; and not "
                        "__fish_seen_subcommand_from list get' -a 'list'"),
            std::string::npos)
      << script;
  EXPECT_NE(script.find("complete -c sluice -n '__fish_seen_subcommand_from deployment; and "
                        "__fish_seen_subcommand_from list' -l app"),
            std::string::npos)
      << script;
  EXPECT_THROW(CompletionScript(DescribeCommands(*app), "tcsh"), std::invalid_argument);
}

}  // namespace
}  // namespace sluice::cli
