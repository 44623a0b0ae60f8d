// rollout-bench: the measuring half of bench/rollout/run.sh.
//
//   rollout-bench sim-agent --addr 127.0.0.1:17999 --token-file var/local/agent-token
//       One process answering sluice-agent's API for any number of hosts: the host is the
//       path prefix (/h/<host>/v1/deploy, /h/<host>/v1/revert, /h/<host>/v1/status), so a
//       target's agentEndpoint is http://ADDR/h/<host>. Deploys and reverts succeed at once
//       (after --work-ms), remembering current / previous version and the highest generation.
//
//   rollout-bench rollout --api URL --token-file F --release ID --env ENV --pid P [--pid P]
//       POST /v1/deployments to release-intake and follow the deployment on Kafka until
//       DeploymentSucceeded / DeploymentFailed: wall time from the request, the deployment's
//       events on sluice.deployments.v1 + sluice.executions.v1, and the CPU time the given
//       processes spent meanwhile (utime + stime of /proc/<pid>/stat).
//
//   rollout-bench revert --hosts-file hosts.json --from V1,URL,SHA --to V2,URL,SHA
//       Installs V1 then V2 on every host through the executor (BatchRequested), then sends
//       the RevertRequested the rollback-agent would send (newer generation, target V1, every
//       host) and measures from its publication to RevertCompleted.
//
//   rollout-bench breach --deployment-id D --prometheus URL --query Q --threshold X
//                        --apps-file app-addrs.txt [--fault JSON]
//       Turns a fault on at every application (POST /admin/faults) and follows deployment D on
//       Kafka to RollbackCompleted; then reads back (query_range, 100 ms steps) the first
//       instant the rule's query showed the breach: the time from the breach being queryable
//       to each event of the automatic rollback.
//
// Every subcommand prints its figures as `key=value` lines (the script parses them) and
// exits 0 only when the measured operation succeeded.
#include <httplib.h>
#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/http/client.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;
using nlohmann::json;
namespace v1 = sluice::v1;
namespace events = sluice::events;

double SecondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  std::getline(in, token);
  if (token.empty()) throw std::runtime_error("no token in " + path);
  return token;
}

// utime + stime of a process, in milliseconds.
double CpuMillis(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (text.empty() || close == std::string::npos) {
    throw std::runtime_error("pid " + std::to_string(pid) + " is not running");
  }
  std::istringstream rest(text.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  // After the command: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt
  // cmajflt utime(11) stime(12).
  if (fields.size() < 13) throw std::runtime_error("short /proc/<pid>/stat");
  const double ticks = std::stod(fields[11]) + std::stod(fields[12]);
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------------------------------------------------------------------------
// Kafka
// ---------------------------------------------------------------------------
class EventReader {
 public:
  EventReader(const std::string& brokers, const std::vector<std::string>& topics) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    conf->set("bootstrap.servers", brokers, err);
    conf->set("group.id", "rollout-bench-" + sluice::core::NewUuid(), err);
    conf->set("auto.offset.reset", "latest", err);
    conf->set("enable.auto.commit", "false", err);
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw std::runtime_error("kafka consumer: " + err);
    consumer_->subscribe(topics);
    // Only events published after the assignment count: wait for it.
    const auto deadline = SteadyClock::now() + std::chrono::seconds(30);
    while (SteadyClock::now() < deadline) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      std::vector<RdKafka::TopicPartition*> parts;
      consumer_->assignment(parts);
      const bool assigned = !parts.empty();
      RdKafka::TopicPartition::destroy(parts);
      if (assigned) {
        // `latest` is resolved lazily: one more poll fixes the positions before we publish.
        std::unique_ptr<RdKafka::Message> again(consumer_->consume(200));
        return;
      }
    }
    throw std::runtime_error("kafka consumer: no partition assignment after 30 s");
  }
  ~EventReader() { consumer_->close(); }
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  std::optional<v1::Envelope> Next(int timeout_ms) {
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(timeout_ms));
    if (m->err() != RdKafka::ERR_NO_ERROR) return std::nullopt;
    std::string error;
    return events::Parse(std::string_view(static_cast<const char*>(m->payload()), m->len()),
                         &error);
  }

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

