#include "target_driver.hpp"

#include <stdexcept>

namespace sluice::executor {

std::string_view ToString(HostHealth h) {
  switch (h) {
    case HostHealth::kHealthy:
      return "healthy";
    case HostHealth::kUnhealthy:
      return "unhealthy";
    case HostHealth::kUnknown:
      break;
  }
  return "unknown";
}

HostHealth ParseHostHealth(std::string_view s) {
  if (s == "healthy") return HostHealth::kHealthy;
  if (s == "unhealthy") return HostHealth::kUnhealthy;
  return HostHealth::kUnknown;
}

std::string_view ToString(OutcomeKind k) {
  switch (k) {
    case OutcomeKind::kSucceeded:
      return "succeeded";
    case OutcomeKind::kFailed:
      return "failed";
    case OutcomeKind::kUnhealthy:
      return "unhealthy";
    case OutcomeKind::kStale:
      return "stale";
    case OutcomeKind::kUnreachable:
      return "unreachable";
    case OutcomeKind::kTimedOut:
      return "timed_out";
  }
  return "failed";
}

HostOutcome HostOutcome::Success(std::string version, HostHealth health) {
  HostOutcome o;
  o.kind = OutcomeKind::kSucceeded;
  o.version = std::move(version);
  o.health = health;
  return o;
}

HostOutcome HostOutcome::Failure(OutcomeKind kind, bool retryable, std::string reason,
                                 std::string message) {
  HostOutcome o;
  o.kind = kind;
  o.retryable = retryable;
  o.reason = std::move(reason);
  o.message = std::move(message);
  return o;
}

void DriverRegistry::Register(std::string type, Factory factory) {
  if (type.empty()) throw std::invalid_argument("driver type must not be empty");
  if (!factory) throw std::invalid_argument("driver " + type + ": factory is empty");
  std::lock_guard lock(mu_);
  if (factories_.contains(type)) {
    throw std::invalid_argument("driver " + type + " is already registered");
  }
  factories_.emplace(std::move(type), std::move(factory));
}

bool DriverRegistry::Has(std::string_view type) const {
  std::lock_guard lock(mu_);
  return factories_.find(type) != factories_.end();
}

std::vector<std::string> DriverRegistry::Types() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> types;
  for (const auto& [type, factory] : factories_) types.push_back(type);
  return types;
}

std::unique_ptr<TargetDriver> DriverRegistry::Create(std::string_view type) const {
  Factory factory;
  {
    std::lock_guard lock(mu_);
    const auto it = factories_.find(type);
    if (it == factories_.end()) {
      std::string known;
      for (const auto& [name, f] : factories_) known += (known.empty() ? "" : ", ") + name;
      throw std::invalid_argument("unknown driver type \"" + std::string(type) +
                                  "\"; known: " + (known.empty() ? "none" : known));
    }
    factory = it->second;
  }
  return factory();
}

TargetDriver* RoutingDriver::DriverFor(const std::string& type) {
  std::lock_guard lock(mu_);
  if (const auto it = drivers_.find(type); it != drivers_.end()) return it->second.get();
  if (!registry_.Has(type)) return nullptr;
  auto driver = registry_.Create(type);
  TargetDriver* raw = driver.get();
  drivers_.emplace(type, std::move(driver));
  return raw;
}

namespace {
HostOutcome UnknownDriver(const HostTarget& host) {
  return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonUnknownDriver),
                              "host " + host.host + ": no driver of type \"" + host.driver + "\"");
}
}  // namespace

HostOutcome RoutingDriver::Deploy(const HostTarget& host, const ArtifactRef& artifact,
                                  const CommandFence& fence, Deadline deadline) {
  TargetDriver* d = DriverFor(host.driver);
  return d ? d->Deploy(host, artifact, fence, deadline) : UnknownDriver(host);
}

HostOutcome RoutingDriver::Revert(const HostTarget& host, std::string version,
                                  const CommandFence& fence, Deadline deadline) {
  TargetDriver* d = DriverFor(host.driver);
  return d ? d->Revert(host, std::move(version), fence, deadline) : UnknownDriver(host);
}

HostState RoutingDriver::Status(const HostTarget& host, Deadline deadline) {
  TargetDriver* d = DriverFor(host.driver);
  if (d) return d->Status(host, deadline);
  HostState s;
  s.error = UnknownDriver(host).message;
  return s;
}

}  // namespace sluice::executor
