#pragma once

// The executor's events in: a BatchRequested or RevertRequested becomes a command row inside the
// consumer's transaction; the worker pool runs it later (the consumer never waits for a batch).

#include <pqxx/pqxx>
#include <sluice/events/envelope.hpp>
#include <string_view>

#include "command.hpp"
#include "executor_metrics.hpp"

namespace sluice::executor {

inline constexpr std::string_view kServiceName = "executor";

// What AcceptCommand did with an event.
enum class Intake { kAccepted, kDuplicate, kRefusedStale, kIgnored };
std::string_view ToString(Intake i);

// A BatchRequested or RevertRequested: the events the executor's consumer acts on.
bool IsCommand(const events::v1::Envelope& envelope);

// Inside the consumer's transaction (the inbox already holds the event id): a BatchRequested or
// RevertRequested becomes an accepted command unless its generation is lower than the highest
// the deployment has seen (then it is recorded as refused, reason stale_generation). Other
// payloads are ignored. `metrics` may be null.
Intake AcceptCommand(pqxx::work& tx, const events::v1::Envelope& envelope,
                     const CommandDefaults& defaults, ExecutorMetrics* metrics);

}  // namespace sluice::executor
