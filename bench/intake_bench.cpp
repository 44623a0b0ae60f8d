// intake-bench: releases/s accepted end to end (HTTP -> PostgreSQL -> outbox -> Kafka) and the
// latency of POST /v1/releases, against a running release-intake and the local stack.
//
//   intake-bench --api http://127.0.0.1:8080 --token-file var/local/admin-token
//                --releases 2000 --clients 8 --max-seconds 120
//
// Prints one line of figures per measurement and, with --markdown FILE, a Markdown table row.
#include <librdkafka/rdkafkacpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(idx, v.size() - 1)];
}

struct Options {
  std::string api = "http://127.0.0.1:8080";
  std::string token_file = "var/local/admin-token";
  std::string brokers = "127.0.0.1:19092";
  std::string markdown;
  int releases = 2000;
  int clients = 8;
  int max_seconds = 120;
};

void AddFlags(CLI::App& app, Options& o) {
  app.add_option("--api", o.api);
  app.add_option("--token-file", o.token_file);
  app.add_option("--brokers", o.brokers);
  app.add_option("--releases", o.releases)->check(CLI::Range(1, 100000));
  app.add_option("--clients", o.clients)->check(CLI::Range(1, 64));
  app.add_option("--max-seconds", o.max_seconds)->check(CLI::Range(1, 600));
  app.add_option("--markdown", o.markdown, "append the result as a Markdown table row");
}

// The first line of `path`, empty when there is none.
std::string ReadToken(const std::string& path) {
  std::string token;
  std::ifstream in(path);
  std::getline(in, token);
  return token;
}

// A reader of the releases topic from its current end, returned once it has its partitions (so
// no event is missed); null with `err` set when it cannot be made.
std::unique_ptr<RdKafka::KafkaConsumer> SubscribeReleases(const std::string& brokers,
                                                          const std::string& group,
                                                          std::string& err) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", group, err);
  conf->set("auto.offset.reset", "latest", err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) return nullptr;
  consumer->subscribe({std::string(sluice::events::kTopicReleases)});
  for (int i = 0; i < 100; ++i) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(100));
    std::vector<RdKafka::TopicPartition*> parts;
    consumer->assignment(parts);
    const bool assigned = !parts.empty();
    RdKafka::TopicPartition::destroy(parts);
    if (assigned) break;
  }
  return consumer;
}

// What the posting clients and the Kafka reader share.
struct Tally {
  std::mutex mu;
  std::map<std::string, Clock::time_point> sent_at;  // release id -> POST completed
  std::map<std::string, Clock::time_point> seen_at;  // release id -> event consumed
  std::vector<double> post_ms;
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::atomic<bool> done_posting{false};
};

// The reader: notes when each of `app_name`'s releases arrives on Kafka, until every accepted
// one has, or 30 s past the deadline.
void ReadReleases(RdKafka::KafkaConsumer& consumer, const std::string& app_name,
                  Clock::time_point deadline, Tally& tally) {
  while (Clock::now() < deadline + std::chrono::seconds(30)) {
    std::unique_ptr<RdKafka::Message> m(consumer.consume(100));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      std::string e;
      auto env = sluice::events::Parse(
          std::string_view(static_cast<const char*>(m->payload()), m->len()), &e);
      if (env && env->has_release_created() && env->release_created().app() == app_name) {
        std::lock_guard lock(tally.mu);
        tally.seen_at.emplace(env->release_id(), Clock::now());
      }
    }
    std::lock_guard lock(tally.mu);
    if (tally.done_posting && tally.seen_at.size() >= tally.sent_at.size()) break;
  }
}

// The POST /v1/releases request for release number `i`.
sluice::http::ClientRequest ReleaseRequest(const Options& o, const std::string& token,
                                           const std::string& app_name, int i) {
  json body = {
      {"app", app_name},
      {"tag", "v1.0." + std::to_string(i)},
      {"artifact_url", "https://artifacts.example.com/bench/" + std::to_string(i) + ".tar.gz"},
      {"sha256", std::string(64, "0123456789abcdef"[i % 16])},
      {"created_by", "bench"}};
  sluice::http::ClientRequest req;
  req.method = "POST";
  req.url = o.api + "/v1/releases";
  req.body = body.dump();
  req.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  return req;
}

