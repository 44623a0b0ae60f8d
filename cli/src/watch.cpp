#include "watch.hpp"

#include <iostream>
#include <optional>
#include <sluice/http/stream.hpp>
#include <thread>

#include "render.hpp"
#include "sse.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// How long a just-requested deployment may take to reach the rollout-planner.
constexpr auto kPlannerPickUp = std::chrono::seconds(60);
// One stream's longest life here; the server usually closes it first.
constexpr auto kStreamTimeout = std::chrono::minutes(10);

int TimedOut(const std::string& id) {
  std::cerr << "watch: no final status within the timeout; 'sluice deployment get " << id
            << "' shows where it is, 'sluice deployment watch " << id << "' follows it again\n";
  return 1;
}

// Prints what changed in `view` since `last`.
void ShowView(const WatchView& view, WatchView& last, bool with_batch) {
  if (view.status_line != last.status_line) std::cout << view.status_line << std::endl;
  last.status_line = view.status_line;
  if (!with_batch) return;
  if (!view.batch_line.empty() && view.batch_line != last.batch_line) {
    std::cout << view.batch_line << std::endl;
  }
  last.batch_line = view.batch_line;
}

// One event of the stream, printed; the exit code once the deployment finished.
std::optional<int> ShowEvent(const SseMessage& m, WatchView& last) {
  const json d = json::parse(m.data, nullptr, false);
  if (d.is_discarded() || !d.is_object()) return std::nullopt;
  if (m.event == "snapshot") {
    ShowView(DescribeDeployment(d), last, true);
  } else if (m.event == "transition") {
    std::cout << "  " << TransitionLine(d) << std::endl;
    ShowView(DescribeDeployment(d), last, false);  // the summary: no batches
  } else if (m.event == "deployment") {
    ShowView(DescribeDeployment(d), last, false);
  } else if (m.event == "end") {
    return ExitCodeFor(d.value("status", ""));
  }
  return std::nullopt;
}

// The old way: GET /v1/deployments/{id} every second, printing what changed.
int WatchByPolling(const Global& g, const std::string& id, Clock::time_point deadline) {
  const auto start = Clock::now();
  WatchView last;
  std::string last_problem;
  for (;;) {
    std::string problem;
    try {
      const auto a = Request(g, "GET", "/v1/deployments/" + Enc(id));
      if (a.status == 200 && a.body.is_object()) {
        ShowView(DescribeDeployment(a.body), last, true);
        const std::string status = a.body.value("status", "");
        if (IsFinalStatus(status)) return ExitCodeFor(status);
      } else if (a.status == 404) {
        if (Clock::now() - start > kPlannerPickUp) return PrintError(g, a);
        problem = "waiting for the rollout-planner to pick up deployment " + id;
      } else if (a.status == 401 || a.status == 403) {
        return PrintError(g, a);
      } else {
        problem = "the API answered " + std::to_string(a.status) + "; retrying";
      }
    } catch (const sluice::http::HttpError& e) {
      problem = std::string("the API cannot be reached (") + e.what() + "); retrying";
    }
    if (!problem.empty() && problem != last_problem) std::cerr << problem << std::endl;
    last_problem = problem;
    if (Clock::now() >= deadline) return TimedOut(id);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// What one opening of the stream came to.
struct Round {
  std::optional<int> exit_code;  // the deployment finished, or an error to exit with
  bool fall_back = false;        // this server cannot stream it: poll instead
  bool got_events = false;
  std::string problem;  // said once on stderr while it lasts
};

sluice::http::ClientRequest StreamRequest(const Global& g, const std::string& id,
                                          const SseParser& parser, Clock::time_point deadline) {
  sluice::http::ClientRequest req;
  req.url = g.api + "/v1/events" + Query("deployment", id);
  req.headers = {{"Authorization", "Bearer " + Token(g)}, {"Accept", "text/event-stream"}};
  if (parser.LastEventId()) req.headers.emplace_back("Last-Event-ID", *parser.LastEventId());
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  req.timeout = std::max(std::chrono::milliseconds(1),
                         std::min<std::chrono::milliseconds>(left, kStreamTimeout));
  return req;
}

// A refusal of the stream: wait (a deployment not at the planner yet), fall back or exit.
void Refused(const Global& g, const std::string& id, const sluice::http::ClientResponse& r,
             Clock::time_point start, Round& round) {
  if (r.status == 401 || r.status == 403) {
    round.exit_code = PrintError(g, r.status, json::parse(r.body, nullptr, false), r.body);
  } else if (r.status == 404) {
    // No such deployment yet, or a server without event streams.
    const auto a = Request(g, "GET", "/v1/deployments/" + Enc(id));
    if (a.status == 200) {
      round.fall_back = true;
    } else if (Clock::now() - start > kPlannerPickUp) {
      round.exit_code = PrintError(g, a);
    } else {
      round.problem = "waiting for the rollout-planner to pick up deployment " + id;
    }
  } else {
    round.fall_back = true;  // 503 too_many_streams, and anything this version does not know
  }
}

Round StreamOnce(const Global& g, const std::string& id, SseParser& parser, WatchView& last,
                 Clock::time_point start, Clock::time_point deadline) {
  Round round;
  try {
    const auto r = sluice::http::SendStreaming(
        StreamRequest(g, id, parser, deadline), [&](std::string_view chunk) {
          return parser.Feed(chunk, [&](const SseMessage& m) {
            round.got_events = true;
            round.exit_code = ShowEvent(m, last);
            return !round.exit_code;
          });
        });
    if (r.status != 200) Refused(g, id, r, start, round);
  } catch (const sluice::http::HttpError& e) {
    // A stream that gave events and then timed out or broke is simply opened again.
    if (!round.got_events) {
      round.problem = std::string("the API cannot be reached (") + e.what() + "); retrying";
    }
  }
  return round;
}

}  // namespace

int Watch(const Global& g, const std::string& id, std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  const auto deadline = timeout.count() > 0 ? start + timeout : Clock::time_point::max();
  SseParser parser;
  WatchView last;
  std::string last_problem;
  for (;;) {
    const Round round = StreamOnce(g, id, parser, last, start, deadline);
    if (round.exit_code) return *round.exit_code;
    if (round.fall_back) return WatchByPolling(g, id, deadline);
    if (!round.problem.empty() && round.problem != last_problem) {
      std::cerr << round.problem << std::endl;
    }
    last_problem = round.problem;
    if (Clock::now() >= deadline) return TimedOut(id);
    // Closed by the server (SLUICE_EVENTS_MAX_AGE) after events: again at once; else in a second.
    if (!round.got_events) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace sluice::cli
