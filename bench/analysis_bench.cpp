// analysis-bench: the real metric-watcher and rollback-agent binaries against the local stack
// (Kafka, PostgreSQL, Redis) and a Prometheus of the bench's own (scrape interval 1 s) scraping
// a target served by the bench process (a gauge per instance the bench sets).
//  (1) breach -> AnalysisFailed: N analyses (threshold rule, interval 1 s) run healthy for a
//      couple of measurements, then the bench flips their instance to a breach at T0; the delay
//      T0 -> AnalysisFailed on Kafka, and T1 (the bench's own query first sees the breach) ->
//      AnalysisFailed, p50 / p99 / max; and, through a rollback-agent that knows each analysis's
//      deployment as a canary with the breached instance in batch 0, T0 / T1 -> RevertRequested;
//  (2) many analyses at once for a bounded window: the watcher's queries/s, CPU % and RSS, and
//      the measured interval between measurements of each analysis against the configured one;
//  (3) AnalysisFailed -> rollback commanded: N deployments in canary known to the rollback-agent,
//      one AnalysisFailed each; the delay from the produce to RevertRequested / RollbackStarted
//      on Kafka, p50 / p99.
//
//   analysis-bench [--breach N] [--many N] [--many-interval 1s] [--window 60] [--rollbacks N]
//                  [--parts breach,many,rollback] [--markdown FILE]
//
// Every name carries a random suffix (schemas, topics, consumer groups, lock prefix); the
// processes it starts (Prometheus, metric-watcher, rollback-agent) are stopped at the end.
#include <httplib.h>
#include <librdkafka/rdkafkacpp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/spec/convert.hpp>
#include <sluice/testing/process.hpp>
#include <sstream>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using nlohmann::json;
namespace st = sluice::testing;
namespace v1 = sluice::events::v1;

constexpr const char* kAlertToken = "bench-alert-token-0123456789";
// The internal APIs' token every service on the skeleton requires (SLUICE_SERVICE_TOKEN).
constexpr const char* kServiceToken = "bench-service-token-0123456789abcdef";
constexpr double kHealthy = 0.01;
constexpr double kBreach = 0.4;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(idx, v.size() - 1)];
}

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <typename F>
bool WaitUntil(F&& done, SteadyClock::time_point deadline,
               std::chrono::milliseconds step = std::chrono::milliseconds(2)) {
  while (SteadyClock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(step);
  }
  return done();
}

// The body of a 200 answer to GET `url`; with `bearer`, sent as the Authorization (the internal
// APIs require the service token).
std::optional<std::string> HttpGet(const std::string& url, std::chrono::milliseconds timeout = 5s,
                                   const std::string& bearer = "") {
  sluice::http::ClientRequest req;
  req.url = url;
  req.timeout = timeout;
  if (!bearer.empty()) req.headers = {{"Authorization", "Bearer " + bearer}};
  try {
    auto res = sluice::http::Send(req);
    if (res.status != 200) return std::nullopt;
    return std::move(res.body);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The scrape target: sluice_bench_error_ratio{app, instance_name} per instance, set by the bench.
class MetricsTarget {
 public:
  MetricsTarget() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::string body = "# TYPE sluice_bench_error_ratio gauge\n";
      std::lock_guard lock(mu_);
      for (const auto& [key, value] : values_) {
        body += "sluice_bench_error_ratio{app=\"" + key.first + "\",instance_name=\"" + key.second +
                "\"} " + std::to_string(value) + "\n";
      }
      res.set_content(body, "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("metrics target: cannot bind");
    thread_ = sluice::http::testing::ServeInBackground(server_);
  }
  ~MetricsTarget() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  MetricsTarget(const MetricsTarget&) = delete;
  MetricsTarget& operator=(const MetricsTarget&) = delete;

  void Set(const std::string& app, const std::string& instance, double value) {
    std::lock_guard lock(mu_);
    values_[{app, instance}] = value;
  }
  int Port() const { return port_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, double> values_;
};

// A Prometheus of the bench's own in a temporary directory, scraping the target every second.
class OwnPrometheus {
 public:
  OwnPrometheus(int target_port, const std::string& log_dir, const std::string& sfx) {
    dir_ = std::filesystem::temp_directory_path() / ("sluice-analysis-bench-" + sfx);
    std::filesystem::create_directories(dir_ / "data");
    {
      std::ofstream out(dir_ / "prometheus.yml");
      out << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
          << "scrape_configs:\n"
          << "  - job_name: analysis-bench\n"
          << "    static_configs: [{targets: ['127.0.0.1:" << target_port << "']}]\n";
    }
    port_ = st::FreePort();
    process_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{"/usr/bin/prometheus",
                                 "--config.file=" + (dir_ / "prometheus.yml").string(),
                                 "--storage.tsdb.path=" + (dir_ / "data").string(),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        std::map<std::string, std::string>{},
        log_dir + "/analysis-bench-prometheus-" + sfx + ".log");
  }
  ~OwnPrometheus() {
    process_->Terminate();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  OwnPrometheus(const OwnPrometheus&) = delete;
  OwnPrometheus& operator=(const OwnPrometheus&) = delete;

  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  st::ChildProcess& Process() { return *process_; }

  // The instant value of a PromQL expression with a single result, if any.
  std::optional<double> Value(const std::string& promql) const {
    const auto body = HttpGet(Url() + "/api/v1/query?query=" + sluice::http::UrlEncode(promql));
    if (!body) return std::nullopt;
    const auto j = json::parse(*body, nullptr, false);
    if (!j.is_object() || !j.contains("data") || j["data"]["result"].empty()) return std::nullopt;
    try {
      return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<st::ChildProcess> process_;
};

// Reads a topic from its end at construction (no consumer group), keeping every event with the
// time the bench saw it, by deployment id.
class TopicTail {
 public:
  struct Seen {
    v1::Envelope envelope;
    SteadyClock::time_point at;
  };
  TopicTail(const std::string& brokers, const std::string& topic) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    conf->set("bootstrap.servers", brokers, err);
    conf->set("group.id", "analysis-bench-tail-" + st::RandomSuffix(), err);
    conf->set("enable.auto.commit", "false", err);
    conf->set("fetch.wait.max.ms", "10", err);
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw std::runtime_error("consumer: " + err);
    RdKafka::Metadata* raw = nullptr;
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(consumer_.get(), topic, nullptr, err));
    if (consumer_->metadata(false, handle.get(), &raw, 10000) != RdKafka::ERR_NO_ERROR || !raw) {
      throw std::runtime_error("metadata of " + topic + " unavailable");
    }
    std::unique_ptr<RdKafka::Metadata> md(raw);
    std::vector<RdKafka::TopicPartition*> parts;
    for (const auto* t : *md->topics()) {
      if (t->topic() != topic) continue;
      for (const auto* p : *t->partitions()) {
        int64_t low = 0;
        int64_t high = 0;
        if (consumer_->query_watermark_offsets(topic, p->id(), &low, &high, 10000) !=
            RdKafka::ERR_NO_ERROR) {
          throw std::runtime_error("offsets of " + topic + " unavailable");
        }
        parts.push_back(RdKafka::TopicPartition::create(topic, p->id(), high));
      }
    }
    if (parts.empty()) throw std::runtime_error("topic " + topic + " has no partitions");
    consumer_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    thread_ = std::thread([this] {
      while (!stop_) {
        std::unique_ptr<RdKafka::Message> m(consumer_->consume(50));
        if (m->err() != RdKafka::ERR_NO_ERROR) continue;
        const auto at = SteadyClock::now();
        std::string error;
        auto e = sluice::events::Parse(
            std::string_view(static_cast<const char*>(m->payload()), m->len()), &error);
        if (!e) continue;
        std::lock_guard lock(mu_);
        auto& list = seen_[e->deployment_id()];
        list.push_back({std::move(*e), at});
      }
    });
  }
  ~TopicTail() {
    stop_ = true;
    thread_.join();
    consumer_->close();
  }
  TopicTail(const TopicTail&) = delete;
  TopicTail& operator=(const TopicTail&) = delete;

  std::optional<Seen> First(const std::string& deployment_id, v1::Envelope::PayloadCase kind) {
    std::lock_guard lock(mu_);
    const auto it = seen_.find(deployment_id);
    if (it == seen_.end()) return std::nullopt;
    for (const auto& s : it->second) {
      if (s.envelope.payload_case() == kind) return s;
    }
    return std::nullopt;
  }

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, std::vector<Seen>> seen_;
  std::thread thread_;  // last
};

struct ProcStat {
  double cpu_seconds = 0;
  long rss_kib = 0;
  long hwm_kib = 0;
};

ProcStat ReadProc(pid_t pid) {
  ProcStat s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    // Fields after the name start at 3 (state); utime is 14 and stime 15.
    if (f.size() > 12) {
      s.cpu_seconds = static_cast<double>(std::stoll(f[11]) + std::stoll(f[12])) /
                      static_cast<double>(sysconf(_SC_CLK_TCK));
    }
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stol(line.substr(6));
  }
  return s;
}

// The sum of a metric's samples (every label set) in a Prometheus text exposition.
double MetricSum(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != ' ' && next != '{') continue;
    const auto space = line.rfind(' ');
    try {
      sum += std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
    }
  }
  return sum;
}

struct Options {
  std::string brokers;
  std::string pg_dsn;
  std::string redis_url;
  std::string log_dir;
  std::string watcher_poll;
  int watcher_workers = 4;
  std::string sfx;
};

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)) {
    kafka_.brokers = o_.brokers;
    producer_ = std::make_unique<sluice::kafka::Producer>(kafka_);
  }

  void Produce(const std::string& topic, std::vector<v1::Envelope> envelopes) {
    std::vector<sluice::kafka::OutgoingMessage> messages;
    messages.reserve(envelopes.size());
    for (auto& e : envelopes) {
      sluice::events::Finalize(e);
      sluice::kafka::OutgoingMessage m;
      m.topic = topic;
      m.key = e.deployment_id();
      e.SerializeToString(&m.value);
      messages.push_back(std::move(m));
    }
    producer_->ProduceSync(messages, 60s);
  }

  static v1::Envelope New(const std::string& source, const std::string& deployment_id) {
    auto e = sluice::events::NewEnvelope(source, sluice::core::SystemClock::Instance());
    e.set_deployment_id(deployment_id);
    return e;
  }

  void DropSchema(const std::string& schema) {
    try {
      pqxx::connection conn(o_.pg_dsn);
      pqxx::work tx(conn);
      tx.exec0("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
      tx.commit();
    } catch (const std::exception& e) {
      std::cerr << "analysis-bench: could not drop schema " << schema << ": " << e.what() << "\n";
    }
  }

  std::int64_t Scalar(const std::string& sql) {
    pqxx::connection conn(o_.pg_dsn);
    pqxx::work tx(conn);
    const auto row = tx.exec1(sql);
    return row[0].is_null() ? 0 : row[0].as<std::int64_t>();
  }

  const Options& Opts() const { return o_; }
  const sluice::kafka::KafkaConfig& Kafka() const { return kafka_; }

 private:
  Options o_;
  sluice::kafka::KafkaConfig kafka_;
  std::unique_ptr<sluice::kafka::Producer> producer_;
};

