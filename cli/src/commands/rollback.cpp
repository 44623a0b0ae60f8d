// sluice rollback list --deployment ID: the rollback-agent's rollbacks.
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

std::vector<std::string> RollbackTable(const json& b) {
  auto lines = RenderTable(b.value("rollbacks", json::array()),
                           {{"ROLLBACK", "rollback_id"},
                            {"SCOPE", "scope"},
                            {"TARGET", "target_version"},
                            {"TRIGGER", "trigger"},
                            {"STATUS", "final_status"}},
                           "no rollbacks");
  const auto triggers = b.value("triggers", json::array());
  if (!triggers.empty()) {
    lines.push_back("");
    lines.push_back(std::to_string(triggers.size()) + " trigger(s); -o yaml shows them");
  }
  return lines;
}

}  // namespace

void AddRollbackCommands(Commands& commands) {
  auto* rollback = commands.root().add_subcommand("rollback", "the rollback-agent's rollbacks");
  rollback->require_subcommand(1);
  auto deployment = std::make_shared<std::string>();
  auto* list = rollback->add_subcommand("list", "the rollbacks and triggers of a deployment");
  list->add_option("--deployment", *deployment, "deployment id")->required();
  commands.On(list, [deployment](Invocation& in) {
    return Show(in.g, "/v1/rollbacks" + Query("deployment_id", *deployment), RollbackTable);
  });
}

}  // namespace sluice::cli
