#pragma once

// The command tree: every command group adds its subcommands to the root with the code that
// runs each one (`Commands::On`), and `Commands::Run` parses the command line, prepares what
// the command given needs (the config file, the resolved settings) and runs it.
//
// A new command group is a file under commands/ with an `Add<Group>Commands(Commands&)` and
// one line in main.cpp; the order of those lines is the order `sluice --help` lists them.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "api.hpp"
#include "config.hpp"

namespace sluice::cli {

// What a command needs before it runs; each includes the ones before it.
enum class Needs {
  kNothing,                 // runs without the config file (version, completion, lint)
  kConfig,                  // reads or writes the config file's contexts
  kSettings,                // talks to the API: flags > environment > context > defaults
  kSettingsWithoutContext,  // as kSettings, but no context is read (login makes one)
};

// What a running command is given.
struct Invocation {
  Global g;
  const CLI::App* root = nullptr;
  std::string config_path;
  Config config;      // loaded unless the command needs nothing
  Settings settings;  // resolved when it needs settings
};

using Runner = std::function<int(Invocation&)>;

class Commands {
 public:
  // Adds the global flags (accepted after the subcommand too: the root falls through).
  explicit Commands(CLI::App& root);

  CLI::App& root() { return root_; }
  // `run` runs when `cmd` is the command given.
  void On(CLI::App* cmd, Runner run, Needs needs = Needs::kSettings);
  // Parses, runs the command given and returns the exit code (format.hpp's ExitCode).
  int Run(int argc, char** argv);

 private:
  struct Entry {
    CLI::App* cmd;
    Needs needs;
    Runner run;
  };
  struct Flags {
    std::string api, token, token_file, context, output = "table";
    CLI::Option* api_opt = nullptr;
    CLI::Option* token_opt = nullptr;
    CLI::Option* token_file_opt = nullptr;
    CLI::Option* context_opt = nullptr;
  };

  int Dispatch(Invocation& in);
  void Resolve(Invocation& in, Needs needs) const;

  CLI::App& root_;
  Flags flags_;
  bool raw_ = false;
  std::vector<Entry> entries_;
};

// The command groups, in the order main.cpp adds them.
void AddReleaseCommands(Commands& commands);   // release
void AddEventsCommands(Commands& commands);    // events
void AddApplyCommand(Commands& commands);      // apply
void AddDeployCommands(Commands& commands);    // plan, deploy, deployment
void AddAnalysisCommands(Commands& commands);  // analysis, analyze
void AddIncidentCommands(Commands& commands);  // incident
void AddContextCommands(Commands& commands);   // login, context
void AddLocalCommands(Commands& commands);     // version, completion, lint
void AddAppCommands(Commands& commands);       // app
void AddAdminCommands(Commands& commands);     // token, audit
void AddRollbackCommands(Commands& commands);  // rollback
void AddEnvCommands(Commands& commands);       // env
void AddPublishCommands(Commands& commands);   // publish (a Kafka producer)
void AddAgentCommands(Commands& commands);     // agent (enrolled host agents)

}  // namespace sluice::cli
