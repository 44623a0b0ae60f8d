#pragma once

// A trigger's evidence as the rollback row stores it (JSON, one object per Evidence) and back,
// and the views the incident report and the decision read from it. Pure.

#include <nlohmann/json.hpp>
#include <sluice/events/envelope.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "incident.hpp"

namespace sluice::rollback {

// Non-finite numbers (observed, recent values) are stored as null.
nlohmann::json EvidenceToJson(const ::sluice::v1::Evidence& evidence);
::sluice::v1::Evidence EvidenceFromJson(const nlohmann::json& j);

// The affected instances of every evidence in the array, each once, in order.
std::vector<std::string> AffectedOf(const nlohmann::json& evidence);

// The report's view of one stored evidence (observed NaN when it was null).
EvidenceView EvidenceViewOf(const nlohmann::json& evidence);

// The hosts the baseline's series are drawn for: the canary's (the hosts the evidence's
// query was rendered for, those of the requested batches) and the baseline's (those of the
// batches not requested, still on the stable version, as the planner's `baseline_instances`).
struct BaselineHosts {
  std::vector<std::string> canary, baseline;
  std::string version, baseline_version;
};

// The baseline's query derived from the evidence's resolved (canary) query, the way the
// watcher derives a judge's baseline query from its template ({{instances}} ->
// {{baseline_instances}}, {{version}} -> {{baseline_version}}), but after rendering: every
// regex matcher `=~"…"` whose alternatives are all canary hosts (as analysis::Render wrote
// them) selects the baseline hosts instead, and every matcher `="<version>"` the baseline
// version. An error (the reason) when there is no baseline host, or the query selects no
// canary host by name (an alert's own expression, Kubernetes pods), or it names the version
// and the stable version is not known.
struct BaselineQuery {
  std::string query;  // empty: see reason
  std::string reason;
};
BaselineQuery BaselineQueryOf(std::string_view query, const BaselineHosts& hosts);

}  // namespace sluice::rollback
