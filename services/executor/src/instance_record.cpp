#include "instance_record.hpp"

#include <stdexcept>

namespace sluice::executor {

InstanceStatus ParseInstanceStatus(std::string_view s) {
  const auto status = events::ParseInstanceStatus(s);
  if (status == events::v1::INSTANCE_STATUS_UNSPECIFIED) {
    throw std::invalid_argument("unknown instance status \"" + std::string(s) + "\"");
  }
  return status;
}

bool IsTerminal(InstanceStatus s) {
  return s == events::v1::INSTANCE_STATUS_SUCCEEDED || s == events::v1::INSTANCE_STATUS_FAILED ||
         s == events::v1::INSTANCE_STATUS_REVERTED;
}

}  // namespace sluice::executor
