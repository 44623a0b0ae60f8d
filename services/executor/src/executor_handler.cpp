#include "executor_handler.hpp"

#include <sluice/core/logging.hpp>

#include "command_repository.hpp"

namespace sluice::executor {

std::string_view ToString(Intake i) {
  switch (i) {
    case Intake::kAccepted:
      return "accepted";
    case Intake::kDuplicate:
      return "duplicate";
    case Intake::kRefusedStale:
      return "refused";
    case Intake::kIgnored:
      return "ignored";
  }
  return "ignored";
}

bool IsCommand(const events::v1::Envelope& envelope) {
  return envelope.has_batch_requested() || envelope.has_revert_requested();
}

Intake AcceptCommand(pqxx::work& tx, const events::v1::Envelope& envelope,
                     const CommandDefaults& defaults, ExecutorMetrics* metrics) {
  const auto log = core::Logger("intake");
  Command command;
  if (envelope.has_batch_requested()) {
    command = CommandFromBatchRequested(envelope.batch_requested(), envelope.event_id(), defaults);
  } else if (envelope.has_revert_requested()) {
    const auto& e = envelope.revert_requested();
    command = CommandFromRevertRequested(
        e, envelope.event_id(),
        CommandRepository::ListLive(tx, core::DeploymentId(e.deployment_id())), defaults);
  } else {
    return Intake::kIgnored;
  }
  if (command.deployment_id.Value().empty()) {
    log->warn("{} {} names no deployment: ignored", envelope.type(), envelope.event_id());
    return Intake::kIgnored;
  }
  const auto op = command.operation;
  const auto highest = CommandRepository::LockHighestGeneration(tx, command.deployment_id);
  if (Fence(highest, command.generation.Value()) == FenceDecision::kRefuseStale) {
    CommandRepository::InsertRefused(tx, command, std::string(kRefusedStaleGeneration));
    log->warn(
        "refused {} of deployment {} batch {} generation {} (event {}): stale_generation, the "
        "deployment is at generation {}",
        ToString(op), command.deployment_id.Value(), command.batch_index.Value(),
        command.generation.Value(), command.event_id, *highest);
    if (metrics != nullptr) metrics->Command(op, "refused");
    return Intake::kRefusedStale;
  }
  const auto id = CommandRepository::InsertAccepted(tx, command);
  if (!id) {
    log->info("{} of deployment {} batch {} generation {} is already accepted (event {})",
              ToString(op), command.deployment_id.Value(), command.batch_index.Value(),
              command.generation.Value(), command.event_id);
    if (metrics != nullptr) metrics->Command(op, "duplicate");
    return Intake::kDuplicate;
  }
  CommandRepository::RaiseGeneration(tx, command.deployment_id, command.generation.Value());
  log->info("accepted {} {} of deployment {} batch {} generation {}: {} host(s), version {}",
            ToString(op), *id, command.deployment_id.Value(), command.batch_index.Value(),
            command.generation.Value(), command.targets.size() + command.unresolved.size(),
            command.artifact.version);
  if (metrics != nullptr) metrics->Command(op, "accepted");
  return Intake::kAccepted;
}

}  // namespace sluice::executor
