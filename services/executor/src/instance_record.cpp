#include "instance_record.hpp"

#include <stdexcept>

namespace sluice::executor {

std::string_view ToString(InstanceStatus s) {
  switch (s) {
    case InstanceStatus::kPending:
      return "pending";
    case InstanceStatus::kDeploying:
      return "deploying";
    case InstanceStatus::kSucceeded:
      return "succeeded";
    case InstanceStatus::kFailed:
      return "failed";
    case InstanceStatus::kReverting:
      return "reverting";
    case InstanceStatus::kReverted:
      return "reverted";
  }
  return "pending";
}

InstanceStatus ParseInstanceStatus(std::string_view s) {
  for (auto v : {InstanceStatus::kPending, InstanceStatus::kDeploying, InstanceStatus::kSucceeded,
                 InstanceStatus::kFailed, InstanceStatus::kReverting, InstanceStatus::kReverted}) {
    if (ToString(v) == s) return v;
  }
  throw std::invalid_argument("unknown instance status \"" + std::string(s) + "\"");
}

bool IsTerminal(InstanceStatus s) {
  return s == InstanceStatus::kSucceeded || s == InstanceStatus::kFailed ||
         s == InstanceStatus::kReverted;
}

}  // namespace sluice::executor
