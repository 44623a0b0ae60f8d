#include "delivery.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <sluice/core/duration.hpp>
#include <sluice/core/encoding.hpp>
#include <sluice/core/strict_json.hpp>
#include <sluice/http/client.hpp>
#include <stdexcept>

#include "field_reading.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& i : items) {
    if (!out.empty()) out += sep;
    out += i;
  }
  return out;
}

// Unknown keys of a JSON object: the first one, with the list of known keys.
std::optional<FieldError> UnknownKey(const json& body, const std::vector<std::string>& known) {
  for (const auto& [key, value] : body.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Err(key, "unknown field '" + key + "'; known fields: " + Join(known, ", "));
    }
  }
  return std::nullopt;
}

json GateJson(const spec::Gate& g) {
  if (g.kind == spec::Gate::Kind::kApproval) return {{"kind", "approval"}};
  json j = {{"kind", "pause"}};
  j["duration"] = g.duration ? json(core::FormatDuration(*g.duration)) : json(nullptr);
  return j;
}

}  // namespace

std::string MediaTypeOf(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  t.erase(std::remove_if(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }),
          t.end());
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return t;
}

std::variant<std::string, SpecBodyError> SpecTextFromBody(std::string_view content_type,
                                                          std::string_view body) {
  const std::string media = MediaTypeOf(content_type);
  auto invalid = [](std::string field, std::string message) {
    return SpecBodyError{SpecBodyError::Kind::kInvalid, Err(std::move(field), std::move(message))};
  };
  std::string text;
  if (media == "application/json") {
    json parsed;
    // A NUL inside the spec is reported below by CheckSpecBytes with its offset in the spec text.
    core::JsonLimits limits;
    limits.allow_nul = true;
    try {
      parsed = core::ParseStrictJson(body, limits);
    } catch (const core::JsonInputError& e) {
      return invalid(e.Path().empty() ? "body" : e.Path(), e.what());
    }
    if (!parsed.is_object()) {
      return invalid("body", "a JSON body must be an object {\"spec\": \"<delivery spec YAML>\"}");
    }
    if (auto e = UnknownKey(parsed, {"spec"}))
      return SpecBodyError{SpecBodyError::Kind::kInvalid, *e};
    const auto it = parsed.find("spec");
    if (it == parsed.end() || !it->is_string()) {
      return invalid("spec", "spec must be the delivery spec YAML as a string");
    }
    text = it->get<std::string>();
  } else if (media.empty() || media == "application/yaml" || media == "application/x-yaml" ||
             media == "text/yaml" || media == "text/x-yaml" || media == "text/plain") {
    text = std::string(body);
  } else {
    return SpecBodyError{SpecBodyError::Kind::kUnsupportedMediaType,
                         Err("Content-Type",
                             "send the delivery spec as application/yaml, "
                             "text/yaml or text/plain, or as JSON {\"spec\": "
                             "\"...\"} (got \"" +
                                 std::string(content_type) + "\")")};
  }
  if (text.size() > kMaxSpecBytes) {
    return SpecBodyError{SpecBodyError::Kind::kTooLarge,
                         Err("spec", "the delivery spec is " + std::to_string(text.size()) +
                                         " bytes; the limit is " + std::to_string(kMaxSpecBytes) +
                                         " bytes (256 KiB)")};
  }
  const bool blank =
      std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c) != 0; });
  if (blank) return invalid("body", "the delivery spec is empty");
  if (auto e = CheckSpecBytes(text)) {
    if (media == "application/json") e->field = "spec";  // the offset is in the spec string
    return SpecBodyError{SpecBodyError::Kind::kInvalid, *e};
  }
  return text;
}

std::optional<FieldError> CheckSpecBytes(std::string_view text) {
  // The first offending byte is named, whichever kind it is.
  const auto nul = text.find('\0');
  const auto bad = InvalidUtf8Offset(text.substr(0, nul));
  if (!bad && nul != std::string_view::npos) {
    return Err("body", "the delivery spec has a NUL byte at byte offset " + std::to_string(nul) +
                           "; a spec is UTF-8 text without NUL bytes");
  }
  if (bad) {
    return Err("body", "the delivery spec is not valid UTF-8 at byte offset " +
                           std::to_string(*bad) + "; save it as UTF-8");
  }
  return std::nullopt;
}

std::string Sha256Hex(std::string_view text) { return core::Sha256Hex(text); }

std::string SpecOrigin(std::string_view app) { return std::string(app) + ".yaml"; }

json SpecErrorBody(const spec::SpecError& e) {
  json error = {{"code", "invalid_spec"}, {"message", e.ToString()}, {"field", e.path}};
  error["line"] = e.line > 0 ? json(e.line) : json(nullptr);
  error["column"] = e.column > 0 ? json(e.column) : json(nullptr);
  return {{"error", std::move(error)}};
}

