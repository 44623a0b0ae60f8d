// sluice-capture-server: stands in for Slack, DingTalk, WeCom, a generic webhook receiver and
// (with --smtp-addr) a mail relay, so the notifier's notices can be seen without any outside
// account. Checks every message the way the real service does, answers like it, and writes each
// accepted one to <dir>/<channel>-<n>.json (e-mails: <dir>/email-<n>.json, MIME decoded).
//
//   sluice-capture-server --addr 127.0.0.1:18090 --dir var/demo/captures
//                         [--dingtalk-secret-file F] [--webhook-secret-file F]
//                         [--smtp-addr 127.0.0.1:18025 [--smtp-user U --smtp-password-file F]]
#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <sluice/capture/capture.hpp>
#include <sluice/capture/mime.hpp>
#include <sluice/core/logging.hpp>
#include <string>
#include <tuple>
#include <utility>

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

// "host:port" -> {host, port}; throws naming the flag.
std::pair<std::string, int> HostPort(const std::string& flag, const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw std::runtime_error(flag + " must be host:port, got '" + value + "'");
  }
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(value.substr(colon + 1), &used);
    if (used != value.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port <= 0 || port > 65535) {
    throw std::runtime_error(flag + ": bad port in '" + value + "' (1..65535)");
  }
  return {value.substr(0, colon), port};
}

// The command line as given.
struct Flags {
  std::string addr = "127.0.0.1:18090";
  std::string dir = "var/demo/captures";
  std::string dingtalk_secret_file;
  std::string webhook_secret_file;
  std::string log_level = "info";
  std::string smtp_addr;
  std::string smtp_user;
  std::string smtp_password_file;
  std::size_t smtp_max_bytes = 10 << 20;
};

void AddFlags(CLI::App& app, Flags& f) {
  app.add_option("--addr", f.addr, "host:port to listen on");
  app.add_option("--dir", f.dir, "where accepted messages are written");
  app.add_option("--dingtalk-secret-file", f.dingtalk_secret_file,
                 "file holding the DingTalk robot secret (signatures are then required)");
  app.add_option("--webhook-secret-file", f.webhook_secret_file,
                 "file holding the webhook HMAC key (X-Sluice-Signature is then required)");
  app.add_option("--smtp-addr", f.smtp_addr,
                 "host:port of an SMTP listener standing in for a mail relay (off when absent)");
  app.add_option("--smtp-user", f.smtp_user,
                 "with --smtp-password-file: the only credentials AUTH accepts (then required)");
  app.add_option("--smtp-password-file", f.smtp_password_file, "file holding the SMTP password");
  app.add_option("--smtp-max-bytes", f.smtp_max_bytes, "largest message accepted (552 beyond)")
      ->check(CLI::PositiveNumber);
  app.add_option("--log-level", f.log_level)->check(CLI::IsMember({"debug", "info", "warn"}));
}

// The server's options from the flags; throws naming the flag that is wrong.
sluice::capture::ServerOptions Options(const Flags& f) {
  sluice::capture::ServerOptions options;
  std::tie(options.host, options.port) = HostPort("--addr", f.addr);
  options.dir = f.dir;
  if (!f.smtp_addr.empty()) {
    sluice::capture::SmtpOptions smtp;
    std::tie(smtp.host, smtp.port) = HostPort("--smtp-addr", f.smtp_addr);
    smtp.max_message_bytes = f.smtp_max_bytes;
    if (f.smtp_user.empty() != f.smtp_password_file.empty()) {
      throw std::runtime_error("give both --smtp-user and --smtp-password-file, or neither");
    }
    smtp.username = f.smtp_user;
    smtp.password = ReadSecret(f.smtp_password_file);
    options.smtp = smtp;
  } else if (!f.smtp_user.empty() || !f.smtp_password_file.empty()) {
    throw std::runtime_error("--smtp-user / --smtp-password-file need --smtp-addr");
  }
  options.dingtalk_secret = ReadSecret(f.dingtalk_secret_file);
  options.webhook_secret = ReadSecret(f.webhook_secret_file);
  return options;
}

// One log line per message: accepted (and where it was written) or refused (and why).
void LogRequest(const std::shared_ptr<spdlog::logger>& log, const sluice::capture::Request& r) {
  if (r.channel == sluice::capture::Channel::kEmail) {
    log->info("email from {} to {} \"{}\" accepted -> {}",
              sluice::capture::DecodeHeaderWords(r.Header("from")),
              sluice::capture::DecodeHeaderWords(r.Header("to")),
              sluice::capture::DecodeHeaderWords(r.Header("subject")),
              r.file.empty() ? "(memory)" : r.file);
  } else if (r.accepted) {
    log->info("{} {} accepted -> {}", sluice::capture::ChannelName(r.channel), r.path,
              r.file.empty() ? "(memory)" : r.file);
  } else {
    log->warn("{} {} refused: {} {}", sluice::capture::ChannelName(r.channel), r.path, r.status,
              r.answer);
  }
}

// Serves until one of `signals` arrives; exit code 1 when the server cannot start.
int Serve(const sluice::capture::ServerOptions& options, const sigset_t& signals,
          const std::shared_ptr<spdlog::logger>& log) {
  try {
    sluice::capture::CaptureServer server(options);
    log->info(
        "capture server on http://{}:{} (slack /slack/..., dingtalk /dingtalk/robot/send, "
        "wecom /wecom/cgi-bin/webhook/send, webhook /webhook/..., list /captures), "
        "writing to {}",
        options.host, server.Port(), options.dir);
    if (options.smtp) {
      log->info("smtp on {}:{} (no TLS; AUTH {}), writing email-<n>.json", options.smtp->host,
                server.SmtpPort(), options.smtp->username.empty() ? "optional" : "required");
    }
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice-capture-server: local stand-in for Slack, DingTalk, WeCom and webhooks"};
  Flags flags;
  AddFlags(app, flags);
  CLI11_PARSE(app, argc, argv);

  sluice::capture::ServerOptions options;
  try {
    options = Options(flags);
  } catch (const std::exception& e) {
    std::cerr << "sluice-capture-server: " << e.what() << "\n";
    return 2;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  sluice::core::InitLogging("capture-server", flags.log_level);
  const auto log = sluice::core::Logger("capture");
  options.on_request = [log](const sluice::capture::Request& r) { LogRequest(log, r); };
  return Serve(options, signals, log);
}
