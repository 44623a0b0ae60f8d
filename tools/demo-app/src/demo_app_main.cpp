// sluice-demo-app: the application the demo deploys. GET / does the "work" (latency and
// errors as the fault settings say), /healthz, /metrics, /admin/faults. See README.md.
//
//   sluice-demo-app               serve on $DEMO_APP_ADDR
//   sluice-demo-app healthcheck   exit 0 when http://$DEMO_APP_ADDR/healthz answers 2xx
#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sluice/core/config.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/http/server.hpp>
#include <sstream>

#include "faults.hpp"

namespace {

namespace fs = std::filesystem;
using namespace sluice;
using namespace std::chrono_literals;

constexpr std::string_view kServiceName = "demo-app";
constexpr std::string_view kDefaultAddr = "127.0.0.1:8000";

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::string> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Where the release was unpacked: $DEMO_APP_RELEASE_DIR, else the parent of the directory
// holding the binary (releases/<v>/bin/sluice-demo-app -> releases/<v>). The link is
// resolved now, so a later switch of `current` does not change what this process reads.
fs::path ReleaseDir() {
  if (auto d = Env("DEMO_APP_RELEASE_DIR")) return *d;
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::current_path();
  return exe.parent_path().parent_path();
}

struct Config {
  std::string addr;
  fs::path release_dir;
  std::optional<fs::path> state_dir;
  std::string version;
  demo::Faults faults;
  std::uint64_t seed = 0;
  std::string log_level;
};

Config LoadConfig() {
  Config c;
  c.addr = Env("DEMO_APP_ADDR").value_or(std::string(kDefaultAddr));
  if (!core::ParseHostPort(c.addr)) {
    throw core::ConfigError("DEMO_APP_ADDR=" + c.addr + " is not host:port (e.g. 127.0.0.1:8000)");
  }
  c.release_dir = ReleaseDir();
  if (auto d = Env("DEMO_APP_STATE_DIR")) c.state_dir = fs::path(*d);
  c.version =
      demo::ResolveVersion(Env("SLUICE_RELEASE_VERSION"), ReadFile(c.release_dir / "VERSION"));
  if (const auto text = ReadFile(c.release_dir / "demo.json")) {
    try {
      c.faults = demo::ApplyFaultsText(demo::Faults{}, *text);
    } catch (const demo::FaultError& e) {
      throw core::ConfigError((c.release_dir / "demo.json").string() + ": " + e.what());
    }
  }
  if (auto s = Env("DEMO_APP_SEED")) {
    try {
      c.seed = std::stoull(*s);
    } catch (const std::exception&) {
      throw core::ConfigError("DEMO_APP_SEED=" + *s + " is not a non-negative integer");
    }
  } else {
    c.seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  }
  c.log_level = Env("DEMO_APP_LOG_LEVEL").value_or("info");
  return c;
}

// Lets the requests that are sleeping out their latency end at once when the process stops,
// so SIGTERM is not held up by an 800 ms fault.
class SleepGate final : public core::Component {
 public:
  std::string_view Name() const override { return "sleep-gate"; }
  void Start() override {}
  void Stop() override {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  void SleepFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopping_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

// $DEMO_APP_STATE_DIR/app.pid, written once the port is bound (the restart script waits for
// it) and removed on a clean stop when it still names this process.
class PidFile final : public core::Component {
 public:
  explicit PidFile(std::optional<fs::path> dir) : dir_(std::move(dir)) {}
  std::string_view Name() const override { return "pid-file"; }
  void Start() override {
    if (!dir_) return;
    fs::create_directories(*dir_);
    const auto tmp = *dir_ / "app.pid.tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << ::getpid() << "\n";
      if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, *dir_ / "app.pid");
  }
  void Stop() override {
    if (!dir_) return;
    const auto text = ReadFile(*dir_ / "app.pid");
    if (text && std::atol(text->c_str()) == ::getpid()) {
      std::error_code ec;
      fs::remove(*dir_ / "app.pid", ec);
    }
  }

 private:
  std::optional<fs::path> dir_;
};

class DemoApp {
 public:
  DemoApp(const Config& config, SleepGate& gate)
      : config_(config), gate_(gate), faults_(config.faults), sampler_(config.seed) {
    auto& requests = prometheus::BuildCounter()
                         .Name("demo_http_requests_total")
                         .Help("Requests to GET / (the work), by version and status code")
                         .Register(*registry_);
    ok_ = &requests.Add({{"version", config_.version}, {"code", "200"}});
    failed_ = &requests.Add({{"version", config_.version}, {"code", "500"}});
    latency_ = &prometheus::BuildHistogram()
                    .Name("demo_http_request_duration_seconds")
                    .Help("Time to answer GET /, by version")
                    .Register(*registry_)
                    .Add({{"version", config_.version}}, demo::LatencyBuckets());
    prometheus::BuildGauge()
        .Name("demo_app_info")
        .Help("The running release of the demo application")
        .Register(*registry_)
        .Add({{"version", config_.version}})
        .Set(1);
  }

