#pragma once

// How the sluice CLI shows API answers: pure functions from JSON to lines of text, so that
// what a person reads is unit-tested.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::cli {

// The `app:` of a delivery spec's top level ("" when there is none), read without a YAML
// parser so that a spec with a syntax error still names its app.
std::string SpecAppName(std::string_view yaml);

// A spec error as a compiler shows one: the API's message with the app's "<app>.yaml" replaced
// by `file`, then the offending line of `text` and a caret under the column (when known).
//   spec.yaml:12:19: environments.production.strategy.steps[2].weight: must be 1%..100%, got 250%
//      12 |         - weight: 250%
//         |                   ^
std::vector<std::string> RenderSpecError(const nlohmann::json& error, std::string_view app,
                                         std::string_view file, std::string_view text);

// "pause 2m", "pause until resumed", "approval".
std::string RenderGate(const nlohmann::json& gate);

// A dry run, one line per batch, columns aligned:
//   batch 1    5%  1 host   web-1                       (gates: none)
//   batch 2   25%  1 host   web-2                       (gates: pause 2m) + analysis
std::vector<std::string> RenderPlan(const nlohmann::json& plan);

// The inventory host groups of a dry run or a deployment request's answer, one line each, then
// one per group whose hosts changed since the previous request:
//   inventory web: url https://cmdb.example/inv, group web, 3 hosts
//     gone since the last deployment: web-2; new: web-4
std::vector<std::string> RenderInventories(const nlohmann::json& answer);

// Deployment statuses after which nothing more happens.
bool IsFinalStatus(std::string_view status);
// The exit code of `watch` / `deploy --wait` for a final status: 0 succeeded, 2 otherwise.
int ExitCodeFor(std::string_view status);

// What `watch` shows of a deployment: a status line and the line of the batch in progress
// ("batch 2/3 25% running: web-2, web-4"); `watch` prints each again when it changes.
struct WatchView {
  std::string status_line;
  std::string batch_line;  // empty before the first batch starts
};
WatchView DescribeDeployment(const nlohmann::json& deployment);

// One timeline entry of a deployment (a `transition` of GET /v1/events) as `deployment watch`
// prints it as it happens:
//   09:40:01  batch_completed: batch 1 of 3 succeeded (by planner)
//   09:40:07  resume: (by alice) ignored: not paused
std::string TransitionLine(const nlohmann::json& entry);

// A deployment as `deployment get` (and its --watch) shows it: the status line, one line per
// batch (weight, state, hosts, gates still closed, analysis), then the command to type next:
//   deployment d-1 paused (canary): approval required
//   shop 1.2.3 -> production, generation 2
//   batch 1    5%  succeeded  web-1
//   batch 2   25%  waiting    web-2  (waits for: approval) + analysis
//   hosts:
//     web-1  1.2.3  healthy  succeeded
//   next: sluice deployment approve d-1
// `instances` is the executor's answer ({"instances":[…]}, oldest generation first): each host's
// latest record, with its version, health and state; left out when null or empty.
// `analysis` (GET /v1/analyses/{id}, the deployment's latest) adds its line before "next:".
// With `now`, a timed pause shows its countdown on the status line ("..., resumes in 1m30s at
// 10:02:00Z"); without it only the time ("resumes at ...").
std::vector<std::string> RenderDeploymentView(
    const nlohmann::json& deployment, const nlohmann::json& instances = nullptr,
    const nlohmann::json& analysis = nullptr,
    std::optional<std::chrono::system_clock::time_point> now = std::nullopt);
// When a timed pause passes by itself (the API's `resumes_at`): "resumes at 10:02:00Z", or with
// `now` "resumes in 1m30s at 10:02:00Z" ("resumes now" once due); "" when it does not wait on one.
std::string PauseCountdown(const nlohmann::json& deployment,
                           std::optional<std::chrono::system_clock::time_point> now);
// "analysis an-1 (batch 2, canary) Running: error_rate 0.01 <= 0.05 (rule seed)": the status
// and the latest measurement.
std::string RenderAnalysisLine(const nlohmann::json& analysis);
// The command to type next for a deployment: approve when a batch waits for an approval, resume
// when paused or waiting on an open-ended pause, else promote or pause while it runs; retry once
// it failed, was aborted or rolled back; "" when it succeeded or is rolling back.
std::string NextCommand(const nlohmann::json& deployment);

// `deployment retry`: why a deployment cannot be retried (it is still going, or it succeeded),
// with what to type instead; nullopt when it can (failed, aborted or rolled back). A retry is a
// new deployment of the same release, environment and spec version, sent with the idempotency
// key RetryKey(id), so a retry that is run twice (a lost answer, a second terminal) deploys once.
std::optional<std::string> RetryRefusal(const nlohmann::json& deployment);
std::string RetryKey(std::string_view deployment_id);

// A deployment list ({"deployments":[...]} or {"items":[...]}), one line per deployment; one
// waiting for its deployment window says until when ("waiting until <next opening>"), or why it
// still waits ("waiting (environment_frozen)").
std::vector<std::string> RenderDeploymentList(const nlohmann::json& list);

// The line after a list's table when the answer has a further page (a string next_cursor):
// "next page: <command> --cursor <next_cursor>", `command` being the list's words as typed
// (each shell-quoted when it needs it); "" on the last page.
std::string NextPageLine(const nlohmann::json& list, const std::vector<std::string>& command);

// The items of a list answer: `key` ({"analyses":[...]}, {"incidents":[...]}), else "items";
// an empty array when there is neither.
nlohmann::json ListItems(const nlohmann::json& list, const char* key);

// The metric-watcher's analyses of a deployment, a table: ID, BATCH (1-based), KIND (canary or
// bake), TEMPLATE, STATUS, REASON, STARTED. "no analyses" when there is none.
std::vector<std::string> RenderAnalysisList(const nlohmann::json& list);

// The rollback-agent's incidents, a table: ID, APP, ENV, VERSION, TRIGGER, SCOPE, RESULT
// (final_status, or "rollback failed"), CREATED. "no incidents" when there is none.
std::vector<std::string> RenderIncidentList(const nlohmann::json& list);

// The verdict of an analysis (POST /v1/analyses, or GET /v1/analyses/{id}): the outcome line,
// then one line per rule with its outcome, measurement count and the message of its last
// failing (else last) measurement, then the judge's verdict and score when there is one:
//   analysis Failed: threshold_breached
//   rule seed       Failed      3 measurements  error_rate 0.31 > 0.05 on sx-h2
//   judge           Successful  score 100
std::vector<std::string> RenderAnalysisVerdict(const nlohmann::json& analysis);
// The exit code of `sluice analyze`: 0 when the outcome is Successful, 2 otherwise.
int AnalysisExitCode(std::string_view outcome);

}  // namespace sluice::cli
