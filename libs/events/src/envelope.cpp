#include <google/protobuf/util/time_util.h>

#include <chrono>
#include <cstdint>
#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <stdexcept>

namespace sluice::events {
namespace {

using PC = v1::Envelope::PayloadCase;

const google::protobuf::FieldDescriptor* PayloadField(const v1::Envelope& e) {
  const auto* oneof = v1::Envelope::descriptor()->FindOneofByName("payload");
  return e.GetReflection()->GetOneofFieldDescriptor(e, oneof);
}

}  // namespace

const std::vector<std::string>& AllTopics() {
  static const std::vector<std::string> kAll = {
      std::string(kTopicReleases),   std::string(kTopicDeployments),
      std::string(kTopicExecutions), std::string(kTopicAnalyses),
      std::string(kTopicRollbacks),  std::string(kTopicNotifications),
      std::string(kTopicDeadLetter)};
  return kAll;
}

v1::Envelope NewEnvelope(std::string_view source, const core::Clock& clock) {
  v1::Envelope e;
  e.set_event_id(core::NewUuid());
  *e.mutable_occurred_at() =
      google::protobuf::util::TimeUtil::MillisecondsToTimestamp(core::ToUnixMillis(clock.Now()));
  e.set_source(std::string(source));
  const auto& trace = core::TraceScope::Current();
  e.set_trace_id(trace.empty() ? core::NewTraceId() : trace);
  e.set_schema_version(kSchemaVersion);
  return e;
}

std::string TypeName(const v1::Envelope& envelope) {
  const auto* field = PayloadField(envelope);
  if (field == nullptr) return "";
  return field->message_type()->full_name();
}

void Finalize(v1::Envelope& envelope) {
  auto name = TypeName(envelope);
  if (name.empty()) throw std::invalid_argument("envelope has no payload");
  envelope.set_type(std::move(name));
}

std::string_view TopicFor(const v1::Envelope& envelope) {
  switch (envelope.payload_case()) {
    case PC::kReleaseCreated:
    case PC::kDeploymentRequested:
    case PC::kOperatorCommand:
    case PC::kAppSpecApplied:
    case PC::kExternalAlertReceived:
      return kTopicReleases;
    case PC::kDeploymentPlanned:
    case PC::kBatchRequested:
    case PC::kAnalysisRequested:
    case PC::kDeploymentSucceeded:
    case PC::kDeploymentFailed:
    case PC::kDeploymentPaused:
    case PC::kDeploymentResumed:
      return kTopicDeployments;
    case PC::kInstanceUpdated:
    case PC::kBatchSucceeded:
    case PC::kBatchFailed:
    case PC::kRevertCompleted:
      return kTopicExecutions;
    case PC::kAnalysisPassed:
    case PC::kAnalysisFailed:
    case PC::kAlertRaised:
      return kTopicAnalyses;
    case PC::kRevertRequested:
    case PC::kRollbackStarted:
    case PC::kRollbackCompleted:
    case PC::kIncidentReported:
      return kTopicRollbacks;
    case PC::kNotificationDelivered:
    case PC::kNotificationFailed:
      return kTopicNotifications;
    case PC::PAYLOAD_NOT_SET:
      break;
  }
  throw std::invalid_argument("envelope has no payload");
}

std::string PartitionKey(const v1::Envelope& envelope) {
  if (!envelope.deployment_id().empty()) return envelope.deployment_id();
  if (!envelope.release_id().empty()) return envelope.release_id();
  return envelope.event_id();
}

namespace {

// Consumers turn occurred_at into a core::SystemTime (nanoseconds in 64 bits: about the years
// 1678-2262) and into milliseconds: a time outside, or nanos outside [0, 1e9), would overflow
// there, so the envelope is refused here, before any handler (found by fuzz/envelope).
std::optional<std::string> OccurredAtOutOfRange(const google::protobuf::Timestamp& at) {
  constexpr std::int64_t kMaxSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(core::SystemTime::duration::max()).count() -
      1;
  if (at.nanos() < 0 || at.nanos() > 999'999'999 || at.seconds() > kMaxSeconds ||
      at.seconds() < -kMaxSeconds) {
    return "envelope.occurred_at " + std::to_string(at.seconds()) + "s " +
           std::to_string(at.nanos()) + "ns is out of range (years 1678-2262)";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> Validate(const v1::Envelope& envelope) {
  if (envelope.event_id().empty()) return "envelope.event_id is empty";
  if (envelope.payload_case() == PC::PAYLOAD_NOT_SET) return "envelope has no payload";
  if (envelope.type() != TypeName(envelope)) {
    return "envelope.type '" + envelope.type() + "' does not match payload " + TypeName(envelope);
  }
  if (envelope.schema_version() != kSchemaVersion) {
    return "envelope.schema_version " + std::to_string(envelope.schema_version()) +
           " is not supported (expected 1)";
  }
  if (!envelope.has_occurred_at()) return "envelope.occurred_at is missing";
  if (auto bad = OccurredAtOutOfRange(envelope.occurred_at())) return bad;
  if (envelope.source().empty()) return "envelope.source is empty";
  return std::nullopt;
}

std::optional<v1::Envelope> Parse(std::string_view bytes, std::string* error) {
  v1::Envelope e;
  if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    if (error != nullptr) *error = "value is not a sluice.v1.Envelope (protobuf parse failed)";
    return std::nullopt;
  }
  return e;
}

std::vector<std::pair<std::string, std::string>> CloudEventHeaders(const v1::Envelope& envelope) {
  std::vector<std::pair<std::string, std::string>> h;
  h.reserve(8);
  h.emplace_back("ce_specversion", "1.0");
  h.emplace_back("ce_id", envelope.event_id());
  h.emplace_back("ce_type", envelope.type());
  h.emplace_back("ce_source", "/sluice/" + envelope.source());
  h.emplace_back(
      "ce_time",
      core::FormatRfc3339(core::FromUnixMillis(
          google::protobuf::util::TimeUtil::TimestampToMilliseconds(envelope.occurred_at()))));
  const auto key = PartitionKey(envelope);
  h.emplace_back("ce_subject", key);
  h.emplace_back("content-type", "application/protobuf");
  if (envelope.trace_id().size() == 32) {
    // W3C traceparent with a span id derived from the event id's first 16 hex digits.
    std::string span;
    for (char c : envelope.event_id()) {
      if (c != '-') span.push_back(c);
      if (span.size() == 16) break;
    }
    if (span.size() == 16) {
      h.emplace_back("traceparent", "00-" + envelope.trace_id() + "-" + span + "-01");
    }
  }
  return h;
}

}  // namespace sluice::events