// ---- what the rollback-agent needs to know ------------------------------------------------

// A 2-batch canary of `version` (stable `stable_version`), batch 0 requested and its hosts on
// `version`, as the planner and the executor announce it: what the rollback-agent learns a
// deployment from. One app per deployment: a newer deployment of the same app and env
// supersedes the older ones.
struct CanaryEvents {
  std::vector<v1::Envelope> deployments;  // DeploymentPlanned, BatchRequested (planner's topic)
  std::vector<v1::Envelope> executions;   // InstanceUpdated (executor's topic)
};

void AddCanary(CanaryEvents& out, const std::string& id, const std::string& app,
               const std::string& version, const std::string& stable_version,
               const std::vector<std::vector<std::string>>& batches) {
  auto planned = Bench::New("rollout-planner", id);
  auto* p = planned.mutable_deployment_planned();
  p->set_deployment_id(id);
  p->set_release_id("rel-" + version + "-" + id);
  p->set_app(app);
  p->set_env("production");
  p->set_version(version);
  p->set_stable_release_id("rel-" + stable_version + "-" + id);
  p->set_stable_version(stable_version);
  sluice::events::SetPolicy(*p, sluice::v1::CANARY_FAILURE_POLICY_REVERT_BATCH);
  p->set_generation(1);
  p->set_strategy(v1::STRATEGY_CANARY);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    auto* pb = p->add_batches();
    pb->set_index(static_cast<std::uint32_t>(b));
    for (const auto& h : batches[b]) pb->add_targets()->set_host(h);
  }
  out.deployments.push_back(std::move(planned));
  auto req = Bench::New("rollout-planner", id);
  auto* rq = req.mutable_batch_requested();
  rq->set_deployment_id(id);
  rq->set_batch_index(0);
  rq->set_generation(1);
  for (const auto& h : batches.front()) rq->add_targets()->set_host(h);
  out.deployments.push_back(std::move(req));
  for (const auto& h : batches.front()) {
    auto inst = Bench::New("executor", id);
    auto* u = inst.mutable_instance_updated();
    u->set_deployment_id(id);
    u->set_batch_index(0);
    u->set_host(h);
    u->set_status(v1::INSTANCE_STATUS_SUCCEEDED);
    u->set_health_status(v1::HEALTH_STATUS_HEALTHY);
    u->set_version(version);
    out.executions.push_back(std::move(inst));
  }
}

