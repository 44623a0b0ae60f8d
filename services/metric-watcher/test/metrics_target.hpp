#pragma once

// A scrape target served by the test itself: one gauge, sluice_itest_error_ratio{app,
// instance_name}, whose values the test sets, registered with the stack's Prometheus through
// its file_sd directory (SLUICE_PROMETHEUS_TARGETS_DIR). The registration file is removed on
// destruction.

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <stdexcept>
#include <string>
#include <thread>

namespace sluice::watcher::testing {

using sluice::testing::PrometheusUrl;

class MetricsTarget {
 public:
  explicit MetricsTarget(std::string app) : app_(std::move(app)) {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::string body =
          "# HELP sluice_itest_error_ratio Error ratio set by the test.\n"
          "# TYPE sluice_itest_error_ratio gauge\n";
      std::lock_guard lock(mu_);
      for (const auto& [instance, value] : values_) {
        body += "sluice_itest_error_ratio{app=\"" + app_ + "\",instance_name=\"" + instance +
                "\"} " + std::to_string(value) + "\n";
      }
      res.set_content(body, "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("metrics target: cannot bind");
    thread_ = sluice::http::testing::ServeInBackground(server_);
    const std::filesystem::path dir =
        sluice::testing::EnvOr("SLUICE_PROMETHEUS_TARGETS_DIR", SLUICE_DEFAULT_TARGETS_DIR);
    if (!std::filesystem::is_directory(dir)) {
      throw std::runtime_error("Prometheus file_sd directory " + dir.string() +
                               " is missing: start the stack (bash scripts/stack.sh up) or set "
                               "SLUICE_PROMETHEUS_TARGETS_DIR");
    }
    file_ = dir / ("itest-" + app_ + ".json");
    const nlohmann::json sd =
        nlohmann::json::array({{{"targets", {"127.0.0.1:" + std::to_string(port_)}},
                                {"labels", {{"sluice_itest", app_}}}}});
    const auto tmp = file_.string() + ".tmp";
    std::ofstream(tmp) << sd.dump();
    std::filesystem::rename(tmp, file_);  // Prometheus never reads half a file
  }
  ~MetricsTarget() {
    std::error_code ec;
    std::filesystem::remove(file_, ec);
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  MetricsTarget(const MetricsTarget&) = delete;
  MetricsTarget& operator=(const MetricsTarget&) = delete;

  void Set(const std::string& instance, double value) {
    std::lock_guard lock(mu_);
    values_[instance] = value;
  }
  int Port() const { return port_; }
  const std::string& App() const { return app_; }

  // The PromQL of the gauge for this app, per instance, with the watcher's placeholders.
  std::string Query() const {
    return "max by (instance_name) (sluice_itest_error_ratio{app=\"{{app}}\",instance_name=~\"{{"
           "instances}}\"})";
  }

  // Waits until Prometheus returns `value` for the instance (scraped and current).
  bool WaitScraped(const std::string& instance, double value, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      http::ClientRequest req;
      req.url = PrometheusUrl() + "/api/v1/query?query=" +
                http::UrlEncode("sluice_itest_error_ratio{app=\"" + app_ + "\",instance_name=\"" +
                                instance + "\"}");
      req.timeout = std::chrono::seconds(5);
      try {
        const auto res = http::Send(req);
        const auto j = nlohmann::json::parse(res.body, nullptr, false);
        if (res.status == 200 && j.is_object() && !j["data"]["result"].empty()) {
          const double v = std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
          if (std::abs(v - value) < 1e-9) return true;
        }
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  }

 private:
  std::string app_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::filesystem::path file_;
  std::mutex mu_;
  std::map<std::string, double> values_;
};

}  // namespace sluice::watcher::testing
