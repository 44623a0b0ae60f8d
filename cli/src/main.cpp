// sluice — the command line for Sluice's public API and event stream.
//   sluice release create --app shop --tag v1.2.3 --artifact-url URL --sha256 HEX
//   sluice release list [--app shop] [--limit 20]
//   sluice release get ID
//   sluice events tail [--topic sluice.releases.v1] [--max 1] [--timeout 10s]
//   sluice apply -f demo-app.yaml
//   sluice plan --release ID --env production
//   sluice deploy --release ID --env production [--wait]
//   sluice deployment list|get|watch|promote|pause|resume|abort|approve|rollback ...
//   sluice deployment rollback ID [--to RELEASE_ID] [--reason ...]
//   sluice analysis list --deployment ID | get ID;  sluice analyze -f request.json
//   sluice incident list --deployment ID | get ID [--markdown] | chart ID -o file.svg
// The API address comes from --api or SLUICE_API_URL (default http://127.0.0.1:8080); the token
// from --token, SLUICE_TOKEN, or the file --token-file (default var/local/admin-token).
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafkacpp.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/duration.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sstream>
#include <thread>

#include "render.hpp"

namespace {

using nlohmann::json;

struct Global {
  std::string api = "http://127.0.0.1:8080";
  std::string token;
  std::string token_file = "var/local/admin-token";
  bool raw = false;
};

std::string Env(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string Token(const Global& g) {
  if (!g.token.empty()) return g.token;
  std::ifstream in(g.token_file);
  if (!in) {
    throw std::runtime_error(
        "no API token: pass --token, set SLUICE_TOKEN, or run 'make up' to "
        "write " +
        g.token_file);
  }
  std::string t;
  std::getline(in, t);
  return t;
}

int Call(const Global& g, const std::string& method, const std::string& path,
         const std::optional<json>& body) {
  sluice::http::ClientRequest req;
  req.method = method;
  req.url = g.api + path;
  req.headers.emplace_back("Authorization", "Bearer " + Token(g));
  if (body) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = body->dump();
  }
  const auto res = sluice::http::Send(req);
  json parsed = json::parse(res.body, nullptr, false);
  if (res.status >= 400) {
    if (!parsed.is_discarded() && parsed.contains("error")) {
      const auto& e = parsed["error"];
      std::cerr << "error " << res.status << " " << e.value("code", "") << ": "
                << e.value("message", "");
      if (!e.value("field", "").empty()) std::cerr << " (field: " << e.value("field", "") << ")";
      std::cerr << "\n";
    } else {
      std::cerr << "error " << res.status << ": " << res.body << "\n";
    }
    return 1;
  }
  std::cout << (parsed.is_discarded() ? res.body : parsed.dump(g.raw ? -1 : 2)) << "\n";
  return 0;
}

// One API exchange; the body parsed when it is JSON (discarded otherwise).
struct Answer {
  long status = 0;
  json body;
  std::string raw;
};

Answer Request(const Global& g, const std::string& method, const std::string& path,
               const std::string& body = "", const std::string& content_type = "application/json",
               std::vector<std::pair<std::string, std::string>> headers = {}) {
  sluice::http::ClientRequest req;
  req.method = method;
  req.url = g.api + path;
  req.timeout = std::chrono::seconds(30);
  req.headers = std::move(headers);
  req.headers.emplace_back("Authorization", "Bearer " + Token(g));
  if (method == "POST" || method == "PUT") {
    req.headers.emplace_back("Content-Type", content_type);
    req.body = body;
  }
  const auto res = sluice::http::Send(req);
  return {res.status, json::parse(res.body, nullptr, false), res.body};
}

// Prints an API error the way Call does; returns 1.
int PrintError(const Answer& a) {
  if (!a.body.is_discarded() && a.body.contains("error")) {
    const auto& e = a.body["error"];
    std::cerr << "error " << a.status << " " << e.value("code", "") << ": "
              << e.value("message", "");
    if (e.contains("field") && e["field"].is_string() && !e["field"].get<std::string>().empty()) {
      std::cerr << " (field: " << e["field"].get<std::string>() << ")";
    }
    std::cerr << "\n";
  } else {
    std::cerr << "error " << a.status << ": " << a.raw << "\n";
  }
  return 1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Apply(const Global& g, const std::string& file, std::string app) {
  const std::string text = ReadFile(file);
  if (app.empty()) app = sluice::cli::SpecAppName(text);
  if (app.empty()) {
    std::cerr << file << ": no top-level 'app:' key; pass --app\n";
    return 1;
  }
  const auto a = Request(g, "PUT", "/v1/apps/" + app, text, "application/yaml");
  if (a.status == 422 && !a.body.is_discarded() && a.body.contains("error")) {
    for (const auto& line : sluice::cli::RenderSpecError(a.body["error"], app, file, text)) {
      std::cerr << line << "\n";
    }
    return 1;
  }
  if (a.status != 200 && a.status != 201) return PrintError(a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
  } else if (a.body.value("unchanged", false)) {
    std::cout << app << ": unchanged (version " << a.body.value("version", 0) << ")\n";
  } else {
    std::cout << app << ": applied version " << a.body.value("version", 0) << "\n";
  }
  return 0;
}

json DeploymentBody(const std::string& release, const std::string& env, int spec_version) {
  json body = {{"release_id", release}, {"env", env}};
  if (spec_version > 0) body["spec_version"] = spec_version;
  return body;
}

int Plan(const Global& g, const std::string& release, const std::string& env, int spec_version) {
  const auto a = Request(g, "POST", "/v1/deployments?dry_run=true",
                         DeploymentBody(release, env, spec_version).dump());
  if (a.status != 200) return PrintError(a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
    return 0;
  }
  const auto& p = a.body;
  std::cout << p.value("app", "") << " " << p.value("version", "") << " -> " << p.value("env", "")
            << " (" << p.value("strategy", "") << ", spec version " << p.value("spec_version", 0)
            << ", " << p.value("total_hosts", 0) << " hosts)\n";
  for (const auto& line : sluice::cli::RenderPlan(p)) std::cout << line << "\n";
  return 0;
}

// Polls the deployment every second, printing what changed, until a final status.
int Watch(const Global& g, const std::string& id, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  sluice::cli::WatchView last;
  std::string last_problem;
  for (;;) {
    std::string problem;
    try {
      const auto a = Request(g, "GET", "/v1/deployments/" + id);
      if (a.status == 200 && a.body.is_object()) {
        const auto view = sluice::cli::DescribeDeployment(a.body);
        if (view.status_line != last.status_line) std::cout << view.status_line << std::endl;
        if (!view.batch_line.empty() && view.batch_line != last.batch_line) {
          std::cout << view.batch_line << std::endl;
        }
        last = view;
        const std::string status = a.body.value("status", "");
        if (sluice::cli::IsFinalStatus(status)) return sluice::cli::ExitCodeFor(status);
      } else if (a.status == 404) {
        // A deployment just requested reaches the planner within moments.
        if (Clock::now() - start > std::chrono::seconds(60)) return PrintError(a);
        problem = "waiting for the rollout-planner to pick up deployment " + id;
      } else if (a.status == 401 || a.status == 403) {
        return PrintError(a);
      } else {
        problem = "the API answered " + std::to_string(a.status) + "; retrying";
      }
    } catch (const sluice::http::HttpError& e) {
      problem = std::string("the API cannot be reached (") + e.what() + "); retrying";
    }
    if (!problem.empty() && problem != last_problem) std::cerr << problem << std::endl;
    last_problem = problem;
    if (timeout.count() > 0 && Clock::now() - start > timeout) {
      std::cerr << "watch: no final status within the timeout\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int Deploy(const Global& g, const std::string& release, const std::string& env, int spec_version,
           const std::string& key, bool wait, std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  const auto a =
      Request(g, "POST", "/v1/deployments", DeploymentBody(release, env, spec_version).dump(),
              "application/json", headers);
  if (a.status != 202) return PrintError(a);
  const std::string id = a.body.value("deployment_id", "");
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
  } else {
    std::cout << "deployment " << id << " requested: " << a.body.value("app", "") << " "
              << a.body.value("version", "") << " -> " << a.body.value("env", "")
              << " (spec version " << a.body.value("spec_version", 0) << ")\n";
  }
  return wait ? Watch(g, id, timeout) : 0;
}

int Command(const Global& g, const std::string& verb, const std::string& id,
            const std::string& reason, long long generation, const std::string& target) {
  json body = json::object();
  if (!reason.empty()) body["reason"] = reason;
  if (generation > 0) body["generation"] = generation;
  if (!target.empty()) body["target_release_id"] = target;
  const auto a = Request(g, "POST", "/v1/deployments/" + id + ":" + verb, body.dump());
  if (a.status != 202) return PrintError(a);
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

// GET of a list, printed as a table (or as JSON with --raw).
int List(const Global& g, const std::string& path,
         const std::function<std::vector<std::string>(const json&)>& render) {
  const auto a = Request(g, "GET", path);
  if (a.status != 200) return PrintError(a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
    return 0;
  }
  for (const auto& line : render(a.body)) std::cout << line << "\n";
  return 0;
}

std::string Query(const std::string& name, const std::string& value) {
  return "?" + name + "=" + sluice::http::UrlEncode(value);
}

// The analysis' verdict per rule (or its JSON with --raw); exit 0 when it was Successful.
int ShowAnalysis(const Global& g, const Answer& a) {
  if (a.status != 200) return PrintError(a);
  if (g.raw) {
    std::cout << a.body.dump() << "\n";
  } else {
    for (const auto& line : sluice::cli::RenderAnalysisVerdict(a.body)) std::cout << line << "\n";
  }
  const std::string outcome = a.body.value("outcome", a.body.value("status", ""));
  return sluice::cli::AnalysisExitCode(outcome);
}

int Analyze(const Global& g, const std::string& file) {
  const std::string text = ReadFile(file);
  const json request = json::parse(text, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    std::cerr << file << ": not a JSON object\n";
    return 1;
  }
  return ShowAnalysis(g, Request(g, "POST", "/v1/analyses", request.dump()));
}

int IncidentGet(const Global& g, const std::string& id, bool markdown) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (markdown) headers.emplace_back("Accept", "text/markdown");
  const auto a = Request(g, "GET", "/v1/incidents/" + id, "", "application/json", headers);
  if (a.status != 200) return PrintError(a);
  if (markdown || a.body.is_discarded()) {
    std::cout << a.raw;
    if (!a.raw.empty() && a.raw.back() != '\n') std::cout << "\n";
    return 0;
  }
  std::cout << a.body.dump(g.raw ? -1 : 2) << "\n";
  return 0;
}

int IncidentChart(const Global& g, const std::string& id, const std::string& out_file) {
  const auto a = Request(g, "GET", "/v1/incidents/" + id + "/chart.svg", "", "application/json",
                         {{"Accept", "image/svg+xml"}});
  if (a.status != 200) return PrintError(a);
  std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + out_file);
  out << a.raw;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + out_file);
  std::cout << "wrote " << out_file << " (" << a.raw.size() << " bytes)\n";
  return 0;
}

std::chrono::milliseconds ParseDuration(const std::string& s) {
  std::string why;
  const auto d = sluice::core::ParseDuration(s, &why);
  if (!d)
    throw std::invalid_argument("duration '" + s + "' (" + why + "): use 500ms, 10s, 2m or 1h30m");
  return *d;
}

// Reads events from the start of a topic with a throwaway consumer group and prints each as
// JSON: {"topic","partition","offset","key","headers":{…},"event":{…envelope…}}.
int TailEvents(const std::string& brokers, const std::string& topic, int max,
               std::chrono::milliseconds timeout, const std::string& match) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  auto set = [&](const std::string& k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(k + ": " + err);
  };
  set("bootstrap.servers", brokers);
  set("group.id",
      "sluice-cli-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  set("enable.auto.commit", "false");
  set("auto.offset.reset", "earliest");
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw std::runtime_error("cannot create Kafka consumer: " + err);
  consumer->subscribe({topic});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int printed = 0;
  while ((max <= 0 || printed < max) && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(consumer->consume(200));
    if (msg->err() == RdKafka::ERR__TIMED_OUT || msg->err() == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      std::cerr << "kafka: " << msg->errstr() << "\n";
      continue;
    }
    json out = {{"topic", msg->topic_name()},
                {"partition", msg->partition()},
                {"offset", msg->offset()},
                {"key", msg->key() != nullptr ? *msg->key() : ""}};
    json headers = json::object();
    if (auto* h = msg->headers()) {
      for (const auto& header : h->get_all()) {
        headers[header.key()] =
            std::string(static_cast<const char*>(header.value()), header.value_size());
      }
    }
    out["headers"] = headers;
    std::string error;
    auto envelope = sluice::events::Parse(
        std::string_view(static_cast<const char*>(msg->payload()), msg->len()), &error);
    if (envelope) {
      std::string js;
      google::protobuf::util::JsonPrintOptions opts;
      opts.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(*envelope, &js, opts);
      out["event"] = json::parse(js);
    } else {
      out["event_error"] = error;
    }
    const std::string line = out.dump();
    if (!match.empty() && line.find(match) == std::string::npos) continue;
    std::cout << line << std::endl;
    ++printed;
  }
  consumer->close();
  if (max > 0 && printed < max) {
    std::cerr << "events tail: " << printed << " of " << max << " event(s) seen on " << topic
              << " within the timeout\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice — progressive delivery for Kubernetes, VMs and bare metal"};
  app.require_subcommand(1);
  Global g;
  g.api = Env("SLUICE_API_URL", g.api);
  g.token = Env("SLUICE_TOKEN", "");
  app.add_option("--api", g.api, "public API base URL (SLUICE_API_URL)");
  app.add_option("--token", g.token, "API token (SLUICE_TOKEN)");
  app.add_option("--token-file", g.token_file, "file holding the API token");
  app.add_flag("--raw", g.raw, "print JSON on one line");

  auto* release = app.add_subcommand("release", "create, list and show releases");
  release->require_subcommand(1);
  json create_body = json::object();
  std::string r_app, r_tag, r_version, r_url, r_sha, r_by, r_commit, r_repo, r_kind;
  auto* create = release->add_subcommand("create", "register a release (as CI does)");
  create->add_option("--app", r_app, "application name")->required();
  create->add_option("--tag", r_tag, "git tag, e.g. v1.2.3")->required();
  create->add_option("--version", r_version, "version (default: from the tag)");
  create->add_option("--artifact-url", r_url, "artifact URL")->required();
  create->add_option("--sha256", r_sha, "artifact sha256")->required();
  create->add_option("--created-by", r_by, "who built it");
  create->add_option("--commit", r_commit, "git commit");
  create->add_option("--repo", r_repo, "repository");
  create->add_option("--kind", r_kind, "tarball | image | model");
  std::string l_app;
  int l_limit = 20;
  auto* list = release->add_subcommand("list", "list releases, newest first");
  list->add_option("--app", l_app, "only this application");
  list->add_option("--limit", l_limit, "how many");
  std::string g_id;
  auto* get = release->add_subcommand("get", "show one release");
  get->add_option("id", g_id, "release id")->required();

  auto* events = app.add_subcommand("events", "read Sluice events from Kafka");
  events->require_subcommand(1);
  std::string brokers = Env("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092");
  std::string topic = "sluice.releases.v1";
  std::string timeout = "10s";
  std::string match;
  int max = 0;
  auto* tail = events->add_subcommand("tail", "print events of a topic from its beginning");
  tail->add_option("--brokers", brokers, "Kafka bootstrap servers (SLUICE_KAFKA_BROKERS)");
  tail->add_option("--topic", topic, "topic");
  tail->add_option("--max", max, "stop after this many events (0: until the timeout)");
  tail->add_option("--timeout", timeout, "give up after this long, e.g. 10s or 1h");
  tail->add_option("--match", match, "only events whose JSON contains this text");

  std::string spec_file, spec_app;
  auto* apply =
      app.add_subcommand("apply", "store a delivery spec (a new version when it changed)");
  apply->add_option("-f,--file", spec_file, "delivery spec YAML")->required();
  apply->add_option("--app", spec_app, "app name (default: the spec's top-level app)");

  std::string d_release, d_env, d_key, d_timeout = "0s";
  int d_spec_version = 0;
  bool d_wait = false;
  auto* plan = app.add_subcommand("plan", "show the batches a deployment would run (dry run)");
  plan->add_option("--release", d_release, "release id")->required();
  plan->add_option("--env", d_env, "environment")->required();
  plan->add_option("--spec-version", d_spec_version, "delivery spec version (default: latest)");
  auto* deploy = app.add_subcommand("deploy", "request a deployment of a release");
  deploy->add_option("--release", d_release, "release id")->required();
  deploy->add_option("--env", d_env, "environment")->required();
  deploy->add_option("--spec-version", d_spec_version, "delivery spec version (default: latest)");
  deploy->add_option("--idempotency-key", d_key, "retrying with the same key deploys once");
  deploy->add_flag("--wait", d_wait,
                   "watch until the deployment finishes (exit 0 on success, 2 otherwise)");
  deploy->add_option("--timeout", d_timeout, "with --wait: give up after this long (0s: never)");

  auto* deployment = app.add_subcommand("deployment", "list, show, watch and steer deployments");
  deployment->require_subcommand(1);
  std::string dl_app, dl_env, dl_status;
  int dl_limit = 20;
  auto* dlist = deployment->add_subcommand("list", "list deployments");
  dlist->add_option("--app", dl_app, "only this application");
  dlist->add_option("--env", dl_env, "only this environment");
  dlist->add_option("--status", dl_status, "only this status");
  dlist->add_option("--limit", dl_limit, "how many");
  std::string dep_id;
  auto* dget = deployment->add_subcommand("get", "show one deployment (JSON)");
  dget->add_option("id", dep_id, "deployment id")->required();
  std::string w_timeout = "0s";
  auto* dwatch = deployment->add_subcommand(
      "watch", "follow a deployment until it finishes (exit 0 on success, 2 otherwise)");
  dwatch->add_option("id", dep_id, "deployment id")->required();
  dwatch->add_option("--timeout", w_timeout, "give up after this long (0s: never)");
  auto* dinstances = deployment->add_subcommand("instances", "show the hosts of a deployment");
  dinstances->add_option("id", dep_id, "deployment id")->required();
  std::string c_reason, c_target;
  long long c_generation = 0;
  std::vector<std::pair<std::string, CLI::App*>> verbs;
  for (const char* verb : {"promote", "pause", "resume", "abort", "approve", "rollback"}) {
    auto* cmd = deployment->add_subcommand(verb, std::string(verb) + " a deployment");
    cmd->add_option("id", dep_id, "deployment id")->required();
    cmd->add_option("--reason", c_reason, "why (recorded in the audit log and the event)");
    cmd->add_option("--generation", c_generation, "the generation you saw (default: current)");
    if (std::string(verb) == "rollback") {
      cmd->add_option("--to,--target-release", c_target,
                      "roll back to this release id (default: the last stable release)");
    }
    verbs.emplace_back(verb, cmd);
  }

  auto* analysis = app.add_subcommand("analysis", "the metric-watcher's analyses");
  analysis->require_subcommand(1);
  std::string an_deployment, an_id;
  auto* alist = analysis->add_subcommand("list", "the analyses of a deployment");
  alist->add_option("--deployment", an_deployment, "deployment id")->required();
  auto* aget = analysis->add_subcommand(
      "get", "one analysis: the verdict of each rule (exit 0 when Successful, 2 otherwise)");
  aget->add_option("id", an_id, "analysis id")->required();
  std::string analyze_file;
  auto* analyze = app.add_subcommand(
      "analyze",
      "run an analysis over a past time range (POST /v1/analyses) and print the verdict of "
      "each rule (exit 0 when Successful, 2 otherwise)");
  analyze->add_option("-f,--file", analyze_file, "request JSON")->required();

  auto* incident = app.add_subcommand("incident", "the rollback-agent's incident reports");
  incident->require_subcommand(1);
  std::string in_deployment, in_id, in_out;
  bool in_markdown = false;
  auto* ilist = incident->add_subcommand("list", "the incidents of a deployment");
  ilist->add_option("--deployment", in_deployment, "deployment id")->required();
  auto* iget = incident->add_subcommand("get", "one incident report (JSON, or Markdown)");
  iget->add_option("id", in_id, "incident id")->required();
  iget->add_flag("--markdown", in_markdown, "print the report as Markdown");
  auto* ichart = incident->add_subcommand("chart", "save the incident's metric chart (SVG)");
  ichart->add_option("id", in_id, "incident id")->required();
  ichart->add_option("-o,--output", in_out, "file to write, e.g. incident.svg")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    if (*create) {
      json body = {{"app", r_app}, {"tag", r_tag}, {"artifact_url", r_url}, {"sha256", r_sha}};
      if (!r_version.empty()) body["version"] = r_version;
      if (!r_by.empty()) body["created_by"] = r_by;
      if (!r_commit.empty()) body["commit"] = r_commit;
      if (!r_repo.empty()) body["repo"] = r_repo;
      if (!r_kind.empty()) body["artifact_kind"] = r_kind;
      return Call(g, "POST", "/v1/releases", body);
    }
    if (*list) {
      std::string path = "/v1/releases?limit=" + std::to_string(l_limit);
      if (!l_app.empty()) path += "&app=" + l_app;
      return Call(g, "GET", path, std::nullopt);
    }
    if (*get) return Call(g, "GET", "/v1/releases/" + g_id, std::nullopt);
    if (*tail) return TailEvents(brokers, topic, max, ParseDuration(timeout), match);
    if (*apply) return Apply(g, spec_file, spec_app);
    if (*plan) return Plan(g, d_release, d_env, d_spec_version);
    if (*deploy) {
      return Deploy(g, d_release, d_env, d_spec_version, d_key, d_wait, ParseDuration(d_timeout));
    }
    if (*dlist) {
      std::string path = "/v1/deployments?limit=" + std::to_string(dl_limit);
      if (!dl_app.empty()) path += "&app=" + dl_app;
      if (!dl_env.empty()) path += "&env=" + dl_env;
      if (!dl_status.empty()) path += "&status=" + dl_status;
      if (g.raw) return Call(g, "GET", path, std::nullopt);
      const auto a = Request(g, "GET", path);
      if (a.status != 200) return PrintError(a);
      for (const auto& line : sluice::cli::RenderDeploymentList(a.body)) std::cout << line << "\n";
      return 0;
    }
    if (*dget) return Call(g, "GET", "/v1/deployments/" + dep_id, std::nullopt);
    if (*dinstances)
      return Call(g, "GET", "/v1/deployments/" + dep_id + "/instances", std::nullopt);
    if (*dwatch) return Watch(g, dep_id, ParseDuration(w_timeout));
    for (const auto& [verb, cmd] : verbs) {
      if (*cmd) return Command(g, verb, dep_id, c_reason, c_generation, c_target);
    }
    if (*alist) {
      return List(g, "/v1/analyses" + Query("deployment_id", an_deployment),
                  sluice::cli::RenderAnalysisList);
    }
    if (*aget) return ShowAnalysis(g, Request(g, "GET", "/v1/analyses/" + an_id));
    if (*analyze) return Analyze(g, analyze_file);
    if (*ilist) {
      return List(g, "/v1/incidents" + Query("deployment_id", in_deployment),
                  sluice::cli::RenderIncidentList);
    }
    if (*iget) return IncidentGet(g, in_id, in_markdown);
    if (*ichart) return IncidentChart(g, in_id, in_out);
  } catch (const std::exception& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