// A rollback-agent of the bench's own (schema, consumer group, lock prefix), consuming `topics`
// and publishing on sluice.rollbacks.v1; stopped and its schema dropped at destruction. A shared
// topic carries earlier runs' events: start at its end ("latest").
class OwnRollbackAgent {
 public:
  OwnRollbackAgent(Bench& bench, const std::string& bin, const std::string& prometheus_url,
                   const std::vector<std::string>& topics, const std::string& name,
                   const std::string& start_offset)
      : bench_(bench), schema_("bench_" + name + "_" + bench.Opts().sfx) {
    const auto& o = bench.Opts();
    const int port = st::FreePort();
    base_ = "http://127.0.0.1:" + std::to_string(port);
    std::string list;
    for (const auto& t : topics) list += (list.empty() ? "" : ",") + t;
    process_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{bin},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)},
            {"SLUICE_PG_DSN", o.pg_dsn},
            {"SLUICE_PG_SCHEMA", schema_},
            {"SLUICE_KAFKA_BROKERS", o.brokers},
            {"SLUICE_KAFKA_GROUP", "bench-" + name + "-" + o.sfx},
            {"SLUICE_KAFKA_START_OFFSET", start_offset},
            {"SLUICE_ROLLBACK_TOPICS", list},
            {"SLUICE_REDIS_URL", o.redis_url},
            {"SLUICE_ROLLBACK_LOCK_PREFIX", "bench:" + name + ":" + o.sfx + ":"},
            {"SLUICE_PROMETHEUS_URL", prometheus_url},
            {"SLUICE_PUBLIC_URL", base_},
            {"SLUICE_SERVICE_TOKEN", kServiceToken},
            {"SLUICE_LOG_LEVEL", "warn"}},
        o.log_dir + "/analysis-bench-" + name + "-" + o.sfx + ".log");
  }
  ~OwnRollbackAgent() {
    process_->Terminate();
    bench_.DropSchema(schema_);
  }
  OwnRollbackAgent(const OwnRollbackAgent&) = delete;
  OwnRollbackAgent& operator=(const OwnRollbackAgent&) = delete;

  // Ready: migrated, and (with a latest start offset) holding its partitions.
  bool WaitReady() { return st::WaitForHttpOk(base_ + "/readyz", 60s); }
  // Waits until the agent knows `deployments` planned deployments with batch 0 requested and
  // `instances` instance records (`within` each).
  bool WaitKnown(std::int64_t deployments, std::int64_t instances,
                 std::chrono::milliseconds within = 60s) {
    const std::string known = "SELECT count(*) FROM " + schema_ +
                              ".rollback_deployments WHERE planned AND "
                              "view->'batches'->0->>'state' = 'requested'";
    const std::string logged = "SELECT count(*) FROM " + schema_ + ".rollback_instance_log";
    return WaitUntil(
        [&] { return bench_.Scalar(known) >= deployments && bench_.Scalar(logged) >= instances; },
        SteadyClock::now() + within, 250ms);
  }
  st::ChildProcess& Process() { return *process_; }

 private:
  Bench& bench_;
  std::string schema_;
  std::string base_;
  std::unique_ptr<st::ChildProcess> process_;
};

// ---- (1) and (2): the metric-watcher -------------------------------------------------------

std::string WatcherSpec(const std::string& app, const std::string& interval, int count) {
  return "app: " + app +
         "\n"
         "environments:\n"
         "  production:\n"
         "    analysis:\n"
         "      templates:\n"
         "        bench:\n"
         "          interval: " +
         interval +
         "\n"
         "          count: " +
         std::to_string(count) +
         "\n"
         "          metrics:\n"
         "            error_rate:\n"
         "              query: 'max by (instance_name) (sluice_bench_error_ratio{app=\"{{app}}\","
         "instance_name=~\"{{instances}}\"})'\n"
         "          rules:\n"
         "            - {name: errors, failWhen: error_rate > 5%, severity: critical}\n";
}

struct WatcherRun {
  Bench& bench;
  MetricsTarget& target;
  OwnPrometheus& prometheus;
  st::ChildProcess& watcher;
  std::string base;  // the watcher's HTTP address
  std::string deployments_topic;
  std::string rollbacks_topic;
  std::string schema;

  void Planned(const std::string& app, const std::vector<std::string>& deployments) {
    std::vector<v1::Envelope> out;
    for (const auto& d : deployments) {
      auto e = Bench::New("rollout-planner", d);
      auto* p = e.mutable_deployment_planned();
      p->set_deployment_id(d);
      p->set_app(app);
      p->set_env("production");
      p->set_version("2.0.0");
      p->set_release_id("rel-2.0.0-" + d);
      p->set_generation(1);
      out.push_back(std::move(e));
    }
    bench.Produce(deployments_topic, std::move(out));
  }

  v1::Envelope Requested(const std::string& app, const std::string& deployment_id,
                         const std::string& analysis_id, const std::string& instance,
                         const std::string& spec) {
    auto e = Bench::New("rollout-planner", deployment_id);
    auto* r = e.mutable_analysis_requested();
    r->set_analysis_id(analysis_id);
    r->set_deployment_id(deployment_id);
    r->set_batch_index(0);
    r->set_generation(1);
    r->set_template_name("bench");
    r->set_app(app);
    r->set_env("production");
    r->set_version("2.0.0");
    r->set_baseline_version("1.0.0");
    r->add_instances(instance);
    r->set_spec_yaml(spec);
    if (auto t = sluice::spec::ResolvedTemplateOf(spec, "production",
                                                  "bench")) {  // as the planner sends it
      *r->mutable_resolved_template() = *t;
    }
    r->set_release_id("rel-2.0.0-" + deployment_id);
    return e;
  }

  int Measurements(const std::string& analysis_id) {
    const auto body = HttpGet(base + "/v1/analyses/" + analysis_id, 5s, kServiceToken);
    if (!body) return 0;
    const auto j = json::parse(*body, nullptr, false);
    if (!j.is_object() || !j.contains("measurements")) return 0;
    return static_cast<int>(j["measurements"].size());
  }
};

struct BreachResult {
  std::vector<double> breach_to_failed_ms;
  std::vector<double> queryable_to_failed_ms;
  std::vector<double> breach_to_queryable_ms;
  std::vector<double> breach_to_revert_ms;     // with a rollback chain
  std::vector<double> queryable_to_revert_ms;  // with a rollback chain
  int failed_wrong = 0;                        // AnalysisFailed with another reason, or missing
  int revert_missing = 0;
};

// The rollback-agent behind the watcher in part 1: AnalysisFailed -> RevertRequested.
struct RollbackChain {
  OwnRollbackAgent& agent;
  TopicTail& rollbacks;
  std::string executions_topic;
};

// The breach part's names: analysis i is of app `<app>-i` and watches instance `<app>-hi`.
struct BreachApps {
  std::string app;
  std::string App(int i) const { return app + "-" + std::to_string(i); }
  std::string Instance(int i) const { return app + "-h" + std::to_string(i); }
};

// The analyses breached at once: [start, end).
struct BreachGroup {
  int start = 0;
  int end = 0;
  std::vector<std::string> deployments;
  std::vector<std::string> analysis_ids;
  std::vector<v1::Envelope> requests;
  CanaryEvents canaries;
};

BreachGroup MakeGroup(WatcherRun& run, const BreachApps& apps, int start, int end) {
  BreachGroup g;
  g.start = start;
  g.end = end;
  for (int i = start; i < end; ++i) {
    const std::string d = "dep-bb-" + std::to_string(i) + "-" + run.bench.Opts().sfx;
    g.deployments.push_back(d);
    g.analysis_ids.push_back(sluice::core::NewUuid());
    AddCanary(g.canaries, d, apps.App(i), "2.0.0", "1.0.0",
              {{apps.Instance(i)}, {apps.Instance(i) + "-next"}});
    g.requests.push_back(run.Requested(apps.App(i), d, g.analysis_ids.back(), apps.Instance(i),
                                       WatcherSpec(apps.App(i), "1s", 600)));
  }
  return g;
}

// The agent starts at the end of its topics; what it missed while joining its group is
// produced again (the same event ids: its inbox keeps one). False (said why) when it has not
// learnt the group's deployments after three tries.
bool TeachChain(WatcherRun& run, const RollbackChain& chain, const BreachGroup& g) {
  run.bench.Produce(chain.executions_topic, g.canaries.executions);
  int tries = 1;
  while (!chain.agent.WaitKnown(g.end, g.end, 10s)) {
    if (++tries > 3) {
      std::cerr << "analysis-bench: the rollback-agent did not learn the deployments; log "
                << chain.agent.Process().LogPath() << "\n";
      return false;
    }
    run.bench.Produce(run.deployments_topic, g.canaries.deployments);
    run.bench.Produce(chain.executions_topic, g.canaries.executions);
  }
  return true;
}

// What one breached analysis showed.
struct BreachSeen {
  bool measured = false;                      // it took its healthy measurements first
  SteadyClock::time_point t0;                 // the breach
  std::optional<SteadyClock::time_point> t1;  // the bench's own query first saw it
  std::optional<TopicTail::Seen> failed;      // AnalysisFailed
  std::optional<TopicTail::Seen> revert;      // RevertRequested (with a chain)
};

