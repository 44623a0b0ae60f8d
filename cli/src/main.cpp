// sluice — the command line for Sluice's public API and event stream.
//   sluice release create --app shop --tag v1.2.3 --artifact-url URL --sha256 HEX
//   sluice release list [--app shop] [--limit 20]
//   sluice release get ID
//   sluice events tail [--topic sluice.releases.v1] [--max 1] [--timeout 10s]
//   sluice apply -f demo-app.yaml
//   sluice plan --release ID --env production
//   sluice deploy --release ID --env production [--wait]
//   sluice deployment list|get|watch|retry|promote|pause|resume|abort|approve|rollback ...
//   sluice deployment rollback ID [--to RELEASE_ID] [--reason ...]
//   sluice analysis list --deployment ID | get ID;  sluice analyze -f request.json
//   sluice incident list --deployment ID | get ID [--markdown] | chart ID -o file.svg
//   sluice login --api-url URL --token T [--name NAME];  sluice context list|use|current
//   sluice app list|get|history|diff;  sluice token create|list|revoke|grant|ungrant;
//   sluice audit
//   sluice rollback list --deployment ID;  sluice lint -f app.yaml;  sluice version
//   sluice completion bash|zsh|fish
// Settings: flags > environment (SLUICE_API_URL, SLUICE_TOKEN, SLUICE_CONTEXT) > the context
// (config.hpp) > defaults (http://127.0.0.1:8080, the token in var/local/admin-token).
// Read commands print a table, or the API's JSON (-o json) or YAML (-o yaml).
#include <CLI/CLI.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"sluice — progressive delivery for Kubernetes, VMs and bare metal"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags are accepted after the subcommand too
  sluice::cli::Commands commands(app);
  // One line per command group (commands.hpp), in the order `sluice --help` lists them.
  sluice::cli::AddReleaseCommands(commands);
  sluice::cli::AddEventsCommands(commands);
  sluice::cli::AddApplyCommand(commands);
  sluice::cli::AddDeployCommands(commands);
  sluice::cli::AddAnalysisCommands(commands);
  sluice::cli::AddIncidentCommands(commands);
  sluice::cli::AddContextCommands(commands);
  sluice::cli::AddLocalCommands(commands);
  sluice::cli::AddAppCommands(commands);
  sluice::cli::AddAdminCommands(commands);
  sluice::cli::AddRollbackCommands(commands);
  sluice::cli::AddEnvCommands(commands);
  sluice::cli::AddPublishCommands(commands);
  sluice::cli::AddAgentCommands(commands);
  return commands.Run(argc, argv);
}
