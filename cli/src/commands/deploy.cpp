// sluice plan, sluice deploy and sluice deployment list|get|watch|retry|instances|<verb>.
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/http/client.hpp>

#include "../commands.hpp"
#include "../format.hpp"
#include "../render.hpp"
#include "../watch.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

json DeploymentBody(const std::string& release, const std::string& env, int spec_version) {
  json body = {{"release_id", release}, {"env", env}};
  if (spec_version > 0) body["spec_version"] = spec_version;
  return body;
}

int Plan(const Global& g, const std::string& release, const std::string& env, int spec_version) {
  const auto a = Request(g, "POST", "/v1/deployments?dry_run=true",
                         DeploymentBody(release, env, spec_version).dump());
  if (a.status != 200) return PrintError(g, a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
    return 0;
  }
  const auto& p = a.body;
  std::cout << p.value("app", "") << " " << p.value("version", "") << " -> " << p.value("env", "")
            << " (" << p.value("strategy", "") << ", spec version " << p.value("spec_version", 0)
            << ", " << p.value("total_hosts", 0) << " hosts)\n";
  for (const auto& line : RenderPlan(p)) std::cout << line << "\n";
  for (const auto& line : RenderInventories(p)) std::cout << line << "\n";
  // Why the release may not go yet (the promotion gate, a freeze); `sluice deploy` would be
  // refused with the same reason.
  if (p.contains("blocked") && p["blocked"].is_object()) {
    const auto& b = p["blocked"];
    std::cout << "blocked: " << b.value("code", "") << ": " << b.value("message", "") << "\n";
    if (b.contains("next") && b["next"].is_string()) {
      std::cout << "next: " << b["next"].get<std::string>() << "\n";
    }
  }
  return 0;
}

int Deploy(const Global& g, const std::string& release, const std::string& env, int spec_version,
           const std::string& key, bool wait, std::chrono::milliseconds timeout,
           const std::string& override_reason = "") {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  json body = DeploymentBody(release, env, spec_version);
  if (!override_reason.empty()) body["override"] = {{"reason", override_reason}};
  const auto a = Request(g, "POST", "/v1/deployments", body.dump(), "application/json", headers);
  if (a.status != 202) return PrintError(g, a);
  const std::string id = a.body.value("deployment_id", "");
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
  } else {
    std::cout << "deployment " << id << " requested: " << a.body.value("app", "") << " "
              << a.body.value("version", "") << " -> " << a.body.value("env", "")
              << " (spec version " << a.body.value("spec_version", 0) << ")\n";
    if (a.body.contains("override") && a.body["override"]["overridden"].is_string()) {
      std::cout << "the promotion gate was overridden ("
                << a.body["override"]["overridden"].get<std::string>()
                << "); recorded in the audit log with the reason\n";
    }
    for (const auto& line : RenderInventories(a.body)) std::cout << line << "\n";
    // Outside every deployment window: accepted, and it starts by itself at the opening.
    if (a.body.value("status", "") == "waiting" && a.body.contains("waiting") &&
        a.body["waiting"].is_object()) {
      const auto& w = a.body["waiting"];
      std::cout << "waiting: " << w.value("code", "") << ": " << w.value("message", "") << "\n";
      if (w.contains("next_open") && w["next_open"].is_string()) {
        std::cout << "it starts by itself at " << w["next_open"].get<std::string>()
                  << "; abort it with 'sluice deployment abort " << id << "'\n";
      }
    }
  }
  return wait ? Watch(g, id, timeout) : 0;
}

// A new deployment of a failed, aborted or rolled-back one's release, environment and spec
// version, under the idempotency key RetryKey(id).
int Retry(const Global& g, const std::string& id, bool wait, std::chrono::milliseconds timeout) {
  const auto d = Request(g, "GET", "/v1/deployments/" + Enc(id));
  if (d.status != 200) return PrintError(g, d);
  if (const auto refusal = RetryRefusal(d.body)) {
    std::cerr << "error: " << *refusal << "\n";
    return 1;
  }
  if (!g.raw) {
    std::cout << "retrying deployment " << id << " (" << d.body.value("status", "")
              << "): " << d.body.value("app", "") << " " << d.body.value("version", "") << " -> "
              << d.body.value("env", "") << "\n";
  }
  return Deploy(g, d.body.value("release_id", ""), d.body.value("env", ""),
                d.body.value("spec_version", 0), RetryKey(id), wait, timeout);
}

