// sluice-kube-exporter: Prometheus series for pods that do not run. Under KWOK (the local
// control plane's fake kubelets) a pod is Running and Ready but no container runs, so nothing
// answers requests or exports metrics. This process lists the pods of a label selector from the
// API server, and exports for each, under its real name (`instance_name`), the demo
// application's series (demo_http_requests_total, demo_http_request_duration_seconds,
// demo_app_info), healthy or bad by the version its image stands for. See README.md.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/server.hpp>
#include <sluice/kube/client.hpp>
#include <thread>

#include "pod_series.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice;
using namespace std::chrono_literals;

struct Options {
  std::string kubeconfig;
  std::string context;
  std::string ns;
  std::string selector;
  std::string addr = "127.0.0.1:0";
  std::string targets_file;
  std::vector<std::string> labels;
  std::vector<std::string> image_versions;
  int poll_ms = 1000;
  kube_exporter::VersionRules rules;
  kube_exporter::Behaviour behaviour;
};

std::pair<std::string, std::string> SplitPair(const std::string& s, const std::string& flag) {
  const auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
    throw std::invalid_argument(flag + " " + s + ": give KEY=VALUE");
  }
  return {s.substr(0, eq), s.substr(eq + 1)};
}

// Lists the pods every poll and advances their traffic by the time that passed.
class Poller final : public core::Component {
 public:
  Poller(const Options& o, kube::Client& client, kube_exporter::PodSeries& series, std::mutex& mu)
      : o_(o), client_(client), series_(series), mu_(mu) {}
  std::string_view Name() const override { return "pod-poller"; }
  void Start() override {
    Poll();  // the first list fails start-up when the API cannot be read
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() override {
    {
      std::lock_guard lock(stop_mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    for (;;) {
      {
        std::unique_lock lock(stop_mu_);
        if (cv_.wait_for(lock, std::chrono::milliseconds(o_.poll_ms), [this] { return stopping_; }))
          return;
      }
      try {
        Poll();
      } catch (const std::exception& e) {
        core::Logger("poller")->warn("listing pods {} in {} failed: {} (the last pods go on)",
                                     o_.selector, o_.ns, e.what());
        Advance();
      }
    }
  }

  void Advance() {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    if (last_) series_.Advance(std::chrono::duration<double>(now - *last_).count());
    last_ = now;
  }

  void Poll() {
    kube::ListOptions lo;
    lo.label_selector = o_.selector;
    const auto pods = kube_exporter::PodsOf(client_.List(kube::kPods, o_.ns, lo), o_.rules);
    Advance();
    kube_exporter::PodSeries::Change change;
    {
      std::lock_guard lock(mu_);
      change = series_.SetPods(pods);
    }
    const auto log = core::Logger("poller");
    for (const auto& p : change.added) {
      log->info("pod {}/{} exported: image {}, version {}, {}", o_.ns, p.name, p.image, p.version,
                series_.IsBad(p.version) ? "BAD (errors as --error-rate)" : "healthy");
    }
    for (const auto& name : change.removed)
      log->info("pod {}/{} gone: its series end", o_.ns, name);
  }

  const Options& o_;
  kube::Client& client_;
  kube_exporter::PodSeries& series_;
  std::mutex& mu_;
  std::optional<std::chrono::steady_clock::time_point> last_;
  std::mutex stop_mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The Prometheus file_sd file naming this exporter (written once the port is bound, removed on
// stop so Prometheus stops scraping).
class TargetsFile final : public core::Component {
 public:
  TargetsFile(const Options& o, const http::Server& server) : o_(o), server_(server) {}
  std::string_view Name() const override { return "targets-file"; }
  void Start() override {
    const std::string host = o_.addr.substr(0, o_.addr.rfind(':'));
    core::Logger("main")->info(
        "exporting the pods {} of namespace {} on http://{}:{}/metrics (pods on KWOK fake "
        "kubelets run no container: their metrics come from this exporter)",
        o_.selector, o_.ns, host, server_.Port());
    if (o_.targets_file.empty()) return;
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& l : o_.labels) {
      const auto [k, v] = SplitPair(l, "--label");
      labels[k] = v;
    }
    const nlohmann::json doc = nlohmann::json::array(
        {{{"targets", {host + ":" + std::to_string(server_.Port())}}, {"labels", labels}}});
    const std::string tmp = o_.targets_file + ".tmp";
    std::ofstream(tmp) << doc.dump(2) << "\n";
    fs::rename(tmp, o_.targets_file);
    core::Logger("main")->info("scrape target written to {}", o_.targets_file);
  }
  void Stop() override {
    if (o_.targets_file.empty()) return;
    std::error_code ec;
    fs::remove(o_.targets_file, ec);
  }

 private:
  const Options& o_;
  const http::Server& server_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "sluice-kube-exporter: the demo application's Prometheus series for the pods of a label "
      "selector, read from the API server (pods under KWOK do not run)"};
  Options o;
  double latency_ms = 20, bad_latency_ms = 20;
  cli.add_option("--kubeconfig", o.kubeconfig, "Kubeconfig of the API server")->required();
  cli.add_option("--context", o.context, "Its context (default: the current one)");
  cli.add_option("--namespace", o.ns, "Namespace of the pods")->required();
  cli.add_option("--selector", o.selector, "Label selector of the pods, e.g. app=web")->required();
  cli.add_option("--container", o.rules.container, "Container whose image names the version");
  cli.add_option("--addr", o.addr, "host:port of /metrics (port 0: a free one)");
  cli.add_option("--targets-file", o.targets_file,
                 "Write a Prometheus file_sd file naming this exporter (removed on exit)");
  cli.add_option("--label", o.labels, "KEY=VALUE label of the scrape target (e.g. app=shop)");
  cli.add_option("--bad-version", o.behaviour.bad_versions,
                 "A version whose pods answer badly (repeatable)");
  cli.add_option("--image-version", o.image_versions,
                 "IMAGE=VERSION: the version an image (or a digest sha256:...) stands for; "
                 "default: the image's tag");
  cli.add_option("--rate", o.behaviour.rate, "Requests per second per pod")
      ->check(CLI::PositiveNumber);
  cli.add_option("--error-rate", o.behaviour.bad_error_rate, "Share of errors of a bad pod")
      ->check(CLI::Range(0.0, 1.0));
  cli.add_option("--latency-ms", latency_ms, "Latency of a healthy pod")
      ->check(CLI::Range(0.0, 60000.0));
  cli.add_option("--bad-latency-ms", bad_latency_ms, "Latency of a bad pod")
      ->check(CLI::Range(0.0, 60000.0));
  cli.add_option("--poll-ms", o.poll_ms, "How often the pods are listed")
      ->check(CLI::Range(100, 60000));
  CLI11_PARSE(cli, argc, argv);
  o.behaviour.healthy_latency_s = latency_ms / 1000.0;
  o.behaviour.bad_latency_s = bad_latency_ms / 1000.0;

  core::Lifecycle::BlockTerminationSignals();
  core::InitLogging("kube-exporter", "info");
  const auto log = core::Logger("main");
  try {
    for (const auto& iv : o.image_versions) o.rules.images.insert(SplitPair(iv, "--image-version"));
    for (const auto& l : o.labels) SplitPair(l, "--label");
    kube::ClientOptions co;
    co.identity = "kube-exporter";
    kube::Client client(kube::LoadKubeconfig(o.kubeconfig, o.context), co);
    kube_exporter::PodSeries series(o.behaviour);
    std::mutex mu;

    http::ServerOptions so;
    so.addr = o.addr;
    so.threads = 2;
    http::Server server("kube-exporter", so);
    server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
      std::string text;
      {
        std::lock_guard lock(mu);
        text = series.Render();
      }
      res.status = 200;
      res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content("{\"status\":\"ok\"}", "application/json");
    });
    Poller poller(o, client, series, mu);
    TargetsFile targets(o, server);

    core::Lifecycle lifecycle;
    lifecycle.Add(poller);
    lifecycle.Add(server);
    lifecycle.Add(targets);
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("kube-exporter cannot start: {}", e.what());
    std::cerr << "sluice-kube-exporter: cannot start: " << e.what() << "\n";
    return 1;
  }
}
