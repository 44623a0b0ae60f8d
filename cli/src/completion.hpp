#pragma once

// Shell completion scripts generated from the CLI11 command tree, so they name exactly the
// subcommands and options the binary has.

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::cli {

struct CommandTree {
  std::string name;
  std::string description;
  std::vector<std::string> options;  // "--api-url", "-o", … (positionals left out)
  std::vector<CommandTree> subcommands;
};
CommandTree DescribeCommands(const CLI::App& app);

// "bash", "zsh" or "fish"; throws std::invalid_argument for another shell.
std::string CompletionScript(const CommandTree& tree, std::string_view shell);

}  // namespace sluice::cli