class EventWriter {
 public:
  explicit EventWriter(const std::string& brokers) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    conf->set("bootstrap.servers", brokers, err);
    conf->set("enable.idempotence", "true", err);
    conf->set("linger.ms", "0", err);
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw std::runtime_error("kafka producer: " + err);
  }

  void Publish(v1::Envelope envelope) {
    events::Finalize(envelope);
    const std::string bytes = envelope.SerializeAsString();
    const std::string key = events::PartitionKey(envelope);
    RdKafka::Headers* headers = RdKafka::Headers::create();
    for (const auto& [k, v] : events::CloudEventHeaders(envelope)) headers->add(k, v);
    const auto code =
        producer_->produce(std::string(events::TopicFor(envelope)), RdKafka::Topic::PARTITION_UA,
                           RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(bytes.data()),
                           bytes.size(), key.data(), key.size(), 0, headers, nullptr);
    if (code != RdKafka::ERR_NO_ERROR) {
      delete headers;
      throw std::runtime_error("produce: " + RdKafka::err2str(code));
    }
    if (producer_->flush(10000) != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("produce: not delivered within 10 s");
    }
  }

 private:
  std::unique_ptr<RdKafka::Producer> producer_;
};

// ---------------------------------------------------------------------------
// sim-agent
// ---------------------------------------------------------------------------
struct SimHost {
  std::string current;
  std::string previous;
  std::uint64_t highest_generation = 0;
};

std::atomic<bool> g_stop{false};
httplib::Server* g_server = nullptr;

void OnSignal(int) {
  g_stop = true;
  if (g_server != nullptr) g_server->stop();
}

// The simulated agents' state, shared by the server's threads.
struct SimAgents {
  std::string token;
  int work_ms = 0;
  std::mutex mu;
  std::map<std::string, SimHost> hosts;
  std::atomic<long> calls{0};
};

bool Authorized(const SimAgents& sim, const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value("Authorization") == "Bearer " + sim.token) return true;
  res.status = 401;
  res.set_content(R"({"error":{"code":"unauthorized","message":"bad token"}})", "application/json");
  return false;
}

json StatusJson(const SimHost& h) {
  return json{{"current", h.current},
              {"previous", h.previous},
              {"health_status", h.current.empty() ? "unknown" : "healthy"},
              {"highest_generation", h.highest_generation}};
}

// POST /h/<host>/v1/deploy or /revert: succeeds at once (after --work-ms) unless the generation
// is stale or, for a revert, the version is not the one kept.
void Operate(SimAgents& sim, const httplib::Request& req, httplib::Response& res, bool revert) {
  ++sim.calls;
  if (!Authorized(sim, req, res)) return;
  const json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.contains("version") || !body.contains("generation")) {
    res.status = 400;
    res.set_content(R"({"error":{"code":"invalid_field","message":"version, generation"}})",
                    "application/json");
    return;
  }
  if (sim.work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sim.work_ms));
  const std::string version = body["version"].get<std::string>();
  const auto generation = body["generation"].get<std::uint64_t>();
  std::lock_guard lock(sim.mu);
  SimHost& h = sim.hosts[req.matches[1].str()];
  if (generation < h.highest_generation) {
    res.status = 409;
    res.set_content(R"({"error":{"code":"stale_generation","message":"older generation"}})",
                    "application/json");
    return;
  }
  h.highest_generation = generation;
  std::string result = "unchanged";
  if (h.current != version) {
    if (revert && h.previous != version) {
      res.status = 404;
      res.set_content(R"({"error":{"code":"not_installed","message":"not kept"}})",
                      "application/json");
      return;
    }
    h.previous = h.current;
    h.current = version;
    result = "succeeded";
  }
  const json answer = {
      {"result", result},
      {"operation",
       {{"kind", revert ? "revert" : "deploy"}, {"version", version}, {"state", "succeeded"}}},
      {"status", StatusJson(h)}};
  res.set_content(answer.dump(), "application/json");
}

