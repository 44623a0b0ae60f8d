#include "results.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>

namespace sluice::executor {
namespace {

events::v1::HealthStatus ProtoHealth(HostHealth h) {
  switch (h) {
    case HostHealth::kHealthy:
      return events::v1::HEALTH_STATUS_HEALTHY;
    case HostHealth::kUnhealthy:
      return events::v1::HEALTH_STATUS_UNHEALTHY;
    case HostHealth::kUnknown:
      return events::v1::HEALTH_STATUS_UNKNOWN;
  }
  return events::v1::HEALTH_STATUS_UNKNOWN;
}

InstanceRecord BaseRecord(const Command& command, const std::string& host, const std::string& ip,
                          std::int64_t now_ms) {
  InstanceRecord r;
  r.deployment_id = command.deployment_id;
  r.batch_index = core::BatchIndex(BatchIndexFor(command, host));
  r.host = host;
  r.ip = ip;
  r.version = command.artifact.version;
  r.generation = command.generation;
  r.updated_at_ms = now_ms;
  return r;
}

// The reason shared by every failed host, or the generic one when they differ.
std::string FailureReason(const BatchResult& result) {
  std::string common;
  for (const auto& r : result.results) {
    if (r.outcome.Succeeded()) continue;
    const std::string reason =
        r.outcome.reason.empty() ? std::string(ToString(r.outcome.kind)) : r.outcome.reason;
    if (common.empty()) {
      common = reason;
    } else if (common != reason) {
      return std::string(kReasonHostFailures);
    }
  }
  return common.empty() ? std::string(kReasonHostFailures) : common;
}

}  // namespace

std::uint32_t BatchIndexFor(const Command& command, const std::string& host) {
  const auto it = command.host_batches.find(host);
  return it != command.host_batches.end() ? it->second : command.batch_index.Value();
}

InstanceRecord StartedRecord(const Command& command, const HostTarget& host, std::uint32_t attempt,
                             std::int64_t now_ms) {
  InstanceRecord r = BaseRecord(command, host.host, host.address, now_ms);
  r.status = command.operation == BatchOperation::kRevert ? events::v1::INSTANCE_STATUS_REVERTING
                                                          : events::v1::INSTANCE_STATUS_DEPLOYING;
  r.attempts = attempt;
  return r;
}

InstanceRecord ResultRecord(const Command& command, const HostResult& result, std::int64_t now_ms) {
  InstanceRecord r = BaseRecord(command, result.host.host, result.host.address, now_ms);
  r.attempts = result.attempts;
  r.health = result.outcome.health;
  if (result.outcome.Succeeded()) {
    r.status = command.operation == BatchOperation::kRevert ? events::v1::INSTANCE_STATUS_REVERTED
                                                            : events::v1::INSTANCE_STATUS_SUCCEEDED;
    r.deployed_at_ms = core::ToUnixMillis(result.finished_at);
  } else {
    r.status = events::v1::INSTANCE_STATUS_FAILED;
    const std::string reason = result.outcome.reason.empty()
                                   ? std::string(ToString(result.outcome.kind))
                                   : result.outcome.reason;
    r.error_message =
        result.outcome.message.empty() ? reason : reason + ": " + result.outcome.message;
  }
  return r;
}

InstanceRecord UnresolvedRecord(const Command& command, const UnresolvedHost& host,
                                std::int64_t now_ms) {
  InstanceRecord r = BaseRecord(command, host.host, "", now_ms);
  r.status = events::v1::INSTANCE_STATUS_FAILED;
  r.error_message = host.reason + ": " + host.message;
  return r;
}

events::v1::InstanceDeploymentUpdated InstanceUpdate(const InstanceRecord& record) {
  events::v1::InstanceDeploymentUpdated u;
  u.set_deployment_id(record.deployment_id.Value());
  u.set_batch_index(record.batch_index.Value());
  u.set_host(record.host);
  u.set_ip(record.ip);
  u.set_status(record.status);
  if (record.deployed_at_ms) {
    *u.mutable_deployed_at() =
        google::protobuf::util::TimeUtil::MillisecondsToTimestamp(*record.deployed_at_ms);
  }
  u.set_health_status(ProtoHealth(record.health));
  u.set_error_message(record.error_message);
  u.set_version(record.version);
  return u;
}

Completion CompletionOf(const BatchResult& result, bool has_unresolved) {
  switch (result.status) {
    case BatchStatus::kCancelled:
      return {std::string(kResultCancelled), std::string(kReasonCancelled)};
    case BatchStatus::kStale:
      return {std::string(kResultStale), std::string(kReasonStaleGeneration)};
    case BatchStatus::kFailed:
      return {std::string(kResultFailed), FailureReason(result)};
    case BatchStatus::kSucceeded:
      break;
  }
  if (has_unresolved || !result.failed_hosts.empty() || !result.not_started_hosts.empty()) {
    return {std::string(kResultFailed), FailureReason(result)};
  }
  return {std::string(kResultSucceeded), ""};
}

bool FillClosingEvent(const Command& command, const BatchResult& result,
                      events::v1::Envelope& envelope) {
  if (result.status == BatchStatus::kCancelled) return false;
  envelope.set_deployment_id(command.deployment_id.Value());
  const auto generation = command.generation.Value();
  if (command.operation == BatchOperation::kRevert) {
    auto* p = envelope.mutable_revert_completed();
    p->set_rollback_id(command.rollback_id);
    p->set_deployment_id(command.deployment_id.Value());
    p->set_generation(generation);
    p->set_target_version(command.artifact.version);
    for (const auto& h : result.succeeded_hosts) p->add_reverted_hosts(h);
    for (const auto& h : result.failed_hosts) p->add_failed_hosts(h);
    for (const auto& h : result.not_started_hosts) p->add_failed_hosts(h);
    for (const auto& h : command.unresolved) p->add_failed_hosts(h.host);
    return true;
  }
  const Completion c = CompletionOf(result, !command.unresolved.empty());
  if (c.result == kResultSucceeded) {
    auto* p = envelope.mutable_batch_succeeded();
    p->set_deployment_id(command.deployment_id.Value());
    p->set_batch_index(command.batch_index.Value());
    p->set_generation(generation);
    for (const auto& h : result.succeeded_hosts) p->add_hosts(h);
    // A Kubernetes target's pods of the release, after the targets: what analysis selects.
    // The batch switched when its last host did (a resumed host's recorded success counts).
    std::optional<core::SystemTime> switched;
    for (const auto& r : result.results) {
      if (!r.outcome.Succeeded()) continue;
      for (const auto& pod : r.outcome.instances) p->add_hosts(pod);
      for (const auto& pod : r.outcome.baseline_instances) p->add_baseline_hosts(pod);
      if (!switched || r.finished_at > *switched) switched = r.finished_at;
    }
    if (switched) {
      *p->mutable_switched_at() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(core::ToUnixMillis(*switched));
    }
    return true;
  }
  auto* p = envelope.mutable_batch_failed();
  p->set_deployment_id(command.deployment_id.Value());
  p->set_batch_index(command.batch_index.Value());
  p->set_generation(generation);
  for (const auto& h : result.failed_hosts) p->add_failed_hosts(h);
  for (const auto& h : command.unresolved) p->add_failed_hosts(h.host);
  // A Kubernetes target's pods that did not become Ready, after the targets (as BatchSucceeded
  // lists the pods of the release), and one by one with why.
  for (const auto& r : result.results) {
    if (r.outcome.Succeeded()) continue;
    for (const auto& pod : r.outcome.pods_not_ready) {
      p->add_failed_hosts(pod.name);
      auto* q = p->add_pods_not_ready();
      q->set_target(r.host.host);
      q->set_name(pod.name);
      q->set_phase(pod.phase);
      q->set_reason(pod.reason);
      q->set_detail(pod.detail);
    }
  }
  events::SetReason(*p, c.reason);
  return true;
}

}  // namespace sluice::executor
