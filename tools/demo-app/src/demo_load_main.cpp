// sluice-demo-load: sends GET / to every target at a fixed rate until stopped (SIGTERM /
// SIGINT) or until --duration has passed, so the demo applications have request metrics.
#include <httplib.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sstream>
#include <thread>

#include "load_plan.hpp"

namespace {

using namespace sluice;
using namespace std::chrono_literals;

struct Counts {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> ok{0};            // 2xx
  std::atomic<std::uint64_t> server_error{0};  // 5xx
  std::atomic<std::uint64_t> other{0};         // other status codes
  std::atomic<std::uint64_t> failed{0};        // no response (refused, timeout)
};

class Stopper {
 public:
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  // Waits until `t` or the stop; true when stopped.
  bool WaitUntil(core::MonotonicTime t) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, t, [this] { return stopped_; });
  }
  bool Stopped() {
    std::lock_guard lock(mu_);
    return stopped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

struct Target {
  std::string url;
  std::unique_ptr<demo::Pacer> pacer;
  Counts counts;
};

void Worker(Target& target, Stopper& stopper, std::chrono::milliseconds timeout) {
  auto& clock = core::SystemClock::Instance();
  httplib::Client client(target.url);
  client.set_connection_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                                static_cast<time_t>((timeout % 1s).count() * 1000));
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                          static_cast<time_t>((timeout % 1s).count() * 1000));
  client.set_keep_alive(true);
  while (!stopper.Stopped()) {
    const auto slot = target.pacer->Claim(clock.Monotonic());
    if (stopper.WaitUntil(slot)) return;
    target.counts.sent.fetch_add(1);
    const auto res = client.Get("/");
    if (!res) {
      target.counts.failed.fetch_add(1);
      continue;
    }
    if (res->status >= 200 && res->status < 300) {
      target.counts.ok.fetch_add(1);
    } else if (res->status >= 500) {
      target.counts.server_error.fetch_add(1);
    } else {
      target.counts.other.fetch_add(1);
    }
  }
}

nlohmann::json Summary(const std::vector<std::unique_ptr<Target>>& targets) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : targets) {
    out.push_back({{"target", t->url},
                   {"sent", t->counts.sent.load()},
                   {"ok", t->counts.ok.load()},
                   {"server_error", t->counts.server_error.load()},
                   {"other_status", t->counts.other.load()},
                   {"no_response", t->counts.failed.load()}});
  }
  return out;
}

struct Flags {
  std::string targets_file;
  std::vector<std::string> args;
  double rate = 10.0;
  double duration_s = 0;
  int timeout_ms = 5000;
  int workers = 4;
  double report_s = 30;
};

void AddFlags(CLI::App& cli, Flags& f) {
  cli.add_option("--targets-file", f.targets_file,
                 "File of targets, one host:port or http:// URL a line ('#' comments)");
  cli.add_option("--rate", f.rate, "Requests per second per target (never exceeded)")
      ->check(CLI::PositiveNumber);
  cli.add_option("--duration", f.duration_s, "Seconds to run; 0 runs until SIGTERM/SIGINT")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--timeout-ms", f.timeout_ms, "Per-request timeout")->check(CLI::Range(1, 600000));
  cli.add_option("--workers", f.workers, "Concurrent requests per target at most")
      ->check(CLI::Range(1, 64));
  cli.add_option("--report-every", f.report_s, "Seconds between progress lines; 0 for none")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("targets", f.args, "Targets (host:port or http:// URL)");
}

// The targets of --targets-file and the arguments, each with its pacer; throws
// std::invalid_argument when there is none or the file cannot be read.
std::vector<std::unique_ptr<Target>> LoadTargets(const Flags& f) {
  std::vector<std::string> urls;
  if (!f.targets_file.empty()) {
    std::ifstream in(f.targets_file);
    if (!in) throw std::invalid_argument("cannot read " + f.targets_file);
    std::ostringstream text;
    text << in.rdbuf();
    urls = demo::ParseTargets(text.str());
  }
  for (const auto& a : f.args) urls.push_back(demo::NormaliseTarget(a));
  if (urls.empty()) throw std::invalid_argument("no targets: give --targets-file or addresses");
  std::vector<std::unique_ptr<Target>> targets;
  for (const auto& u : urls) {
    auto t = std::make_unique<Target>();
    t->url = u;
    t->pacer = std::make_unique<demo::Pacer>(f.rate);
    targets.push_back(std::move(t));
  }
  return targets;
}

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

// Returns on SIGTERM or SIGINT (blocked in every thread), or once `duration_s` (> 0) has
// passed; prints the summary every `report_s` (> 0) meanwhile.
void WaitForEnd(const std::vector<std::unique_ptr<Target>>& targets, double duration_s,
                double report_s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      duration_s > 0 ? start + Seconds(duration_s) : std::chrono::steady_clock::time_point::max();
  auto next_report = start + Seconds(report_s);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (report_s > 0 && now >= next_report) {
      std::cout << Summary(targets).dump() << std::endl;
      next_report += Seconds(report_s);
    }
    const auto wait = std::min<std::chrono::steady_clock::duration>(
        {deadline - now, std::chrono::steady_clock::duration(200ms)});
    timespec ts{};
    ts.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
    ts.tv_nsec = std::chrono::duration_cast<std::chrono::nanoseconds>(wait % 1s).count();
    if (sigtimedwait(&set, nullptr, &ts) > 0) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"sluice-demo-load: GET / on every target at a fixed rate"};
  Flags flags;
  AddFlags(cli, flags);
  CLI11_PARSE(cli, argc, argv);

  std::vector<std::unique_ptr<Target>> targets;
  try {
    targets = LoadTargets(flags);
  } catch (const std::exception& e) {
    std::cerr << "sluice-demo-load: " << e.what() << "\n";
    return 2;
  }

  core::Lifecycle::BlockTerminationSignals();
  Stopper stopper;
  std::vector<std::thread> threads;
  for (auto& t : targets) {
    for (int i = 0; i < flags.workers; ++i) {
      threads.emplace_back(Worker, std::ref(*t), std::ref(stopper),
                           std::chrono::milliseconds(flags.timeout_ms));
    }
  }
  std::cout << "sluice-demo-load: " << targets.size() << " target(s) at " << flags.rate
            << " req/s each";
  if (flags.duration_s > 0) std::cout << " for " << flags.duration_s << "s";
  std::cout << std::endl;

  WaitForEnd(targets, flags.duration_s, flags.report_s);
  stopper.Stop();
  for (auto& th : threads) th.join();
  std::cout << Summary(targets).dump() << std::endl;
  return 0;
}