std::vector<std::string> EnvironmentNames(const spec::DeliverySpec& spec) {
  std::vector<std::string> out;
  out.reserve(spec.environments.size());
  for (const auto& e : spec.environments) out.push_back(e.name);
  return out;
}

std::variant<DeploymentRequest, FieldError> ValidateDeploymentRequest(const json& body) {
  if (!body.is_object()) return Err("body", "body must be a JSON object");
  if (auto e = UnknownKey(body, {"release_id", "env", "spec_version", "override"})) return *e;
  DeploymentRequest r;
  const auto rid = body.find("release_id");
  if (rid == body.end() || rid->is_null()) return Err("release_id", "release_id is required");
  if (!rid->is_string() || rid->get<std::string>().empty() || rid->get<std::string>().size() > 64) {
    return Err("release_id", "release_id must be the id of a release (a string)");
  }
  r.release_id = rid->get<std::string>();
  const auto env = body.find("env");
  if (env == body.end() || env->is_null()) return Err("env", "env is required");
  if (!env->is_string() || !IsValidAppName(env->get<std::string>())) {
    return Err("env", "env must be an environment name of the delivery spec, e.g. production");
  }
  r.env = env->get<std::string>();
  const auto sv = body.find("spec_version");
  if (sv != body.end() && !sv->is_null()) {
    if (!sv->is_number_integer() || sv->get<std::int64_t>() < 1) {
      return Err("spec_version",
                 "spec_version must be a whole number from 1 (omit it for the "
                 "latest version)");
    }
    r.spec_version = sv->get<std::int64_t>();
  }
  const auto ov = body.find("override");
  if (ov != body.end() && !ov->is_null()) {
    const std::string shape = "override must be {\"reason\": \"<why the gate is overridden>\"}";
    if (!ov->is_object()) return Err("override", shape);
    if (auto e = UnknownKey(*ov, {"reason"})) return FieldError{"override." + e->field, e->message};
    const auto reason = ov->find("reason");
    if (reason == ov->end() || !reason->is_string() || reason->get<std::string>().empty() ||
        reason->get<std::string>().size() > 1000) {
      return Err("override.reason",
                 "override.reason is required: 1-1000 characters saying why the gate is "
                 "overridden (it goes into the audit log)");
    }
    if (auto why = UnsafeTextReason(reason->get<std::string>())) {
      return Err("override.reason", "override.reason " + *why);
    }
    r.override_reason = reason->get<std::string>();
  }
  return r;
}

std::string RequestFingerprint(const DeploymentRequest& request) {
  json j = {{"release_id", request.release_id}, {"env", request.env}};
  j["spec_version"] = request.spec_version ? json(*request.spec_version) : json(nullptr);
  // Only when given, so the fingerprints of requests without one stay what they were.
  if (request.override_reason) j["override_reason"] = *request.override_reason;
  return Sha256Hex(j.dump());  // nlohmann orders object keys: the dump is canonical
}

bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 200) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7F; });
}

json DryRunJson(const DryRunInput& in) {
  json batches = json::array();
  for (const auto& b : in.batches) {
    json hosts = json::array();
    for (const auto& h : b.hosts) hosts.push_back({{"name", h.name}, {"address", h.address}});
    json gates = json::array();
    for (const auto& g : b.gates_before) gates.push_back(GateJson(g));
    json jb = {{"index", b.index},
               {"weight_percent", b.weight_percent},
               {"hosts", std::move(hosts)},
               {"cumulative_hosts", b.cumulative_hosts},
               {"gates_before", std::move(gates)},
               {"analysis", !b.analysis_template.empty()},
               {"analysis_template", b.analysis_template},
               {"max_parallel", b.max_parallel},
               {"failure_tolerance", b.failure_tolerance},
               {"host_timeout", core::FormatDuration(b.host_timeout)}};
    if (b.traffic_switch_url) jb["traffic_switch_url"] = *b.traffic_switch_url;
    if (!b.kubernetes.empty()) {  // each moves to weight_percent with the batch
      json workloads = json::array();
      for (const auto& k : b.kubernetes) {
        workloads.push_back({{"name", k.name},
                             {"kind", spec::ToString(k.kind)},
                             {"workload", k.workload},
                             {"rollout", spec::ToString(k.rollout)}});
      }
      jb["kubernetes"] = std::move(workloads);
    }
    batches.push_back(std::move(jb));
  }
  const std::size_t total = in.batches.empty() ? 0 : in.batches.back().cumulative_hosts;
  return {{"dry_run", true},
          {"app", in.app},
          {"env", in.env},
          {"release_id", in.release_id},
          {"version", in.version},
          {"spec_version", in.spec_version},
          {"strategy", in.environment != nullptr
                           ? std::string(spec::ToString(in.environment->strategy.type))
                           : std::string()},
          {"total_hosts", total},
          {"batches", std::move(batches)}};
}

std::optional<Verb> ParseVerb(std::string_view s) {
  const Verb verb = events::ParseVerb(s);
  if (verb == events::v1::OperatorCommand::VERB_UNSPECIFIED) return std::nullopt;
  return verb;
}