// Lets analysis `i` (of `deployment`) take two healthy measurements, breaches its instance
// after `delay_ms` and waits (30 s at most) for what follows.
BreachSeen BreachOne(WatcherRun& run, TopicTail& analyses, RollbackChain* chain,
                     const BreachApps& apps, int i, const std::string& deployment,
                     const std::string& analysis_id, int delay_ms) {
  BreachSeen s;
  const std::string instance = apps.Instance(i);
  // Healthy for a couple of measurements first.
  if (!WaitUntil([&] { return run.Measurements(analysis_id) >= 2; }, SteadyClock::now() + 30s,
                 100ms)) {
    return s;
  }
  s.measured = true;
  // Out of step with the scrape and the analysis schedule.
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  s.t0 = SteadyClock::now();
  run.target.Set(apps.App(i), instance, kBreach);
  const auto query = "sluice_bench_error_ratio{instance_name=\"" + instance + "\"}";
  WaitUntil(
      [&] {
        if (!s.t1 && run.prometheus.Value(query) == kBreach) s.t1 = SteadyClock::now();
        if (!s.failed) s.failed = analyses.First(deployment, v1::Envelope::kAnalysisFailed);
        if (chain != nullptr && !s.revert) {
          s.revert = chain->rollbacks.First(deployment, v1::Envelope::kRevertRequested);
        }
        return s.failed.has_value() && (chain == nullptr || s.revert.has_value());
      },
      SteadyClock::now() + 30s, 20ms);
  return s;
}

void Tally(const BreachSeen& s, bool chained, BreachResult& result) {
  if (!s.measured || !s.failed ||
      sluice::events::ReasonOf(s.failed->envelope.analysis_failed()) !=
          sluice::v1::REASON_THRESHOLD_BREACHED) {
    ++result.failed_wrong;
    return;
  }
  result.breach_to_failed_ms.push_back(Ms(s.failed->at - s.t0));
  if (s.t1) {
    result.breach_to_queryable_ms.push_back(Ms(*s.t1 - s.t0));
    result.queryable_to_failed_ms.push_back(Ms(s.failed->at - *s.t1));
  }
  if (!chained) return;
  if (!s.revert) {
    ++result.revert_missing;
    return;
  }
  result.breach_to_revert_ms.push_back(Ms(s.revert->at - s.t0));
  if (s.t1) result.queryable_to_revert_ms.push_back(Ms(s.revert->at - *s.t1));
}

// Each breached analysis belongs to a 2-batch canary deployment of its own app (batch 0: the
// breached instance), which the rollback-agent of `chain` (if any) knows as the planner and
// the executor announce it; the breach is then followed through to the RevertRequested.
BreachResult RunBreach(WatcherRun& run, TopicTail& analyses, RollbackChain* chain, int n,
                       int parallel, SteadyClock::time_point deadline) {
  BreachResult result;
  const BreachApps apps{"bb" + run.bench.Opts().sfx};
  std::mutex mu;
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < n; ++i) run.target.Set(apps.App(i), apps.Instance(i), kHealthy);
  if (!WaitUntil(
          [&] {
            return run.prometheus.Value("sluice_bench_error_ratio{instance_name=\"" +
                                        apps.Instance(n - 1) + "\"}") == kHealthy;
          },
          SteadyClock::now() + 30s, 200ms)) {
    std::cerr << "analysis-bench: Prometheus did not scrape the bench target\n";
    result.failed_wrong = n;
    return result;
  }
  for (int start = 0; start < n && SteadyClock::now() < deadline; start += parallel) {
    const int end = std::min(n, start + parallel);
    BreachGroup g = MakeGroup(run, apps, start, end);
    run.bench.Produce(run.deployments_topic, g.canaries.deployments);
    if (chain != nullptr && !TeachChain(run, *chain, g)) {
      result.revert_missing += end - start;
      chain = nullptr;
    }
    run.bench.Produce(run.deployments_topic, std::move(g.requests));
    std::vector<int> delays;
    for (int i = start; i < end; ++i)
      delays.push_back(std::uniform_int_distribution<int>(0, 999)(rng));
    std::vector<std::thread> threads;
    for (int i = start; i < end; ++i) {
      threads.emplace_back([&, i] {
        const auto k = static_cast<std::size_t>(i - start);
        const auto seen = BreachOne(run, analyses, chain, apps, i, g.deployments[k],
                                    g.analysis_ids[k], delays[k]);
        std::lock_guard lock(mu);
        Tally(seen, chain != nullptr, result);
      });
    }
    for (auto& t : threads) t.join();
  }
  return result;
}

struct ManyResult {
  bool ok = false;
  int analyses = 0;
  std::string interval;
  double window_s = 0;
  double queries_per_s = 0;
  double measurements_per_s = 0;
  double expected_per_s = 0;
  double cpu_percent = 0;
  double prometheus_cpu_percent = 0;
  long rss_mib = 0;
  long hwm_mib = 0;
  double interval_p50_ms = 0;
  double interval_p99_ms = 0;
  double interval_max_ms = 0;
  double late_share = 0;  // intervals longer than configured + 500 ms
  std::string error;
};

// Requests `n` analyses of `app` (instance i: `<app>-hi`); returns their deployments.
std::vector<std::string> StartAnalyses(WatcherRun& run, const std::string& app,
                                       const std::string& spec, int n) {
  std::vector<std::string> deployments;
  std::vector<v1::Envelope> requests;
  for (int i = 0; i < n; ++i) {
    deployments.push_back("dep-" + app + "-" + std::to_string(i));
    requests.push_back(run.Requested(app, deployments.back(), sluice::core::NewUuid(),
                                     app + "-h" + std::to_string(i), spec));
  }
  run.Planned(app, deployments);
  run.bench.Produce(run.deployments_topic, std::move(requests));
  return deployments;
}

// The counters read at either end of the window.
struct WindowEdge {
  std::string metrics;  // the watcher's /metrics
  ProcStat watcher;
  ProcStat prometheus;
  std::int64_t db_ms = 0;  // PostgreSQL's clock
};

WindowEdge ReadEdge(WatcherRun& run) {
  WindowEdge e;
  e.metrics = HttpGet(run.base + "/metrics").value_or("");
  e.watcher = ReadProc(run.watcher.Pid());
  e.prometheus = ReadProc(run.prometheus.Process().Pid());
  e.db_ms = run.bench.Scalar("SELECT (extract(epoch FROM now()) * 1000)::bigint");
  return e;
}

// The watcher's rates and resources over the window [before, after].
void FillRates(const WindowEdge& before, const WindowEdge& after, int n, int interval_ms,
               ManyResult& r) {
  const double queries = MetricSum(after.metrics, "sluice_watcher_query_seconds_count") -
                         MetricSum(before.metrics, "sluice_watcher_query_seconds_count");
  const double measured_count = MetricSum(after.metrics, "sluice_watcher_measurements_total") -
                                MetricSum(before.metrics, "sluice_watcher_measurements_total");
  r.queries_per_s = queries / r.window_s;
  r.measurements_per_s = measured_count / r.window_s;
  r.expected_per_s = n * 1000.0 / interval_ms;
  r.cpu_percent = 100.0 * (after.watcher.cpu_seconds - before.watcher.cpu_seconds) / r.window_s;
  r.prometheus_cpu_percent =
      100.0 * (after.prometheus.cpu_seconds - before.prometheus.cpu_seconds) / r.window_s;
  r.rss_mib = after.watcher.rss_kib / 1024;
  r.hwm_mib = after.watcher.hwm_kib / 1024;
}

