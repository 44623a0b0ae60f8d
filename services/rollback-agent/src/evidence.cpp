#include "evidence.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using json = nlohmann::json;
using TimeUtil = google::protobuf::util::TimeUtil;

std::string SeverityText(v1::Severity s) {
  switch (s) {
    case v1::SEVERITY_INFO:
      return "info";
    case v1::SEVERITY_WARNING:
      return "warning";
    case v1::SEVERITY_CRITICAL:
      return "critical";
    default:
      return "";
  }
}

double NumberOr(const json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

}  // namespace

json EvidenceToJson(const v1::Evidence& e) {
  json recent = json::array();
  for (const auto& p : e.recent()) {
    recent.push_back({p.unix_ms(), std::isfinite(p.value()) ? json(p.value()) : json(nullptr)});
  }
  return {{"metric", e.metric()},
          {"query", e.query()},
          {"threshold", e.threshold()},
          {"observed", std::isfinite(e.observed()) ? json(e.observed()) : json(nullptr)},
          {"severity", SeverityText(e.severity())},
          {"severity_code", static_cast<int>(e.severity())},
          {"affected_instances",
           std::vector<std::string>(e.affected_instances().begin(), e.affected_instances().end())},
          {"recent", recent},
          {"comparator", e.comparator()},
          {"message", e.message()},
          {"window_ms", TimeUtil::DurationToMilliseconds(e.window())}};
}

v1::Evidence EvidenceFromJson(const json& j) {
  v1::Evidence e;
  e.set_metric(j.value("metric", ""));
  e.set_query(j.value("query", ""));
  e.set_threshold(j.value("threshold", 0.0));
  e.set_observed(NumberOr(j, "observed", std::nan("")));
  e.set_severity(static_cast<v1::Severity>(j.value("severity_code", 0)));
  for (const auto& h : j.value("affected_instances", std::vector<std::string>{})) {
    e.add_affected_instances(h);
  }
  for (const auto& p : j.value("recent", json::array())) {
    auto* point = e.add_recent();
    point->set_unix_ms(p.at(0).get<std::int64_t>());
    point->set_value(p.at(1).is_number() ? p.at(1).get<double>() : std::nan(""));
  }
  e.set_comparator(j.value("comparator", ""));
  e.set_message(j.value("message", ""));
  *e.mutable_window() = TimeUtil::MillisecondsToDuration(j.value("window_ms", std::int64_t{0}));
  return e;
}

std::vector<std::string> AffectedOf(const json& evidence) {
  std::vector<std::string> out;
  for (const auto& e : evidence) {
    for (const auto& h : e.value("affected_instances", std::vector<std::string>{})) {
      if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
    }
  }
  return out;
}

EvidenceView EvidenceViewOf(const json& e) {
  EvidenceView v;
  v.metric = e.value("metric", "");
  v.query = e.value("query", "");
  v.threshold = e.value("threshold", 0.0);
  v.observed = NumberOr(e, "observed", std::nan(""));
  v.comparator = e.value("comparator", "");
  v.severity = e.value("severity", "");
  v.affected_instances = e.value("affected_instances", std::vector<std::string>{});
  v.message = e.value("message", "");
  return v;
}

}  // namespace sluice::rollback