int Command(const Global& g, const std::string& verb, const std::string& id,
            const std::string& reason, long long generation, const std::string& target) {
  json body = json::object();
  if (!reason.empty()) body["reason"] = reason;
  if (generation > 0) body["generation"] = generation;
  if (!target.empty()) body["target_release_id"] = target;
  const auto a = Request(g, "POST", "/v1/deployments/" + id + ":" + verb, body.dump());
  if (a.status != 202) return PrintError(g, a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
  } else {
    std::cout << verb << " accepted for deployment " << id << " (command "
              << a.body.value("command_id", "") << ")\n";
  }
  if (a.body.contains("warning"))
    std::cerr << "warning: " << a.body["warning"].get<std::string>() << "\n";
  return 0;
}

// The latest analysis of a deployment (the one started last) with its measurements; null when
// there is none.
json LatestAnalysis(const Global& g, const std::string& deployment_id) {
  const auto analyses = Request(g, "GET", "/v1/analyses" + Query("deployment_id", deployment_id));
  const json items = ListItems(analyses.body, "analyses");
  if (analyses.status != 200 || items.empty()) return json();
  json latest = items[0];
  for (const auto& item : items) {
    if (item.value("started_at", "") >= latest.value("started_at", "")) latest = item;
  }
  const auto one = Request(g, "GET", "/v1/analyses/" + Enc(latest.value("id", "")));
  return one.status == 200 ? one.body : json();
}

// `deployment get`: the deployment, and for the table each host's version and health (the
// executor's records) and its latest analysis with its latest measurement; those are left out
// when they cannot be read.
int GetDeployment(const Global& g, const std::string& id, bool watch,
                  std::chrono::milliseconds interval) {
  const std::string path = "/v1/deployments/" + Enc(id);
  json instances, latest_analysis;
  const bool table = g.format == Format::kTable && !g.raw;
  Revalidator deployment;  // --watch: an unchanged deployment is not sent again
  auto fetch = [&] {
    auto a = deployment.Take(Request(g, "GET", path, "", "application/json", deployment.Headers()));
    if (a.status == 200 && table) {
      instances = latest_analysis = json();
      try {
        const auto i = Request(g, "GET", path + "/instances");
        if (i.status == 200) instances = i.body;
        latest_analysis = LatestAnalysis(g, id);
      } catch (const sluice::http::HttpError&) {
        // The deployment is shown without them.
      }
    }
    return a;
  };
  auto view = [&](const json& d) {
    return RenderDeploymentView(d, instances, latest_analysis, std::chrono::system_clock::now());
  };
  if (watch) {
    return WatchFrames(g, fetch, interval, view, [](const json& d) {
      const std::string status = d.value("status", "");
      return IsFinalStatus(status) ? std::optional<int>(ExitCodeFor(status)) : std::nullopt;
    });
  }
  const auto a = fetch();
  if (a.status != 200) return PrintError(g, a);
  return Print(g, a.body, view);
}

struct DeployOptions {
  std::string release, env, key, timeout = "0s";
  int spec_version = 0;
  bool wait = false;
  std::string override_reason;  // --override "<reason>": an admin past the promotion gate
};

void AddPlan(Commands& commands) {
  auto o = std::make_shared<DeployOptions>();
  auto* plan =
      commands.root().add_subcommand("plan", "show the batches a deployment would run (dry run)");
  plan->add_option("--release", o->release, "release id")->required();
  plan->add_option("--env", o->env, "environment")->required();
  plan->add_option("--spec-version", o->spec_version, "delivery spec version (default: latest)");
  commands.On(plan,
              [o](Invocation& in) { return Plan(in.g, o->release, o->env, o->spec_version); });
}

