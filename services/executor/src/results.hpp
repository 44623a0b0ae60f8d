#pragma once

// What a command's progress and result become: InstanceDeploymentRecords, the
// InstanceDeploymentUpdated event of each, and the command's closing event (BatchSucceeded,
// BatchFailed or RevertCompleted). Pure: the time is an argument.

#include <cstdint>
#include <optional>
#include <sluice/events/envelope.hpp>
#include <string>
#include <string_view>

#include "batch_runner.hpp"
#include "command.hpp"
#include "instance_record.hpp"

namespace sluice::executor {

// executor_commands.result once done.
inline constexpr std::string_view kResultSucceeded = "succeeded";
inline constexpr std::string_view kResultFailed = "failed";
inline constexpr std::string_view kResultCancelled = "cancelled";
inline constexpr std::string_view kResultStale = "stale";

// The batch index a host's record carries: its earlier batch for a revert, else the command's.
std::uint32_t BatchIndexFor(const Command& command, const std::string& host);

// The record while a driver call is in flight: deploying / reverting, `attempt` calls so far.
InstanceRecord StartedRecord(const Command& command, const HostTarget& host, std::uint32_t attempt,
                             std::int64_t now_ms);
// The record of a finished host: succeeded / reverted, or failed with "<reason>: <message>".
InstanceRecord ResultRecord(const Command& command, const HostResult& result, std::int64_t now_ms);
// The failed record of a host the command could not resolve.
InstanceRecord UnresolvedRecord(const Command& command, const UnresolvedHost& host,
                                std::int64_t now_ms);

// InstanceDeploymentUpdated for a record.
events::v1::InstanceDeploymentUpdated InstanceUpdate(const InstanceRecord& record);

// How the command ends (executor_commands.result and .reason).
struct Completion {
  std::string result;  // kResult*
  std::string reason;  // empty when succeeded
};
Completion CompletionOf(const BatchResult& result, bool has_unresolved);

// Sets the closing event's payload on `envelope` (deployment id, correlation): BatchSucceeded
// {hosts: the targets, then the instances (pods) the succeeded ones reported} or BatchFailed
// {failed_hosts, reason} for a deploy; RevertCompleted {reverted_hosts, failed_hosts (unresolved
// and not started included), target_version, rollback_id} for a revert. Returns false (nothing to
// publish) when the command was cancelled by a newer generation: whoever issued that one no longer
// waits for this result.
bool FillClosingEvent(const Command& command, const BatchResult& result,
                      events::v1::Envelope& envelope);

}  // namespace sluice::executor
