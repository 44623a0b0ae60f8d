#pragma once

// TargetDriver over sluice-agent's HTTP API, the contract of schemas/sluice/agent/v1/agent.proto
// (bodies built and read as its messages, libs/agentapi's wire JSON):
//   POST /v1/deploy  DeployRequest  → OperationReport
//   POST /v1/revert  RevertRequest  → OperationReport
//   GET  /v1/status                 → Status
// authenticated with `Authorization: Bearer <token>`. Errors come back as ErrorResponse
// {"error":{"code","message","field"}}; the code decides the outcome (AgentOutcome below).

#include <chrono>
#include <sluice/agentapi/wire.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "agent_service.hpp"
#include "target_driver.hpp"

namespace sluice::executor {

struct AgentDriverConfig {
  std::string token;  // sent as a bearer token; never logged
  AgentServiceSpec service;
  // Used when a host has no agent_endpoint: http://<address>:<default_port>.
  int default_port = 7070;
  // TLS to agents served over https: CA bundle, and client certificate and key for mTLS.
  std::string ca_file;
  std::string client_cert_file;
  std::string client_key_file;
};

// Agent error codes the executor keys on (the agent's kReason* constants).
inline constexpr std::string_view kAgentStaleGeneration =
    events::Name(events::v1::REASON_STALE_GENERATION);
inline constexpr std::string_view kAgentHealthCheckFailed =
    events::Name(events::v1::REASON_HEALTH_CHECK_FAILED);
// Outcome reasons of the driver itself.
inline constexpr std::string_view kReasonVersionMismatch =
    events::Name(events::v1::REASON_VERSION_MISMATCH);
inline constexpr std::string_view kReasonBadResponse =
    events::Name(events::v1::REASON_BAD_RESPONSE);
inline constexpr std::string_view kReasonTransport =
    events::Name(events::v1::REASON_TRANSPORT_ERROR);
inline constexpr std::string_view kReasonDeadlinePassed =
    events::Name(events::v1::REASON_DEADLINE_PASSED);

// The request bodies (pure, for tests and logs).
agentapi::v1::DeployRequest DeployBody(const ArtifactRef& artifact, const CommandFence& fence,
                                       const AgentServiceSpec& service);
agentapi::v1::RevertRequest RevertBody(std::string_view version, const CommandFence& fence);

// Maps an agent answer to an outcome. `expected_version` is the version the host must report
// as current after a 200.
HostOutcome AgentOutcome(long status, const std::string& body, std::string_view expected_version);
// Parses a GET /v1/status answer; reachable=false with the error when it is not one.
HostState AgentStatus(long status, const std::string& body);

class AgentDriver final : public TargetDriver {
 public:
  AgentDriver(AgentDriverConfig config, const core::Clock& clock);

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override;
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override;
  HostState Status(const HostTarget& host, Deadline deadline) override;

  // The agent's base URL for a host, without a trailing slash.
  std::string BaseUrl(const HostTarget& host) const;

 private:
  HostOutcome Post(const HostTarget& host, const std::string& path,
                   const google::protobuf::Message& body, std::string_view expected_version,
                   Deadline deadline);

  const AgentDriverConfig config_;
  const core::Clock& clock_;
};

}  // namespace sluice::executor
