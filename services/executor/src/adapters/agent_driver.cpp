#include "adapters/agent_driver.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <sluice/core/strict_json.hpp>
#include <sluice/http/client.hpp>

namespace sluice::executor {
namespace {

using json = nlohmann::json;

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// Codes that say the same command will fail the same way again.
const std::set<std::string, std::less<>>& DefinitiveCodes() {
  static const std::set<std::string, std::less<>> kCodes = {"checksum_mismatch",
                                                            "artifact_too_large",
                                                            "unsafe_archive",
                                                            "version_conflict",
                                                            "not_installed",
                                                            "install_failed",
                                                            "restart_failed",
                                                            "health_check_failed",
                                                            "invalid_field",
                                                            "unauthorized",
                                                            "forbidden",
                                                            "not_found",
                                                            "host_owned_by_newer_deployment"};
  return kCodes;
}
// Codes of passing trouble: a download that broke off, an operation cut short.
const std::set<std::string, std::less<>>& TransientCodes() {
  static const std::set<std::string, std::less<>> kCodes = {"download_failed", "interrupted",
                                                            "operation_in_progress"};
  return kCodes;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(a) == std::tolower(b); });
  return it != haystack.end();
}

// An agent's answer, parsed with the same bounds as a request (depth, duplicate keys, NUL): the
// executor stores parts of it.
std::optional<json> ParseJson(const std::string& body) {
  try {
    return core::ParseStrictJson(body);
  } catch (const core::JsonInputError&) {
    return std::nullopt;
  }
}

std::string StringField(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The agent reports "health_status"; older answers (and the test fakes) say "health".
std::string HealthField(const json& j) {
  std::string h = StringField(j, "health_status");
  return h.empty() ? StringField(j, "health") : h;
}

}  // namespace

json DeployBody(const ArtifactRef& artifact, const CommandFence& fence,
                const AgentServiceSpec& service) {
  json health = {{"timeout", Millis(service.health.timeout)}};
  if (!service.health.http_url.empty()) health["http_url"] = service.health.http_url;
  if (!service.health.command.empty()) health["command"] = service.health.command;
  return {{"version", artifact.version},
          {"artifact_url", artifact.url},
          {"sha256", artifact.sha256},
          {"deployment_id", fence.deployment_id},
          {"generation", fence.generation.Value()},
          {"service",
           {{"restart_command", service.restart_command},
            {"restart_timeout", Millis(service.restart_timeout)},
            {"health", health}}}};
}

json RevertBody(std::string_view version, const CommandFence& fence) {
  return {{"version", version},
          {"deployment_id", fence.deployment_id},
          {"generation", fence.generation.Value()}};
}

HostOutcome AgentOutcome(long status, const std::string& body, std::string_view expected_version) {
  const auto parsed = ParseJson(body);
  if (status == 200) {
    if (!parsed || !parsed->is_object()) {
      return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonBadResponse),
                                  "agent answered 200 with a body that is not a JSON object");
    }
    // sluice-agent answers {"result", "operation", "status": {current, health_status, ...}};
    // a flat {current, health} is accepted too.
    const auto status_it = parsed->find("status");
    const json& state = status_it != parsed->end() && status_it->is_object() ? *status_it : *parsed;
    const std::string current = StringField(state, "current");
    const HostHealth health = ParseHostHealth(HealthField(state));
    if (StringField(*parsed, "result") == "failed") {
      // Switched, but the restart or the health check failed: the agent does not revert.
      std::string reason;
      std::string message;
      if (const auto op = parsed->find("operation"); op != parsed->end() && op->is_object()) {
        reason = StringField(*op, "reason");
        message = StringField(*op, "message");
      }
      if (reason.empty()) reason = std::string(kAgentHealthCheckFailed);
      auto o = HostOutcome::Failure(
          reason == kAgentHealthCheckFailed ? OutcomeKind::kUnhealthy : OutcomeKind::kFailed, false,
          reason, "version " + current + " is current but " + (message.empty() ? reason : message));
      o.version = current;
      o.health = health == HostHealth::kUnknown ? HostHealth::kUnhealthy : health;
      return o;
    }
    if (current != expected_version) {
      auto o =
          HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonVersionMismatch),
                               "agent reports current version \"" + current + "\", expected \"" +
                                   std::string(expected_version) + "\"");
      o.version = current;
      o.health = health;
      return o;
    }
    if (health == HostHealth::kUnhealthy) {
      auto o =
          HostOutcome::Failure(OutcomeKind::kUnhealthy, false, std::string(kAgentHealthCheckFailed),
                               "version " + current + " is current but unhealthy");
      o.version = current;
      o.health = health;
      return o;
    }
    return HostOutcome::Success(current, health);
  }

  std::string code;
  std::string message;
  if (parsed && parsed->is_object()) {
    if (const auto it = parsed->find("error"); it != parsed->end() && it->is_object()) {
      code = StringField(*it, "code");
      message = StringField(*it, "message");
      if (const std::string field = StringField(*it, "field"); !field.empty()) {
        message += " (field " + field + ")";
      }
    }
  }
  const std::string text = "agent answered " + std::to_string(status) +
                           (code.empty() ? "" : " " + code) +
                           (message.empty() ? "" : ": " + message);
  if (code == kAgentStaleGeneration) {
    return HostOutcome::Failure(OutcomeKind::kStale, false, code, text);
  }
  if (code == kAgentHealthCheckFailed) {
    return HostOutcome::Failure(OutcomeKind::kUnhealthy, false, code, text);
  }
  bool retryable = status >= 500 || status == 408 || status == 429;
  if (DefinitiveCodes().contains(code)) retryable = false;
  if (TransientCodes().contains(code)) retryable = true;
  if (code.empty()) code = "http_" + std::to_string(status);
  return HostOutcome::Failure(OutcomeKind::kFailed, retryable, code, text);
}

