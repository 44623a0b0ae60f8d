#include "evidence.hpp"

#include <cmath>
#include <string>

#include "measure.hpp"

namespace sluice::watcher {
namespace {

using analysis::Outcome;
using nlohmann::json;
using std::chrono::milliseconds;

std::string_view SeverityName(v1::Severity s) {
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

void SetDuration(google::protobuf::Duration* d, milliseconds ms) {
  d->set_seconds(ms.count() / 1000);
  d->set_nanos(static_cast<std::int32_t>((ms.count() % 1000) * 1000000));
}

double Aggregate(const json& series, bool lowest) {
  double out = NAN;
  if (!series.is_array()) return out;
  for (const auto& s : series) {
    const auto v = s.find("value");
    if (v == s.end() || !v->is_number()) continue;
    const double x = v->get<double>();
    if (std::isnan(out) || (lowest ? x < out : x > out)) out = x;
  }
  return out;
}

}  // namespace

v1::Severity SeverityOf(analysis::Severity s) {
  switch (s) {
    case analysis::Severity::kInfo:
      return v1::SEVERITY_INFO;
    case analysis::Severity::kWarning:
      return v1::SEVERITY_WARNING;
    case analysis::Severity::kCritical:
      return v1::SEVERITY_CRITICAL;
  }
  return v1::SEVERITY_UNSPECIFIED;
}

v1::Evidence EvidenceOf(const std::vector<MeasurementRow>& rows, v1::Severity severity,
                        milliseconds window) {
  v1::Evidence e;
  e.set_severity(severity);
  SetDuration(e.mutable_window(), window);
  if (rows.empty()) return e;
  const MeasurementRow* last = &rows.back();
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->verdict != analysis::ToString(Outcome::kSuccessful)) {
      last = &*it;
      break;
    }
  }
  e.set_metric(last->metric);
  if (const auto q = last->queries.find(last->metric); q != last->queries.end()) {
    if (q->is_string()) {
      e.set_query(q->get<std::string>());
    } else if (q->is_object() && q->contains("canary")) {
      e.set_query((*q)["canary"].get<std::string>());
    }
  } else if (last->queries.is_object() && last->queries.size() == 1 &&
             last->queries.begin()->is_string()) {
    e.set_query(last->queries.begin()->get<std::string>());
  }
  e.set_threshold(last->threshold.value_or(NAN));
  e.set_observed(last->observed.value_or(NAN));
  for (const auto& i : last->affected) e.add_affected_instances(i);
  e.set_comparator(last->comparator);
  e.set_message(last->message);
  const bool lowest = !last->comparator.empty() && last->comparator[0] == '<';
  const std::size_t first = rows.size() > kRecentValues ? rows.size() - kRecentValues : 0;
  for (std::size_t i = first; i < rows.size(); ++i) {
    const auto& row = rows[i];
    double v = NAN;
    if (const auto s = row.values.find(last->metric); s != row.values.end() && s->is_array()) {
      v = Aggregate(*s, lowest);
    } else if (row.metric == last->metric && row.observed) {
      v = *row.observed;
    }
    if (!std::isfinite(v)) continue;
    auto* p = e.add_recent();
    p->set_unix_ms(core::ToUnixMillis(row.taken_at));
    p->set_value(v);
  }
  return e;
}

json EvidenceJson(const v1::Evidence& e) {
  json recent = json::array();
  for (const auto& p : e.recent())
    recent.push_back({{"unix_ms", p.unix_ms()}, {"value", p.value()}});
  return {{"metric", e.metric()},
          {"query", e.query()},
          {"threshold", Finite(e.threshold())},
          {"observed", Finite(e.observed())},
          {"severity", std::string(SeverityName(e.severity()))},
          {"affected_instances",
           std::vector<std::string>(e.affected_instances().begin(), e.affected_instances().end())},
          {"recent", recent},
          {"comparator", e.comparator()},
          {"message", e.message()},
          {"window_ms", e.window().seconds() * 1000 + e.window().nanos() / 1000000}};
}

}  // namespace sluice::watcher
