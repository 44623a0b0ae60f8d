// notifier-bench: the real notifier binary against the local stack (Kafka, PostgreSQL, Redis),
// delivering to the capture server (sluice::capture, which checks every payload like the real
// receivers do).
//  (a) notices/s through consume -> record (PostgreSQL) -> route -> render -> deliver, for N
//      RollbackStarted events each routed to Slack, DingTalk, WeCom and a webhook;
//  (b) the delay from a RollbackStarted produced to Kafka to the Slack capture receiving it,
//      one event at a time, p50 / p99.
//
//   notifier-bench --events 2000 --latency-events 200 --max-seconds 180 [--markdown FILE]
//
// It runs its own notifier (own schema, topic and consumer group; all names carry a random
// suffix) and stops it at the end.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <sluice/capture/capture.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/testing/process.hpp>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace st = sluice::testing;
namespace capture = sluice::capture;

// The internal APIs' token every service on the skeleton requires (SLUICE_SERVICE_TOKEN).
constexpr const char* kServiceToken = "bench-service-token-0123456789abcdef";

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(idx, v.size() - 1)];
}

std::string RollbackStarted(const std::string& app) {
  auto e = sluice::events::NewEnvelope("notifier-bench", sluice::core::SystemClock::Instance());
  const std::string deployment_id = sluice::core::NewUuid();
  e.set_deployment_id(deployment_id);
  e.set_type("sluice.v1.RollbackStarted");
  auto* p = e.mutable_rollback_started();
  p->set_rollback_id(sluice::core::NewUuid());
  p->set_deployment_id(deployment_id);
  p->set_generation(2);
  p->set_scope(sluice::events::v1::ROLLBACK_SCOPE_BATCHES);
  p->add_batches(1);
  for (const char* h : {"web-1", "web-2", "web-3"}) p->add_hosts(h);
  p->set_target_version("1.4.2");
  p->set_from_version("1.5.0");
  sluice::events::SetTrigger(*p, sluice::events::v1::ROLLBACK_TRIGGER_ANALYSIS_FAILED);
  p->set_app(app);
  p->set_env("prod");
  auto* ev = p->mutable_evidence();
  ev->set_metric("error_rate");
  ev->set_comparator(">");
  ev->set_threshold(0.05);
  ev->set_observed(0.21);
  ev->set_severity(sluice::events::v1::SEVERITY_CRITICAL);
  for (int i = 0; i < 6; ++i) ev->add_recent()->set_value(0.01 * (i + 1) * (i + 1));
  std::string out;
  e.SerializeToString(&out);
  return out;
}

