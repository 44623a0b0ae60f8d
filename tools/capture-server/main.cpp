// sluice-capture-server: stands in for Slack, DingTalk, WeCom and a generic webhook receiver so
// the notifier's notices can be seen without any outside account. Checks every message the way
// the real service does, answers like it, and writes each accepted one to
// <dir>/<channel>-<n>.json.
//
//   sluice-capture-server --addr 127.0.0.1:18090 --dir var/demo/captures
//                         [--dingtalk-secret-file F] [--webhook-secret-file F]
#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sluice/capture/capture.hpp>
#include <sluice/core/logging.hpp>
#include <string>

namespace {

std::string ReadSecret(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string s;
  std::getline(in, s);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.empty()) throw std::runtime_error(path + " is empty");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice-capture-server: local stand-in for Slack, DingTalk, WeCom and webhooks"};
  std::string addr = "127.0.0.1:18090";
  std::string dir = "var/demo/captures";
  std::string dingtalk_secret_file;
  std::string webhook_secret_file;
  std::string log_level = "info";
  app.add_option("--addr", addr, "host:port to listen on");
  app.add_option("--dir", dir, "where accepted messages are written");
  app.add_option("--dingtalk-secret-file", dingtalk_secret_file,
                 "file holding the DingTalk robot secret (signatures are then required)");
  app.add_option("--webhook-secret-file", webhook_secret_file,
                 "file holding the webhook HMAC key (X-Sluice-Signature is then required)");
  app.add_option("--log-level", log_level)->check(CLI::IsMember({"debug", "info", "warn"}));
  CLI11_PARSE(app, argc, argv);

  sluice::capture::ServerOptions options;
  const auto colon = addr.rfind(':');
  try {
    if (colon == std::string::npos) throw std::runtime_error("--addr must be host:port");
    options.host = addr.substr(0, colon);
    options.port = std::stoi(addr.substr(colon + 1));
    if (options.port <= 0 || options.port > 65535) throw std::runtime_error("bad port");
    options.dir = dir;
    options.dingtalk_secret = ReadSecret(dingtalk_secret_file);
    options.webhook_secret = ReadSecret(webhook_secret_file);
  } catch (const std::exception& e) {
    std::cerr << "sluice-capture-server: " << e.what() << "\n";
    return 2;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  sluice::core::InitLogging("capture-server", log_level);
  const auto log = sluice::core::Logger("capture");
  options.on_request = [log](const sluice::capture::Request& r) {
    if (r.accepted) {
      log->info("{} {} accepted -> {}", sluice::capture::ChannelName(r.channel), r.path,
                r.file.empty() ? "(memory)" : r.file);
    } else {
      log->warn("{} {} refused: {} {}", sluice::capture::ChannelName(r.channel), r.path, r.status,
                r.answer);
    }
  };
  try {
    sluice::capture::CaptureServer server(options);
    log->info(
        "capture server on http://{}:{} (slack /slack/..., dingtalk /dingtalk/robot/send, "
        "wecom /wecom/cgi-bin/webhook/send, webhook /webhook/..., list /captures), "
        "writing to {}",
        options.host, server.Port(), dir);
    int sig = 0;
    sigwait(&signals, &sig);
    log->info("stopping on signal {}", sig);
    server.Stop();
  } catch (const std::exception& e) {
    log->critical("{}", e.what());
    std::cerr << "sluice-capture-server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