void AddSimRoutes(httplib::Server& server, SimAgents& sim) {
  server.Post(R"(/h/([^/]+)/v1/deploy)",
              [&sim](const httplib::Request& req, httplib::Response& res) {
                Operate(sim, req, res, false);
              });
  server.Post(R"(/h/([^/]+)/v1/revert)",
              [&sim](const httplib::Request& req, httplib::Response& res) {
                Operate(sim, req, res, true);
              });
  server.Get(
      R"(/h/([^/]+)/v1/status)", [&sim](const httplib::Request& req, httplib::Response& res) {
        ++sim.calls;
        if (!Authorized(sim, req, res)) return;
        std::lock_guard lock(sim.mu);
        res.set_content(StatusJson(sim.hosts[req.matches[1].str()]).dump(), "application/json");
      });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  server.Get("/stats", [&sim](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(sim.mu);
    res.set_content(json{{"hosts", sim.hosts.size()}, {"calls", sim.calls.load()}}.dump(),
                    "application/json");
  });
}

int RunSimAgent(const std::string& addr, const std::string& token_file, int work_ms, int threads) {
  SimAgents sim;
  sim.token = ReadToken(token_file);
  sim.work_ms = work_ms;
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--addr must be HOST:PORT");
  const std::string host = addr.substr(0, colon);
  const int port = std::stoi(addr.substr(colon + 1));

  httplib::Server server;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  AddSimRoutes(server, sim);

  g_server = &server;
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  if (!server.bind_to_port(host, port)) {
    g_server = nullptr;  // the signal handler must not reach a server that is gone
    std::cerr << "rollout-bench sim-agent: cannot listen on " << addr << "\n";
    return 2;
  }
  std::cerr << "rollout-bench sim-agent: listening on " << addr << "\n";
  server.listen_after_bind();
  g_server = nullptr;
  std::cerr << "rollout-bench sim-agent: stopped after " << sim.calls.load() << " calls\n";
  return 0;
}

// ---------------------------------------------------------------------------
// rollout
// ---------------------------------------------------------------------------
int RunRollout(const std::string& brokers, const std::string& api, const std::string& token_file,
               const std::string& release, const std::string& env, const std::vector<int>& pids,
               int timeout_s, double settle_s) {
  const std::string token = ReadToken(token_file);
  EventReader reader(
      brokers, {std::string(events::kTopicDeployments), std::string(events::kTopicExecutions)});
  std::vector<double> cpu_before;
  for (int pid : pids) cpu_before.push_back(CpuMillis(pid));

  const auto t0 = SteadyClock::now();
  sluice::http::ClientRequest req;
  req.method = "POST";
  req.url = api + "/v1/deployments";
  req.body = json{{"release_id", release}, {"env", env}}.dump();
  req.timeout = std::chrono::seconds(30);
  req.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  const auto res = sluice::http::Send(req);
  if (res.status != 202) {
    std::cerr << "rollout-bench: POST /v1/deployments answered " << res.status << ": " << res.body
              << "\n";
    return 2;
  }
  const std::string id = json::parse(res.body).value("deployment_id", "");
  std::cerr << "rollout-bench: deployment " << id << " requested\n";

  std::map<std::string, long> by_type;
  long count = 0;
  std::optional<bool> succeeded;
  std::string detail;
  const auto deadline = t0 + std::chrono::seconds(timeout_s);
  while (!succeeded && SteadyClock::now() < deadline) {
    auto e = reader.Next(100);
    if (!e || e->deployment_id() != id) continue;
    ++count;
    ++by_type[e->type()];
    if (e->has_deployment_succeeded()) succeeded = true;
    if (e->has_deployment_failed()) {
      succeeded = false;
      detail = sluice::events::ReasonText(e->deployment_failed()) + ": " +
               e->deployment_failed().detail();
    }
  }
  const double wall = SecondsSince(t0);
  // Events of the deployment still in flight (the executor's last records) and the CPU they
  // cost are the deployment's too: let the services settle before reading the counters.
  const auto settle_until = SteadyClock::now() + std::chrono::duration<double>(settle_s);
  while (SteadyClock::now() < settle_until) {
    auto e = reader.Next(50);
    if (!e || e->deployment_id() != id) continue;
    ++count;
    ++by_type[e->type()];
  }
  double cpu_total = 0;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    const double used = CpuMillis(pids[i]) - cpu_before[i];
    cpu_total += used;
    std::printf("cpu_ms_pid_%d=%.0f\n", pids[i], used);
  }
  std::printf("deployment_id=%s\n", id.c_str());
  std::printf("result=%s\n", !succeeded ? "timeout" : (*succeeded ? "succeeded" : "failed"));
  if (!detail.empty()) std::printf("detail=%s\n", detail.c_str());
  std::printf("wall_s=%.3f\n", wall);
  std::printf("events=%ld\n", count);
  std::printf("events_per_s=%.1f\n", static_cast<double>(count) / wall);
  std::printf("cpu_ms_total=%.0f\n", cpu_total);
  for (const auto& [type, n] : by_type) std::printf("events_%s=%ld\n", type.c_str(), n);
  std::fflush(stdout);
  return succeeded.value_or(false) ? 0 : 1;
}