// Waits until `done` or the deadline; true when done.
template <typename F>
bool WaitUntil(F&& done, SteadyClock::time_point deadline) {
  while (SteadyClock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

struct Options {
  std::string notifier_bin = SLUICE_NOTIFIER_BIN;
  std::string brokers = st::EnvOr("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092");
  std::string pg_dsn =
      st::EnvOr("SLUICE_PG_DSN", "postgresql://sluice:sluice@127.0.0.1:15432/sluice");
  std::string redis_url = st::EnvOr("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0");
  std::string poll = "500ms";
  std::string markdown;
  std::string log_dir = "var/bench";
  int events = 2000;
  int latency_events = 200;
  int max_seconds = 180;
};

void AddFlags(CLI::App& app, Options& o) {
  app.add_option("--notifier-bin", o.notifier_bin);
  app.add_option("--brokers", o.brokers);
  app.add_option("--pg-dsn", o.pg_dsn);
  app.add_option("--redis-url", o.redis_url);
  app.add_option("--poll", o.poll, "SLUICE_NOTIFIER_POLL_INTERVAL of the notifier under test");
  app.add_option("--events", o.events)->check(CLI::Range(1, 100000));
  app.add_option("--latency-events", o.latency_events)->check(CLI::Range(1, 10000));
  app.add_option("--max-seconds", o.max_seconds)->check(CLI::Range(1, 1200));
  app.add_option("--markdown", o.markdown, "append the result as a Markdown table row");
  app.add_option("--log-dir", o.log_dir, "where the notifier's log goes");
}

// This run's names: all carry a random suffix.
struct Names {
  explicit Names(std::string suffix)
      : sfx(std::move(suffix)),
        schema("bench_notifier_" + sfx),
        topic("bench.notifier." + sfx),
        tp_app("bench-tp-" + sfx),
        lat_app("bench-lat-" + sfx) {}

  std::string sfx;
  std::string schema;
  std::string topic;
  std::string tp_app;   // routed to all four channels (throughput)
  std::string lat_app;  // routed to Slack only (latency)
};

// What the receivers accepted: when the last notice arrived, and when each Slack message did
// (for the latency phase).
class Arrivals {
 public:
  void OnRequest(const capture::Request& r) {
    if (!r.accepted) return;
    std::lock_guard lock(mu_);
    last_ = std::max(last_, r.received_at);
    if (r.channel == capture::Channel::kSlack) slack_.push_back(r.received_at);
  }
  std::size_t SlackCount() const {
    std::lock_guard lock(mu_);
    return slack_.size();
  }
  SteadyClock::time_point Slack(std::size_t i) const {
    std::lock_guard lock(mu_);
    return slack_[i];
  }
  SteadyClock::time_point Last() const {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<SteadyClock::time_point> slack_;
  SteadyClock::time_point last_{};
};

void WriteConfig(const std::string& path, const Names& n) {
  std::ofstream out(path);
  out << "settings: {dedupe_window: 10m, max_attempts: 3, backoff_base: 200ms, backoff_max: 2s}\n"
      << "channels:\n"
      << "  slack: {type: slack, url_env: SLUICE_BENCH_SLACK_URL}\n"
      << "  ding: {type: dingtalk, url_env: SLUICE_BENCH_DING_URL, rate_limit_per_minute: 0}\n"
      << "  wecom: {type: wecom, url_env: SLUICE_BENCH_WECOM_URL, rate_limit_per_minute: 0}\n"
      << "  hook: {type: webhook, url_env: SLUICE_BENCH_HOOK_URL}\n"
      << "routes:\n"
      << "  - {name: throughput, match: {apps: [" << n.tp_app
      << "]}, channels: [slack, ding, wecom, hook]}\n"
      << "  - {name: latency, match: {apps: [" << n.lat_app << "]}, channels: [slack]}\n";
}

// The environment of the notifier under test.
std::map<std::string, std::string> NotifierEnv(const Options& o, const Names& n, int port,
                                               const std::string& config_path,
                                               const capture::CaptureServer& receivers) {
  return {{"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)},
          {"SLUICE_PG_DSN", o.pg_dsn},
          {"SLUICE_PG_SCHEMA", n.schema},
          {"SLUICE_KAFKA_BROKERS", o.brokers},
          {"SLUICE_KAFKA_GROUP", "bench-notifier-" + n.sfx},
          {"SLUICE_NOTIFIER_TOPICS", n.topic},
          {"SLUICE_REDIS_URL", o.redis_url},
          {"SLUICE_NOTIFIER_CONFIG", config_path},
          {"SLUICE_NOTIFIER_POLL_INTERVAL", o.poll},
          {"SLUICE_SERVICE_TOKEN", kServiceToken},
          {"SLUICE_LOG_LEVEL", "warn"},
          {"SLUICE_BENCH_SLACK_URL", receivers.Url("/slack/services/T0/B0/bench")},
          {"SLUICE_BENCH_DING_URL", receivers.Url("/dingtalk/robot/send?access_token=bench")},
          {"SLUICE_BENCH_WECOM_URL", receivers.Url("/wecom/cgi-bin/webhook/send?key=bench")},
          {"SLUICE_BENCH_HOOK_URL", receivers.Url("/webhook/bench")}};
}

// Stops the notifier and removes its schema and config.
void Finish(st::ChildProcess& service, const std::string& pg_dsn, const std::string& schema,
            const std::string& config_path) {
  service.Terminate();
  try {
    pqxx::connection conn(pg_dsn);
    pqxx::work tx(conn);
    tx.exec0("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    tx.commit();
  } catch (const std::exception& e) {
    std::cerr << "notifier-bench: could not drop schema " << schema << ": " << e.what() << "\n";
  }
  std::filesystem::remove(config_path);
}

// Produces `count` RollbackStarted events of `app_name` to `topic`.
void Produce(sluice::kafka::Producer& producer, const std::string& topic,
             const std::string& app_name, int count) {
  std::vector<sluice::kafka::OutgoingMessage> batch;
  for (int i = 0; i < count; ++i) {
    sluice::kafka::OutgoingMessage m;
    m.topic = topic;
    m.key = sluice::core::NewUuid();
    m.value = RollbackStarted(app_name);
    batch.push_back(std::move(m));
  }
  producer.ProduceSync(batch, 60s);
}

// (b) RollbackStarted on Kafka -> Slack capture, one at a time: the delays in ms. Sets
// `status` to 1 when an event is not delivered within 30 s.
std::vector<double> MeasureLatency(sluice::kafka::Producer& producer, const Names& n,
                                   const Arrivals& accepted, int latency_events,
                                   SteadyClock::time_point deadline, int& status) {
  std::vector<double> delay_ms;
  // A random pause between events, so arrivals do not fall in step with the sender's cycle.
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> gap_ms(0, 250);
  for (int i = 0; i < latency_events && SteadyClock::now() < deadline; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms(rng)));
    const std::size_t before = accepted.SlackCount();
    const auto t0 = SteadyClock::now();
    Produce(producer, n.topic, n.lat_app, 1);
    if (!WaitUntil([&] { return accepted.SlackCount() > before; }, SteadyClock::now() + 30s)) {
      std::cerr << "notifier-bench: a RollbackStarted was not delivered within 30 s\n";
      status = 1;
      break;
    }
    delay_ms.push_back(
        std::chrono::duration<double, std::milli>(accepted.Slack(before) - t0).count());
  }
  return delay_ms;
}

struct Throughput {
  int wanted = 0;
  int delivered = 0;
  int refused = 0;
  bool all = false;  // every notice delivered in time
  double secs = 0;
  double rate = 0;  // notices/s
  double produce_secs = 0;
};

// (a) N events, four notices each.
Throughput MeasureThroughput(sluice::kafka::Producer& producer, const Names& n,
                             const capture::CaptureServer& receivers, const Arrivals& accepted,
                             int events, SteadyClock::time_point deadline) {
  const auto accepted_total = [&] {
    return receivers.Accepted(capture::Channel::kSlack) +
           receivers.Accepted(capture::Channel::kDingTalk) +
           receivers.Accepted(capture::Channel::kWeCom) +
           receivers.Accepted(capture::Channel::kWebhook);
  };
  Throughput t;
  const int base = accepted_total();
  t.wanted = events * 4;
  const auto start = SteadyClock::now();
  for (int done = 0; done < events; done += 500) {
    Produce(producer, n.topic, n.tp_app, std::min(500, events - done));
  }
  const auto produced = SteadyClock::now();
  t.all = WaitUntil([&] { return accepted_total() - base >= t.wanted; },
                    std::max(deadline, produced + 30s));
  t.delivered = accepted_total() - base;
  const SteadyClock::time_point end = accepted.Last();
  t.secs = std::chrono::duration<double>(end - start).count();
  t.rate = t.secs > 0 ? t.delivered / t.secs : 0;
  t.produce_secs = std::chrono::duration<double>(produced - start).count();
  for (const auto& r : receivers.Seen()) t.refused += r.accepted ? 0 : 1;
  return t;
}

void Report(const Options& o, const Throughput& t, const std::vector<double>& delay_ms) {
  std::printf("notices: %d of %d delivered (%d events x 4 channels), %d refused, in %.1f s\n",
              t.delivered, t.wanted, o.events, t.refused, t.secs);
  std::printf("throughput:                 %.0f notices/s (%.0f events/s); producing took %.1f s\n",
              t.rate, t.rate / 4, t.produce_secs);
  std::printf(
      "RollbackStarted -> Slack:   p50 %.1f ms  p99 %.1f ms  max %.1f ms over %zu events "
      "(sender poll %s)\n",
      Percentile(delay_ms, 0.5), Percentile(delay_ms, 0.99), Percentile(delay_ms, 1.0),
      delay_ms.size(), o.poll.c_str());
  if (!o.markdown.empty()) {
    std::ofstream out(o.markdown, std::ios::app);
    char row[256];
    std::snprintf(row, sizeof(row), "| %d | %d | %.0f | %.0f | %zu | %s | %.1f | %.1f |\n",
                  o.events, t.delivered, t.rate, t.rate / 4, delay_ms.size(), o.poll.c_str(),
                  Percentile(delay_ms, 0.5), Percentile(delay_ms, 0.99));
    out << row;
  }
}

// Waits for the notifier, warms it up, then runs both phases and reports; the exit code (2 when
// the notifier never delivered, 1 when a phase fell short).
int RunPhases(const Options& o, const Names& n, const sluice::kafka::KafkaConfig& kafka_config,
              const st::ChildProcess& service, int port, const std::string& log_path,
              const capture::CaptureServer& receivers, const Arrivals& accepted) {
  if (!st::WaitForHttpOk("http://127.0.0.1:" + std::to_string(port) + "/readyz", 60s)) {
    std::cerr << "notifier-bench: the notifier did not become ready; log " << log_path << "\n"
              << service.LogTail();
    return 2;
  }
  sluice::kafka::Producer producer(kafka_config);
  // Warm-up: the consumer group joins and the first delivery opens the connections.
  Produce(producer, n.topic, n.lat_app, 1);
  if (!WaitUntil([&] { return accepted.SlackCount() >= 1; }, SteadyClock::now() + 60s)) {
    std::cerr << "notifier-bench: no notice reached the Slack capture; log " << log_path << "\n"
              << service.LogTail();
    return 2;
  }
  int status = 0;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(o.max_seconds);
  const auto delay_ms = MeasureLatency(producer, n, accepted, o.latency_events, deadline, status);
  const auto t = MeasureThroughput(producer, n, receivers, accepted, o.events, deadline);
  if (!t.all || t.refused > 0) status = 1;
  Report(o, t, delay_ms);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"notifier-bench"};
  Options o;
  AddFlags(app, o);
  CLI11_PARSE(app, argc, argv);

  const Names n(st::RandomSuffix());
  Arrivals accepted;
  capture::ServerOptions capture_options;
  capture_options.on_request = [&](const capture::Request& r) { accepted.OnRequest(r); };
  capture::CaptureServer receivers(capture_options);

  std::filesystem::create_directories(o.log_dir);
  const std::string config_path = o.log_dir + "/notifier-bench-" + n.sfx + ".yaml";
  WriteConfig(config_path, n);
  sluice::kafka::KafkaConfig kafka_config;
  kafka_config.brokers = o.brokers;
  try {
    sluice::kafka::EnsureTopics(kafka_config, {n.topic});
  } catch (const std::exception& e) {
    std::cerr << "notifier-bench: Kafka at " << o.brokers << " is needed: " << e.what() << "\n";
    return 2;
  }
  const int port = st::FreePort();
  const std::string log_path = o.log_dir + "/notifier-bench-" + n.sfx + ".log";
  st::ChildProcess service({o.notifier_bin}, NotifierEnv(o, n, port, config_path, receivers),
                           log_path);
  const int status = RunPhases(o, n, kafka_config, service, port, log_path, receivers, accepted);
  Finish(service, o.pg_dsn, n.schema, config_path);
  return status;
}
