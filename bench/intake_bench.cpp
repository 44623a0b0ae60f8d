// intake-bench: releases/s accepted end to end (HTTP -> PostgreSQL -> outbox -> Kafka) and the
// latency of POST /v1/releases, against a running release-intake and the local stack.
//
//   intake-bench --api http://127.0.0.1:8080 --token-file var/local/admin-token
//                --releases 2000 --clients 8 --max-seconds 120
//
// With --via kafka, the same releases are submitted as a producer does (docs/kafka-producers.md):
// protobuf IntakeSubmission records on the inbound topic (sluice.intake.v1, key = the app, the
// token in the authorization header), each client a producer of its own app that waits for its
// answer on the results topic before the next; measured per submission: produce -> answer and
// produce -> ReleaseCreated on the releases topic.
//
//   intake-bench --via kafka --releases 2000 --clients 8 --max-seconds 120
//
// Prints one line of figures per measurement and, with --markdown FILE, a Markdown table row.
#include <librdkafka/rdkafkacpp.h>
#include <sluice/v1/intake.pb.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
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
namespace v1 = sluice::v1;

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
  std::string via = "http";
  std::string topic = "sluice.intake.v1";
  std::string results_topic = "sluice.intake.results.v1";
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
  app.add_option("--via", o.via, "http (POST /v1/releases) or kafka (the inbound topic)")
      ->check(CLI::IsMember({"http", "kafka"}));
  app.add_option("--topic", o.topic, "the inbound topic (--via kafka)");
  app.add_option("--results-topic", o.results_topic, "the results topic (--via kafka)");
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

// --via kafka ------------------------------------------------------------------------------------

// A reader assigned to every partition of `topics` at their current end, so that it reads
// exactly what is produced from now on; null with `err` set when it cannot be made.
std::unique_ptr<RdKafka::KafkaConsumer> ReaderAtEnd(const std::string& brokers,
                                                    const std::vector<std::string>& topics,
                                                    const std::string& group, std::string& err) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", group, err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) return nullptr;
  std::vector<RdKafka::TopicPartition*> partitions;
  for (const auto& topic : topics) {
    std::unique_ptr<RdKafka::Topic> handle(
        RdKafka::Topic::create(consumer.get(), topic, nullptr, err));
    RdKafka::Metadata* raw = nullptr;
    if (!handle || consumer->metadata(false, handle.get(), &raw, 10000) != RdKafka::ERR_NO_ERROR) {
      err = "no metadata for topic " + topic;
      return nullptr;
    }
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    for (const auto* t : *metadata->topics()) {
      for (const auto* p : *t->partitions()) {
        int64_t low = 0, high = 0;
        consumer->query_watermark_offsets(topic, p->id(), &low, &high, 10000);
        partitions.push_back(RdKafka::TopicPartition::create(topic, p->id(), high));
      }
    }
  }
  if (partitions.empty()) {
    err = "the topics have no partitions (is release-intake running? it creates them)";
    return nullptr;
  }
  consumer->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  return consumer;
}

// What the producing clients and the Kafka reader share, per submission id.
struct KafkaTally {
  std::mutex mu;
  std::condition_variable answered_cv;
  std::map<std::string, Clock::time_point> produced_at;
  std::map<std::string, Clock::time_point> answered_at;
  std::map<std::string, std::string> release_of;        // accepted: submission -> release id
  std::map<std::string, Clock::time_point> created_at;  // release id -> ReleaseCreated consumed
  std::atomic<int> next{0};
  std::atomic<int> failures{0};  // not produced, refused, or no answer before the deadline
  std::atomic<bool> done_producing{false};
  std::string first_refusal;
};

std::string HeaderOf(RdKafka::Message& m, const std::string& name) {
  const RdKafka::Headers* headers = m.headers();
  if (headers == nullptr) return "";
  const auto h = headers->get_last(name);
  return h.err() == RdKafka::ERR_NO_ERROR && h.value() != nullptr
             ? std::string(static_cast<const char*>(h.value()), h.value_size())
             : "";
}