// The measured interval between consecutive measurements of each analysis of `app` in the
// window; throws when the measurements cannot be read.
void FillIntervals(WatcherRun& run, const std::string& app, int interval_ms,
                   const WindowEdge& before, const WindowEdge& after, ManyResult& r) {
  pqxx::connection conn(run.bench.Opts().pg_dsn);
  pqxx::work tx(conn);
  const auto rows = tx.exec(
      "SELECT extract(epoch FROM taken_at - prev) * 1000 FROM (SELECT m.taken_at, "
      "lag(m.taken_at) OVER (PARTITION BY m.analysis_id ORDER BY m.id) AS prev FROM " +
      run.schema + ".measurements m JOIN " + run.schema +
      ".analyses a ON a.id = m.analysis_id WHERE a.app = " + tx.quote(app) +
      " AND m.taken_at >= to_timestamp(" + std::to_string(before.db_ms) +
      " / 1000.0) AND m.taken_at <= to_timestamp(" + std::to_string(after.db_ms) +
      " / 1000.0)) s WHERE prev IS NOT NULL");
  std::vector<double> gaps;
  int late = 0;
  for (const auto& row : rows) {
    const double g = row[0].as<double>();
    gaps.push_back(g);
    if (g > interval_ms + 500) ++late;
  }
  r.interval_p50_ms = Percentile(gaps, 0.5);
  r.interval_p99_ms = Percentile(gaps, 0.99);
  r.interval_max_ms = Percentile(gaps, 1.0);
  r.late_share = gaps.empty() ? 0 : static_cast<double>(late) / static_cast<double>(gaps.size());
}

// Cancels the analyses (a rollback of generation 2 each), so a following run measures alone.
void CancelAnalyses(WatcherRun& run, const std::string& app,
                    const std::vector<std::string>& deployments) {
  std::vector<v1::Envelope> cancels;
  for (const auto& d : deployments) {
    auto e = Bench::New("rollback-agent", d);
    auto* rb = e.mutable_rollback_started();
    rb->set_rollback_id(sluice::core::NewUuid());
    rb->set_deployment_id(d);
    rb->set_generation(2);
    cancels.push_back(std::move(e));
  }
  run.bench.Produce(run.rollbacks_topic, std::move(cancels));
  const std::string running = "SELECT count(*) FROM " + run.schema +
                              ".analyses WHERE status = 'Running' AND app = '" + app + "'";
  if (!WaitUntil([&] { return run.bench.Scalar(running) == 0; }, SteadyClock::now() + 60s, 500ms)) {
    std::fprintf(stderr, "analysis-bench: %lld analyses still running after their cancellation\n",
                 static_cast<long long>(run.bench.Scalar(running)));
  }
}

ManyResult RunMany(WatcherRun& run, int n, const std::string& interval, int interval_ms,
                   int window_s) {
  ManyResult r;
  r.analyses = n;
  r.interval = interval;
  const std::string app = "bm" + std::to_string(interval_ms / 1000) + run.bench.Opts().sfx;
  for (int i = 0; i < n; ++i) run.target.Set(app, app + "-h" + std::to_string(i), kHealthy);
  if (!WaitUntil(
          [&] {
            return run.prometheus.Value("count(sluice_bench_error_ratio{app=\"" + app + "\"})") ==
                   static_cast<double>(n);
          },
          SteadyClock::now() + 30s, 200ms)) {
    r.error = "Prometheus did not scrape the bench target";
    return r;
  }
  const auto deployments = StartAnalyses(run, app, WatcherSpec(app, interval, 100000), n);
  // Every analysis running and measured at least once, then a few intervals to settle.
  const std::string measured = "SELECT count(DISTINCT m.analysis_id) FROM " + run.schema +
                               ".measurements m JOIN " + run.schema +
                               ".analyses a ON a.id = m.analysis_id WHERE a.app = '" + app + "'";
  if (!WaitUntil([&] { return run.bench.Scalar(measured) >= n; }, SteadyClock::now() + 90s,
                 500ms)) {
    r.error = "only " + std::to_string(run.bench.Scalar(measured)) + " of " + std::to_string(n) +
              " analyses measured within 90 s";
    return r;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * interval_ms));

  const auto before = ReadEdge(run);
  const auto start = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(window_s));
  const auto after = ReadEdge(run);
  r.window_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  FillRates(before, after, n, interval_ms, r);
  try {
    FillIntervals(run, app, interval_ms, before, after, r);
  } catch (const std::exception& e) {
    r.error = std::string("reading the measurements: ") + e.what();
    return r;
  }
  r.ok = true;
  CancelAnalyses(run, app, deployments);
  return r;
}

// ---- (3): the rollback-agent --------------------------------------------------------------

struct RollbackResult {
  std::vector<double> to_revert_ms;
  std::vector<double> to_started_ms;
  int missing = 0;
  double warmup_ms = 0;
  std::string error;
};

// Part 3's topics and names (all of its own, but sluice.rollbacks.v1).
struct RollbackNames {
  explicit RollbackNames(const std::string& sfx)
      : deployments_topic("bench.rb.deployments." + sfx),
        executions_topic("bench.rb.executions." + sfx),
        analyses_topic("bench.rb.analyses." + sfx),
        releases_topic("bench.rb.releases." + sfx),
        app("br" + sfx) {}

  std::string deployments_topic;
  std::string executions_topic;
  std::string analyses_topic;
  std::string releases_topic;
  std::string app;

  std::string Host(int d, int h) const {
    return app + "-d" + std::to_string(d) + "-h" + std::to_string(h);
  }
};

// N 2-batch canaries of v3 (stable v2): batch 0 requested and its two hosts on v3, announced
// on the part's topics; returns their ids. One more deployment than measured: the first
// trigger warms the agent up and is not counted.
std::vector<std::string> AnnounceCanaries(Bench& bench, const RollbackNames& names, int n) {
  std::vector<std::string> ids;
  CanaryEvents canaries;
  for (int d = 0; d <= n; ++d) {
    ids.push_back("dep-br-" + std::to_string(d) + "-" + bench.Opts().sfx);
    AddCanary(canaries, ids.back(), names.app + "-" + std::to_string(d), "v3", "v2",
              {{names.Host(d, 1), names.Host(d, 2)}, {names.Host(d, 3), names.Host(d, 4)}});
  }
  bench.Produce(names.deployments_topic, std::move(canaries.deployments));
  bench.Produce(names.executions_topic, std::move(canaries.executions));
  return ids;
}

// The metric-watcher's AnalysisFailed for deployment `d` (`id`), naming a host of batch 0.
v1::Envelope AnalysisFailedOf(const RollbackNames& names, const std::string& id, int d) {
  auto e = Bench::New("metric-watcher", id);
  auto* a = e.mutable_analysis_failed();
  a->set_analysis_id(sluice::core::NewUuid());
  a->set_deployment_id(id);
  a->set_batch_index(0);
  a->set_generation(1);
  sluice::events::SetReason(*a, sluice::v1::REASON_THRESHOLD_BREACHED);
  sluice::events::SetOutcome(*a, sluice::v1::ANALYSIS_OUTCOME_FAILED);
  a->set_app(names.app + "-" + std::to_string(d));
  a->set_env("production");
  a->set_version("v3");
  auto* ev = a->add_evidence();
  ev->set_metric("error_rate");
  ev->set_query("up");
  ev->set_threshold(0.05);
  ev->set_observed(0.31);
  ev->set_comparator(">");
  ev->set_severity(v1::SEVERITY_CRITICAL);
  ev->add_affected_instances(names.Host(d, 1));
  return e;
}

