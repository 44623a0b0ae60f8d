#include "promotion.hpp"

#include <algorithm>
#include <sluice/core/clock.hpp>

namespace sluice::release_intake {

using nlohmann::json;

// The two halves of CheckGate, below it.
std::optional<GateRefusal> CheckPromotion(const GateInput& in);
std::optional<GateRefusal> CheckWindowsOf(const GateInput& in);

namespace {

std::string DeployCommand(std::string_view release_id, std::string_view env) {
  return "sluice deploy --release " + std::string(release_id) + " --env " + std::string(env);
}

std::string ReleaseText(const GateInput& in) {
  return "release " +
         (in.version.empty() ? in.release_id : in.version + " (" + in.release_id + ")");
}

}  // namespace

std::optional<GateRefusal> CheckGate(const GateInput& in) {
  if (in.freeze) {
    const auto& f = *in.freeze;
    return GateRefusal{"environment_frozen",
                       "environment '" + in.env + "' of app '" + in.app + "' is frozen by " +
                           f.frozen_by + ": " + f.reason +
                           "; an admin lifts it with 'sluice env unfreeze " + in.app + " " +
                           in.env + "'",
                       {{"env", in.env},
                        {"frozen_by", f.frozen_by},
                        {"reason", f.reason},
                        {"frozen_at_ms", f.frozen_at_ms}},
                       "sluice env unfreeze " + in.app + " " + in.env};
  }
  if (in.environment == nullptr) return std::nullopt;
  if (auto refusal = CheckPromotion(in)) return refusal;
  return CheckWindowsOf(in);
}

std::optional<GateRefusal> CheckPromotion(const GateInput& in) {
  if (!in.environment->promotion) return std::nullopt;
  const std::string& from = in.environment->promotion->from;
  json detail = {{"env", in.env}, {"requires", from}, {"release_id", in.release_id}};
  const std::string what = ReleaseText(in);
  if (in.previous.empty()) {
    return GateRefusal{"promotion_required",
                       what + " has not been deployed to '" + from + "': '" + in.env +
                           "' takes a release only after it passed '" + from +
                           "'; deploy it there first: " + DeployCommand(in.release_id, from),
                       detail, DeployCommand(in.release_id, from)};
  }
  // The newest deployment there decides: a release rolled back in `from` after an earlier pass
  // does not go on.
  const auto& last = in.previous.front();
  if (last.Passed()) return std::nullopt;
  detail["deployment_id"] = last.deployment_id;
  if (last.failed) {
    return GateRefusal{"promotion_failed",
                       what + " failed in '" + from + "' (deployment " + last.deployment_id +
                           "), so it does not go to '" + in.env + "'; deploy it to '" + from +
                           "' again once fixed: " + DeployCommand(in.release_id, from),
                       detail, DeployCommand(in.release_id, from)};
  }
  const std::string state = last.succeeded
                                ? "succeeded in '" + from + "' and its bake watch is still running"
                                : "is still being deployed to '" + from + "'";
  detail["waiting_for"] = last.succeeded ? "bake_watch" : "deployment";
  return GateRefusal{"promotion_pending",
                     what + " " + state + " (deployment " + last.deployment_id + "); '" + in.env +
                         "' takes it once it passed there; follow it with 'sluice deployment get " +
                         last.deployment_id + " --watch'",
                     detail, "sluice deployment get " + last.deployment_id + " --watch"};
}

std::optional<GateRefusal> CheckWindowsOf(const GateInput& in) {
  const auto& windows = in.environment->windows;
  if (windows.empty() || in.zones == nullptr) return std::nullopt;
  const WindowState state = CheckWindows(windows, *in.zones, in.now_ms);
  if (state.open) return std::nullopt;
  json described = json::array();
  std::string text;
  for (const auto& w : windows) {
    described.push_back(DescribeWindow(w));
    text += (text.empty() ? "" : "; ") + DescribeWindow(w);
  }
  json detail = {{"env", in.env}, {"windows", described}, {"next_open_ms", nullptr}};
  std::string when = "no window opens in the coming week";
  if (state.next_open_ms) {
    const std::string utc =
        core::FormatRfc3339(core::SystemTime(std::chrono::milliseconds(*state.next_open_ms)));
    detail["next_open_ms"] = *state.next_open_ms;
    detail["next_open"] = utc;
    when = "the next opens at " + utc + " (" + state.next_open_local + ")";
  }
  return GateRefusal{"outside_window",
                     "deployments into '" + in.env + "' of app '" + in.app +
                         "' start only inside its windows (" + text + "); " + when,
                     detail, ""};
}

json GateRefusalBody(const GateRefusal& r) {
  json error = {{"code", r.code}, {"message", r.message}, {"field", "env"}, {"detail", r.detail}};
  if (!r.next.empty()) error["next"] = r.next;
  return json{{"error", std::move(error)}};
}

bool WaitsForWindow(const GateRefusal& r) {
  return r.code == "outside_window" && r.detail.contains("next_open_ms") &&
         r.detail["next_open_ms"].is_number_integer();
}

WaitStep NextWaitStep(const GateInput& in) { return WaitStepFor(CheckGate(in), in.now_ms); }

WaitStep WaitStepFor(std::optional<GateRefusal> refusal, std::int64_t now_ms) {
  if (!refusal) return WaitStep{true, std::nullopt, 0};
  std::int64_t wake = now_ms + kWaitRecheckMs;
  if (refusal->code == "outside_window") {
    wake = WaitsForWindow(*refusal) ? refusal->detail["next_open_ms"].get<std::int64_t>()
                                    : now_ms + kWaitNoOpeningRecheckMs;
  }
  return WaitStep{false, std::move(refusal), wake};
}

json WaitingJson(const json& error) {
  json out = error;
  if (error.contains("detail") && error["detail"].is_object()) {
    const auto& d = error["detail"];
    if (d.contains("next_open_ms")) out["next_open_ms"] = d["next_open_ms"];
    if (d.contains("next_open")) out["next_open"] = d["next_open"];
  }
  return out;
}

bool IsDeploymentListStatus(std::string_view status) {
  static constexpr std::string_view kStatuses[] = {"waiting",      "pending",     "running",
                                                   "paused",       "succeeded",   "failed",
                                                   "rolling_back", "rolled_back", "aborted"};
  return std::find(std::begin(kStatuses), std::end(kStatuses), status) != std::end(kStatuses);
}

bool PlannerListsStatus(const DeploymentListQuery& q) { return q.status != "waiting"; }

std::optional<std::string> HeldStateListed(const DeploymentListQuery& q) {
  if (!q.first_page) return std::nullopt;
  if (!q.status || *q.status == "waiting") return "waiting";
  if (*q.status == "aborted") return "aborted";
  return std::nullopt;
}

json ListWithHeld(const DeploymentListQuery& q, std::vector<json> held, json planner) {
  if (!planner.is_object()) planner = json::object();
  if (!planner.contains("deployments") || !planner["deployments"].is_array()) {
    planner["deployments"] = json::array();
  }
  const json& listed = planner["deployments"];
  const auto state = HeldStateListed(q);
  const auto text = [](const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto at = [](const json& d) {
    const auto it = d.find("requested_at_ms");
    return it != d.end() && it->is_number_integer() ? it->get<std::int64_t>() : std::int64_t{0};
  };
  const auto shown = [&](const json& d) {
    if (!state || text(d, "status") != *state) return false;
    if (q.app && text(d, "app") != *q.app) return false;
    if (q.env && text(d, "env") != *q.env) return false;
    if (!q.created.Contains(at(d) * 1000)) return false;
    const std::string id = text(d, "id");
    return std::none_of(listed.begin(), listed.end(),
                        [&](const json& p) { return p.is_object() && text(p, "id") == id; });
  };
  std::erase_if(held, [&](const json& d) { return !d.is_object() || !shown(d); });
  std::sort(held.begin(), held.end(), [&](const json& a, const json& b) {
    if (at(a) != at(b)) return at(a) > at(b);
    return text(a, "id") > text(b, "id");
  });
  if (held.size() > static_cast<std::size_t>(std::max(q.limit, 0))) {
    held.resize(static_cast<std::size_t>(std::max(q.limit, 0)));
  }
  json items = json::array();
  for (auto& d : held) items.push_back(std::move(d));
  for (const auto& d : listed) items.push_back(d);
  planner["deployments"] = std::move(items);
  // The planner's cursor to its next page; null on its last page, and when it was not asked
  // (status=waiting: the held ones are one page) or did not page.
  if (!planner.contains("next_cursor") || !planner["next_cursor"].is_string()) {
    planner["next_cursor"] = nullptr;
  }
  return planner;
}

std::vector<std::string> AutoPromotionsFrom(const spec::DeliverySpec& spec, std::string_view env) {
  std::vector<std::string> out;
  for (const auto* e : spec.PromotionsFrom(env)) {
    if (e->promotion->mode == spec::PromotionMode::kAuto) out.push_back(e->name);
  }
  return out;
}

std::string AutoPromotionKey(std::string_view release_id, std::string_view env) {
  return "promotion:" + std::string(release_id) + ":" + std::string(env);
}

std::optional<FreezeInput> ValidateFreeze(const json& body, std::string& error) {
  if (!body.is_object()) {
    error = "the body must be a JSON object {\"reason\": \"...\"}";
    return std::nullopt;
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "reason") {
      error = "unknown field '" + key + "' (known: reason)";
      return std::nullopt;
    }
  }
  const auto it = body.find("reason");
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty() ||
      it->get<std::string>().size() > 500) {
    error = "reason is required: 1-500 characters saying why the environment is frozen";
    return std::nullopt;
  }
  return FreezeInput{it->get<std::string>()};
}

}  // namespace sluice::release_intake