// ---------------------------------------------------------------------------
// revert
// ---------------------------------------------------------------------------
struct Version {
  std::string version;
  std::string url;
  std::string sha256;
};

Version ParseVersion(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string p; std::getline(in, p, ',');) parts.push_back(p);
  if (parts.size() != 3) throw std::runtime_error("give VERSION,URL,SHA256, got " + text);
  return {parts[0], parts[1], parts[2]};
}

struct Host {
  std::string name;
  std::string address;
  std::string endpoint;
};

std::vector<Host> ReadHosts(const std::string& path) {
  std::ifstream in(path);
  const json j = json::parse(in);
  std::vector<Host> hosts;
  for (const auto& h : j) {
    hosts.push_back({h.at("name").get<std::string>(), h.at("address").get<std::string>(),
                     h.at("agent_endpoint").get<std::string>()});
  }
  return hosts;
}

v1::Envelope NewEvent(const std::string& deployment_id) {
  static const sluice::core::SystemClock kClock;
  auto e = events::NewEnvelope("rollout-bench", kClock);
  e.set_deployment_id(deployment_id);
  return e;
}

// Waits for the executor's answer to a batch or a revert; returns the closing event.
std::optional<v1::Envelope> WaitClosing(EventReader& reader, const std::string& deployment_id,
                                        int timeout_s, long* instance_events) {
  const auto deadline = SteadyClock::now() + std::chrono::seconds(timeout_s);
  while (SteadyClock::now() < deadline) {
    auto e = reader.Next(50);
    if (!e || e->deployment_id() != deployment_id) continue;
    if (e->has_instance_updated()) ++*instance_events;
    if (e->has_batch_succeeded() || e->has_batch_failed() || e->has_revert_completed()) return e;
  }
  return std::nullopt;
}

// What a revert run installs and how: the hosts, their service commands and the limits.
struct RevertPlan {
  std::string deployment_id;
  std::vector<Host> hosts;
  int max_parallel = 10;
  std::vector<std::string> restart;
  std::vector<std::string> health;
  int timeout_s = 600;
};

// The BatchRequested that installs `v` on every host as batch `batch`.
v1::Envelope InstallRequest(const RevertPlan& plan, std::uint32_t batch, const Version& v) {
  auto e = NewEvent(plan.deployment_id);
  auto* b = e.mutable_batch_requested();
  b->set_deployment_id(plan.deployment_id);
  b->set_batch_index(batch);
  b->set_generation(1);
  b->set_app("bench-revert");
  b->set_env("bench");
  b->set_max_parallel(static_cast<std::uint32_t>(plan.max_parallel));
  b->mutable_host_timeout()->set_seconds(120);
  auto* a = b->mutable_artifact();
  a->set_version(v.version);
  a->set_url(v.url);
  a->set_sha256(v.sha256);
  a->set_kind(v1::ARTIFACT_KIND_TARBALL);
  for (const auto& h : plan.hosts) {
    auto* t = b->add_targets();
    t->set_host(h.name);
    t->set_address(h.address);
    t->set_agent_endpoint(h.endpoint);
    t->set_driver("agent");
  }
  auto* s = b->mutable_service();
  for (const auto& arg : plan.restart) s->add_restart_command(arg);
  for (const auto& arg : plan.health) s->add_health_command(arg);
  s->mutable_restart_timeout()->set_seconds(30);
  s->mutable_health_timeout()->set_seconds(20);
  return e;
}

