#pragma once

// How a host restarts its service and checks its health: the `service` block sent with an
// agent deploy. Plain values, shared by the command model and the agent driver.

#include <chrono>
#include <string>
#include <vector>

namespace sluice::executor {

struct AgentHealthSpec {
  std::string http_url;              // exactly one of http_url and command
  std::vector<std::string> command;  // argv, run without a shell
  std::chrono::milliseconds timeout{30'000};

  bool operator==(const AgentHealthSpec&) const = default;
};

struct AgentServiceSpec {
  std::vector<std::string> restart_command;  // argv, run without a shell
  std::chrono::milliseconds restart_timeout{60'000};
  AgentHealthSpec health;

  bool operator==(const AgentServiceSpec&) const = default;
};

}  // namespace sluice::executor
