#include "retrospective.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <sluice/core/duration.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>
#include <sluice/spec/yaml_reader.hpp>

#include "alerts.hpp"
#include "run.hpp"

namespace sluice::watcher {
namespace {

using analysis::Outcome;
using nlohmann::json;

http::ApiException Unprocessable(std::string field, std::string message) {
  return http::ApiException(
      http::ApiError{422, "unprocessable", std::move(message), std::move(field)});
}

void ReadSide(const json& body, const char* field, std::string& version,
              std::vector<std::string>& instances) {
  const auto it = body.find(field);
  if (it == body.end() || it->is_null()) return;
  if (!it->is_object()) throw http::BadRequest(field, std::string(field) + " must be an object");
  const auto v = it->find("version");
  if (v != it->end() && !v->is_null()) {
    if (!v->is_string()) {
      throw http::BadRequest(std::string(field) + ".version", "version must be a string");
    }
    version = v->get<std::string>();
  }
  const auto i = it->find("instances");
  if (i != it->end() && !i->is_null()) {
    if (!i->is_array()) {
      throw http::BadRequest(std::string(field) + ".instances", "instances must be an array");
    }
    for (const auto& x : *i) {
      if (!x.is_string() || x.get<std::string>().empty()) {
        throw http::BadRequest(std::string(field) + ".instances",
                               "instances must hold non-empty strings");
      }
      instances.push_back(x.get<std::string>());
    }
  }
}

core::SystemTime RequireTime(const json& body, const char* field) {
  const std::string s = http::RequireString(body, field);
  const auto t = ParseRfc3339(s);
  if (!t) throw http::BadRequest(field, std::string(field) + " must be an RFC 3339 time");
  return *t;
}

analysis::Template TemplateFromYaml(const std::string& text, const std::string& name) {
  if (const auto issue = spec::CheckYamlText(text)) {
    throw Unprocessable("template_yaml", "template_yaml: " + issue->ToString());
  }
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Unprocessable("template_yaml", std::string("template_yaml is not YAML: ") + e.what());
  }
  if (const auto issue = spec::CheckYamlTree(node)) {
    throw Unprocessable("template_yaml", "template_yaml: " + issue->ToString());
  }
  if (!node.IsMap()) throw Unprocessable("template_yaml", "template_yaml must be a mapping");
  // Either an environment's whole `analysis` mapping, or one template.
  // (yaml-cpp nodes are references: assigning one to another would rewrite `node` itself.)
  const std::string tmpl_name = name.empty() ? "default" : name;
  YAML::Node analysis_node(YAML::NodeType::Map);
  if (node["templates"]) {
    analysis_node = YAML::Clone(node);
  } else {
    analysis_node["templates"][tmpl_name] = node;
  }
  auto parsed = spec::ParseAnalysisSpec(analysis_node, "template_yaml");
  if (const auto* issue = std::get_if<spec::SpecIssue>(&parsed)) {
    throw Unprocessable("template_yaml", issue->path + ": " + issue->message);
  }
  auto& spec = std::get<analysis::AnalysisSpec>(parsed);
  if (name.empty() && spec.templates.size() == 1) return spec.templates.begin()->second;
  const auto it = spec.templates.find(tmpl_name);
  if (it == spec.templates.end()) {
    throw Unprocessable("template", "template '" + tmpl_name + "' is not in template_yaml");
  }
  return it->second;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  // A bare number is seconds, as Prometheus reads a `step`.
  const bool bare = !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  return core::ParseDuration(bare ? std::string(s) + "s" : std::string(s));
}

void CheckRetrospectiveCaps(const RetrospectiveRequest& r) {
  if (r.end - r.start > kMaxRetrospectiveRange) {
    throw http::BadRequest("end", "the range from start to end is longer than " +
                                      std::to_string(kMaxRetrospectiveRange.count()) +
                                      "h, the cap of one retrospective analysis; analyse a "
                                      "shorter range");
  }
  if (r.tmpl.rules.size() > kMaxRetrospectiveRules) {
    throw http::BadRequest("template", "the template has " + std::to_string(r.tmpl.rules.size()) +
                                           " rules; a retrospective analysis takes at most " +
                                           std::to_string(kMaxRetrospectiveRules));
  }
  std::int64_t total = 0;
  for (const auto& rule : r.tmpl.rules) {
    const auto step = r.step.value_or(rule.limits.interval);
    const std::int64_t steps = step.count() <= 0 ? INT64_MAX : (r.end - r.start) / step + 1;
    if (steps > kMaxRetrospectiveSteps) {
      throw http::BadRequest(
          "step", "rule '" + rule.name + "' would take " +
                      (step.count() <= 0 ? std::string("unbounded") : std::to_string(steps)) +
                      " measurements over this range, more than the cap of " +
                      std::to_string(kMaxRetrospectiveSteps) +
                      " per rule; give a larger step or a shorter range");
    }
    total += steps;
  }
  if (total > kMaxRetrospectiveMeasurements) {
    throw http::BadRequest("step", "the rules would take " + std::to_string(total) +
                                       " measurements together, more than the cap of " +
                                       std::to_string(kMaxRetrospectiveMeasurements) +
                                       " per request; give a larger step or a shorter range");
  }
  if (r.tmpl.judge) {
    const auto step = r.step.value_or(r.tmpl.judge->step);
    if (step.count() <= 0 || (r.end - r.start) / step + 1 > kMaxRetrospectiveJudgePoints) {
      throw http::BadRequest("step", "the judge would read more than " +
                                         std::to_string(kMaxRetrospectiveJudgePoints) +
                                         " points per series, the cap; give a larger step");
    }
  }
}

RetrospectiveRequest ParseRetrospectiveRequest(const json& body) {
  if (!body.is_object()) throw http::BadRequest("body", "the body must be a JSON object");
  RetrospectiveRequest r;
  auto& b = r.bindings;
  b.app = http::RequireString(body, "app");
  b.env = http::OptionalString(body, "env").value_or("");
  const std::string name = http::OptionalString(body, "template").value_or("");
  ReadSide(body, "canary", b.version, b.instances);
  ReadSide(body, "baseline", b.baseline_version, b.baseline_instances);
  r.start = RequireTime(body, "start");
  r.end = RequireTime(body, "end");
  if (const auto step = http::OptionalString(body, "step")) {
    r.step = ParseDuration(*step);
    if (!r.step || r.step->count() <= 0) {
      throw http::BadRequest("step", "step must be a positive duration such as 5s or 1m");
    }
  }
  const auto spec_yaml = http::OptionalString(body, "spec_yaml");
  const auto template_yaml = http::OptionalString(body, "template_yaml");
  if (spec_yaml && template_yaml) {
    throw http::BadRequest("template_yaml", "give spec_yaml or template_yaml, not both");
  }
  if (spec_yaml) {
    if (b.env.empty()) throw http::BadRequest("env", "env is required with spec_yaml");
    auto resolved = ResolveTemplate(*spec_yaml, b.env, name.empty() ? "default" : name);
    if (auto* error = std::get_if<std::string>(&resolved)) {
      throw Unprocessable(error->rfind("analysis template", 0) == 0 ? "template" : "spec_yaml",
                          *error);
    }
    r.tmpl = std::get<analysis::Template>(resolved);
  } else if (template_yaml) {
    r.tmpl = TemplateFromYaml(*template_yaml, name);
  } else {
    throw http::BadRequest("spec_yaml", "give spec_yaml (with template) or template_yaml");
  }
  if (r.end <= r.start) throw Unprocessable("end", "end must be after start");
  CheckRetrospectiveCaps(r);
  return r;
}

json RunRetrospective(MetricProvider& provider, const RetrospectiveRequest& request) {
  std::vector<RuleState> states;
  json rules = json::array();
  for (const auto& rule : request.tmpl.rules) {
    const auto step = request.step.value_or(rule.limits.interval);
    // Only windows that hold nothing from before `start` (the switch): the first measurement is
    // a rate window after it, as in a live analysis.
    const auto first = request.start + RuleWindow(request.tmpl, rule);
    analysis::Limits limits = rule.limits;
    // The whole range is evaluated: every step counts, until the rule is decided.
    limits.count = std::max(0, static_cast<int>((request.end - first) / step) + 1);
    analysis::RuleProgress progress;
    json measurements = json::array();
    if (first > request.end) progress.outcome = Outcome::kInconclusive;
    for (auto at = first; at <= request.end; at += step) {
      const auto m = MeasureThreshold(provider, request.tmpl, rule, request.bindings, at);
      measurements.push_back(ToJson(m, at));
      progress = analysis::Advance(limits, progress, m.result.verdict);
      if (progress.outcome != Outcome::kRunning && progress.outcome != Outcome::kPending) break;
    }
    states.push_back({rule.name, false, progress.outcome});
    rules.push_back({{"name", rule.name},
                     {"fail_when", rule.fail_when},
                     {"severity", std::string(analysis::ToString(rule.severity))},
                     {"dry_run", rule.limits.dry_run},
                     {"outcome", std::string(analysis::ToString(progress.outcome))},
                     {"progress", ProgressJson(progress)},
                     {"measurements", measurements}});
  }
  json judge = nullptr;
  if (request.tmpl.judge) {
    const auto& spec = *request.tmpl.judge;
    const auto m = MeasureJudge(provider, spec, request.bindings, request.start, request.end,
                                request.step.value_or(spec.step));
    judge = ToJson(m, request.end);
    states.push_back({std::string(kJudgeRule), true, m.judgement.verdict});
  }
  const auto decision = Decide(states, false, true);
  const Outcome outcome = decision ? decision->outcome : Outcome::kInconclusive;
  return {{"outcome", std::string(analysis::ToString(outcome))},
          {"reason", decision ? decision->reason : std::string(kReasonInconclusiveLimit)},
          {"template", request.tmpl.name},
          {"start", core::FormatRfc3339(request.start)},
          {"end", core::FormatRfc3339(request.end)},
          {"rules", rules},
          {"judge", judge}};
}

}  // namespace sluice::watcher