Role RequiredRole(Verb verb) {
  return verb == OperatorCommand::VERB_APPROVE || verb == OperatorCommand::VERB_ROLLBACK
             ? Role::kApprover
             : Role::kDeployer;
}

std::variant<CommandInput, FieldError> ValidateCommand(Verb verb, const json& body) {
  CommandInput c;
  if (body.is_null()) return c;
  if (!body.is_object()) return Err("body", "body must be a JSON object");
  if (auto e = UnknownKey(body, {"reason", "generation", "target_release_id"})) return *e;
  if (const auto it = body.find("reason"); it != body.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().size() > 1000) {
      return Err("reason", "reason must be a string of at most 1000 characters");
    }
    c.reason = it->get<std::string>();
    if (auto why = UnsafeTextReason(c.reason)) return Err("reason", "reason " + *why);
  }
  if (const auto it = body.find("generation"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
      return Err("generation", "generation must be a whole number (0 = the current generation)");
    }
    c.generation = it->get<std::uint64_t>();
  }
  if (const auto it = body.find("target_release_id"); it != body.end() && !it->is_null()) {
    if (verb != OperatorCommand::VERB_ROLLBACK) {
      return Err("target_release_id", "target_release_id is only for rollback");
    }
    if (!it->is_string() || it->get<std::string>().empty() || it->get<std::string>().size() > 64) {
      return Err("target_release_id", "target_release_id must be the id of a release");
    }
    c.target_release_id = it->get<std::string>();
  }
  return c;
}

namespace {

// A text field of an alert: absent or null is "" (an error when `required`), else a string of
// at most `max` bytes that passes UnsafeTextReason.
std::optional<FieldError> AlertText(const json& body, const std::string& name, std::size_t max,
                                    bool required, std::string& out) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) return Err(name, name + " is required");
    return std::nullopt;
  }
  const std::string limit = (required ? "1-" : "at most ") + std::to_string(max) + " characters";
  if (!it->is_string() || it->get<std::string>().size() > max ||
      (required && it->get<std::string>().empty())) {
    return Err(name, name + " must be a string of " + limit);
  }
  out = it->get<std::string>();
  if (auto why = UnsafeTextReason(out)) return Err(name, name + " " + *why);
  return std::nullopt;
}

// The app or env of an alert: a required name.
std::optional<FieldError> AlertName(const json& body, const std::string& name, std::string& out) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return Err(name, name + " is required");
  if (!it->is_string() || !IsValidAppName(it->get<std::string>())) {
    return Err(name, name +
                         " must be a name: a lowercase letter, then up to 62 lowercase letters, "
                         "digits and '-'");
  }
  out = it->get<std::string>();
  return std::nullopt;
}

}  // namespace

std::variant<AlertInput, FieldError> ValidateAlert(const json& body) {
  if (!body.is_object()) return Err("body", "body must be a JSON object");
  if (auto e = UnknownKey(body, {"app", "env", "alertname", "severity", "summary", "status"})) {
    return *e;
  }
  AlertInput a;
  if (auto e = AlertName(body, "app", a.app)) return *e;
  if (auto e = AlertName(body, "env", a.env)) return *e;
  if (auto e = AlertText(body, "alertname", 200, true, a.alert_name)) return *e;
  if (auto e = AlertText(body, "severity", 64, false, a.severity)) return *e;
  if (auto e = AlertText(body, "summary", 1000, false, a.summary)) return *e;
  std::string status = "firing";
  if (auto e = AlertText(body, "status", 16, false, status)) return *e;
  if (status != "firing" && status != "resolved") {
    return Err("status", "status must be firing or resolved");
  }
  a.resolved = status == "resolved";
  return a;
}

std::optional<std::string> NormalizeBaseUrl(std::string_view url) {
  std::string_view rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else {
    return std::nullopt;
  }
  if (rest.empty() || rest[0] == '/' || rest.find_first_of("?# ") != std::string_view::npos) {
    return std::nullopt;
  }
  std::string out(url);
  while (out.back() == '/') out.pop_back();
  return out;
}

bool IsJsonMediaType(std::string_view content_type) {
  const std::string media = MediaTypeOf(content_type);
  return media == "application/json" ||
         (media.size() > 5 && media.compare(media.size() - 5, 5, "+json") == 0);
}

std::string ForwardQuery(const std::multimap<std::string, std::string>& params,
                         const std::vector<std::string>& allowed) {
  const auto encode = [](const std::string& s) { return http::UrlEncode(s); };
  std::string q;
  for (const auto& name : allowed) {
    const auto [first, last] = params.equal_range(name);
    for (auto it = first; it != last; ++it) {
      q += (q.empty() ? "?" : "&") + encode(name) + "=" + encode(it->second);
    }
  }
  return q;
}

bool IsValidDeploymentId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '-'; });
}

}  // namespace sluice::release_intake