  void Register(http::Server& server) {
    server.Get("/", [this](const httplib::Request&, httplib::Response& res) { Work(res); });
    server.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      const auto reason = UnhealthyReason();
      if (reason.empty()) {
        http::WriteJson(res, 200, {{"status", "ok"}, {"version", config_.version}});
      } else {
        http::WriteJson(
            res, 503, {{"status", "unhealthy"}, {"version", config_.version}, {"reason", reason}});
      }
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::string text = prometheus::TextSerializer().Serialize(registry_->Collect());
      if (const auto stat = ReadFile("/proc/self/stat")) {
        if (const auto s =
                demo::ParseProcStat(*stat, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE))) {
          text += demo::RenderProcessMetrics(*s);
        }
      }
      res.status = 200;
      res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
    });
    server.Get("/admin/faults", [this](const httplib::Request&, httplib::Response& res) {
      http::WriteJson(res, 200, demo::ToJson(CurrentFaults()));
    });
    server.Post("/admin/faults", [this](const httplib::Request& req, httplib::Response& res) {
      demo::Faults next;
      {
        std::lock_guard lock(mu_);
        try {
          next = demo::ApplyFaultsText(faults_, req.body);
        } catch (const demo::FaultError& e) {
          throw http::BadRequest(e.Field(), e.what());
        }
        faults_ = next;
      }
      core::Logger("faults")->info("faults set to {}", demo::ToJson(next).dump());
      http::WriteJson(res, 200, demo::ToJson(next));
    });
  }

 private:
  demo::Faults CurrentFaults() {
    std::lock_guard lock(mu_);
    return faults_;
  }

  void Work(httplib::Response& res) {
    const auto start = std::chrono::steady_clock::now();
    demo::Outcome outcome;
    {
      std::lock_guard lock(mu_);
      outcome = sampler_.Next(faults_);
    }
    gate_.SleepFor(outcome.latency);
    if (outcome.fail) {
      res.status = 500;
      res.set_content("demo-app " + config_.version + ": injected failure\n", "text/plain");
      failed_->Increment();
    } else {
      res.status = 200;
      res.set_content("demo-app " + config_.version + "\n", "text/plain");
      ok_->Increment();
    }
    latency_->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  std::string UnhealthyReason() {
    if (!CurrentFaults().healthy) return "fault healthy=false";
    std::error_code ec;
    if (config_.state_dir && fs::exists(*config_.state_dir / "unhealthy", ec)) {
      return "marker file " + (*config_.state_dir / "unhealthy").string();
    }
    return "";
  }

  const Config& config_;
  SleepGate& gate_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  prometheus::Counter* ok_ = nullptr;
  prometheus::Counter* failed_ = nullptr;
  prometheus::Histogram* latency_ = nullptr;
  std::mutex mu_;
  demo::Faults faults_;    // guarded by mu_
  demo::Sampler sampler_;  // guarded by mu_
};

int HealthCheck() {
  const auto addr = Env("DEMO_APP_ADDR").value_or(std::string(kDefaultAddr));
  const auto hp = core::ParseHostPort(addr);
  if (!hp) {
    std::cerr << "healthcheck: DEMO_APP_ADDR=" << addr << " is not host:port\n";
    return 2;
  }
  httplib::Client client(hp->host, hp->port);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  const auto res = client.Get("/healthz");
  if (!res) {
    std::cerr << "healthcheck: http://" << addr << "/healthz: " << httplib::to_string(res.error())
              << "\n";
    return 1;
  }
  std::cout << "healthcheck: http://" << addr << "/healthz answered " << res->status << " "
            << res->body << "\n";
  return res->status >= 200 && res->status < 300 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "healthcheck") return HealthCheck();
  if (argc != 1) {
    std::cerr << "usage: sluice-demo-app [healthcheck]\n";
    return 2;
  }
  core::Lifecycle::BlockTerminationSignals();
  Config config;
  try {
    config = LoadConfig();
  } catch (const std::exception& e) {
    core::ExitOnConfigError(kServiceName, e);
  }
  core::InitLogging(kServiceName, config.log_level);
  const auto log = core::Logger("main");
  try {
    SleepGate gate;
    PidFile pid_file(config.state_dir);
    http::ServerOptions options;
    options.addr = config.addr;
    options.threads = 32;
    http::Server server(std::string(kServiceName), options);
    DemoApp app(config, gate);
    app.Register(server);

    core::Lifecycle lifecycle;
    lifecycle.Add(server);
    lifecycle.Add(pid_file);
    lifecycle.Add(gate);  // stopped first: sleeping requests end, then the server drains
    log->info("demo-app {} listening on http://{} (release {}, faults {})", config.version,
              config.addr, config.release_dir.string(), demo::ToJson(config.faults).dump());
    const int sig = lifecycle.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("demo-app cannot start: {}", e.what());
    std::cerr << "sluice-demo-app: cannot start: " << e.what() << "\n";
    return 1;
  }
}
