// consumer-restart-bench: how soon a Kafka consumer that was killed with SIGKILL (a crash, an
// OOM kill) handles events again once it is restarted.
//
// It runs kafka-consumer-child (a sluice::kafka::Consumer in a process of its own, with the
// library's defaults: session.timeout.ms 10 s) on a topic of its own, then, --kills times:
// SIGKILL, start a new child at once, produce one record to every partition, and time kill ->
// first record handled and kill -> a record of every partition handled. It does so as a static
// member (group.instance.id kept across restarts, what the services do) and then, for
// comparison, --dynamic-kills times as a dynamic member (no instance id). Then --handovers
// clean stops (SIGTERM) each followed by a replica with another id, static and dynamic: a
// static member does not leave its group when it stops, so its partitions wait out the
// session timeout.
//
//   consumer-restart-bench --kills 30 --dynamic-kills 3 --handovers 2 --max-seconds 300
//                          [--markdown FILE]
#include <librdkafka/rdkafkacpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sluice/core/ids.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/testing/process.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace st = sluice::testing;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

double Ms(SteadyClock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Follows the child's output file: the values it has handled, with when this process saw them.
class Handled {
 public:
  explicit Handled(std::string path) : path_(std::move(path)) {}

  // Reads what was appended since the last call.
  void Poll() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return;
    in.seekg(static_cast<std::streamoff>(pos_));
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no newline yet: a line still being written
      pos_ += line.size() + 1;
      const auto space = line.rfind(' ');
      if (space != std::string::npos) seen_.emplace(line.substr(space + 1), SteadyClock::now());
    }
  }
  // When `value` was first seen, if it was.
  std::optional<SteadyClock::time_point> When(const std::string& value) const {
    const auto it = seen_.find(value);
    if (it == seen_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::string path_;
  std::size_t pos_ = 0;
  std::map<std::string, SteadyClock::time_point> seen_;
};

class RawProducer {
 public:
  explicit RawProducer(const std::string& brokers) {
    std::string err;
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    conf->set("bootstrap.servers", brokers, err);
    conf->set("linger.ms", "0", err);
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw std::runtime_error("producer: " + err);
  }
  void Send(const std::string& topic, int partition, const std::string& value) {
    const auto err =
        producer_->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                           const_cast<char*>(value.data()), value.size(), nullptr, 0, 0, nullptr);
    if (err != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("produce: " + RdKafka::err2str(err));
    }
  }
  void Flush() {
    if (producer_->flush(10000) != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("flush timed out");
  }

 private:
  std::unique_ptr<RdKafka::Producer> producer_;
};

std::string Describe(const std::string& run) {
  if (run == "static") return "kill -9, restart with the same group.instance.id";
  if (run == "dynamic") return "kill -9, restart, dynamic membership";
  if (run == "static-handover") return "SIGTERM, another replica (static members)";
  return "SIGTERM, another replica (dynamic membership)";
}

struct Result {
  std::string membership;
  int kills = 0;
  std::vector<double> first_ms, all_ms;
};

struct Options {
  std::string brokers = st::EnvOr("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092");
  std::string child_bin = SLUICE_KAFKA_CONSUMER_CHILD;
  std::string markdown, log_dir = "var/bench";
  int kills = 30, dynamic_kills = 3, handovers = 2, partitions = 3, max_seconds = 300;
};

void AddFlags(CLI::App& app, Options& o) {
  app.add_option("--brokers", o.brokers);
  app.add_option("--child-bin", o.child_bin);
  app.add_option("--kills", o.kills, "kills as a static member")->check(CLI::Range(1, 1000));
  app.add_option("--dynamic-kills", o.dynamic_kills, "kills as a dynamic member (comparison)")
      ->check(CLI::Range(0, 100));
  app.add_option("--handovers", o.handovers,
                 "clean stops (SIGTERM) followed by a replica with another id, per membership")
      ->check(CLI::Range(0, 100));
  app.add_option("--partitions", o.partitions)->check(CLI::Range(1, 64));
  app.add_option("--max-seconds", o.max_seconds)->check(CLI::Range(10, 3600));
  app.add_option("--markdown", o.markdown, "append the results as Markdown table rows");
  app.add_option("--log-dir", o.log_dir, "where the children's output and logs go");
}

// What every run shares: the options, the topic of this bench and its producer.
struct Bench {
  const Options& o;
  SteadyClock::time_point deadline;
  std::string suffix;
  std::string topic;
  RawProducer& producer;
};

// One run's consumer group, the children's output file and what they have handled.
struct Run {
  Run(const Bench& b, const std::string& run_name)
      : bench(b),
        name(run_name),
        group("sluice-bench-restart-" + name + "-" + b.suffix),
        out(b.o.log_dir + "/consumer-restart-" + name + "-" + b.suffix + ".out"),
        log(out + ".log"),
        handled(out) {}

  const Bench& bench;
  std::string name;
  std::string group;
  std::string out;
  std::string log;
  Handled handled;
};

std::unique_ptr<st::ChildProcess> StartChild(const Run& run, const std::string& id) {
  const Bench& b = run.bench;
  return std::make_unique<st::ChildProcess>(
      std::vector<std::string>{b.o.child_bin, b.o.brokers, b.topic, run.group, id, run.out},
      std::map<std::string, std::string>{}, run.log);
}

// Waits until every value is handled; false when `until` passes first.
bool WaitAll(Run& run, const std::vector<std::string>& values, SteadyClock::time_point until) {
  while (SteadyClock::now() < until) {
    run.handled.Poll();
    if (std::all_of(values.begin(), values.end(),
                    [&](const std::string& v) { return run.handled.When(v).has_value(); })) {
      return true;
    }
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

// Produces one record tagged `tag` to every partition; returns their values.
std::vector<std::string> SendRound(const Run& run, const std::string& tag) {
  const Bench& b = run.bench;
  std::vector<std::string> values;
  for (int p = 0; p < b.o.partitions; ++p) {
    values.push_back(tag + "-p" + std::to_string(p));
    b.producer.Send(b.topic, p, values.back());
  }
  b.producer.Flush();
  return values;
}

// Notes kill -> first of `values` handled and kill -> all of them handled.
void Record(const Run& run, const std::vector<std::string>& values, SteadyClock::time_point killed,
            int k, int n, Result& r) {
  SteadyClock::time_point first = SteadyClock::time_point::max(), last{};
  for (const auto& v : values) {
    first = std::min(first, *run.handled.When(v));
    last = std::max(last, *run.handled.When(v));
  }
  r.first_ms.push_back(Ms(first - killed));
  r.all_ms.push_back(Ms(last - killed));
  ++r.kills;
  std::cout << run.name << " round " << k + 1 << "/" << n << ": first " << Ms(first - killed)
            << " ms, every partition " << Ms(last - killed) << " ms" << std::endl;
}

// kill: SIGKILL and restart with the same instance id; handover: SIGTERM (a clean stop) and
// start a replica with another id, as a scale-down or a node drain does. Sets `failed` when the
// records are not handled in time.
Result RunMembership(const Bench& b, const std::string& membership, const std::string& instance_id,
                     int n, bool handover, bool& failed) {
  Result r{membership + (handover ? "-handover" : ""), 0, {}, {}};
  Run run(b, r.membership);
  std::remove(run.out.c_str());
  const std::string& name = run.name;
  auto child = StartChild(run, instance_id);
  if (!WaitAll(run, SendRound(run, name + "-warm"),
               std::min(b.deadline, SteadyClock::now() + 60s))) {
    std::cerr << name << ": the first consumer never handled the warm-up records (log " << run.log
              << ")\n";
    failed = true;
    return r;
  }
  for (int k = 0; k < n && SteadyClock::now() < b.deadline; ++k) {
    const auto killed = SteadyClock::now();
    if (handover) {
      child->Terminate();
      child = StartChild(run, instance_id == "-" ? "-" : instance_id + "-" + std::to_string(k));
    } else {
      child->Kill();
      child = StartChild(run, instance_id);
    }
    const auto values = SendRound(run, name + "-k" + std::to_string(k));
    if (!WaitAll(run, values, std::min(b.deadline, killed + 120s))) {
      std::cerr << name << ": kill " << k << ": records not handled within the limit\n";
      failed = true;
      break;
    }
    Record(run, values, killed, k, n, r);
  }
  child->Terminate();
  return r;
}

void PrintResults(const std::vector<Result>& results, int partitions) {
  for (const auto& r : results) {
    if (r.kills == 0) continue;
    std::printf(
        "%s, %d rounds, %d partitions: stop -> first event handled p50 %.0f ms, "
        "max %.0f ms; -> every partition handling again p50 %.0f ms, max %.0f ms\n",
        r.membership.c_str(), r.kills, partitions, Percentile(r.first_ms, 0.5),
        Percentile(r.first_ms, 1.0), Percentile(r.all_ms, 0.5), Percentile(r.all_ms, 1.0));
  }
}

void AppendMarkdown(const std::string& path, const std::vector<Result>& results, int partitions) {
  std::ofstream md(path, std::ios::app);
  for (const auto& r : results) {
    if (r.kills == 0) continue;
    char row[256];
    std::snprintf(row, sizeof row, "| %s | %d | %d | %.0f | %.0f | %.0f | %.0f |\n",
                  Describe(r.membership).c_str(), r.kills, partitions, Percentile(r.first_ms, 0.5),
                  Percentile(r.first_ms, 1.0), Percentile(r.all_ms, 0.5),
                  Percentile(r.all_ms, 1.0));
    md << row;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"consumer-restart-bench"};
  Options o;
  AddFlags(app, o);
  CLI11_PARSE(app, argc, argv);

  const auto deadline = SteadyClock::now() + std::chrono::seconds(o.max_seconds);
  const std::string suffix = sluice::core::NewUuid().substr(0, 8);
  const std::string topic = "sluice.bench-restart." + suffix + ".v1";
  sluice::kafka::KafkaConfig kafka;
  kafka.brokers = o.brokers;
  sluice::kafka::EnsureTopics(kafka, {topic}, o.partitions, 1);
  std::filesystem::create_directories(o.log_dir);
  RawProducer producer(o.brokers);
  const Bench b{o, deadline, suffix, topic, producer};

  std::vector<Result> results;
  bool failed = false;
  results.push_back(RunMembership(b, "static", "bench-replica-" + suffix, o.kills, false, failed));
  if (o.dynamic_kills > 0 && !failed) {
    results.push_back(RunMembership(b, "dynamic", "-", o.dynamic_kills, false, failed));
  }
  if (o.handovers > 0 && !failed) {
    results.push_back(
        RunMembership(b, "static", "bench-replica-" + suffix + "-h", o.handovers, true, failed));
  }
  if (o.handovers > 0 && !failed) {
    results.push_back(RunMembership(b, "dynamic", "-", o.handovers, true, failed));
  }

  PrintResults(results, o.partitions);
  if (!o.markdown.empty()) AppendMarkdown(o.markdown, results, o.partitions);
  return failed ? 1 : 0;
}