// The reader: notes each answer to one of ours and each ReleaseCreated of our apps (prefix
// `app_name`), until every produced submission is answered and every accepted one has its event,
// or 30 s past the deadline. Also serves the producer's delivery reports.
void ReadAnswersAndReleases(RdKafka::KafkaConsumer& consumer, RdKafka::Producer& producer,
                            const Options& o, const std::string& app_name,
                            Clock::time_point deadline, KafkaTally& tally) {
  const std::string prefix = app_name + "-";
  while (Clock::now() < deadline + std::chrono::seconds(30)) {
    producer.poll(0);
    std::unique_ptr<RdKafka::Message> m(consumer.consume(50));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      const auto now = Clock::now();
      const std::string_view payload(static_cast<const char*>(m->payload()), m->len());
      if (m->topic_name() == o.results_topic) {
        v1::IntakeResult result;
        if (HeaderOf(*m, "content-type") != "application/json" &&
            result.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
          std::lock_guard lock(tally.mu);
          if (tally.produced_at.count(result.submission_id()) != 0 &&
              tally.answered_at.emplace(result.submission_id(), now).second) {
            if (result.outcome() == v1::INTAKE_OUTCOME_ACCEPTED && !result.release_id().empty()) {
              tally.release_of.emplace(result.submission_id(), result.release_id());
            } else if (tally.first_refusal.empty()) {
              tally.first_refusal = std::to_string(result.http_status()) + " " + result.body_json();
            }
            tally.answered_cv.notify_all();
          }
        }
      } else {
        std::string e;
        auto env = sluice::events::Parse(payload, &e);
        if (env && env->has_release_created() &&
            env->release_created().app().compare(0, prefix.size(), prefix) == 0) {
          std::lock_guard lock(tally.mu);
          tally.created_at.emplace(env->release_id(), now);
        }
      }
    }
    std::lock_guard lock(tally.mu);
    if (tally.done_producing && tally.answered_at.size() >= tally.produced_at.size() &&
        tally.created_at.size() >= tally.release_of.size()) {
      break;
    }
  }
}

// One client, a producer of its own app (`app`): submits the next release and waits for its
// answer, until all are taken or the deadline passes.
void ProduceReleases(const Options& o, const std::string& token, const std::string& app,
                     RdKafka::Producer& producer, Clock::time_point deadline, KafkaTally& tally) {
  for (;;) {
    const int i = tally.next.fetch_add(1);
    if (i >= o.releases || Clock::now() >= deadline) break;
    v1::IntakeSubmission s;
    s.set_submission_id(app + "-" + std::to_string(i));
    auto* r = s.mutable_release();
    r->set_app(app);
    r->set_tag("v1.0." + std::to_string(i));
    r->set_artifact_url("https://artifacts.example.com/bench/" + std::to_string(i) + ".tar.gz");
    r->set_sha256(std::string(64, "0123456789abcdef"[i % 16]));
    r->set_created_by("bench");
    const std::string value = s.SerializeAsString();
    auto* headers = RdKafka::Headers::create();
    headers->add("authorization", "Bearer " + token);
    headers->add("content-type", "application/protobuf");
    headers->add("submission-id", s.submission_id());
    {
      std::lock_guard lock(tally.mu);
      tally.produced_at[s.submission_id()] = Clock::now();
    }
    const auto code = producer.produce(
        o.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(value.data()), value.size(), app.data(), app.size(), 0, headers, nullptr);
    std::unique_lock lock(tally.mu);
    if (code != RdKafka::ERR_NO_ERROR) {
      delete headers;  // kept by librdkafka only when the produce call succeeds
      tally.produced_at.erase(s.submission_id());
      ++tally.failures;
      continue;
    }
    if (!tally.answered_cv.wait_until(lock, deadline + std::chrono::seconds(10), [&] {
          return tally.answered_at.count(s.submission_id()) != 0;
        })) {
      break;  // no answer: the reader's wait for it ends the run
    }
  }
}

