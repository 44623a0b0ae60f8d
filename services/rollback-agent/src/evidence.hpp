#pragma once

// A trigger's evidence as the rollback row stores it (JSON, one object per Evidence) and back,
// and the views the incident report and the decision read from it. Pure.

#include <nlohmann/json.hpp>
#include <sluice/events/envelope.hpp>
#include <string>
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

}  // namespace sluice::rollback
