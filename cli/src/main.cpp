// sluice — the command line for Sluice's public API and event stream.
//   sluice release create --app shop --tag v1.2.3 --artifact-url URL --sha256 HEX
//   sluice release list [--app shop] [--limit 20]
//   sluice release get ID
//   sluice events tail [--topic sluice.releases.v1] [--max 1] [--timeout 10s]
// The API address comes from --api or SLUICE_API_URL (default http://127.0.0.1:8080); the token
// from --token, SLUICE_TOKEN, or the file --token-file (default var/local/admin-token).
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafkacpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sstream>

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

std::chrono::milliseconds ParseDuration(const std::string& s) {
  std::size_t pos = 0;
  const long long n = std::stoll(s, &pos);
  const std::string unit = s.substr(pos);
  if (unit == "ms") return std::chrono::milliseconds(n);
  if (unit == "s") return std::chrono::seconds(n);
  if (unit == "m") return std::chrono::minutes(n);
  throw std::invalid_argument("duration '" + s + "': use 500ms, 10s or 2m");
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
  tail->add_option("--timeout", timeout, "give up after this long, e.g. 10s");
  tail->add_option("--match", match, "only events whose JSON contains this text");

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
  } catch (const std::exception& e) {
    std::cerr << "sluice: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