double Ms(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Prints the figures of --via kafka (and appends the Markdown row); the exit code: 0 when every
// submission was accepted, answered, and its ReleaseCreated consumed.
int ReportKafka(const Options& o, KafkaTally& tally, Clock::time_point start) {
  std::lock_guard lock(tally.mu);
  std::vector<double> answer_ms, created_ms;
  Clock::time_point last_answer = start, last_created = start;
  for (const auto& [id, t] : tally.answered_at) {
    last_answer = std::max(last_answer, t);
    answer_ms.push_back(Ms(tally.produced_at.at(id), t));
  }
  for (const auto& [id, release] : tally.release_of) {
    auto it = tally.created_at.find(release);
    if (it == tally.created_at.end()) continue;
    last_created = std::max(last_created, it->second);
    created_ms.push_back(Ms(tally.produced_at.at(id), it->second));
  }
  const auto produced = tally.produced_at.size();
  const auto answered = tally.answered_at.size();
  const auto accepted = tally.release_of.size();
  const auto created = created_ms.size();
  const double answer_secs = std::chrono::duration<double>(last_answer - start).count();
  const double created_secs = std::chrono::duration<double>(last_created - start).count();
  const double answer_rate = answer_secs > 0 ? static_cast<double>(accepted) / answer_secs : 0;
  const double created_rate = created_secs > 0 ? static_cast<double>(created) / created_secs : 0;
  const int failures = tally.failures.load() + static_cast<int>(produced - accepted);

  std::printf(
      "submissions: %zu produced to %s, %zu answered, %zu accepted, %zu ReleaseCreated, "
      "%d failed, %d producers\n",
      produced, o.topic.c_str(), answered, accepted, created, failures, o.clients);
  if (!tally.first_refusal.empty()) {
    std::printf("first refusal: %s\n", tally.first_refusal.c_str());
  }
  std::printf("accepted (answer on %s): %.0f submissions/s over %.1f s\n", o.results_topic.c_str(),
              answer_rate, answer_secs);
  std::printf("end to end (ReleaseCreated):  %.0f submissions/s over %.1f s\n", created_rate,
              created_secs);
  std::printf("produce -> answer:            p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
              Percentile(answer_ms, 0.5), Percentile(answer_ms, 0.99), Percentile(answer_ms, 1.0));
  std::printf("produce -> ReleaseCreated:    p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
              Percentile(created_ms, 0.5), Percentile(created_ms, 0.99),
              Percentile(created_ms, 1.0));
  if (!o.markdown.empty()) {
    std::ofstream out(o.markdown, std::ios::app);
    char row[256];
    std::snprintf(row, sizeof(row), "| %zu | %d | %.0f | %.0f | %.1f | %.1f | %.1f | %.1f |\n",
                  accepted, o.clients, answer_rate, created_rate, Percentile(answer_ms, 0.5),
                  Percentile(answer_ms, 0.99), Percentile(created_ms, 0.5),
                  Percentile(created_ms, 0.99));
    out << row;
  }
  return failures == 0 && created == accepted ? 0 : 1;
}

int RunKafka(const Options& o, const std::string& token, const std::string& app_name) {
  std::string err;
  auto consumer = ReaderAtEnd(
      o.brokers, {std::string(sluice::events::kTopicReleases), o.results_topic}, app_name, err);
  if (!consumer) {
    std::cerr << "intake-bench: " << err << "\n";
    return 2;
  }
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", o.brokers, err);
  conf->set("enable.idempotence", "true", err);
  conf->set("linger.ms", "0", err);  // one record at a time per client: no batching delay
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (!producer) {
    std::cerr << "intake-bench: " << err << "\n";
    return 2;
  }

  KafkaTally tally;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(o.max_seconds);
  std::thread reader(
      [&] { ReadAnswersAndReleases(*consumer, *producer, o, app_name, deadline, tally); });
  std::vector<std::thread> workers;
  for (int c = 0; c < o.clients; ++c) {
    const std::string app = app_name + "-" + std::to_string(c);
    workers.emplace_back([&, app] { ProduceReleases(o, token, app, *producer, deadline, tally); });
  }
  for (auto& w : workers) w.join();
  tally.done_producing = true;
  reader.join();
  consumer->close();
  producer->flush(5000);
  return ReportKafka(o, tally, start);
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
  if (o.via == "kafka") return RunKafka(o, token, app_name);

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
