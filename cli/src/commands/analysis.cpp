// sluice analysis list|get, sluice analyze -f request.json: the metric-watcher's analyses.
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "../commands.hpp"
#include "../render.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

// The analysis' verdict per rule (or its JSON with --raw); exit 0 when it was Successful.
int ShowAnalysis(const Global& g, const Answer& a) {
  if (a.status != 200) return PrintError(g, a);
  Print(g, a.body, RenderAnalysisVerdict);
  const std::string outcome = a.body.value("outcome", a.body.value("status", ""));
  return AnalysisExitCode(outcome);
}

int Analyze(const Global& g, const std::string& file) {
  const std::string text = ReadFile(file);
  const json request = json::parse(text, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    std::cerr << file << ": not a JSON object\n";
    return 1;
  }
  return ShowAnalysis(g, Request(g, "POST", "/v1/analyses", request.dump()));
}

}  // namespace

void AddAnalysisCommands(Commands& commands) {
  auto* analysis = commands.root().add_subcommand("analysis", "the metric-watcher's analyses");
  analysis->require_subcommand(1);
  auto deployment = std::make_shared<std::string>();
  auto* list = analysis->add_subcommand("list", "the analyses of a deployment");
  list->add_option("--deployment", *deployment, "deployment id")->required();
  commands.On(list, [deployment](Invocation& in) {
    return Show(in.g, "/v1/analyses" + Query("deployment_id", *deployment), RenderAnalysisList);
  });
  auto id = std::make_shared<std::string>();
  auto* get = analysis->add_subcommand(
      "get", "one analysis: the verdict of each rule (exit 0 when Successful, 2 otherwise)");
  get->add_option("id", *id, "analysis id")->required();
  commands.On(get, [id](Invocation& in) {
    return ShowAnalysis(in.g, Request(in.g, "GET", "/v1/analyses/" + Enc(*id)));
  });

  auto file = std::make_shared<std::string>();
  auto* analyze = commands.root().add_subcommand(
      "analyze",
      "run an analysis over a past time range (POST /v1/analyses) and print the verdict of "
      "each rule (exit 0 when Successful, 2 otherwise)");
  analyze->add_option("-f,--file", *file, "request JSON")->required();
  commands.On(analyze, [file](Invocation& in) { return Analyze(in.g, *file); });
}

}  // namespace sluice::cli
