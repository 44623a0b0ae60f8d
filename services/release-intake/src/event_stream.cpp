#include "event_stream.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::release_intake {
namespace {

using nlohmann::json;

std::string Field(const json& d, const char* name) {
  const auto it = d.find(name);
  if (it == d.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string SummaryKey(const json& d) {
  return Field(d, "status") + "|" + Field(d, "phase") + "|" + Field(d, "current_batch") + "|" +
         Field(d, "generation");
}

json Summary(const json& d) {
  json s = json::object();
  for (const char* k : {"id", "status", "phase", "current_batch", "batch_count", "generation",
                        "pause_reason", "failure_reason"}) {
    if (d.contains(k)) s[k] = d[k];
  }
  return s;
}

}  // namespace

DeploymentStream ResumeAt(std::string_view last_event_id) {
  DeploymentStream s;
  std::size_t n = 0;
  const auto* end = last_event_id.data() + last_event_id.size();
  if (last_event_id.empty() || last_event_id.size() > 9 ||
      std::from_chars(last_event_id.data(), end, n).ptr != end) {
    return s;
  }
  s.started = true;
  s.timeline_seen = n;
  return s;
}

std::vector<SseEvent> NextEvents(DeploymentStream& stream, const json& deployment) {
  std::vector<SseEvent> out;
  if (stream.ended) return out;
  const json empty = json::array();
  const auto it = deployment.find("timeline");
  const json& timeline = it != deployment.end() && it->is_array() ? *it : empty;
  const std::string key = SummaryKey(deployment);
  if (!stream.started) {
    stream.started = true;
    stream.timeline_seen = timeline.size();
    out.push_back({"snapshot", deployment, timeline.size()});
  } else {
    // A timeline never shrinks; if it did (another deployment's stream resumed here), start over.
    stream.timeline_seen = std::min(stream.timeline_seen, timeline.size());
    const bool fresh = stream.timeline_seen < timeline.size();
    const json summary = Summary(deployment);
    for (std::size_t i = stream.timeline_seen; i < timeline.size(); ++i) {
      json data = timeline[i];
      for (const auto& [k, v] : summary.items()) data[k] = v;
      out.push_back({"transition", std::move(data), i + 1});
    }
    stream.timeline_seen = timeline.size();
    if (!fresh && key != stream.summary_key) out.push_back({"deployment", summary, {}});
  }
  stream.summary_key = key;
  const std::string status = Field(deployment, "status");
  if (IsFinished(status)) {
    stream.ended = true;
    out.push_back({"end", json{{"status", status}}, {}});
  }
  return out;
}

bool IsFinished(std::string_view status) {
  return status == "succeeded" || status == "failed" || status == "rolled_back" ||
         status == "aborted";
}

std::string FormatSse(const SseEvent& e) {
  std::string s;
  if (e.id) s += "id: " + std::to_string(*e.id) + "\n";
  s += "event: " + e.name + "\n";
  s += "data: " + e.data.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
  return s;
}

}  // namespace sluice::release_intake