void AddDeploy(Commands& commands) {
  auto o = std::make_shared<DeployOptions>();
  auto* deploy = commands.root().add_subcommand("deploy", "request a deployment of a release");
  deploy->add_option("--release", o->release, "release id")->required();
  deploy->add_option("--env", o->env, "environment")->required();
  deploy->add_option("--spec-version", o->spec_version, "delivery spec version (default: latest)");
  deploy->add_option("--idempotency-key", o->key, "retrying with the same key deploys once");
  deploy->add_flag("--wait", o->wait,
                   "watch until the deployment finishes (exit 0 on success, 2 otherwise)");
  deploy->add_option("--timeout", o->timeout, "with --wait: give up after this long (0s: never)");
  deploy->add_option("--override", o->override_reason,
                     "REASON: deploy past the promotion gate or a freeze (admins of the "
                     "environment only; audited with the reason)");
  commands.On(deploy, [o](Invocation& in) {
    return Deploy(in.g, o->release, o->env, o->spec_version, o->key, o->wait,
                  Duration(o->timeout, "--timeout"), o->override_reason);
  });
}

struct ListOptions {
  std::string app, env, status, since, until, cursor;
  int limit = 20;
  bool watch = false;
  std::string interval = "2s";
};

void AddList(Commands& commands, CLI::App* deployment) {
  auto o = std::make_shared<ListOptions>();
  auto* list = deployment->add_subcommand("list", "list deployments");
  list->add_option("--app", o->app, "only this application");
  list->add_option("--env", o->env, "only this environment");
  list->add_option("--status", o->status, "only this status (waiting: held for their window)");
  list->add_option("--since", o->since,
                   "only deployments created at or after this: an RFC 3339 time or a duration "
                   "before now (2h, 1h30m, 7d)");
  list->add_option("--until", o->until, "only deployments created before this (as --since)");
  list->add_option("--limit", o->limit, "how many");
  list->add_option("--cursor", o->cursor,
                   "the page after the previous one (its next_cursor; the table prints the "
                   "command for the next page)");
  list->add_flag("-w,--watch", o->watch, "show the list again as it changes (Ctrl-C stops)");
  list->add_option("--interval", o->interval, "with --watch: how often to read, e.g. 2s");
  commands.On(list, [o](Invocation& in) {
    // A duration becomes a time here, so the next page's command names the same range.
    std::string error;
    const auto range =
        ResolveTimeRange(o->since, o->until, std::chrono::system_clock::now(), error);
    if (!range) throw UsageError(error);
    std::string path = "/v1/deployments?limit=" + std::to_string(o->limit);
    if (!o->app.empty()) path += "&app=" + Enc(o->app);
    if (!o->env.empty()) path += "&env=" + Enc(o->env);
    if (!o->status.empty()) path += "&status=" + Enc(o->status);
    if (!range->since.empty()) path += "&since=" + Enc(range->since);
    if (!range->until.empty()) path += "&until=" + Enc(range->until);
    if (!o->cursor.empty()) path += "&cursor=" + Enc(o->cursor);
    // The table ends with the command for the next page, when there is one.
    std::vector<std::string> again = {"sluice", "deployment", "list"};
    for (const auto& [flag, value] : {std::pair{"--app", o->app},
                                      {"--env", o->env},
                                      {"--status", o->status},
                                      {"--since", range->since},
                                      {"--until", range->until}}) {
      if (!value.empty()) again.insert(again.end(), {flag, value});
    }
    again.insert(again.end(), {"--limit", std::to_string(o->limit)});
    const Table table = [again](const json& answer) {
      auto lines = RenderDeploymentList(answer);
      if (auto next = NextPageLine(answer, again); !next.empty()) lines.push_back(std::move(next));
      return lines;
    };
    if (o->watch) {
      Revalidator unchanged;  // an unchanged list is not sent again
      return WatchFrames(
          in.g,
          [&] {
            return unchanged.Take(
                Request(in.g, "GET", path, "", "application/json", unchanged.Headers()));
          },
          Duration(o->interval, "--interval"), table,
          [](const json&) { return std::optional<int>(); });
    }
    return Show(in.g, path, table);
  });
}

struct GetOptions {
  std::string id;
  bool watch = false;
  std::string interval = "2s";
};

void AddGet(Commands& commands, CLI::App* deployment) {
  auto o = std::make_shared<GetOptions>();
  auto* get = deployment->add_subcommand("get", "show one deployment: batches and next command");
  get->add_option("id", o->id, "deployment id")->required();
  get->add_flag("-w,--watch", o->watch,
                "show it again as it changes until it finishes (exit 0 on success, 2 otherwise)");
  get->add_option("--interval", o->interval, "with --watch: how often to read, e.g. 2s");
  commands.On(get, [o](Invocation& in) {
    return GetDeployment(in.g, o->id, o->watch, Duration(o->interval, "--interval"));
  });
}