// Installs `v` on every host through the executor; the seconds it took, or -1 (said why) when
// the batch did not succeed.
double Install(EventReader& reader, EventWriter& writer, const RevertPlan& plan,
               std::uint32_t batch, const Version& v) {
  const auto e = InstallRequest(plan, batch, v);
  const auto t0 = SteadyClock::now();
  writer.Publish(e);
  long updates = 0;
  const auto closing = WaitClosing(reader, plan.deployment_id, plan.timeout_s, &updates);
  const double secs = SecondsSince(t0);
  if (!closing || !closing->has_batch_succeeded()) {
    std::cerr << "rollout-bench: installing " << v.version << " did not succeed: "
              << (closing ? sluice::events::ReasonText(closing->batch_failed())
                          : std::string("timeout"))
              << "\n";
    return -1.0;
  }
  std::printf("install_%s_s=%.3f\n", v.version.c_str(), secs);
  return secs;
}

// The rollback-agent's RevertRequested: a new rollback, the next generation, every host of
// the deployment back to the version before.
v1::Envelope RevertRequest(const RevertPlan& plan, const Version& from) {
  auto e = NewEvent(plan.deployment_id);
  auto* r = e.mutable_revert_requested();
  r->set_rollback_id(sluice::core::NewUuid());
  r->set_deployment_id(plan.deployment_id);
  r->set_generation(2);
  r->set_target_version(from.version);
  for (const auto& h : plan.hosts) r->add_hosts(h.name);
  return e;
}

int RunRevert(const std::string& brokers, const std::string& hosts_file, const Version& from,
              const Version& to, int max_parallel, const std::vector<std::string>& restart,
              const std::vector<std::string>& health, int timeout_s) {
  const RevertPlan plan{
      sluice::core::NewUuid(), ReadHosts(hosts_file), max_parallel, restart, health, timeout_s};
  EventReader reader(brokers, {std::string(events::kTopicExecutions)});
  EventWriter writer(brokers);
  std::printf("hosts=%zu\ndeployment_id=%s\n", plan.hosts.size(), plan.deployment_id.c_str());
  if (Install(reader, writer, plan, 0, from) < 0 || Install(reader, writer, plan, 1, to) < 0) {
    return 1;
  }

  const auto e = RevertRequest(plan, from);
  const auto t0 = SteadyClock::now();
  writer.Publish(e);
  long updates = 0;
  const auto closing = WaitClosing(reader, plan.deployment_id, timeout_s, &updates);
  const double secs = SecondsSince(t0);
  if (!closing || !closing->has_revert_completed()) {
    std::printf("result=timeout\n");
    return 1;
  }
  const auto& done = closing->revert_completed();
  std::printf("revert_s=%.3f\n", secs);
  std::printf("reverted=%d\nfailed=%d\ninstance_events=%ld\n", done.reverted_hosts_size(),
              done.failed_hosts_size(), updates);
  const bool ok = done.failed_hosts_size() == 0 &&
                  done.reverted_hosts_size() == static_cast<int>(plan.hosts.size());
  std::printf("result=%s\n", ok ? "succeeded" : "failed");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------
// breach
// ---------------------------------------------------------------------------

// The largest sample of an instant query, or nullopt when the query returns nothing.
std::optional<double> QueryMax(const std::string& prometheus, const std::string& query) {
  sluice::http::ClientRequest req;
  req.method = "POST";
  req.url = prometheus + "/api/v1/query";
  req.body = "query=" + sluice::http::UrlEncode(query);
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.timeout = std::chrono::seconds(10);
  const auto res = sluice::http::Send(req);
  if (res.status != 200) {
    throw std::runtime_error("prometheus answered " + std::to_string(res.status));
  }
  const json body = json::parse(res.body);  // the loop below must not outlive it
  std::optional<double> best;
  for (const auto& sample : body.at("data").at("result")) {
    const double v = std::stod(sample.at("value").at(1).get<std::string>());
    if (std::isfinite(v) && (!best || v > *best)) best = v;
  }
  return best;
}

// The first evaluation time (epoch seconds) at which the query is above `threshold`, from a
// query_range over [start, end] at `step` seconds: when the breach became queryable, read
// afterwards so that a loaded Prometheus answering slowly does not move it.
std::optional<double> FirstAbove(const std::string& prometheus, const std::string& query,
                                 double threshold, double start, double end, double step) {
  sluice::http::ClientRequest req;
  req.method = "POST";
  req.url = prometheus + "/api/v1/query_range";
  char range[160];
  std::snprintf(range, sizeof range, "&start=%.3f&end=%.3f&step=%.3f", start, end, step);
  req.body = "query=" + sluice::http::UrlEncode(query) + range;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.timeout = std::chrono::seconds(30);
  const auto res = sluice::http::Send(req);
  if (res.status != 200) {
    throw std::runtime_error("prometheus query_range answered " + std::to_string(res.status) +
                             ": " + res.body);
  }
  const json body = json::parse(res.body);  // the loop below must not outlive it
  std::optional<double> first;
  for (const auto& series : body.at("data").at("result")) {
    for (const auto& point : series.at("values")) {
      const double at = point.at(0).get<double>();
      const double v = std::stod(point.at(1).get<std::string>());
      if (std::isfinite(v) && v > threshold) {
        if (!first || at < *first) first = at;
        break;
      }
    }
  }
  return first;
}

double EpochOf(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The application addresses of `path`, one per line ('#' starts a comment line).
std::vector<std::string> ReadApps(const std::string& path) {
  std::vector<std::string> apps;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] != '#') apps.push_back(line);
  }
  if (apps.empty()) throw std::runtime_error("no application addresses in " + path);
  return apps;
}

