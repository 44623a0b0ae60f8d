#include "evidence.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sluice/analysis/render.hpp>

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

namespace {

// A PromQL double-quoted string's value: `\\` is a backslash, `\"` a quote.
std::string Unquote(std::string_view literal) {
  std::string out;
  for (std::size_t i = 0; i < literal.size(); ++i) {
    if (literal[i] == '\\' && i + 1 < literal.size()) ++i;
    out += literal[i];
  }
  return out;
}

// The alternatives of a regex (its value, not the literal): split at each '|' that no
// backslash escapes.
std::vector<std::string> Alternatives(std::string_view regex) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < regex.size(); ++i) {
    if (regex[i] == '\\' && i + 1 < regex.size()) {
      out.back() += regex.substr(i, 2);
      ++i;
    } else if (regex[i] == '|') {
      out.emplace_back();
    } else {
      out.back() += regex[i];
    }
  }
  return out;
}

// The end of the PromQL string literal starting after the quote at `open`, or npos.
std::size_t LiteralEnd(std::string_view q, std::size_t open) {
  for (std::size_t i = open + 1; i < q.size(); ++i) {
    if (q[i] == '\\') {
      ++i;
    } else if (q[i] == '"') {
      return i;
    }
  }
  return std::string_view::npos;
}

}  // namespace

BaselineQuery BaselineQueryOf(std::string_view query, const BaselineHosts& hosts) {
  if (hosts.baseline.empty()) return {"", "no host was still on the stable version"};
  std::set<std::string> canary;
  for (const auto& h : hosts.canary) canary.insert(Unquote(analysis::RegexEscapeForPromQL(h)));
  const std::string baseline = analysis::InstancesRegex(hosts.baseline);
  const std::string version = "=\"" + hosts.version + "\"";
  std::string out;
  bool retargeted = false, versioned = false;
  std::size_t pos = 0;
  while (pos < query.size()) {
    const bool regex = query.compare(pos, 3, "=~\"") == 0;
    if (!regex && !hosts.version.empty() && query.compare(pos, version.size(), version) == 0 &&
        (pos == 0 || (query[pos - 1] != '!' && query[pos - 1] != '='))) {
      out += "=\"" + hosts.baseline_version + "\"";
      versioned = true;
      pos += version.size();
      continue;
    }
    if (!regex) {
      out += query[pos++];
      continue;
    }
    const std::size_t end = LiteralEnd(query, pos + 2);
    if (end == std::string_view::npos) break;
    const auto literal = query.substr(pos + 3, end - pos - 3);
    const auto alts = Alternatives(Unquote(literal));
    const bool all_canary =
        !canary.empty() &&
        std::all_of(alts.begin(), alts.end(), [&](const auto& a) { return canary.count(a) > 0; });
    out += "=~\"";
    out += all_canary ? baseline : std::string(literal);
    out += '"';
    retargeted = retargeted || all_canary;
    pos = end + 1;
  }
  if (pos < query.size()) out += query.substr(pos);
  if (!retargeted) return {"", "the query selects no canary host by name"};
  if (versioned && hosts.baseline_version.empty()) {
    return {"", "the query names the version and the stable version is not known"};
  }
  return {out, ""};
}

}  // namespace sluice::rollback
