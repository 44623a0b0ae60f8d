// sluice incident list|get|chart: the rollback-agent's incident reports.
#include <fstream>
#include <iostream>
#include <memory>

#include "../commands.hpp"
#include "../render.hpp"

namespace sluice::cli {
namespace {

int IncidentGet(const Global& g, const std::string& id, bool markdown) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (markdown) headers.emplace_back("Accept", "text/markdown");
  const auto a = Request(g, "GET", "/v1/incidents/" + id, "", "application/json", headers);
  if (a.status != 200) return PrintError(g, a);
  if (markdown || a.body.is_discarded()) {
    std::cout << a.raw;
    if (!a.raw.empty() && a.raw.back() != '\n') std::cout << "\n";
    return 0;
  }
  return Print(g, a.body, Fields);
}

int IncidentChart(const Global& g, const std::string& id, const std::string& out_file) {
  const auto a = Request(g, "GET", "/v1/incidents/" + id + "/chart.svg", "", "application/json",
                         {{"Accept", "image/svg+xml"}});
  if (a.status != 200) return PrintError(g, a);
  std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::runtime_error("cannot write " + out_file +
                             ": check the directory exists and is "
                             "writable");
  }
  out << a.raw;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + out_file);
  std::cout << "wrote " << out_file << " (" << a.raw.size() << " bytes)\n";
  return 0;
}

struct IncidentOptions {
  std::string deployment, id, out;
  bool markdown = false;
};

}  // namespace

void AddIncidentCommands(Commands& commands) {
  auto* incident =
      commands.root().add_subcommand("incident", "the rollback-agent's incident reports");
  incident->require_subcommand(1);
  auto o = std::make_shared<IncidentOptions>();
  auto* list = incident->add_subcommand("list", "the incidents of a deployment");
  list->add_option("--deployment", o->deployment, "deployment id")->required();
  commands.On(list, [o](Invocation& in) {
    return Show(in.g, "/v1/incidents" + Query("deployment_id", o->deployment), RenderIncidentList);
  });
  auto* get = incident->add_subcommand("get", "one incident report (JSON, or Markdown)");
  get->add_option("id", o->id, "incident id")->required();
  get->add_flag("--markdown", o->markdown, "print the report as Markdown");
  commands.On(get, [o](Invocation& in) { return IncidentGet(in.g, Enc(o->id), o->markdown); });
  auto* chart = incident->add_subcommand("chart", "save the incident's metric chart (SVG)");
  chart->add_option("id", o->id, "incident id")->required();
  chart->add_option("-o,--output", o->out, "file to write, e.g. incident.svg")->required();
  commands.On(chart, [o](Invocation& in) { return IncidentChart(in.g, Enc(o->id), o->out); });
}

}  // namespace sluice::cli