// Turns the fault on at every application at once (a bad release misbehaves everywhere), 16 at
// a time; throws when any refuses it.
void InjectFault(const std::vector<std::string>& apps, const std::string& fault) {
  std::atomic<std::size_t> next{0};
  std::atomic<int> fault_errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 16; ++w) {
    workers.emplace_back([&] {
      for (std::size_t i = next++; i < apps.size(); i = next++) {
        sluice::http::ClientRequest req;
        req.method = "POST";
        req.url = "http://" + apps[i] + "/admin/faults";
        req.body = fault;
        req.headers = {{"Content-Type", "application/json"}};
        try {
          if (sluice::http::Send(req).status != 200) ++fault_errors;
        } catch (const std::exception&) {
          ++fault_errors;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  if (fault_errors > 0) {
    throw std::runtime_error(std::to_string(fault_errors.load()) + " of " +
                             std::to_string(apps.size()) + " applications refused the fault");
  }
}

using WallClock = std::chrono::system_clock;

// What following the deployment to RollbackCompleted saw.
struct Followed {
  std::map<std::string, WallClock::time_point> first;  // event type -> first receipt
  std::optional<v1::RollbackCompleted> completed;
  int revert_completed_hosts = -1;
};

Followed FollowToRollback(EventReader& reader, const std::string& deployment_id,
                          SteadyClock::time_point deadline) {
  Followed f;
  while (!f.completed && SteadyClock::now() < deadline) {
    auto e = reader.Next(20);
    if (!e || e->deployment_id() != deployment_id) continue;
    const auto& type = e->type();
    f.first.try_emplace(type.substr(type.rfind('.') + 1), WallClock::now());
    if (e->has_revert_completed()) {
      f.revert_completed_hosts = e->revert_completed().reverted_hosts_size();
    }
    if (e->has_rollback_completed()) f.completed = e->rollback_completed();
  }
  return f;
}

// Prints the rollback's outcome; the exit code (0 when every application's host is back: the
// rollback covered the whole deployment).
int ReportRollback(const Followed& f, std::size_t apps) {
  if (!f.completed) {
    std::printf("result=timeout\n");
    return 1;
  }
  const auto& completed = *f.completed;
  std::printf("revert_completed_hosts=%d\n", f.revert_completed_hosts);
  std::printf("rollback_reverted=%d\nrollback_failed=%d\n", completed.reverted_hosts_size(),
              completed.failed_hosts_size());
  std::printf("target_version=%s\n", completed.target_version().c_str());
  const bool ok = completed.success() && completed.failed_hosts_size() == 0 &&
                  completed.reverted_hosts_size() == static_cast<int>(apps);
  std::printf("result=%s\n", ok ? "succeeded" : "failed");
  std::fflush(stdout);
  return ok ? 0 : 1;
}

// Turns the fault on at every application, then follows the deployment from the moment its
// rule's query first shows the breach to RollbackCompleted: the whole automatic path
// (metric-watcher, rollback-agent, rollout-planner, executor, agents) measured as one.
int RunBreach(const std::string& brokers, const std::string& deployment_id,
              const std::string& prometheus, const std::string& query, double threshold,
              const std::string& apps_file, const std::string& fault, int timeout_s) {
  const auto apps = ReadApps(apps_file);
  EventReader reader(brokers,
                     {std::string(events::kTopicDeployments), std::string(events::kTopicExecutions),
                      std::string(events::kTopicAnalyses), std::string(events::kTopicRollbacks)});
  if (const auto before = QueryMax(prometheus, query); before && *before > threshold) {
    throw std::runtime_error("the query already shows a breach (" + std::to_string(*before) +
                             ") before the fault");
  }

  const auto t_fault = WallClock::now();
  const auto deadline = SteadyClock::now() + std::chrono::seconds(timeout_s);
  InjectFault(apps, fault);
  const auto t_faulted = WallClock::now();
  const auto followed = FollowToRollback(reader, deployment_id, deadline);
  std::printf("applications=%zu\nfault_s=%.3f\nfault_at=%.3f\n", apps.size(),
              std::chrono::duration<double>(t_faulted - t_fault).count(), EpochOf(t_fault));
  for (const auto& [type, at] : followed.first) {
    std::printf("%s_at=%.3f\n", type.c_str(), EpochOf(at));
  }
  // Samples carry their scrape's start time: let the last scrape land before reading back.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double range_start = EpochOf(t_fault) - 1;
  const double range_end = EpochOf(WallClock::now());
  const auto visible = FirstAbove(prometheus, query, threshold, range_start, range_end, 0.1);
  if (!visible) {
    std::printf("result=not_visible\n");
    std::cerr << "rollout-bench: no sample above " << threshold << " between " << std::fixed
              << range_start << " and " << range_end << " for " << query << "\n";
    return 1;
  }
  std::printf("fault_to_visible_ms=%.0f\n", (*visible - EpochOf(t_fault)) * 1000);
  for (const auto& [type, at] : followed.first) {
    std::printf("visible_to_%s_ms=%.0f\n", type.c_str(), (EpochOf(at) - *visible) * 1000);
  }
  return ReportRollback(followed, apps.size());
}

struct SimAgentFlags {
  std::string addr = "127.0.0.1:17999";
  std::string token_file = "var/local/agent-token";
  int work_ms = 0;
  int threads = 32;
};

CLI::App* AddSimAgent(CLI::App& app, SimAgentFlags& f) {
  auto* sim = app.add_subcommand("sim-agent", "answer the agent API for many hosts");
  sim->add_option("--addr", f.addr);
  sim->add_option("--token-file", f.token_file);
  sim->add_option("--work-ms", f.work_ms, "time each deploy / revert takes")
      ->check(CLI::Range(0, 60000));
  sim->add_option("--threads", f.threads)->check(CLI::Range(1, 512));
  return sim;
}

struct RolloutFlags {
  std::string api = "http://127.0.0.1:8080";
  std::string token_file = "var/local/admin-token";
  std::string release;
  std::string env = "production";
  std::vector<int> pids;
  int timeout_s = 600;
  double settle_s = 1.0;
};

CLI::App* AddRollout(CLI::App& app, RolloutFlags& f) {
  auto* rollout = app.add_subcommand("rollout", "request a deployment and measure it");
  rollout->add_option("--api", f.api);
  rollout->add_option("--token-file", f.token_file);
  rollout->add_option("--release", f.release)->required();
  rollout->add_option("--env", f.env);
  rollout->add_option("--pid", f.pids, "processes whose CPU time is measured");
  rollout->add_option("--timeout", f.timeout_s)->check(CLI::Range(1, 3600));
  rollout->add_option("--settle", f.settle_s, "seconds to keep counting after the end");
  return rollout;
}

struct RevertFlags {
  std::string hosts_file;
  std::string from;
  std::string to;
  int max_parallel = 10;
  std::vector<std::string> restart = {"bin/restart.sh"};
  std::vector<std::string> health = {"bin/sluice-demo-app", "healthcheck"};
  int timeout_s = 600;
};

CLI::App* AddRevert(CLI::App& app, RevertFlags& f) {
  auto* revert = app.add_subcommand("revert", "install two versions, revert, measure the revert");
  revert->add_option("--hosts-file", f.hosts_file)->required();
  revert->add_option("--from", f.from, "VERSION,URL,SHA256 installed first")->required();
  revert->add_option("--to", f.to, "VERSION,URL,SHA256 installed second")->required();
  revert->add_option("--max-parallel", f.max_parallel)->check(CLI::Range(1, 1000));
  revert->add_option("--restart-command", f.restart);
  revert->add_option("--health-command", f.health);
  revert->add_option("--timeout", f.timeout_s)->check(CLI::Range(1, 3600));
  return revert;
}

struct BreachFlags {
  std::string deployment_id;
  std::string prometheus = "http://127.0.0.1:19090";
  std::string query;
  double threshold = 0.05;
  std::string apps_file;
  std::string fault = R"({"error_rate": 0.6})";
  int timeout_s = 600;
};

CLI::App* AddBreach(CLI::App& app, BreachFlags& f) {
  auto* breach = app.add_subcommand(
      "breach", "turn a fault on at every application, measure breach -> RollbackCompleted");
  breach->add_option("--deployment-id", f.deployment_id)->required();
  breach->add_option("--prometheus", f.prometheus);
  breach->add_option("--query", f.query, "the rule's query; a sample above --threshold = breach")
      ->required();
  breach->add_option("--threshold", f.threshold);
  breach->add_option("--apps-file", f.apps_file, "application addresses, one per line")->required();
  breach->add_option("--fault", f.fault, "JSON for each application's POST /admin/faults");
  breach->add_option("--timeout", f.timeout_s)->check(CLI::Range(1, 3600));
  return breach;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rollout-bench: the measuring half of bench/rollout/run.sh"};
  app.require_subcommand(1);
  std::string brokers = "127.0.0.1:19092";
  app.add_option("--brokers", brokers, "Kafka bootstrap servers");
  SimAgentFlags sim;
  RolloutFlags rollout;
  RevertFlags revert;
  BreachFlags breach;
  const auto* sim_cmd = AddSimAgent(app, sim);
  const auto* rollout_cmd = AddRollout(app, rollout);
  AddRevert(app, revert);
  const auto* breach_cmd = AddBreach(app, breach);
  CLI11_PARSE(app, argc, argv);

  try {
    if (*sim_cmd) return RunSimAgent(sim.addr, sim.token_file, sim.work_ms, sim.threads);
    if (*rollout_cmd) {
      return RunRollout(brokers, rollout.api, rollout.token_file, rollout.release, rollout.env,
                        rollout.pids, rollout.timeout_s, rollout.settle_s);
    }
    if (*breach_cmd) {
      return RunBreach(brokers, breach.deployment_id, breach.prometheus, breach.query,
                       breach.threshold, breach.apps_file, breach.fault, breach.timeout_s);
    }
    return RunRevert(brokers, revert.hosts_file, ParseVersion(revert.from), ParseVersion(revert.to),
                     revert.max_parallel, revert.restart, revert.health, revert.timeout_s);
  } catch (const std::exception& e) {
    std::cerr << "rollout-bench: " << e.what() << "\n";
    return 2;
  }
}