// One client: posts the next release until all are taken or the deadline passes.
void PostReleases(const Options& o, const std::string& token, const std::string& app_name,
                  Clock::time_point deadline, Tally& tally) {
  for (;;) {
    const int i = tally.next.fetch_add(1);
    if (i >= o.releases || Clock::now() >= deadline) break;
    const auto req = ReleaseRequest(o, token, app_name, i);
    const auto t0 = Clock::now();
    try {
      auto res = sluice::http::Send(req);
      const auto t1 = Clock::now();
      if (res.status != 201) {
        ++tally.failures;
        continue;
      }
      const std::string id = json::parse(res.body)["id"];
      std::lock_guard lock(tally.mu);
      tally.post_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      tally.sent_at.emplace(id, t1);
    } catch (const std::exception&) {
      ++tally.failures;
    }
  }
}

// Prints the figures (and appends the Markdown row); the exit code: 0 when every release was
// accepted and reached Kafka.
int Report(const Options& o, const Tally& tally, Clock::time_point start,
           Clock::time_point posted_end) {
  std::vector<double> delivery_ms;
  Clock::time_point last_seen = start;
  for (const auto& [id, t] : tally.seen_at) {
    last_seen = std::max(last_seen, t);
    auto it = tally.sent_at.find(id);
    if (it != tally.sent_at.end()) {
      delivery_ms.push_back(std::chrono::duration<double, std::milli>(t - it->second).count());
    }
  }
  const auto& post_ms = tally.post_ms;
  const double post_secs = std::chrono::duration<double>(posted_end - start).count();
  const double e2e_secs = std::chrono::duration<double>(last_seen - start).count();
  const auto accepted = tally.sent_at.size();
  const auto delivered = tally.seen_at.size();
  const double http_rate = static_cast<double>(accepted) / post_secs;
  const double e2e_rate = e2e_secs > 0 ? static_cast<double>(delivered) / e2e_secs : 0;

  std::printf("releases: %zu accepted, %zu on Kafka, %d failed, %d clients\n", accepted, delivered,
              tally.failures.load(), o.clients);
  std::printf("accepted (HTTP 201):        %.0f releases/s over %.1f s\n", http_rate, post_secs);
  std::printf("end to end (on Kafka):      %.0f releases/s over %.1f s\n", e2e_rate, e2e_secs);
  std::printf("POST latency:               p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
              Percentile(post_ms, 0.5), Percentile(post_ms, 0.99), Percentile(post_ms, 1.0));
  std::printf("POST -> Kafka consumer:     p50 %.1f ms  p99 %.1f ms\n",
              Percentile(delivery_ms, 0.5), Percentile(delivery_ms, 0.99));
  if (!o.markdown.empty()) {
    std::ofstream out(o.markdown, std::ios::app);
    char row[256];
    std::snprintf(row, sizeof(row), "| %zu | %d | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f |\n",
                  accepted, o.clients, http_rate, e2e_rate, Percentile(post_ms, 0.5),
                  Percentile(post_ms, 0.99), Percentile(delivery_ms, 0.5),
                  Percentile(delivery_ms, 0.99));
    out << row;
  }
  return delivered == accepted && tally.failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"intake-bench"};
  Options o;
  AddFlags(app, o);
  CLI11_PARSE(app, argc, argv);

  const std::string token = ReadToken(o.token_file);
  if (token.empty()) {
    std::cerr << "intake-bench: no token in " << o.token_file << " (run 'make up')\n";
    return 2;
  }
  std::mt19937_64 rng(std::random_device{}());
  const std::string app_name = "bench-" + std::to_string(rng() % 1000000000);

  std::string err;
  auto consumer = SubscribeReleases(o.brokers, app_name, err);
  if (!consumer) {
    std::cerr << "intake-bench: " << err << "\n";
    return 2;
  }

  Tally tally;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(o.max_seconds);
  std::thread reader([&] { ReadReleases(*consumer, app_name, deadline, tally); });
  std::vector<std::thread> workers;
  for (int c = 0; c < o.clients; ++c) {
    workers.emplace_back([&] { PostReleases(o, token, app_name, deadline, tally); });
  }
  for (auto& w : workers) w.join();
  const auto posted_end = Clock::now();
  tally.done_posting = true;
  reader.join();
  consumer->close();
  return Report(o, tally, start, posted_end);
}
