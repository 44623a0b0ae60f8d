#include "heartbeat.hpp"

#include <nlohmann/json.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/http/client.hpp>

namespace sluice::agent {

Heartbeat::Heartbeat(HeartbeatOptions options) : options_(std::move(options)) {}

Heartbeat::~Heartbeat() { Stop(); }

void Heartbeat::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Heartbeat::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> Heartbeat::Refusal() const {
  std::lock_guard lock(mu_);
  return refusal_;
}

void Heartbeat::Run() {
  for (;;) {
    Beat();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
  }
}

void Heartbeat::Beat() {
  static const auto log = core::Logger("heartbeat");
  http::ClientRequest req;
  req.method = "POST";
  req.url = options_.server + "/v1/agents/heartbeat";
  req.headers = {{"Authorization", "Bearer " + options_.credential}};
  req.timeout = std::chrono::seconds(10);
  req.ca_file = options_.ca_file;
  req.max_response_bytes = 1 << 20;
  try {
    const auto res = http::Send(req);
    std::lock_guard lock(mu_);
    if (res.status == 200) {
      if (refusal_) log->warn("release-intake accepts this host's credential again");
      refusal_.reset();
    } else if (res.status == 401) {
      const auto body = nlohmann::json::parse(res.body, nullptr, false);
      std::string why = "release-intake refused this host's credential";
      if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        why += " (" + body["error"].value("code", std::string("unauthorized")) + ": " +
               body["error"].value("message", std::string()) + ")";
      }
      if (!refusal_)
        log->error("{}; deploys and reverts are refused until it is enrolled again", why);
      refusal_ = why;
    } else {
      log->warn("heartbeat to {}: HTTP {}", http::RedactUrl(options_.server), res.status);
    }
  } catch (const http::HttpError& e) {
    log->warn("heartbeat: release-intake unreachable: {}", e.what());
  }
}

}  // namespace sluice::agent
