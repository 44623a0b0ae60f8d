#pragma once

// GET /v1/events?deployment=<id>: a deployment's changes as server-sent events, computed from
// successive reads of the deployment (the rollout-planner's view: summary, batches, timeline).
// Pure: the stream handler polls and writes; this decides what to send.
//
//   event: snapshot    data: the whole deployment          id: <timeline length>   (first)
//   event: transition  data: one timeline entry + status, phase, current_batch, generation
//                      id: its 1-based index in the timeline (Last-Event-ID resumes after it)
//   event: deployment  data: the summary, when it changed without a new timeline entry
//   event: end         data: {"status": ...}: the deployment is finished; the stream closes
//
// Each `data:` line is one line of compact JSON (JSON text has no raw newlines).

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::release_intake {

struct SseEvent {
  std::string name;
  nlohmann::json data;
  std::optional<std::size_t> id;
};

struct DeploymentStream {
  bool started = false;
  std::size_t timeline_seen = 0;
  std::string summary_key;  // status|phase|current_batch|generation last sent
  bool ended = false;
};

// A stream resumed with Last-Event-ID: n (a timeline index this stream sent) starts after the
// n-th transition, without a snapshot. nullopt: a fresh stream. Anything but digits: fresh.
DeploymentStream ResumeAt(std::string_view last_event_id);

// The events to send for this read of the deployment, and the stream advanced past them.
std::vector<SseEvent> NextEvents(DeploymentStream& stream, const nlohmann::json& deployment);

// succeeded, failed, rolled_back, aborted (a failed deployment the rollback-agent will revert
// is rolling_back until then).
bool IsFinished(std::string_view status);

// The wire form: "id: 3\nevent: transition\ndata: {...}\n\n".
std::string FormatSse(const SseEvent& e);

}  // namespace sluice::release_intake
