#include "deploy.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sluice/core/duration.hpp>

namespace sluice::agent {
namespace {

using nlohmann::json;

std::string Join(const std::string& path, std::string_view field) {
  return path.empty() ? std::string(field) : path + "." + std::string(field);
}

namespace v1 = agentapi::v1;

std::string Required(const std::string& value, std::string_view field) {
  if (value.empty()) throw ValidationError(std::string(field), "is required");
  return value;
}

// Optional; letters, digits and . _ : - only, at most 128 characters.
std::string CheckDeploymentId(const std::string& id) {
  const bool ok = id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' ||
                           c == '_' || c == ':' || c == '-';
                  });
  if (!ok) {
    throw ValidationError("deployment_id",
                          "must be at most 128 letters, digits, '.', '_', ':' or '-'");
  }
  return id;
}

std::vector<std::string> CheckArgv(const google::protobuf::RepeatedPtrField<std::string>& args,
                                   const std::string& name) {
  if (args.size() > 64) throw ValidationError(name, "has more than 64 arguments");
  std::vector<std::string> argv(args.begin(), args.end());
  for (const auto& a : argv) {
    if (a.find('\0') != std::string::npos) throw ValidationError(name, "contains a NUL byte");
  }
  if (!argv.empty() && argv.front().empty()) {
    throw ValidationError(name, "the program (first element) is empty");
  }
  return argv;
}

std::chrono::milliseconds CheckDuration(bool present, const google::protobuf::Value& v,
                                        const std::string& name, std::chrono::milliseconds def,
                                        std::chrono::milliseconds max) {
  if (!present || v.kind_case() == google::protobuf::Value::kNullValue) return def;
  const auto d = ParseDuration(v);
  if (!d) throw ValidationError(name, "must be a duration such as \"30s\" or a number of seconds");
  if (d->count() <= 0) throw ValidationError(name, "must be positive");
  if (*d > max) throw ValidationError(name, "is longer than " + std::to_string(max.count()) + "ms");
  return *d;
}

std::string CheckVersion(const std::string& version) {
  Required(version, "version");
  if (!IsValidVersion(version)) {
    throw ValidationError("version", "must be a version such as 1.2.3 or 1.2.3-rc.1");
  }
  return version;
}