HostState AgentStatus(long status, const std::string& body) {
  HostState s;
  const auto parsed = ParseJson(body);
  if (status != 200 || !parsed || !parsed->is_object()) {
    s.error = "agent status answered " + std::to_string(status) +
              (parsed ? "" : " with a body that is not JSON");
    return s;
  }
  const json& j = *parsed;
  s.reachable = true;
  s.current = StringField(j, "current");
  s.previous = StringField(j, "previous");
  s.health = ParseHostHealth(HealthField(j));
  if (const auto it = j.find("highest_generation"); it != j.end() && it->is_number_unsigned()) {
    s.highest_generation = it->get<std::uint64_t>();
  }
  if (const auto it = j.find("installed"); it != j.end() && it->is_array()) {
    for (const auto& v : *it) {
      if (v.is_string()) {
        s.installed.push_back(v.get<std::string>());
      } else if (v.is_object()) {
        s.installed.push_back(StringField(v, "version"));
      }
    }
  }
  return s;
}

AgentDriver::AgentDriver(AgentDriverConfig config, const core::Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

std::string AgentDriver::BaseUrl(const HostTarget& host) const {
  std::string url = host.agent_endpoint.empty()
                        ? "http://" + host.address + ":" + std::to_string(config_.default_port)
                        : host.agent_endpoint;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

namespace {

// The time left before the deadline, or nullopt when it has passed.
std::optional<std::chrono::milliseconds> Remaining(const core::Clock& clock, Deadline deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.Monotonic());
  if (left.count() <= 0) return std::nullopt;
  return left;
}

http::ClientRequest Request(const AgentDriverConfig& config, std::string method, std::string url,
                            std::chrono::milliseconds timeout) {
  http::ClientRequest req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.timeout = timeout;
  req.headers.emplace_back("Authorization", "Bearer " + config.token);
  req.headers.emplace_back("Accept", "application/json");
  req.ca_file = config.ca_file;
  req.client_cert_file = config.client_cert_file;
  req.client_key_file = config.client_key_file;
  req.max_response_bytes = 1 << 20;
  return req;
}

HostOutcome FromTransportError(const http::HttpError& e) {
  const std::string what = e.what();
  if (Contains(what, "timed out") || Contains(what, "timeout")) {
    return HostOutcome::Failure(OutcomeKind::kTimedOut, true, "timed_out", what);
  }
  if (e.IsRetryable()) {
    return HostOutcome::Failure(OutcomeKind::kUnreachable, true, "unreachable", what);
  }
  return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonTransport), what);
}

}  // namespace

HostOutcome AgentDriver::Post(const HostTarget& host, const std::string& path, const json& body,
                              std::string_view expected_version, Deadline deadline) {
  const auto left = Remaining(clock_, deadline);
  if (!left) {
    return HostOutcome::Failure(OutcomeKind::kTimedOut, true, std::string(kReasonDeadlinePassed),
                                "host " + host.host + ": deadline passed before the call");
  }
  auto req = Request(config_, "POST", BaseUrl(host) + path, *left);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body.dump();
  try {
    const auto res = http::Send(req);
    return AgentOutcome(res.status, res.body, expected_version);
  } catch (const http::HttpError& e) {
    return FromTransportError(e);
  }
}

HostOutcome AgentDriver::Deploy(const HostTarget& host, const ArtifactRef& artifact,
                                const CommandFence& fence, Deadline deadline) {
  return Post(host, "/v1/deploy", DeployBody(artifact, fence, config_.service), artifact.version,
              deadline);
}

HostOutcome AgentDriver::Revert(const HostTarget& host, std::string version,
                                const CommandFence& fence, Deadline deadline) {
  return Post(host, "/v1/revert", RevertBody(version, fence), version, deadline);
}

HostState AgentDriver::Status(const HostTarget& host, Deadline deadline) {
  const auto left = Remaining(clock_, deadline);
  if (!left) {
    HostState s;
    s.error = "host " + host.host + ": deadline passed before the call";
    return s;
  }
  try {
    const auto res = http::Send(Request(config_, "GET", BaseUrl(host) + "/v1/status", *left));
    return AgentStatus(res.status, res.body);
  } catch (const http::HttpError& e) {
    HostState s;
    s.error = e.what();
    return s;
  }
}

}  // namespace sluice::executor
