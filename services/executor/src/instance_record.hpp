#pragma once

// The executor's record of one host in one command (deploy batch or revert): the
// InstanceDeploymentRecord of the design, one row per (deployment, host, generation).

#include <cstdint>
#include <optional>
#include <sluice/core/ids.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>
#include <string_view>

#include "target_driver.hpp"

namespace sluice::executor {

// sluice.v1.InstanceStatus; its text (instance_deployments.status, the API) is events::Name.
using InstanceStatus = events::v1::InstanceStatus;
// Throws std::invalid_argument for anything but the events::Name spellings.
InstanceStatus ParseInstanceStatus(std::string_view s);
// Succeeded, failed and reverted: the host's part of the command is over.
bool IsTerminal(InstanceStatus s);

struct InstanceRecord {
  core::DeploymentId deployment_id;
  core::BatchIndex batch_index{0};
  std::string host;
  std::string ip;
  InstanceStatus status = events::v1::INSTANCE_STATUS_PENDING;
  std::optional<std::int64_t> deployed_at_ms;  // when the host reported success
  HostHealth health = HostHealth::kUnknown;
  std::string error_message;
  std::string version;  // the version this command asks for
  core::Generation generation{0};
  std::uint32_t attempts = 0;
  std::int64_t updated_at_ms = 0;
};

}  // namespace sluice::executor