void AddWatch(Commands& commands, CLI::App* deployment) {
  struct Options {
    std::string id, timeout = "0s";
  };
  auto o = std::make_shared<Options>();
  auto* watch = deployment->add_subcommand(
      "watch", "follow a deployment until it finishes (exit 0 on success, 2 otherwise)");
  watch->add_option("id", o->id, "deployment id")->required();
  watch->add_option("--timeout", o->timeout, "give up after this long (0s: never)");
  commands.On(
      watch, [o](Invocation& in) { return Watch(in.g, o->id, Duration(o->timeout, "--timeout")); });
}

void AddRetry(Commands& commands, CLI::App* deployment) {
  struct Options {
    std::string id, timeout = "0s";
    bool wait = false;
  };
  auto o = std::make_shared<Options>();
  auto* retry = deployment->add_subcommand(
      "retry",
      "deploy a failed, aborted or rolled-back deployment's release again: a new deployment of the "
      "same release, environment and spec version (run twice, it deploys once)");
  retry->add_option("id", o->id, "deployment id")->required();
  retry->add_flag("--wait", o->wait,
                  "watch until the new deployment finishes (exit 0 on success, 2 otherwise)");
  retry->add_option("--timeout", o->timeout, "with --wait: give up after this long (0s: never)");
  commands.On(retry, [o](Invocation& in) {
    return Retry(in.g, o->id, o->wait, Duration(o->timeout, "--timeout"));
  });
}

// The executor's records of the deployment's hosts (every generation, oldest first).
void AddInstances(Commands& commands, CLI::App* deployment) {
  auto id = std::make_shared<std::string>();
  auto* instances = deployment->add_subcommand("instances", "show the hosts of a deployment");
  instances->add_option("id", *id, "deployment id")->required();
  commands.On(instances, [id](Invocation& in) {
    return Show(in.g, "/v1/deployments/" + Enc(*id) + "/instances",
                Items({{"HOST", "host"},
                       {"IP", "ip"},
                       {"BATCH", "batch_index"},
                       {"GENERATION", "generation"},
                       {"STATUS", "status"},
                       {"VERSION", "version"},
                       {"HEALTH", "health_status"},
                       {"UPDATED", "updated_at"}},
                      "no instances", "instances"));
  });
}

// promote, pause, resume, abort, approve and rollback: an operator command each.
void AddVerbs(Commands& commands, CLI::App* deployment) {
  struct Options {
    std::string id, reason, target;
    long long generation = 0;
  };
  using V = sluice::v1::OperatorCommand;
  for (const auto value : {V::VERB_PROMOTE, V::VERB_PAUSE, V::VERB_RESUME, V::VERB_ABORT,
                           V::VERB_APPROVE, V::VERB_ROLLBACK}) {
    const std::string verb(sluice::events::Name(value));
    auto o = std::make_shared<Options>();
    auto* cmd = deployment->add_subcommand(verb, std::string(verb) + " a deployment");
    cmd->add_option("id", o->id, "deployment id")->required();
    cmd->add_option("--reason", o->reason, "why (recorded in the audit log and the event)");
    cmd->add_option("--generation", o->generation, "the generation you saw (default: current)");
    if (verb == "rollback") {
      cmd->add_option("--to,--target-release", o->target,
                      "roll back to this release id (default: the last stable release)");
    }
    commands.On(cmd, [o, verb](Invocation& in) {
      return Command(in.g, verb, Enc(o->id), o->reason, o->generation, o->target);
    });
  }
}

}  // namespace

void AddDeployCommands(Commands& commands) {
  AddPlan(commands);
  AddDeploy(commands);
  auto* deployment =
      commands.root().add_subcommand("deployment", "list, show, watch and steer deployments");
  deployment->require_subcommand(1);
  AddList(commands, deployment);
  AddGet(commands, deployment);
  AddWatch(commands, deployment);
  AddRetry(commands, deployment);
  AddInstances(commands, deployment);
  AddVerbs(commands, deployment);
}

}  // namespace sluice::cli