template <typename M>
M ParseBody(std::string_view body) {
  M m;
  if (const auto e = agentapi::FromWireJson(body, m)) throw ValidationError(e->field, e->message);
  return m;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

bool IsValidVersion(std::string_view s) {
  static const std::regex kRe(
      R"(^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$)");
  return !s.empty() && s.size() <= 128 && std::regex_match(s.begin(), s.end(), kRe);
}

bool IsValidSha256(std::string_view s) {
  return s.size() == 64 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

bool IsHttpUrl(std::string_view s) {
  if (s.size() > 2048) return false;
  std::string_view rest;
  if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest.front() == '/' || rest.front() == ':') return false;
  return std::none_of(s.begin(), s.end(),
                      [](unsigned char c) { return std::isspace(c) != 0 || std::iscntrl(c) != 0; });
}

std::optional<std::chrono::milliseconds> ParseDuration(const google::protobuf::Value& v) {
  using std::chrono::milliseconds;
  if (v.kind_case() == google::protobuf::Value::kNumberValue) {
    const double n = v.number_value();
    if (!(n >= 0 && n <= 86'400)) return std::nullopt;
    return milliseconds(static_cast<std::int64_t>(n * 1000));
  }
  if (v.kind_case() != google::protobuf::Value::kStringValue) return std::nullopt;
  return core::ParseDuration(v.string_value());
}

ServiceConfig FromWire(const v1::ServiceConfig& m, const std::string& path) {
  using namespace std::chrono_literals;
  ServiceConfig s;
  s.restart_command = CheckArgv(m.restart_command(), Join(path, "restart_command"));
  if (s.restart_command.empty()) {
    throw ValidationError(Join(path, "restart_command"), "is required");
  }
  s.restart_timeout = CheckDuration(m.has_restart_timeout(), m.restart_timeout(),
                                    Join(path, "restart_timeout"), 60s, 1h);
  const std::string hpath = Join(path, "health");
  if (!m.has_health()) throw ValidationError(hpath, "is required");
  const v1::HealthCheck& h = m.health();
  if (h.has_http_url()) {
    if (!IsHttpUrl(h.http_url())) {
      throw ValidationError(Join(hpath, "http_url"), "must be an http:// or https:// URL");
    }
    s.health.http_url = h.http_url();
  }
  s.health.command = CheckArgv(h.command(), Join(hpath, "command"));
  if (s.health.http_url.empty() == s.health.command.empty()) {
    throw ValidationError(hpath, "needs exactly one of http_url and command");
  }
  s.health.timeout = CheckDuration(h.has_timeout(), h.timeout(), Join(hpath, "timeout"), 30s, 1h);
  s.health.interval =
      CheckDuration(h.has_interval(), h.interval(), Join(hpath, "interval"), 500ms, 1min);
  return s;
}

v1::ServiceConfig ToWire(const ServiceConfig& s) {
  const auto millis = [](std::chrono::milliseconds d) {
    google::protobuf::Value v;
    v.set_string_value(std::to_string(d.count()) + "ms");
    return v;
  };
  v1::ServiceConfig m;
  m.mutable_restart_command()->Add(s.restart_command.begin(), s.restart_command.end());
  *m.mutable_restart_timeout() = millis(s.restart_timeout);
  auto& h = *m.mutable_health();
  if (!s.health.http_url.empty()) h.set_http_url(s.health.http_url);
  h.mutable_command()->Add(s.health.command.begin(), s.health.command.end());
  *h.mutable_timeout() = millis(s.health.timeout);
  *h.mutable_interval() = millis(s.health.interval);
  return m;
}

DeployRequest FromWire(const v1::DeployRequest& m) {
  DeployRequest r;
  r.version = CheckVersion(m.version());
  r.artifact_url = Required(m.artifact_url(), "artifact_url");
  if (!IsHttpUrl(r.artifact_url)) {
    throw ValidationError("artifact_url", "must be an http:// or https:// URL");
  }
  r.sha256 = Required(m.sha256(), "sha256");
  if (!IsValidSha256(r.sha256)) throw ValidationError("sha256", "must be 64 hexadecimal digits");
  r.sha256 = Lower(r.sha256);
  r.deployment_id = CheckDeploymentId(m.deployment_id());
  if (!m.has_generation()) throw ValidationError("generation", "is required");
  r.generation = m.generation();
  if (!m.has_service()) throw ValidationError("service", "is required");
  r.service = FromWire(m.service(), "service");
  return r;
}

RevertRequest FromWire(const v1::RevertRequest& m) {
  RevertRequest r;
  r.version = CheckVersion(m.version());
  r.deployment_id = CheckDeploymentId(m.deployment_id());
  if (!m.has_generation()) throw ValidationError("generation", "is required");
  r.generation = m.generation();
  if (m.has_service()) r.service = FromWire(m.service(), "service");
  return r;
}

DeployRequest ParseDeployRequest(std::string_view body) {
  return FromWire(ParseBody<v1::DeployRequest>(body));
}

RevertRequest ParseRevertRequest(std::string_view body) {
  return FromWire(ParseBody<v1::RevertRequest>(body));
}

std::string_view ToString(HealthStatus h) {
  switch (h) {
    case HealthStatus::kHealthy:
      return "healthy";
    case HealthStatus::kUnhealthy:
      return "unhealthy";
    case HealthStatus::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view ToString(OperationKind k) {
  return k == OperationKind::kDeploy ? "deploy" : "revert";
}

std::string_view ToString(OperationState s) {
  switch (s) {
    case OperationState::kInProgress:
      return "in_progress";
    case OperationState::kSucceeded:
      return "succeeded";
    case OperationState::kFailed:
      return "failed";
    case OperationState::kUnchanged:
      return "unchanged";
  }
  return "in_progress";
}

std::string_view ToString(PlanKind p) {
  switch (p) {
    case PlanKind::kNoOp:
      return "noop";
    case PlanKind::kSwitchOnly:
      return "switch_only";
    case PlanKind::kDownloadInstall:
      return "download_install";
    case PlanKind::kConflict:
      return "conflict";
  }
  return "conflict";
}

namespace {

template <typename E>
E EnumFrom(const std::string& s, std::initializer_list<E> values) {
  for (E v : values) {
    if (ToString(v) == s) return v;
  }
  throw std::runtime_error("unknown value '" + s + "' in the state file");
}

json ToJson(const Operation& o) {
  return {{"kind", ToString(o.kind)},
          {"version", o.version},
          {"generation", o.generation},
          {"state", ToString(o.state)},
          {"reason", o.reason},
          {"message", o.message},
          {"started_at_ms", o.started_at_ms},
          {"finished_at_ms", o.finished_at_ms}};
}

Operation OperationFromJson(const json& j) {
  Operation o;
  o.kind =
      EnumFrom(j.at("kind").get<std::string>(), {OperationKind::kDeploy, OperationKind::kRevert});
  o.version = j.at("version").get<std::string>();
  o.generation = j.at("generation").get<std::uint64_t>();
  o.state = EnumFrom(j.at("state").get<std::string>(),
                     {OperationState::kInProgress, OperationState::kSucceeded,
                      OperationState::kFailed, OperationState::kUnchanged});
  o.reason = j.value("reason", "");
  o.message = j.value("message", "");
  o.started_at_ms = j.value("started_at_ms", std::int64_t{0});
  o.finished_at_ms = j.value("finished_at_ms", std::int64_t{0});
  return o;
}

}  // namespace

const InstalledVersion* AgentState::Find(std::string_view version) const {
  for (const auto& v : installed) {
    if (v.version == version) return &v;
  }
  return nullptr;
}

json ToJson(const AgentState& s) {
  json generations = json::array();
  for (const auto& g : s.generations) {
    generations.push_back({{"deployment_id", g.deployment_id}, {"generation", g.generation}});
  }
  json installed = json::array();
  for (const auto& v : s.installed) {
    installed.push_back(
        {{"version", v.version}, {"sha256", v.sha256}, {"installed_at_ms", v.installed_at_ms}});
  }
  json j = {{"current", s.current},       {"previous", s.previous},
            {"installed", installed},     {"health", ToString(s.health)},
            {"generations", generations}, {"last_operation", nullptr},
            {"service", nullptr}};
  j["owner"] = s.owner;
  if (s.last_operation) j["last_operation"] = ToJson(*s.last_operation);
  if (s.service) j["service"] = json::parse(agentapi::ToWireJson(ToWire(*s.service)));
  return j;
}

AgentState StateFromJson(const json& j) {
  try {
    AgentState s;
    s.current = j.at("current").get<std::string>();
    s.previous = j.at("previous").get<std::string>();
    for (const auto& v : j.at("installed")) {
      s.installed.push_back({v.at("version").get<std::string>(), v.at("sha256").get<std::string>(),
                             v.at("installed_at_ms").get<std::int64_t>()});
    }
    s.health = EnumFrom(j.at("health").get<std::string>(),
                        {HealthStatus::kUnknown, HealthStatus::kHealthy, HealthStatus::kUnhealthy});
    if (const auto it = j.find("generations"); it != j.end()) {
      for (const auto& g : *it) {
        s.generations.push_back(
            {g.at("deployment_id").get<std::string>(), g.at("generation").get<std::uint64_t>()});
      }
    } else if (const auto old = j.find("highest_generation"); old != j.end()) {
      // A state written before generations were kept per deployment: host-wide.
      s.generations.push_back({"", old->get<std::uint64_t>()});
    }
    if (const auto it = j.find("owner"); it != j.end()) s.owner = it->get<std::string>();
    if (const auto& op = j.at("last_operation"); !op.is_null()) {
      s.last_operation = OperationFromJson(op);
    }
    if (const auto& svc = j.at("service"); !svc.is_null()) {
      s.service = FromWire(ParseBody<v1::ServiceConfig>(svc.dump()), "service");
    }
    return s;
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("malformed state: ") + e.what());
  } catch (const ValidationError& e) {
    throw std::runtime_error("malformed state: " + e.Field() + " " + e.what());
  }
}

v1::Status StatusMessage(const AgentState& state) {
  v1::Status s;
  if (!state.current.empty()) s.set_current(state.current);
  if (!state.previous.empty()) s.set_previous(state.previous);
  for (const auto& v : state.installed) {
    auto& out = *s.add_installed();
    out.set_version(v.version);
    out.set_sha256(v.sha256);
    out.set_installed_at_ms(v.installed_at_ms);
  }
  s.set_health_status(std::string(ToString(state.health)));
  s.set_highest_generation(state.HighestGeneration());
  if (state.last_operation) {
    const auto& o = *state.last_operation;
    auto& out = *s.mutable_last_operation();
    out.set_kind(std::string(ToString(o.kind)));
    out.set_version(o.version);
    out.set_generation(o.generation);
    out.set_state(std::string(ToString(o.state)));
    out.set_reason(o.reason);
    out.set_message(o.message);
    out.set_started_at_ms(o.started_at_ms);
    out.set_finished_at_ms(o.finished_at_ms);
  }
  return s;
}

v1::OperationReport ReportMessage(const AgentState& state) {
  v1::OperationReport report;
  if (state.last_operation) report.set_result(std::string(ToString(state.last_operation->state)));
  *report.mutable_status() = StatusMessage(state);
  *report.mutable_operation() = report.status().last_operation();
  return report;
}

std::uint64_t AgentState::HighestGeneration(std::string_view deployment_id) const {
  for (const auto& g : generations) {
    if (g.deployment_id == deployment_id) return g.generation;
  }
  return 0;
}

std::uint64_t AgentState::HighestGeneration() const {
  std::uint64_t highest = 0;
  for (const auto& g : generations) highest = std::max(highest, g.generation);
  return highest;
}

bool OwnedByAnother(const AgentState& state, std::string_view deployment_id) {
  return !deployment_id.empty() && !state.owner.empty() && state.owner != deployment_id;
}

bool IsStale(const AgentState& state, std::string_view deployment_id, std::uint64_t generation) {
  return generation < state.HighestGeneration(deployment_id);
}

void ObserveGeneration(AgentState& state, std::string_view deployment_id,
                       std::uint64_t generation) {
  auto& gens = state.generations;
  const auto it = std::find_if(gens.begin(), gens.end(), [&](const DeploymentGeneration& g) {
    return g.deployment_id == deployment_id;
  });
  DeploymentGeneration seen{std::string(deployment_id), generation};
  if (it != gens.end()) {
    seen.generation = std::max(it->generation, generation);
    gens.erase(it);
  }
  gens.push_back(std::move(seen));
  if (gens.size() > kGenerationsKept) {
    gens.erase(gens.begin(),
               gens.begin() + static_cast<std::ptrdiff_t>(gens.size() - kGenerationsKept));
  }
}

PlanKind Plan(const AgentState& state, const DeployRequest& request) {
  const InstalledVersion* installed = state.Find(request.version);
  if (installed == nullptr) return PlanKind::kDownloadInstall;
  if (installed->sha256 != request.sha256) return PlanKind::kConflict;
  if (state.current == request.version && state.health == HealthStatus::kHealthy) {
    return PlanKind::kNoOp;
  }
  return PlanKind::kSwitchOnly;
}

void RecordSwitch(AgentState& state, const std::string& version) {
  if (state.current != version) {
    state.previous = state.current;
    state.current = version;
  }
}

void RecordInstalled(AgentState& state, InstalledVersion v) {
  RecordRemoved(state, v.version);
  state.installed.push_back(std::move(v));
}

void RecordRemoved(AgentState& state, std::string_view version) {
  std::erase_if(state.installed, [&](const InstalledVersion& v) { return v.version == version; });
}

std::vector<std::string> SelectForRemoval(const AgentState& state, std::size_t keep) {
  std::vector<std::string> out;
  std::size_t remaining = state.installed.size();
  for (const auto& v : state.installed) {
    if (remaining <= keep) break;
    if (v.version == state.current || v.version == state.previous) continue;
    out.push_back(v.version);
    --remaining;
  }
  return out;
}

}  // namespace sluice::agent