// Produces deployment `d`'s AnalysisFailed and notes (in `r`) when its RevertRequested and
// RollbackStarted appear; the first deployment's is the warm-up.
void TriggerOne(Bench& bench, const RollbackNames& names, TopicTail& rollbacks,
                const std::string& id, int d, RollbackResult& r) {
  const auto e = AnalysisFailedOf(names, id, d);
  const auto t0 = SteadyClock::now();
  bench.Produce(names.analyses_topic, {e});
  std::optional<TopicTail::Seen> revert;
  std::optional<TopicTail::Seen> started;
  WaitUntil(
      [&] {
        if (!revert) revert = rollbacks.First(id, v1::Envelope::kRevertRequested);
        if (!started) started = rollbacks.First(id, v1::Envelope::kRollbackStarted);
        return revert && started;
      },
      SteadyClock::now() + 30s);
  if (!revert || !started) {
    ++r.missing;
    return;
  }
  if (d == 0) {
    r.warmup_ms = Ms(revert->at - t0);
    return;
  }
  r.to_revert_ms.push_back(Ms(revert->at - t0));
  r.to_started_ms.push_back(Ms(started->at - t0));
}

RollbackResult RunRollbacks(Bench& bench, const std::string& rollback_bin,
                            const std::string& prometheus_url, int n,
                            SteadyClock::time_point deadline) {
  RollbackResult r;
  const auto& o = bench.Opts();
  const RollbackNames names(o.sfx);
  sluice::kafka::EnsureTopics(
      bench.Kafka(), {names.deployments_topic, names.executions_topic, names.analyses_topic,
                      names.releases_topic, std::string(sluice::events::kTopicRollbacks)});
  TopicTail rollbacks(o.brokers, std::string(sluice::events::kTopicRollbacks));
  OwnRollbackAgent agent(
      bench, rollback_bin, prometheus_url,
      {names.analyses_topic, names.releases_topic, names.deployments_topic, names.executions_topic},
      "rollback", "earliest");
  if (!agent.WaitReady()) {
    r.error = "the rollback-agent did not become ready; log " + agent.Process().LogPath();
    std::cerr << agent.Process().LogTail();
    return r;
  }
  const auto ids = AnnounceCanaries(bench, names, n);
  if (!agent.WaitKnown(n + 1, 2 * (n + 1))) {
    r.error = "the rollback-agent did not learn the deployments within 60 s; log " +
              agent.Process().LogPath();
    return r;
  }
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> gap_ms(0, 250);
  for (int d = 0; d <= n && SteadyClock::now() < deadline; ++d) {
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms(rng)));
    TriggerOne(bench, names, rollbacks, ids[static_cast<std::size_t>(d)], d, r);
  }
  return r;
}

// ---- the command line and the report ------------------------------------------------------

struct Flags {
  Options o;
  std::string watcher_bin = SLUICE_METRIC_WATCHER_BIN;
  std::string rollback_bin = SLUICE_ROLLBACK_AGENT_BIN;
  std::string parts = "breach,many,rollback";
  std::string markdown;
  std::string many_interval = "1s";
  int breach = 20;
  int breach_parallel = 5;
  int many = 1000;
  int window = 60;
  int rollbacks = 50;
  int max_seconds = 180;

  bool Wanted(const std::string& p) const {
    return ("," + parts + ",").find("," + p + ",") != std::string::npos;
  }
};

void AddFlags(CLI::App& cli, Flags& f) {
  Options& o = f.o;
  o.brokers = st::EnvOr("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092");
  o.pg_dsn = st::EnvOr("SLUICE_PG_DSN", "postgresql://sluice:sluice@127.0.0.1:15432/sluice");
  o.redis_url = st::EnvOr("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");
  o.log_dir = "var/bench";
  o.watcher_poll = "200ms";
  cli.add_option("--metric-watcher-bin", f.watcher_bin);
  cli.add_option("--rollback-agent-bin", f.rollback_bin);
  cli.add_option("--brokers", o.brokers);
  cli.add_option("--pg-dsn", o.pg_dsn);
  cli.add_option("--redis-url", o.redis_url);
  cli.add_option("--log-dir", o.log_dir, "where the services' logs go");
  cli.add_option("--watcher-poll", o.watcher_poll, "SLUICE_WATCHER_POLL_INTERVAL");
  cli.add_option("--watcher-workers", o.watcher_workers, "SLUICE_WATCHER_WORKERS")
      ->check(CLI::Range(1, 32));
  cli.add_option("--parts", f.parts, "comma-separated: breach, many, rollback");
  cli.add_option("--breach", f.breach, "analyses breached one after another (part 1)")
      ->check(CLI::Range(1, 1000));
  cli.add_option("--breach-parallel", f.breach_parallel, "analyses breached at once (part 1)")
      ->check(CLI::Range(1, 50));
  cli.add_option("--many", f.many, "analyses running at once (part 2)")->check(CLI::Range(1, 5000));
  cli.add_option("--many-interval", f.many_interval, "their interval, or several: 1s or 1s,5s");
  cli.add_option("--window", f.window, "seconds measured in part 2")->check(CLI::Range(5, 170));
  cli.add_option("--rollbacks", f.rollbacks, "deployments rolled back (part 3)")
      ->check(CLI::Range(1, 1000));
  cli.add_option("--max-seconds", f.max_seconds, "bound of parts 1 and 3 each")
      ->check(CLI::Range(10, 180));
  cli.add_option("--markdown", f.markdown, "write the results as Markdown tables");
}

using Intervals = std::vector<std::pair<std::string, int>>;  // as written, in ms

