#pragma once

#include <sluice/v1/envelope.pb.h>

#include <optional>
#include <sluice/core/clock.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::events {

namespace v1 = ::sluice::v1;

inline constexpr std::string_view kTopicReleases = "sluice.releases.v1";
inline constexpr std::string_view kTopicDeployments = "sluice.deployments.v1";
inline constexpr std::string_view kTopicExecutions = "sluice.executions.v1";
inline constexpr std::string_view kTopicAnalyses = "sluice.analyses.v1";
inline constexpr std::string_view kTopicRollbacks = "sluice.rollbacks.v1";
inline constexpr std::string_view kTopicNotifications = "sluice.notifications.v1";
inline constexpr std::string_view kTopicDeadLetter = "sluice.deadletter.v1";
inline constexpr std::uint32_t kSchemaVersion = 1;

// All event topics (not the dead-letter topic), for topic creation at start-up.
const std::vector<std::string>& AllTopics();

// A new envelope: fresh event id, occurred_at = clock.Now(), the thread's trace id (or a new
// one), schema version 1. The caller sets the payload and correlation ids, then Finalize().
v1::Envelope NewEnvelope(std::string_view source, const core::Clock& clock);

// Sets `type` from the payload ("sluice.v1.ReleaseCreated"). Throws std::invalid_argument when
// no payload is set.
void Finalize(v1::Envelope& envelope);

// "sluice.v1.ReleaseCreated" for the payload that is set, "" when none is.
std::string TypeName(const v1::Envelope& envelope);

// The topic an event belongs on, by payload.
std::string_view TopicFor(const v1::Envelope& envelope);

// The record key: the deployment id, else the release id, else the event id.
std::string PartitionKey(const v1::Envelope& envelope);

// Why an envelope cannot be processed, or nullopt when it is well-formed: no event id, no
// payload, type not matching the payload, unknown schema version, no occurred_at.
std::optional<std::string> Validate(const v1::Envelope& envelope);

// Parses a Kafka record value. Returns nullopt (and sets *error) when it is not an Envelope.
std::optional<v1::Envelope> Parse(std::string_view bytes, std::string* error);

// CloudEvents Kafka binary binding headers for the envelope: ce_specversion, ce_id, ce_type,
// ce_source, ce_time, ce_subject, content-type, and traceparent.
std::vector<std::pair<std::string, std::string>> CloudEventHeaders(const v1::Envelope& envelope);

}  // namespace sluice::events
