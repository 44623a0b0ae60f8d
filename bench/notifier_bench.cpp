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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"notifier-bench"};
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
  app.add_option("--notifier-bin", notifier_bin);
  app.add_option("--brokers", brokers);
  app.add_option("--pg-dsn", pg_dsn);
  app.add_option("--redis-url", redis_url);
  app.add_option("--poll", poll, "SLUICE_NOTIFIER_POLL_INTERVAL of the notifier under test");
  app.add_option("--events", events)->check(CLI::Range(1, 100000));
  app.add_option("--latency-events", latency_events)->check(CLI::Range(1, 10000));
  app.add_option("--max-seconds", max_seconds)->check(CLI::Range(1, 1200));
  app.add_option("--markdown", markdown, "append the result as a Markdown table row");
  app.add_option("--log-dir", log_dir, "where the notifier's log goes");
  CLI11_PARSE(app, argc, argv);

  const std::string sfx = st::RandomSuffix();
  const std::string schema = "bench_notifier_" + sfx;
  const std::string topic = "bench.notifier." + sfx;
  const std::string tp_app = "bench-tp-" + sfx;
  const std::string lat_app = "bench-lat-" + sfx;

  // The receivers: timestamps of accepted Slack messages for the latency phase.
  std::mutex mu;
  std::vector<SteadyClock::time_point> slack_accepted;
  SteadyClock::time_point last_accepted{};
  capture::ServerOptions capture_options;
  capture_options.on_request = [&](const capture::Request& r) {
    if (!r.accepted) return;
    std::lock_guard lock(mu);
    last_accepted = std::max(last_accepted, r.received_at);
    if (r.channel == capture::Channel::kSlack) slack_accepted.push_back(r.received_at);
  };
  capture::CaptureServer receivers(capture_options);

  std::filesystem::create_directories(log_dir);
  const std::string config_path = log_dir + "/notifier-bench-" + sfx + ".yaml";
  {
    std::ofstream out(config_path);
    out << "settings: {dedupe_window: 10m, max_attempts: 3, backoff_base: 200ms, backoff_max: 2s}\n"
        << "channels:\n"
        << "  slack: {type: slack, url_env: SLUICE_BENCH_SLACK_URL}\n"
        << "  ding: {type: dingtalk, url_env: SLUICE_BENCH_DING_URL, rate_limit_per_minute: 0}\n"
        << "  wecom: {type: wecom, url_env: SLUICE_BENCH_WECOM_URL, rate_limit_per_minute: 0}\n"
        << "  hook: {type: webhook, url_env: SLUICE_BENCH_HOOK_URL}\n"
        << "routes:\n"
        << "  - {name: throughput, match: {apps: [" << tp_app
        << "]}, channels: [slack, ding, wecom, hook]}\n"
        << "  - {name: latency, match: {apps: [" << lat_app << "]}, channels: [slack]}\n";
  }

  sluice::kafka::KafkaConfig kafka_config;
  kafka_config.brokers = brokers;
  try {
    sluice::kafka::EnsureTopics(kafka_config, {topic});
  } catch (const std::exception& e) {
    std::cerr << "notifier-bench: Kafka at " << brokers << " is needed: " << e.what() << "\n";
    return 2;
  }
  const int port = st::FreePort();
  const std::string log_path = log_dir + "/notifier-bench-" + sfx + ".log";
  st::ChildProcess service(
      {notifier_bin},
      {{"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port)},
       {"SLUICE_PG_DSN", pg_dsn},
       {"SLUICE_PG_SCHEMA", schema},
       {"SLUICE_KAFKA_BROKERS", brokers},
       {"SLUICE_KAFKA_GROUP", "bench-notifier-" + sfx},
       {"SLUICE_NOTIFIER_TOPICS", topic},
       {"SLUICE_REDIS_URL", redis_url},
       {"SLUICE_NOTIFIER_CONFIG", config_path},
       {"SLUICE_NOTIFIER_POLL_INTERVAL", poll},
       {"SLUICE_LOG_LEVEL", "warn"},
       {"SLUICE_BENCH_SLACK_URL", receivers.Url("/slack/services/T0/B0/bench")},
       {"SLUICE_BENCH_DING_URL", receivers.Url("/dingtalk/robot/send?access_token=bench")},
       {"SLUICE_BENCH_WECOM_URL", receivers.Url("/wecom/cgi-bin/webhook/send?key=bench")},
       {"SLUICE_BENCH_HOOK_URL", receivers.Url("/webhook/bench")}},
      log_path);
  int status = 0;
  auto finish = [&] {
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
  };
  if (!st::WaitForHttpOk("http://127.0.0.1:" + std::to_string(port) + "/readyz", 60s)) {
    std::cerr << "notifier-bench: the notifier did not become ready; log " << log_path << "\n"
              << service.LogTail();
    finish();
    return 2;
  }

  sluice::kafka::Producer producer(kafka_config);
  auto produce = [&](const std::string& app_name, int count) {
    std::vector<sluice::kafka::OutgoingMessage> batch;
    for (int i = 0; i < count; ++i) {
      sluice::kafka::OutgoingMessage m;
      m.topic = topic;
      m.key = sluice::core::NewUuid();
      m.value = RollbackStarted(app_name);
      batch.push_back(std::move(m));
    }
    producer.ProduceSync(batch, 60s);
  };
  auto slack_count = [&] {
    std::lock_guard lock(mu);
    return slack_accepted.size();
  };

  // Warm-up: the consumer group joins and the first delivery opens the connections.
  produce(lat_app, 1);
  if (!WaitUntil([&] { return slack_count() >= 1; }, SteadyClock::now() + 60s)) {
    std::cerr << "notifier-bench: no notice reached the Slack capture; log " << log_path << "\n"
              << service.LogTail();
    finish();
    return 2;
  }

  // (b) RollbackStarted on Kafka -> Slack capture, one at a time.
  const auto deadline = SteadyClock::now() + std::chrono::seconds(max_seconds);
  std::vector<double> delay_ms;
  // A random pause between events, so arrivals do not fall in step with the sender's cycle.
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> gap_ms(0, 250);
  for (int i = 0; i < latency_events && SteadyClock::now() < deadline; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms(rng)));
    const std::size_t before = slack_count();
    const auto t0 = SteadyClock::now();
    produce(lat_app, 1);
    if (!WaitUntil([&] { return slack_count() > before; }, SteadyClock::now() + 30s)) {
      std::cerr << "notifier-bench: a RollbackStarted was not delivered within 30 s\n";
      status = 1;
      break;
    }
    std::lock_guard lock(mu);
    delay_ms.push_back(
        std::chrono::duration<double, std::milli>(slack_accepted[before] - t0).count());
  }

  // (a) N events, four notices each.
  const auto accepted_total = [&] {
    return receivers.Accepted(capture::Channel::kSlack) +
           receivers.Accepted(capture::Channel::kDingTalk) +
           receivers.Accepted(capture::Channel::kWeCom) +
           receivers.Accepted(capture::Channel::kWebhook);
  };
  const int base = accepted_total();
  const int wanted = events * 4;
  const auto start = SteadyClock::now();
  for (int done = 0; done < events; done += 500) produce(tp_app, std::min(500, events - done));
  const auto produced = SteadyClock::now();
  const bool all = WaitUntil([&] { return accepted_total() - base >= wanted; },
                             std::max(deadline, produced + 30s));
  const int delivered = accepted_total() - base;
  SteadyClock::time_point end;
  {
    std::lock_guard lock(mu);
    end = last_accepted;
  }
  const double secs = std::chrono::duration<double>(end - start).count();
  const double rate = secs > 0 ? delivered / secs : 0;
  int refused = 0;
  for (const auto& r : receivers.Seen()) refused += r.accepted ? 0 : 1;
  if (!all || refused > 0) status = 1;

  std::printf("notices: %d of %d delivered (%d events x 4 channels), %d refused, in %.1f s\n",
              delivered, wanted, events, refused, secs);
  std::printf("throughput:                 %.0f notices/s (%.0f events/s); producing took %.1f s\n",
              rate, rate / 4, std::chrono::duration<double>(produced - start).count());
  std::printf(
      "RollbackStarted -> Slack:   p50 %.1f ms  p99 %.1f ms  max %.1f ms over %zu events "
      "(sender poll %s)\n",
      Percentile(delay_ms, 0.5), Percentile(delay_ms, 0.99), Percentile(delay_ms, 1.0),
      delay_ms.size(), poll.c_str());
  if (!markdown.empty()) {
    std::ofstream out(markdown, std::ios::app);
    char row[256];
    std::snprintf(row, sizeof(row), "| %d | %d | %.0f | %.0f | %zu | %s | %.1f | %.1f |\n", events,
                  delivered, rate, rate / 4, delay_ms.size(), poll.c_str(),
                  Percentile(delay_ms, 0.5), Percentile(delay_ms, 0.99));
    out << row;
  }
  finish();
  return status;
}
