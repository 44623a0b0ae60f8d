// GET /v1/events?deployment=<id>: one deployment's changes as server-sent events
// (event_stream.hpp decides what to send). The stream reads the deployment from the
// rollout-planner every SLUICE_EVENTS_POLL and holds one of the HTTP server's workers while it
// is open, so at most SLUICE_EVENTS_MAX_STREAMS are open at once (503 too_many_streams beyond),
// and each closes after SLUICE_EVENTS_MAX_AGE (the browser's EventSource reconnects by itself,
// with Last-Event-ID, and misses nothing). The server gets one worker per allowed stream on top
// of its request workers (release_intake_app.cpp), so open streams never starve the API.
#include <chrono>
#include <regex>
#include <sluice/core/logging.hpp>
#include <sluice/http/errors.hpp>
#include <thread>

#include "event_stream.hpp"
#include "promotion_waits.hpp"
#include "release_intake_component.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::regex kDeploymentId("[A-Za-z0-9-]{1,64}");

// The open streams, counted down when the stream's state is destroyed (httplib drops the
// content provider when the connection ends).
struct StreamSlot {
  explicit StreamSlot(std::shared_ptr<std::atomic<int>> n) : open(std::move(n)) {}
  ~StreamSlot() { open->fetch_sub(1); }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;
  std::shared_ptr<std::atomic<int>> open;
};

struct StreamState {
  DeploymentStream stream;
  std::optional<json> first;  // the read made before the stream opened
  Clock::time_point closes_at;
  std::unique_ptr<StreamSlot> slot;
};

bool Write(httplib::DataSink& sink, const std::string& s) { return sink.write(s.data(), s.size()); }

}  // namespace

void ReleaseIntakeApi::RegisterEvents() {
  auto& s = deps_.server;
  s.Get("/v1/events", [this](const auto& req, auto& res) { StreamEvents(req, res); });
}

std::optional<json> ReleaseIntakeApi::ReadDeployment(const std::string& id, bool strict) {
  // Waiting for its deployment window: release-intake's own (promotion_waits.hpp).
  try {
    if (auto held = Db([&](pqxx::work& tx) { return HeldDeploymentJson(tx, id); })) return held;
  } catch (const std::exception&) {
    if (strict) throw;  // 503 before the stream opens; inside it, the planner's answer
  }
  const auto r = Upstream(options_.planner_url, UpstreamCall::Get("/v1/deployments/" + id));
  if (!r) {
    if (!strict) return std::nullopt;
    throw http::ApiException({503, "planner_unavailable",
                              "the rollout-planner cannot be reached; retry in a few seconds", ""});
  }
  if (r->status == 404 && strict) throw http::NotFound("no deployment with id " + id);
  if (r->status != 200) {
    if (!strict) return std::nullopt;
    throw http::ApiException(
        {502, "bad_upstream", "the rollout-planner answered " + std::to_string(r->status), ""});
  }
  try {
    return json::parse(r->body);
  } catch (const json::exception&) {
    if (!strict) return std::nullopt;
    throw http::ApiException({502, "bad_upstream", "the rollout-planner answered no JSON", ""});
  }
}

void ReleaseIntakeApi::StreamEvents(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.get_param_value("deployment");
  if (id.empty() || !std::regex_match(id, kDeploymentId)) {
    Authenticate(req, Role::kViewer);  // a caller without a token hears 401 first
  }
  if (id.empty()) {
    throw http::BadRequest("deployment", "name the deployment: /v1/events?deployment=<id>");
  }
  if (!std::regex_match(id, kDeploymentId)) {
    throw http::BadRequest("deployment", "deployment must be an id of 1-64 letters, digits or '-'");
  }
  AuthorizeRead(req, {"/console/deployments/" + id});
  const auto& o = options_.events;
  auto state = std::make_shared<StreamState>();
  if (streams_open_->fetch_add(1) >= o.max_streams) {
    streams_open_->fetch_sub(1);
    res.set_header("Retry-After", "5");
    throw http::ApiException({503, "too_many_streams",
                              "this server has " + std::to_string(o.max_streams) +
                                  " event streams open (SLUICE_EVENTS_MAX_STREAMS); retry later",
                              ""});
  }
  state->slot = std::make_unique<StreamSlot>(streams_open_);
  state->stream = ResumeAt(req.get_header_value("Last-Event-ID"));
  state->first = ReadDeployment(id, true);  // 404 / 503 before the stream opens
  state->closes_at = Clock::now() + o.max_age;
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");  // a proxy in front must not buffer the stream
  res.set_chunked_content_provider(
      "text/event-stream", [this, id, state](std::size_t, httplib::DataSink& sink) {
        const auto& opts = options_.events;
        std::optional<json> d;
        if (state->first) {
          d = std::move(state->first);
          state->first.reset();
          if (!Write(sink, "retry: 2000\n\n")) return false;
        } else {
          std::this_thread::sleep_for(opts.poll);
          d = ReadDeployment(id, false);
        }
        bool wrote = false;
        if (d) {
          for (const auto& e : NextEvents(state->stream, *d)) {
            if (!Write(sink, FormatSse(e))) return false;
            wrote = true;
          }
        }
        if (state->stream.ended || Clock::now() >= state->closes_at) {
          sink.done();
          return true;
        }
        // A comment on every quiet poll: a client that went away is noticed at the next write
        // (its worker is freed within two polls), and proxies see the stream alive.
        if (!wrote &&
            !Write(sink, d ? ":\n\n" : ": the rollout-planner is unreachable; retrying\n\n")) {
          return false;
        }
        return true;
      });
}

}  // namespace sluice::release_intake
