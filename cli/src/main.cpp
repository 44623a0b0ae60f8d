// sluice — the command line for Sluice's public API and event stream.
//   sluice release create --app shop --tag v1.2.3 --artifact-url URL --sha256 HEX
//   sluice release list [--app shop] [--limit 20]
//   sluice release get ID
//   sluice events tail [--topic sluice.releases.v1] [--max 1] [--timeout 10s]
//   sluice apply -f demo-app.yaml
//   sluice plan --release ID --env production
//   sluice deploy --release ID --env production [--wait]
//   sluice deployment list|get|watch|retry|promote|pause|resume|abort|approve|rollback ...
//   sluice deployment rollback ID [--to RELEASE_ID] [--reason ...]
//   sluice analysis list --deployment ID | get ID;  sluice analyze -f request.json
//   sluice incident list --deployment ID | get ID [--markdown] | chart ID -o file.svg
//   sluice login --api-url URL --token T [--name NAME];  sluice context list|use|current
//   sluice app list|get|history|diff;  sluice token create|list|revoke;  sluice audit
//   sluice rollback list --deployment ID;  sluice lint -f app.yaml;  sluice version
//   sluice completion bash|zsh|fish
// Settings: flags > environment (SLUICE_API_URL, SLUICE_TOKEN, SLUICE_CONTEXT) > the context
// (config.hpp) > defaults (http://127.0.0.1:8080, the token in var/local/admin-token).
// Read commands print a table, or the API's JSON (-o json) or YAML (-o yaml).
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/core/duration.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/http/client.hpp>
#include <sluice/spec/delivery_spec.hpp>
#include <sstream>
#include <thread>

#include "completion.hpp"
#include "config.hpp"
#include "format.hpp"
#include "publish.hpp"
#include "render.hpp"

namespace {

using nlohmann::json;

namespace cli = sluice::cli;

struct Global {
  std::string api = std::string(cli::kDefaultApi);
  std::string token;
  std::string token_file = std::string(cli::kDefaultTokenFile);
  bool raw = false;
  cli::Format format = cli::Format::kTable;
};

// A wrong command line (exit 64).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::chrono::milliseconds Duration(const std::string& s, const char* flag) {
  const auto d = cli::ParseDuration(s);
  if (!d) {
    throw UsageError(std::string(flag) + " '" + s +
                     "': not a duration; use e.g. 500ms, 10s, 2m, 1h30m or 7d");
  }
  return *d;
}

