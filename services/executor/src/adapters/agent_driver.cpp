#include "adapters/agent_driver.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <sluice/core/strict_json.hpp>
#include <sluice/http/client.hpp>

namespace sluice::executor {
namespace {

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

namespace v1 = agentapi::v1;

// An agent's answer: first held to the same bounds as a request (depth, duplicate keys, NUL),
// since the executor stores parts of it, then read as the contract's message.
template <typename M>
std::optional<M> ParseAnswer(const std::string& body) {
  try {
    if (!core::ParseStrictJson(body).is_object()) return std::nullopt;
  } catch (const core::JsonInputError&) {
    return std::nullopt;
  }
  M m;
  if (agentapi::FromWireJson(body, m)) return std::nullopt;
  return m;
}

// The agent reports "health_status"; older answers (and the test fakes) say "health".
std::string HealthField(const v1::Status& s) {
  return s.health_status().empty() ? s.health() : s.health_status();
}

google::protobuf::Value Millis(std::chrono::milliseconds d) {
  google::protobuf::Value v;
  v.set_string_value(std::to_string(d.count()) + "ms");
  return v;
}

}  // namespace

v1::DeployRequest DeployBody(const ArtifactRef& artifact, const CommandFence& fence,
                             const AgentServiceSpec& service) {
  v1::DeployRequest r;
  r.set_version(artifact.version);
  r.set_artifact_url(artifact.url);
  r.set_sha256(artifact.sha256);
  r.set_deployment_id(fence.deployment_id);
  r.set_generation(fence.generation.Value());
  auto& svc = *r.mutable_service();
  svc.mutable_restart_command()->Add(service.restart_command.begin(),
                                     service.restart_command.end());
  *svc.mutable_restart_timeout() = Millis(service.restart_timeout);
  auto& health = *svc.mutable_health();
  if (!service.health.http_url.empty()) health.set_http_url(service.health.http_url);
  health.mutable_command()->Add(service.health.command.begin(), service.health.command.end());
  *health.mutable_timeout() = Millis(service.health.timeout);
  return r;
}

v1::RevertRequest RevertBody(std::string_view version, const CommandFence& fence) {
  v1::RevertRequest r;
  r.set_version(std::string(version));
  r.set_deployment_id(fence.deployment_id);
  r.set_generation(fence.generation.Value());
  return r;
}

namespace {

HostOutcome ReportOutcome(const v1::OperationReport& report, std::string_view expected_version) {
  // sluice-agent answers {"result", "operation", "status": {current, health_status, ...}}; a flat
  // {current, health} is accepted too (read as a Status by the caller).
  const v1::Status& state = report.status();
  const std::string& current = state.current();
  const HostHealth health = ParseHostHealth(HealthField(state));
  if (report.result() == "failed") {
    // Switched, but the restart or the health check failed: the agent does not revert.
    std::string reason = report.operation().reason();
    const std::string& message = report.operation().message();
    if (reason.empty()) reason = std::string(kAgentHealthCheckFailed);
    auto o = HostOutcome::Failure(
        reason == kAgentHealthCheckFailed ? OutcomeKind::kUnhealthy : OutcomeKind::kFailed, false,
        reason, "version " + current + " is current but " + (message.empty() ? reason : message));
    o.version = current;
    o.health = health == HostHealth::kUnknown ? HostHealth::kUnhealthy : health;
    return o;
  }
  if (current != expected_version) {
    auto o = HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonVersionMismatch),
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

}  // namespace

HostOutcome AgentOutcome(long status, const std::string& body, std::string_view expected_version) {
  if (status == 200) {
    auto report = ParseAnswer<v1::OperationReport>(body);
    if (report && !report->has_status()) {
      auto flat = ParseAnswer<v1::Status>(body);
      if (flat) *report->mutable_status() = std::move(*flat);
    }
    if (!report) {
      return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonBadResponse),
                                  "agent answered 200 with a body that is not an agent report");
    }
    return ReportOutcome(*report, expected_version);
  }

  std::string code;
  std::string message;
  if (const auto parsed = ParseAnswer<v1::ErrorResponse>(body)) {
    code = parsed->error().code();
    message = parsed->error().message();
    if (const std::string& field = parsed->error().field(); !field.empty()) {
      message += " (field " + field + ")";
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
  const auto parsed = status == 200 ? ParseAnswer<v1::Status>(body) : std::nullopt;
  if (!parsed) {
    s.error = "agent status answered " + std::to_string(status) +
              (status == 200 ? " with a body that is not an agent status" : "");
    return s;
  }
  s.reachable = true;
  s.current = parsed->current();
  s.previous = parsed->previous();
  s.health = ParseHostHealth(HealthField(*parsed));
  s.highest_generation = parsed->highest_generation();
  for (const auto& v : parsed->installed()) s.installed.push_back(v.version());
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

HostOutcome AgentDriver::Post(const HostTarget& host, const std::string& path,
                              const google::protobuf::Message& body,
                              std::string_view expected_version, Deadline deadline) {
  const auto left = Remaining(clock_, deadline);
  if (!left) {
    return HostOutcome::Failure(OutcomeKind::kTimedOut, true, std::string(kReasonDeadlinePassed),
                                "host " + host.host + ": deadline passed before the call");
  }
  auto req = Request(config_, "POST", BaseUrl(host) + path, *left);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = agentapi::ToWireJson(body);
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