// "1s" or "1s,5s": whole seconds from 1 to 60; nullopt when the text is not that.
std::optional<Intervals> ParseIntervals(const std::string& text) {
  Intervals intervals;
  try {
    std::istringstream list(text);
    std::string item;
    while (std::getline(list, item, ',')) {
      if (item.size() < 2 || item.back() != 's') throw std::invalid_argument(item);
      const int seconds = std::stoi(item.substr(0, item.size() - 1));
      if (seconds < 1 || seconds > 60) throw std::invalid_argument(item);
      intervals.emplace_back(item, seconds * 1000);
    }
    if (intervals.empty()) throw std::invalid_argument("");
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return intervals;
}

// The Markdown tables' rows and notes, and the exit code, as the parts add to them.
struct Report {
  std::ostringstream md;
  std::ostringstream notes;
  int status = 0;
};

// ---- part 1: breach -> AnalysisFailed (-> RevertRequested) --------------------------------

void ReportBreachToFailed(const Flags& f, const BreachResult& r, Report& report) {
  const auto& a = r.breach_to_failed_ms;
  const auto& b = r.queryable_to_failed_ms;
  std::printf(
      "breach -> AnalysisFailed:             p50 %.0f ms  p99 %.0f ms  max %.0f ms over %zu "
      "(%d missing or wrong)\n",
      Percentile(a, 0.5), Percentile(a, 0.99), Percentile(a, 1.0), a.size(), r.failed_wrong);
  std::printf(
      "breach queryable -> AnalysisFailed:   p50 %.0f ms  p99 %.0f ms  max %.0f ms over %zu\n",
      Percentile(b, 0.5), Percentile(b, 0.99), Percentile(b, 1.0), b.size());
  std::printf("breach -> queryable (scrape):       p50 %.0f ms  p99 %.0f ms\n",
              Percentile(r.breach_to_queryable_ms, 0.5),
              Percentile(r.breach_to_queryable_ms, 0.99));
  std::fflush(stdout);
  if (r.failed_wrong > 0 || a.empty()) report.status = 1;
  char row[640];
  const double p99 = Percentile(a, 0.99);
  std::snprintf(row, sizeof(row),
                "| Breach → AnalysisFailed on Kafka, %zu analyses, interval 1 s | p50 %.0f ms, "
                "p99 %.0f ms, max %.0f ms | (scrape included) p99 ≤ 2 intervals (2000 ms) | "
                "**%s** |\n",
                a.size(), Percentile(a, 0.5), p99, Percentile(a, 1.0),
                (!a.empty() && r.failed_wrong == 0 && p99 <= 2000) ? "met" : "not met");
  report.md << row;
  std::snprintf(row, sizeof(row),
                "| Breach queryable in Prometheus → AnalysisFailed | p50 %.0f ms, p99 %.0f ms, "
                "max %.0f ms | issue 4: p99 ≤ 1 s + 1 interval (2000 ms) | **%s** |\n",
                Percentile(b, 0.5), Percentile(b, 0.99), Percentile(b, 1.0),
                (!b.empty() && Percentile(b, 0.99) <= 2000) ? "met" : "not met");
  report.md << row;
  std::snprintf(row, sizeof(row),
                "- Breach: the bench flips the instance's gauge at a random moment after the "
                "analysis took 2 healthy measurements; Prometheus (scrape 1 s) shows it after "
                "p50 %.0f ms / p99 %.0f ms; %d at once; watcher poll %s; %d missing or with "
                "another reason.\n",
                Percentile(r.breach_to_queryable_ms, 0.5),
                Percentile(r.breach_to_queryable_ms, 0.99), f.breach_parallel,
                f.o.watcher_poll.c_str(), r.failed_wrong);
  report.notes << row;
}

void ReportBreachToRevert(const BreachResult& r, bool chained, Report& report) {
  const auto& c = r.queryable_to_revert_ms;
  std::printf(
      "breach queryable -> RevertRequested:  p50 %.0f ms  p99 %.0f ms  max %.0f ms over %zu "
      "(%d missing)\n",
      Percentile(c, 0.5), Percentile(c, 0.99), Percentile(c, 1.0), c.size(), r.revert_missing);
  std::fflush(stdout);
  if (!chained || r.revert_missing > 0 || c.empty()) report.status = 1;
  char row[640];
  std::snprintf(
      row, sizeof(row),
      "| Breach queryable in Prometheus → RevertRequested on Kafka (watcher → "
      "rollback-agent) | p50 %.0f ms, p99 %.0f ms, max %.0f ms; from the breach: "
      "p50 %.0f ms, p99 %.0f ms | issue 5: p99 ≤ 1 s + 1 interval (2000 ms) | "
      "**%s** |\n",
      Percentile(c, 0.5), Percentile(c, 0.99), Percentile(c, 1.0),
      Percentile(r.breach_to_revert_ms, 0.5), Percentile(r.breach_to_revert_ms, 0.99),
      (!c.empty() && r.revert_missing == 0 && Percentile(c, 0.99) <= 2000) ? "met" : "not met");
  report.md << row;
}

// Part 1, with the rollback-agent behind the watcher: it reads the watcher's AnalysisFailed on
// the shared analyses topic (from its end) and the deployments as the planner and the executor
// would announce them on the bench's topics.
void BreachPart(const Flags& f, WatcherRun& run, TopicTail& analyses, Report& report) {
  const Options& o = f.o;
  std::printf("breach: %d analyses (interval 1s, %d at once), watcher poll %s\n", f.breach,
              f.breach_parallel, o.watcher_poll.c_str());
  std::fflush(stdout);
  const std::string chain_executions = "bench.chain.executions." + o.sfx;
  const std::string chain_releases = "bench.chain.releases." + o.sfx;
  sluice::kafka::EnsureTopics(run.bench.Kafka(), {chain_executions, chain_releases,
                                                  std::string(sluice::events::kTopicRollbacks)});
  TopicTail chain_tail(o.brokers, std::string(sluice::events::kTopicRollbacks));
  OwnRollbackAgent chain_agent(run.bench, f.rollback_bin, run.prometheus.Url(),
                               {std::string(sluice::events::kTopicAnalyses), chain_releases,
                                run.deployments_topic, chain_executions},
                               "chain", "latest");
  RollbackChain chain{chain_agent, chain_tail, chain_executions};
  const bool chained = chain_agent.WaitReady();
  if (!chained) {
    std::cerr << "analysis-bench: the rollback-agent did not become ready; breach measured "
                 "without it\n"
              << chain_agent.Process().LogTail();
  }
  const auto r = RunBreach(run, analyses, chained ? &chain : nullptr, f.breach, f.breach_parallel,
                           SteadyClock::now() + std::chrono::seconds(f.max_seconds));
  ReportBreachToFailed(f, r, report);
  ReportBreachToRevert(r, chained, report);
}

// ---- part 2: many analyses at once --------------------------------------------------------

void ReportMany(const Flags& f, const ManyResult& r, int interval_ms, Report& report) {
  std::printf(
      "many: %.0f queries/s (%.0f measurements/s, %.0f expected), watcher CPU %.0f %% "
      "(Prometheus %.0f %%), RSS %ld MiB (peak %ld MiB)\n",
      r.queries_per_s, r.measurements_per_s, r.expected_per_s, r.cpu_percent,
      r.prometheus_cpu_percent, r.rss_mib, r.hwm_mib);
  std::printf(
      "many: measured interval p50 %.0f ms  p99 %.0f ms  max %.0f ms (configured %d ms); "
      "%.1f %% later than +500 ms\n",
      r.interval_p50_ms, r.interval_p99_ms, r.interval_max_ms, interval_ms, 100 * r.late_share);
  std::fflush(stdout);
  char row[640];
  const bool kept = r.interval_p99_ms <= 1.5 * interval_ms;
  std::snprintf(
      row, sizeof(row),
      "| %d analyses at once, interval %s, %.0f s window, %d watcher workers | %.0f "
      "queries/s "
      "(%.0f expected), watcher CPU %.0f %%, RSS %ld MiB (peak %ld MiB); measured interval "
      "p50 %.0f ms, p99 %.0f ms | on schedule: interval p99 ≤ 1.5 × configured | **%s** |\n",
      r.analyses, r.interval.c_str(), r.window_s, f.o.watcher_workers, r.queries_per_s,
      r.expected_per_s, r.cpu_percent, r.rss_mib, r.hwm_mib, r.interval_p50_ms, r.interval_p99_ms,
      kept ? "met" : "not met");
  report.md << row;
  std::snprintf(row, sizeof(row),
                "- Many, interval %s: CPU of the watcher (and of the bench's Prometheus, "
                "%.0f %%) from "
                "`/proc/<pid>/stat` over the window, of 200 %% (2 cores); queries/s from "
                "`sluice_watcher_query_seconds_count`; intervals between consecutive "
                "`measurements.taken_at` of each analysis in the window, max %.0f ms, %.1f "
                "%% longer than interval + 500 ms.\n",
                r.interval.c_str(), r.prometheus_cpu_percent, r.interval_max_ms,
                100 * r.late_share);
  report.notes << row;
}

void ManyPart(const Flags& f, WatcherRun& run, const std::string& interval, int interval_ms,
              Report& report) {
  std::printf("many: %d analyses at once, interval %s, window %d s\n", f.many, interval.c_str(),
              f.window);
  std::fflush(stdout);
  const auto r = RunMany(run, f.many, interval, interval_ms, f.window);
  if (!r.ok) {
    std::printf("many: not measured: %s\n", r.error.c_str());
    report.md << "| " << f.many << " analyses at once | not measured: " << r.error << " | | |\n";
    report.status = 1;
    return;
  }
  ReportMany(f, r, interval_ms, report);
}

// ---- parts 1 and 2: the metric-watcher of the bench's own ---------------------------------

std::map<std::string, std::string> WatcherEnv(const Options& o, int port, const std::string& schema,
                                              const std::string& deployments_topic,
                                              const std::string& rollbacks_topic,
                                              const std::string& prometheus_url) {
  return {{"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)},
          {"SLUICE_PG_DSN", o.pg_dsn},
          {"SLUICE_PG_SCHEMA", schema},
          {"SLUICE_KAFKA_BROKERS", o.brokers},
          {"SLUICE_KAFKA_GROUP", "bench-watcher-" + o.sfx},
          {"SLUICE_KAFKA_START_OFFSET", "latest"},
          {"SLUICE_WATCHER_TOPICS", deployments_topic + "," + rollbacks_topic},
          {"SLUICE_PROMETHEUS_URL", prometheus_url},
          {"SLUICE_WATCHER_ALERT_TOKEN", kAlertToken},
          {"SLUICE_SERVICE_TOKEN", kServiceToken},
          {"SLUICE_WATCHER_POLL_INTERVAL", o.watcher_poll},
          {"SLUICE_WATCHER_WORKERS", std::to_string(o.watcher_workers)},
          {"SLUICE_PG_POOL_SIZE", std::to_string(o.watcher_workers + 4)},
          {"SLUICE_LOG_LEVEL", "warn"}};
}

// Starts Prometheus, the metrics target and the metric-watcher, runs parts 1 and 2 (as
// wanted) and stops them; 2 when they could not be started (the bench then stops), else 0.
int WatcherParts(const Flags& f, const Intervals& many_intervals, Bench& bench, Report& report) {
  const Options& o = f.o;
  const std::string schema = "bench_watcher_" + o.sfx;
  const std::string deployments_topic = "bench.watcher.deployments." + o.sfx;
  const std::string rollbacks_topic = "bench.watcher.rollbacks." + o.sfx;
  try {
    sluice::kafka::EnsureTopics(bench.Kafka(), {deployments_topic, rollbacks_topic,
                                                std::string(sluice::events::kTopicAnalyses)});
  } catch (const std::exception& e) {
    std::cerr << "analysis-bench: Kafka at " << o.brokers << " is needed: " << e.what() << "\n";
    return 2;
  }
  MetricsTarget target;
  OwnPrometheus prometheus(target.Port(), o.log_dir, o.sfx);
  if (!st::WaitForHttpOk(prometheus.Url() + "/-/ready", 60s)) {
    std::cerr << "analysis-bench: Prometheus did not start\n" << prometheus.Process().LogTail();
    return 2;
  }
  TopicTail analyses(o.brokers, std::string(sluice::events::kTopicAnalyses));
  const int port = st::FreePort();
  st::ChildProcess watcher(
      {f.watcher_bin},
      WatcherEnv(o, port, schema, deployments_topic, rollbacks_topic, prometheus.Url()),
      o.log_dir + "/analysis-bench-metric-watcher-" + o.sfx + ".log");
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  // With a latest start offset, the group must hold its partitions before the first event.
  if (!st::WaitForHttpOk(base + "/readyz", 60s)) {
    std::cerr << "analysis-bench: the metric-watcher did not become ready\n" << watcher.LogTail();
    watcher.Terminate();
    bench.DropSchema(schema);
    return 2;
  }
  WatcherRun run{bench,           target, prometheus, watcher, base, deployments_topic,
                 rollbacks_topic, schema};
  if (f.Wanted("breach")) BreachPart(f, run, analyses, report);
  for (const auto& [interval, interval_ms] : many_intervals) {
    if (!f.Wanted("many")) break;
    ManyPart(f, run, interval, interval_ms, report);
  }
  const int exit_code = watcher.Terminate(30s);
  if (exit_code != 0) {
    std::cerr << "analysis-bench: the metric-watcher exited with " << exit_code << "\n";
  }
  bench.DropSchema(schema);
  return 0;
}

// ---- part 3: AnalysisFailed -> rollback commanded -----------------------------------------

void ReportRollbacks(const RollbackResult& r, Report& report) {
  const auto& a = r.to_revert_ms;
  std::printf(
      "AnalysisFailed -> RevertRequested:   p50 %.1f ms  p99 %.1f ms  max %.1f ms over %zu "
      "(%d missing)\n",
      Percentile(a, 0.5), Percentile(a, 0.99), Percentile(a, 1.0), a.size(), r.missing);
  std::printf(
      "AnalysisFailed -> RollbackStarted:   p50 %.1f ms  p99 %.1f ms (first trigger, not "
      "counted: %.1f ms)\n",
      Percentile(r.to_started_ms, 0.5), Percentile(r.to_started_ms, 0.99), r.warmup_ms);
  if (r.missing > 0 || a.empty()) report.status = 1;
  char row[512];
  std::snprintf(row, sizeof(row),
                "| AnalysisFailed produced → RevertRequested on Kafka, %zu deployments in "
                "canary | p50 %.1f ms, p99 %.1f ms, max %.1f ms (RollbackStarted p50 %.1f "
                "ms, p99 %.1f ms); %d missing | — | |\n",
                a.size(), Percentile(a, 0.5), Percentile(a, 0.99), Percentile(a, 1.0),
                Percentile(r.to_started_ms, 0.5), Percentile(r.to_started_ms, 0.99), r.missing);
  report.md << row;
  std::snprintf(row, sizeof(row),
                "- Rollback: one AnalysisFailed at a time (random gap 0–250 ms), naming a "
                "host of batch 0; revert-batch policy; the first trigger after the agent "
                "started (%.1f ms) is a warm-up, not counted.\n",
                r.warmup_ms);
  report.notes << row;
}

void RollbackPart(const Flags& f, Bench& bench, Report& report) {
  std::printf("rollback: %d deployments in canary, one AnalysisFailed each\n", f.rollbacks);
  std::fflush(stdout);
  RollbackResult r;
  try {
    r = RunRollbacks(bench, f.rollback_bin, "http://127.0.0.1:19090", f.rollbacks,
                     SteadyClock::now() + std::chrono::seconds(f.max_seconds));
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  if (!r.error.empty()) {
    std::printf("rollback: not measured: %s\n", r.error.c_str());
    report.md << "| AnalysisFailed → rollback commanded | not measured: " << r.error << " | | |\n";
    report.status = 1;
    return;
  }
  ReportRollbacks(r, report);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"analysis-bench"};
  Flags f;
  AddFlags(cli, f);
  CLI11_PARSE(cli, argc, argv);
  const auto many_intervals = ParseIntervals(f.many_interval);
  if (!many_intervals) {
    std::cerr << "analysis-bench: --many-interval takes whole seconds (1s to 60s), comma "
                 "separated, like 1s or 1s,5s\n";
    return 2;
  }

  f.o.sfx = st::RandomSuffix();
  std::filesystem::create_directories(f.o.log_dir);
  Bench bench(f.o);
  Report report;
  report.md << "| benchmark | measured | target | |\n|---|---|---|---|\n";
  if (f.Wanted("breach") || f.Wanted("many")) {
    if (WatcherParts(f, *many_intervals, bench, report) != 0) return 2;
  }
  if (f.Wanted("rollback")) RollbackPart(f, bench, report);
  if (!f.markdown.empty()) {
    std::ofstream out(f.markdown);
    out << report.md.str() << "\n" << report.notes.str();
  }
  return report.status;
}