std::string Env(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string Token(const Global& g) {
  if (!g.token.empty()) return g.token;
  std::ifstream in(g.token_file);
  if (!in) {
    throw std::runtime_error(
        "no API token: run 'sluice login --api-url URL --token TOKEN', pass "
        "--token, set SLUICE_TOKEN, or (in the repository) run 'make up' "
        "to write " +
        g.token_file);
  }
  std::string t;
  std::getline(in, t);
  return t;
}

int PrintError(const Global& g, long status, const json& body, const std::string& raw);

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
  if (res.status >= 400) return PrintError(g, res.status, parsed, res.body);
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

// Prints an API error and what to do next; returns the exit code for the status.
int PrintError(const Global& g, long status, const json& body, const std::string& raw) {
  if (!body.is_discarded() && body.contains("error")) {
    const auto& e = body["error"];
    std::cerr << "error " << status << " " << e.value("code", "") << ": " << e.value("message", "");
    if (e.contains("field") && e["field"].is_string() && !e["field"].get<std::string>().empty()) {
      std::cerr << " (field: " << e["field"].get<std::string>() << ")";
    }
    std::cerr << "\n";
  } else {
    std::cerr << "error " << status << ": " << raw << "\n";
  }
  const std::string hint = cli::HintFor(status, g.api);
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  return cli::ExitCodeForHttpStatus(status) == 0 ? cli::kExitError
                                                 : cli::ExitCodeForHttpStatus(status);
}
int PrintError(const Global& g, const Answer& a) { return PrintError(g, a.status, a.body, a.raw); }

// An answer printed as -o asks: the API's JSON, YAML, or the table `table` makes of it.
int Print(const Global& g, const json& body,
          const std::function<std::vector<std::string>(const json&)>& table) {
  if (g.raw) {
    std::cout << body.dump() << "\n";
  } else if (g.format == cli::Format::kJson) {
    std::cout << body.dump(2) << "\n";
  } else if (g.format == cli::Format::kYaml) {
    std::cout << cli::ToYaml(body);
  } else {
    for (const auto& line : table(body)) std::cout << line << "\n";
  }
  return 0;
}

// GET of `path`, printed as -o asks.
int Show(const Global& g, const std::string& path,
         const std::function<std::vector<std::string>(const json&)>& table) {
  const auto a = Request(g, "GET", path);
  if (a.status != 200) return PrintError(g, a);
  return Print(g, a.body, table);
}

std::function<std::vector<std::string>(const json&)> Items(std::vector<cli::Column> cols,
                                                           std::string empty,
                                                           const char* key = "items") {
  return [cols = std::move(cols), empty = std::move(empty), key](const json& body) {
    return cli::RenderTable(cli::ListItems(body, key), cols, empty);
  };
}

std::vector<std::string> Fields(const json& body) { return cli::RenderFields(body); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path + ": check the path and its permissions");
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
  if (a.status != 200 && a.status != 201) return PrintError(g, a);
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
  if (a.status != 200) return PrintError(g, a);
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
        if (Clock::now() - start > std::chrono::seconds(60)) return PrintError(g, a);
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
    if (timeout.count() > 0 && Clock::now() - start > timeout) {
      std::cerr << "watch: no final status within the timeout; 'sluice deployment get " << id
                << "' shows where it is, 'sluice deployment watch " << id << "' follows it again\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// `--watch`: reads (`fetch`) every `interval` and shows it again as -o asks. On a terminal the
// screen is redrawn in place; otherwise a frame headed by "--- <UTC time>" is printed each time
// the answer changed. `done` ends the watch with an exit code (a deployment that finished).
int WatchFrames(const Global& g, const std::function<Answer()>& fetch,
                std::chrono::milliseconds interval,
                const std::function<std::vector<std::string>(const json&)>& table,
                const std::function<std::optional<int>(const json&)>& done) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::string last_frame, last_problem;
  for (;;) {
    std::string problem;
    try {
      const auto a = fetch();
      if (a.status == 200) {
        std::ostringstream frame;
        if (g.raw) {
          frame << a.body.dump() << "\n";
        } else if (g.format == cli::Format::kJson) {
          frame << a.body.dump(2) << "\n";
        } else if (g.format == cli::Format::kYaml) {
          frame << cli::ToYaml(a.body);
        } else {
          for (const auto& line : table(a.body)) frame << line << "\n";
        }
        if (tty) {
          std::cout << "\033[H\033[2J" << UtcNow() << "  every " << interval.count()
                    << "ms, Ctrl-C stops\n\n"
                    << frame.str() << std::flush;
        } else if (frame.str() != last_frame) {
          std::cout << "--- " << UtcNow() << "\n" << frame.str() << std::flush;
        }
        last_frame = frame.str();
        if (const auto rc = done(a.body)) return *rc;
      } else if (a.status == 401 || a.status == 403 || a.status == 404) {
        return PrintError(g, a);
      } else {
        problem = "the API answered " + std::to_string(a.status) + "; retrying";
      }
    } catch (const sluice::http::HttpError& e) {
      problem = std::string("the API cannot be reached (") + e.what() + "); retrying";
    }
    if (!problem.empty() && problem != last_problem) std::cerr << problem << std::endl;
    last_problem = problem;
    std::this_thread::sleep_for(interval);
  }
}

int Deploy(const Global& g, const std::string& release, const std::string& env, int spec_version,
           const std::string& key, bool wait, std::chrono::milliseconds timeout) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
  const auto a =
      Request(g, "POST", "/v1/deployments", DeploymentBody(release, env, spec_version).dump(),
              "application/json", headers);
  if (a.status != 202) return PrintError(g, a);
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

// A new deployment of a failed, aborted or rolled-back one's release, environment and spec
// version, under the idempotency key RetryKey(id).
int Retry(const Global& g, const std::string& id, bool wait, std::chrono::milliseconds timeout) {
  const auto d = Request(g, "GET", "/v1/deployments/" + sluice::http::UrlEncode(id));
  if (d.status != 200) return PrintError(g, d);
  if (const auto refusal = cli::RetryRefusal(d.body)) {
    std::cerr << "error: " << *refusal << "\n";
    return 1;
  }
  if (!g.raw) {
    std::cout << "retrying deployment " << id << " (" << d.body.value("status", "")
              << "): " << d.body.value("app", "") << " " << d.body.value("version", "") << " -> "
              << d.body.value("env", "") << "\n";
  }
  return Deploy(g, d.body.value("release_id", ""), d.body.value("env", ""),
                d.body.value("spec_version", 0), cli::RetryKey(id), wait, timeout);
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

std::string Enc(const std::string& s) { return sluice::http::UrlEncode(s); }

std::string Query(const std::string& name, const std::string& value) {
  return "?" + name + "=" + sluice::http::UrlEncode(value);
}

// The analysis' verdict per rule (or its JSON with --raw); exit 0 when it was Successful.
int ShowAnalysis(const Global& g, const Answer& a) {
  if (a.status != 200) return PrintError(g, a);
  Print(g, a.body, sluice::cli::RenderAnalysisVerdict);
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
  if (a.status != 200) return PrintError(g, a);
  if (markdown || a.body.is_discarded()) {
    std::cout << a.raw;
    if (!a.raw.empty() && a.raw.back() != '\n') std::cout << "\n";
    return 0;
  }
  return Print(g, a.body, Fields);
}

int IncidentChart(const Global& g, const std::string& id, const std::string& out_file) {
  const auto a = Request(g, "GET", "/v1/incidents/" + id + "/chart.svg", "", "application/json",
                         {{"Accept", "image/svg+xml"}});
  if (a.status != 200) return PrintError(g, a);
  std::ofstream out(out_file, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::runtime_error("cannot write " + out_file +
                             ": check the directory exists and is "
                             "writable");
  }
  out << a.raw;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + out_file);
  std::cout << "wrote " << out_file << " (" << a.raw.size() << " bytes)\n";
  return 0;
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

// Checks the settings against the API (any viewer token reads releases), then stores them as a
// context and makes it the current one.
int Login(const Global& g, const std::string& config_path, const std::string& name) {
  const std::string token = Token(g);
  const auto a = Request(g, "GET", "/v1/releases?limit=1");
  if (a.status != 200) {
    std::cerr << "login: " << g.api << " did not accept the token\n";
    return PrintError(g, a);
  }
  auto config = cli::LoadConfig(config_path);
  config.contexts[name] = {g.api, token};
  config.current = name;
  cli::SaveConfig(config_path, config);
  std::cout << "logged in to " << g.api << " as context '" << name << "' (saved in " << config_path
            << ")\n";
  return 0;
}

int ContextList(const Global& g, const cli::Config& config) {
  json items = json::array();
  for (const auto& [name, c] : config.contexts) {
    items.push_back({{"name", name}, {"api_url", c.api_url}, {"current", name == config.current}});
  }
  return Print(g, {{"current", config.current}, {"items", items}}, [](const json& body) {
    auto lines = cli::RenderTable(body["items"], {{"NAME", "name"}, {"API-URL", "api_url"}},
                                  "no contexts: run 'sluice login --api-url URL --token TOKEN'");
    if (lines.size() > 1) {
      lines[0] = "  " + lines[0];
      for (std::size_t i = 1; i < lines.size(); ++i) {
        lines[i] = (body["items"][i - 1].value("current", false) ? "* " : "  ") + lines[i];
      }
    }
    return lines;
  });
}

// Validates a delivery spec with the parser intake uses (libs/spec), without the API.
int Lint(const std::string& file) {
  const std::string text = ReadFile(file);
  const auto parsed = sluice::spec::ParseDeliverySpec(text, file);
  if (const auto* err = std::get_if<sluice::spec::SpecError>(&parsed)) {
    const json error = {{"message", err->ToString()},
                        {"line", err->line > 0 ? json(err->line) : json()},
                        {"column", err->column > 0 ? json(err->column) : json()}};
    for (const auto& line : cli::RenderSpecError(error, "", file, text)) std::cerr << line << "\n";
    return cli::kExitError;
  }
  const auto& spec = std::get<sluice::spec::DeliverySpec>(parsed);
  std::cout << file << ": valid (app " << spec.app << ", " << spec.environments.size()
            << " environment" << (spec.environments.size() == 1 ? "" : "s") << ")\n";
  return 0;
}

// The YAML of one stored version of an app's spec.
std::string SpecYaml(const Global& g, const std::string& app, int version, int* exit_code) {
  const auto a = Request(
      g, "GET", "/v1/apps/" + sluice::http::UrlEncode(app) + "?version=" + std::to_string(version));
  if (a.status != 200) {
    *exit_code = PrintError(g, a);
    return "";
  }
  return a.body.value("yaml", "");
}

int AppDiff(const Global& g, const std::string& app, int from, int to) {
  if (to <= 0) {
    const auto a = Request(g, "GET", "/v1/apps/" + sluice::http::UrlEncode(app));
    if (a.status != 200) return PrintError(g, a);
    to = a.body.value("version", 0);
  }
  if (from <= 0) from = to - 1;
  if (from <= 0) {
    std::cerr << app << " has one spec version (" << to << "); nothing to compare it with\n";
    return cli::kExitError;
  }
  int rc = 0;
  const std::string a = SpecYaml(g, app, from, &rc);
  if (rc != 0) return rc;
  const std::string b = SpecYaml(g, app, to, &rc);
  if (rc != 0) return rc;
  const std::string diff = cli::UnifiedDiff(a, b, app + ".yaml@" + std::to_string(from),
                                            app + ".yaml@" + std::to_string(to));
  if (diff.empty()) {
    std::cout << app << ": versions " << from << " and " << to << " are the same\n";
  } else {
    std::cout << diff;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice — progressive delivery for Kubernetes, VMs and bare metal"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags are accepted after the subcommand too
  Global g;
  std::string flag_api, flag_token, flag_token_file, flag_context, output = "table";
  auto* api_opt = app.add_option("--api-url,--api", flag_api,
                                 "public API base URL (SLUICE_API_URL; default: the context's, "
                                 "else http://127.0.0.1:8080)");
  auto* token_opt = app.add_option("--token", flag_token, "API token (SLUICE_TOKEN)");
  auto* token_file_opt =
      app.add_option("--token-file", flag_token_file,
                     "file holding the API token (default var/local/admin-token)");
  auto* context_opt = app.add_option("--context", flag_context,
                                     "use this context of the config file (SLUICE_CONTEXT)");
  app.add_option("-o,--output", output, "how read commands print: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.add_flag("--raw", g.raw, "print JSON on one line");

  auto* release = app.add_subcommand("release", "create, list and show releases");
  release->require_subcommand(1);
  json create_body = json::object();
  std::string r_app, r_tag, r_version, r_url, r_sha, r_by, r_commit, r_repo, r_kind, r_image,
      r_image_digest;
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
  create->add_option("--image", r_image,
                     "the image Kubernetes targets run (a tarball release that also goes to them)");
  create->add_option("--image-digest", r_image_digest, "that image's digest, sha256:<hex>");
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
  bool watch_flag = false;
  std::string watch_interval = "2s";
  dlist->add_flag("-w,--watch", watch_flag, "show the list again as it changes (Ctrl-C stops)");
  dlist->add_option("--interval", watch_interval, "with --watch: how often to read, e.g. 2s");
  std::string dep_id;
  auto* dget = deployment->add_subcommand("get", "show one deployment: batches and next command");
  dget->add_option("id", dep_id, "deployment id")->required();
  dget->add_flag("-w,--watch", watch_flag,
                 "show it again as it changes until it finishes (exit 0 on success, 2 otherwise)");
  dget->add_option("--interval", watch_interval, "with --watch: how often to read, e.g. 2s");
  std::string w_timeout = "0s";
  auto* dwatch = deployment->add_subcommand(
      "watch", "follow a deployment until it finishes (exit 0 on success, 2 otherwise)");
  dwatch->add_option("id", dep_id, "deployment id")->required();
  dwatch->add_option("--timeout", w_timeout, "give up after this long (0s: never)");
  auto* dretry = deployment->add_subcommand(
      "retry",
      "deploy a failed, aborted or rolled-back deployment's release again: a new deployment of the "
      "same release, environment and spec version (run twice, it deploys once)");
  dretry->add_option("id", dep_id, "deployment id")->required();
  dretry->add_flag("--wait", d_wait,
                   "watch until the new deployment finishes (exit 0 on success, 2 otherwise)");
  dretry->add_option("--timeout", d_timeout, "with --wait: give up after this long (0s: never)");
  auto* dinstances = deployment->add_subcommand("instances", "show the hosts of a deployment");
  dinstances->add_option("id", dep_id, "deployment id")->required();
  std::string c_reason, c_target;
  long long c_generation = 0;
  std::vector<std::pair<std::string, CLI::App*>> verbs;
  using V = sluice::v1::OperatorCommand;
  for (const auto value : {V::VERB_PROMOTE, V::VERB_PAUSE, V::VERB_RESUME, V::VERB_ABORT,
                           V::VERB_APPROVE, V::VERB_ROLLBACK}) {
    const std::string verb(sluice::events::Name(value));
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

  auto* login = app.add_subcommand(
      "login", "check an API URL and token and save them as a context (the current one)");
  std::string login_context = "default";
  login->add_option("--name", login_context, "the context's name (default: default)");
  auto* context = app.add_subcommand("context", "the contexts of the config file");
  context->require_subcommand(1);
  auto* ctx_list = context->add_subcommand("list", "every context; * marks the current one");
  auto* ctx_current = context->add_subcommand("current", "the context in use and its API URL");
  std::string ctx_name;
  auto* ctx_use = context->add_subcommand("use", "make a context the current one");
  ctx_use->add_option("name", ctx_name, "context name")->required();

  auto* version = app.add_subcommand("version", "print the CLI's version");
  std::string shell;
  auto* completion = app.add_subcommand(
      "completion", "print a shell completion script: source <(sluice completion bash)");
  completion->add_option("shell", shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));
  std::string lint_file;
  auto* lint = app.add_subcommand(
      "lint", "validate a delivery spec locally with the rollout-planner's parser (no API)");
  lint->add_option("-f,--file", lint_file, "delivery spec YAML")->required();

  auto* apps = app.add_subcommand("app", "applications and their delivery spec versions");
  apps->require_subcommand(1);
  std::string app_name;
  int app_version = 0, diff_from = 0, diff_to = 0;
  auto* app_list = apps->add_subcommand("list", "every app with its latest spec version");
  auto* app_get = apps->add_subcommand("get", "an app's latest (or --version N) spec");
  app_get->add_option("app", app_name, "app name")->required();
  app_get->add_option("--version", app_version, "spec version (default: latest)");
  auto* app_history = apps->add_subcommand("history", "every spec version of an app");
  app_history->add_option("app", app_name, "app name")->required();
  auto* app_diff = apps->add_subcommand(
      "diff", "a unified diff between two spec versions (default: the latest and the one before)");
  app_diff->add_option("app", app_name, "app name")->required();
  app_diff->add_option("--from", diff_from, "older version (default: --to minus one)");
  app_diff->add_option("--to", diff_to, "newer version (default: the latest)");

  auto* token = app.add_subcommand("token", "API tokens (admin)");
  token->require_subcommand(1);
  std::string t_name, t_role, t_expires_in, t_expires_at, t_id;
  auto* token_create = token->add_subcommand("create", "make a token; its secret is shown once");
  token_create->add_option("--name", t_name, "token name (unique)")->required();
  token_create->add_option("--role", t_role, "viewer, deployer, approver or admin")->required();
  token_create->add_option("--expires-in", t_expires_in, "e.g. 12h, 90d, 1d12h");
  token_create->add_option("--expires-at", t_expires_at, "RFC 3339 time");
  auto* token_list = token->add_subcommand("list", "every token (without secrets)");
  auto* token_revoke = token->add_subcommand("revoke", "revoke a token from its next request on");
  token_revoke->add_option("id", t_id, "token id")->required();

  int audit_limit = 50;
  auto* audit = app.add_subcommand("audit", "the audit log of mutating calls (admin)");
  audit->add_option("--limit", audit_limit, "how many, newest first");

  auto* rollback = app.add_subcommand("rollback", "the rollback-agent's rollbacks");
  rollback->require_subcommand(1);
  std::string rb_deployment;
  auto* rb_list = rollback->add_subcommand("list", "the rollbacks and triggers of a deployment");
  rb_list->add_option("--deployment", rb_deployment, "deployment id")->required();

  cli::PublishCommand publish(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    if (rc != 0) std::cerr << "run 'sluice --help' (or 'sluice <command> --help') for usage\n";
    return rc == 0 ? 0 : cli::kExitUsage;
  }
  std::string config_path;
  try {
    g.format = *cli::ParseFormat(output);
    config_path = cli::ConfigPath(std::getenv("SLUICE_CONFIG"), std::getenv("XDG_CONFIG_HOME"),
                                  std::getenv("HOME"));
    if (*version) {
      std::cout << "sluice " << SLUICE_VERSION << "\n";
      return 0;
    }
    if (*completion) {
      auto tree = cli::DescribeCommands(app);
      tree.name = "sluice";  // not argv[0]: the script completes the command on the PATH
      std::cout << cli::CompletionScript(tree, shell);
      return 0;
    }
    if (*lint) return Lint(lint_file);
    auto config = cli::LoadConfig(config_path);
    if (*ctx_list) return ContextList(g, config);
    if (*ctx_use) {
      if (!config.contexts.contains(ctx_name)) {
        std::cerr << "no context named '" << ctx_name
                  << "'; 'sluice context list' shows them, 'sluice login --name " << ctx_name
                  << "' makes it\n";
        return cli::kExitNotFound;
      }
      config.current = ctx_name;
      cli::SaveConfig(config_path, config);
      std::cout << "now using context '" << ctx_name << "' (" << config.contexts[ctx_name].api_url
                << ")\n";
      return 0;
    }
    cli::SettingSources sources;
    auto given = [](CLI::Option* o, const std::string& v) {
      return o->count() > 0 ? std::optional<std::string>(v) : std::nullopt;
    };
    auto env = [](const char* n) {
      const char* v = std::getenv(n);
      return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
    };
    sources.flag_api = given(api_opt, flag_api);
    sources.flag_token = given(token_opt, flag_token);
    sources.flag_token_file = given(token_file_opt, flag_token_file);
    // login makes a context: it does not read one (its --name says which it writes).
    if (!*login) {
      sources.flag_context = given(context_opt, flag_context);
      sources.env_context = env("SLUICE_CONTEXT");
      sources.config = config;
    }
    sources.env_api = env("SLUICE_API_URL");
    sources.env_token = env("SLUICE_TOKEN");
    const auto settings = cli::ResolveSettings(sources);
    g.api = settings.api;
    g.token = settings.token;
    g.token_file = settings.token_file.empty() ? g.token_file : settings.token_file;
    if (publish.Chosen()) return publish.Run(Token(g));
    if (*ctx_current) {
      if (settings.context.empty()) {
        std::cout << "no context (API " << g.api << ", from " << settings.api_from
                  << "); 'sluice login' makes one\n";
      } else {
        std::cout << settings.context << " (API " << g.api << ", from " << settings.api_from
                  << ")\n";
      }
      return 0;
    }
    if (*login) return Login(g, config_path, login_context);
    if (*create) {
      json body = {{"app", r_app}, {"tag", r_tag}, {"artifact_url", r_url}, {"sha256", r_sha}};
      if (!r_version.empty()) body["version"] = r_version;
      if (!r_by.empty()) body["created_by"] = r_by;
      if (!r_commit.empty()) body["commit"] = r_commit;
      if (!r_repo.empty()) body["repo"] = r_repo;
      if (!r_kind.empty()) body["artifact_kind"] = r_kind;
      if (!r_image.empty()) body["image"] = r_image;
      if (!r_image_digest.empty()) body["image_digest"] = r_image_digest;
      return Call(g, "POST", "/v1/releases", body);
    }
    if (*list) {
      std::string path = "/v1/releases?limit=" + std::to_string(l_limit);
      if (!l_app.empty()) path += "&app=" + Enc(l_app);
      return Show(g, path,
                  Items({{"ID", "id"},
                         {"APP", "app"},
                         {"VERSION", "version"},
                         {"TAG", "tag"},
                         {"CREATED-BY", "created_by"},
                         {"CREATED", "created_at"}},
                        "no releases"));
    }
    if (*get) return Show(g, "/v1/releases/" + Enc(g_id), Fields);
    if (*tail) {
      return TailEvents(brokers, topic, max, Duration(timeout, "--timeout"), match);
    }
    if (*apply) return Apply(g, spec_file, spec_app);
    if (*plan) return Plan(g, d_release, d_env, d_spec_version);
    if (*deploy) {
      return Deploy(g, d_release, d_env, d_spec_version, d_key, d_wait,
                    Duration(d_timeout, "--timeout"));
    }
    if (*dretry) return Retry(g, dep_id, d_wait, Duration(d_timeout, "--timeout"));
    if (*dlist) {
      std::string path = "/v1/deployments?limit=" + std::to_string(dl_limit);
      if (!dl_app.empty()) path += "&app=" + Enc(dl_app);
      if (!dl_env.empty()) path += "&env=" + Enc(dl_env);
      if (!dl_status.empty()) path += "&status=" + Enc(dl_status);
      if (watch_flag) {
        return WatchFrames(
            g, [&] { return Request(g, "GET", path); }, Duration(watch_interval, "--interval"),
            cli::RenderDeploymentList, [](const json&) { return std::optional<int>(); });
      }
      return Show(g, path, cli::RenderDeploymentList);
    }
    if (*dget) {
      const std::string path = "/v1/deployments/" + Enc(dep_id);
      // The table shows each host's version and health too (the executor's records; left out
      // when it cannot be asked).
      // So does the latest analysis of the deployment, with its latest measurement.
      json instances, latest_analysis;
      const bool table = g.format == cli::Format::kTable && !g.raw;
      auto fetch = [&] {
        auto a = Request(g, "GET", path);
        if (a.status == 200 && table) {
          instances = latest_analysis = json();
          try {
            const auto i = Request(g, "GET", path + "/instances");
            if (i.status == 200) instances = i.body;
            const auto analyses =
                Request(g, "GET", "/v1/analyses" + Query("deployment_id", dep_id));
            const json items = cli::ListItems(analyses.body, "analyses");
            if (analyses.status == 200 && !items.empty()) {
              // The latest: the one started last.
              json latest = items[0];
              for (const auto& item : items) {
                if (item.value("started_at", "") >= latest.value("started_at", "")) latest = item;
              }
              const auto one = Request(g, "GET", "/v1/analyses/" + Enc(latest.value("id", "")));
              if (one.status == 200) latest_analysis = one.body;
            }
          } catch (const sluice::http::HttpError&) {
            // The deployment is shown without them.
          }
        }
        return a;
      };
      auto view = [&](const json& d) {
        return cli::RenderDeploymentView(d, instances, latest_analysis);
      };
      if (watch_flag) {
        return WatchFrames(
            g, fetch, Duration(watch_interval, "--interval"), view, [](const json& d) {
              const std::string status = d.value("status", "");
              return cli::IsFinalStatus(status) ? std::optional<int>(cli::ExitCodeFor(status))
                                                : std::nullopt;
            });
      }
      const auto a = fetch();
      if (a.status != 200) return PrintError(g, a);
      return Print(g, a.body, view);
    }
    if (*dwatch) return Watch(g, dep_id, Duration(w_timeout, "--timeout"));
    for (const auto& [verb, cmd] : verbs) {
      if (*cmd) return Command(g, verb, Enc(dep_id), c_reason, c_generation, c_target);
    }
    if (*alist) {
      return Show(g, "/v1/analyses" + Query("deployment_id", an_deployment),
                  cli::RenderAnalysisList);
    }
    if (*aget) return ShowAnalysis(g, Request(g, "GET", "/v1/analyses/" + Enc(an_id)));
    if (*analyze) return Analyze(g, analyze_file);
    if (*ilist) {
      return Show(g, "/v1/incidents" + Query("deployment_id", in_deployment),
                  cli::RenderIncidentList);
    }
    if (*iget) return IncidentGet(g, Enc(in_id), in_markdown);
    if (*ichart) return IncidentChart(g, Enc(in_id), in_out);
    if (*app_list) {
      return Show(g, "/v1/apps",
                  Items({{"APP", "app"},
                         {"VERSION", "version"},
                         {"APPLIED-BY", "applied_by"},
                         {"APPLIED", "applied_at_ms"},
                         {"SHA256", "sha256"}},
                        "no apps: store a delivery spec with 'sluice apply -f app.yaml'"));
    }
    if (*app_get) {
      std::string path = "/v1/apps/" + Enc(app_name);
      if (app_version > 0) path += "?version=" + std::to_string(app_version);
      // As a table: the fields, then the spec itself.
      return Show(g, path, [](const json& body) {
        json fields = body;
        fields.erase("yaml");
        auto lines = cli::RenderFields(fields);
        lines.push_back("---");
        std::istringstream yaml(body.value("yaml", ""));
        for (std::string line; std::getline(yaml, line);) lines.push_back(line);
        return lines;
      });
    }
    if (*app_history) {
      return Show(g, "/v1/apps/" + Enc(app_name) + "/versions",
                  Items({{"VERSION", "version"},
                         {"APPLIED-BY", "applied_by"},
                         {"APPLIED", "applied_at_ms"},
                         {"SHA256", "sha256"}},
                        "no versions"));
    }
    if (*app_diff) return AppDiff(g, app_name, diff_from, diff_to);
    if (*token_create) {
      if (!t_expires_in.empty() && !t_expires_at.empty()) {
        throw UsageError("pass --expires-in or --expires-at, not both");
      }
      if (!t_expires_in.empty()) (void)Duration(t_expires_in, "--expires-in");
      json body = {{"name", t_name}, {"role", t_role}};
      if (!t_expires_in.empty()) body["expires_in"] = t_expires_in;
      if (!t_expires_at.empty()) body["expires_at"] = t_expires_at;
      const auto a = Request(g, "POST", "/v1/tokens", body.dump());
      if (a.status != 201) return PrintError(g, a);
      if (g.raw || g.format != cli::Format::kTable) return Print(g, a.body, Fields);
      std::cout << "token " << a.body.value("name", "") << " (" << a.body.value("role", "")
                << ", id " << a.body.value("id", "") << ") created; store it now, it is not "
                << "shown again:\n"
                << a.body.value("token", "") << "\n";
      return 0;
    }
    if (*token_list) {
      return Show(g, "/v1/tokens",
                  Items({{"ID", "id"},
                         {"NAME", "name"},
                         {"ROLE", "role"},
                         {"CREATED-BY", "created_by"},
                         {"EXPIRES", "expires_at_ms"},
                         {"LAST-USED", "last_used_at_ms"},
                         {"REVOKED", "revoked"}},
                        "no tokens"));
    }
    if (*token_revoke) {
      const auto a = Request(g, "DELETE", "/v1/tokens/" + Enc(t_id));
      if (a.status != 200) return PrintError(g, a);
      if (g.raw || g.format != cli::Format::kTable) return Print(g, a.body, Fields);
      std::cout << "token " << a.body.value("name", "") << " (" << t_id << ") "
                << (a.body.value("already_revoked", false) ? "was already revoked" : "revoked")
                << "\n";
      return 0;
    }
    if (*audit) {
      return Show(g, "/v1/audit?limit=" + std::to_string(audit_limit),
                  Items({{"AT", "at_ms"},
                         {"ACTOR", "actor"},
                         {"ACTION", "action"},
                         {"TARGET", "target"},
                         {"OUTCOME", "outcome"}},
                        "the audit log is empty"));
    }
    if (*rb_list) {
      return Show(g, "/v1/rollbacks" + Query("deployment_id", rb_deployment), [](const json& b) {
        auto lines = cli::RenderTable(b.value("rollbacks", json::array()),
                                      {{"ROLLBACK", "rollback_id"},
                                       {"SCOPE", "scope"},
                                       {"TARGET", "target_version"},
                                       {"TRIGGER", "trigger"},
                                       {"STATUS", "final_status"}},
                                      "no rollbacks");
        const auto triggers = b.value("triggers", json::array());
        if (!triggers.empty()) {
          lines.push_back("");
          lines.push_back(std::to_string(triggers.size()) + " trigger(s); -o yaml shows them");
        }
        return lines;
      });
    }
  } catch (const UsageError& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return cli::kExitUsage;
  } catch (const sluice::http::HttpError& e) {
    std::cerr << "sluice: the API at " << g.api << " cannot be reached (" << e.what() << ")\n"
              << "hint: is release-intake running? Check --api-url, SLUICE_API_URL or 'sluice "
                 "context current'; in the repository 'make up' starts the services\n";
    return cli::kExitUnavailable;
  } catch (const std::exception& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return cli::kExitError;
  }
  return 0;
}
