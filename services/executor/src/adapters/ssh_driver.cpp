#include "adapters/ssh_driver.hpp"

#include <libssh/libssh.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <regex>

namespace sluice::executor {
namespace {

using std::chrono::milliseconds;

// Output bounds: the report is a few hundred bytes; stderr is kept for the message only.
constexpr std::size_t kMaxOut = 1 << 20;
constexpr std::size_t kMaxErr = 4096;

struct SessionCloser {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
using Session = std::unique_ptr<std::remove_pointer_t<ssh_session>, SessionCloser>;

struct ChannelCloser {
  void operator()(ssh_channel c) const {
    ssh_channel_close(c);
    ssh_channel_free(c);
  }
};
using Channel = std::unique_ptr<std::remove_pointer_t<ssh_channel>, ChannelCloser>;

struct KeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using Key = std::unique_ptr<std::remove_pointer_t<ssh_key>, KeyFree>;

HostOutcome Fail(OutcomeKind kind, bool retryable, std::string_view reason, std::string message) {
  return HostOutcome::Failure(kind, retryable, std::string(reason), std::move(message));
}

// "SHA256:<base64>", as ssh-keygen -l prints it; empty when the key cannot be read.
std::string Fingerprint(ssh_session s) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(s, &raw) != SSH_OK) return "";
  const Key key(raw);
  unsigned char* hash = nullptr;
  size_t len = 0;
  if (ssh_get_publickey_hash(key.get(), SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != 0) return "";
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  ssh_clean_pubkey_hash(&hash);
  if (text == nullptr) return "";
  std::string out(text);
  ssh_string_free_char(text);
  return out;
}

// Checks the server's key against the operator's known_hosts; nullopt when it is known.
std::optional<HostOutcome> CheckHostKey(ssh_session s, const SshDriverConfig& config,
                                        const std::string& where) {
  const std::string fp = Fingerprint(s);
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      return std::nullopt;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      return Fail(OutcomeKind::kFailed, false, kReasonHostKeyMismatch,
                  "host " + where + " offers key " + fp + ", which does not match its entry in " +
                      config.known_hosts_file + " (refused: the key changed or is another type)");
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      if (config.trust_on_first_use) {
        if (ssh_session_update_known_hosts(s) == SSH_OK) return std::nullopt;
        return Fail(OutcomeKind::kFailed, false, kReasonHostKeyUnknown,
                    "host " + where + ": cannot add key " + fp + " to " + config.known_hosts_file +
                        ": " + ssh_get_error(s));
      }
      return Fail(OutcomeKind::kFailed, false, kReasonHostKeyUnknown,
                  "host " + where + " offers key " + fp + ", which is not in " +
                      config.known_hosts_file +
                      " (refused: add it after checking it, or enable trust on first use)");
    case SSH_KNOWN_HOSTS_ERROR:
      break;
  }
  return Fail(OutcomeKind::kFailed, false, kReasonHostKeyUnknown,
              "host " + where + ": cannot check key " + fp + " against " + config.known_hosts_file +
                  ": " + ssh_get_error(s));
}

std::optional<HostOutcome> Authenticate(ssh_session s, const SshDriverConfig& config,
                                        const std::string& where) {
  int rc = SSH_AUTH_ERROR;
  if (!config.key_file.empty()) {
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_file(config.key_file.c_str(), nullptr, nullptr, nullptr, &raw) !=
        SSH_OK) {
      return Fail(OutcomeKind::kFailed, false, kReasonSshAuthFailed,
                  "cannot read the private key " + config.key_file);
    }
    const Key key(raw);
    rc = ssh_userauth_publickey(s, nullptr, key.get());
  } else {
    rc = ssh_userauth_agent(s, nullptr);
  }
  if (rc == SSH_AUTH_SUCCESS) return std::nullopt;
  return Fail(OutcomeKind::kFailed, false, kReasonSshAuthFailed,
              "host " + where + " refused the key of " +
                  (config.key_file.empty() ? std::string("ssh-agent") : config.key_file) + ": " +
                  ssh_get_error(s));
}

void SetKeepAlive(ssh_session s, milliseconds interval) {
  const int fd = ssh_get_fd(s);
  if (fd < 0) return;
  const int on = 1;
  const int idle = static_cast<int>(std::max<std::int64_t>(1, interval.count() / 1000));
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
}

void Append(std::string& to, const char* data, int n, std::size_t max, bool keep_tail) {
  to.append(data, static_cast<std::size_t>(n));
  if (to.size() > max) {
    if (keep_tail) {
      to.erase(0, to.size() - max);
    } else {
      to.resize(max);
    }
  }
}

}  // namespace

bool SshHostLimiter::Acquire(const std::string& host, std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_until(lock, until, [&] { return open_[host] < per_host_; })) return false;
  ++open_[host];
  return true;
}

void SshHostLimiter::Release(const std::string& host) {
  {
    std::lock_guard lock(mu_);
    if (--open_[host] <= 0) open_.erase(host);
  }
  cv_.notify_all();
}

std::string SshUserFor(const HostTarget& host, const SshDriverConfig& config) {
  const auto it = host.labels.find(std::string(kLabelSshUser));
  if (it == host.labels.end()) return config.user;
  static const std::regex kUser("^[a-z_][a-z0-9_.-]{0,31}$");
  if (!std::regex_match(it->second, kUser)) {
    throw SshArgumentError(std::string(kLabelSshUser),
                           "must be a user name (lowercase letters, digits, '_', '.', '-')");
  }
  return it->second;
}

int SshPortFor(const HostTarget& host, const SshDriverConfig& config) {
  const auto it = host.labels.find(std::string(kLabelSshPort));
  if (it == host.labels.end()) return config.port;
  int port = 0;
  const auto& v = it->second;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), port);
  if (ec != std::errc() || p != v.data() + v.size() || port < 1 || port > 65535) {
    throw SshArgumentError(std::string(kLabelSshPort), "must be a port number from 1 to 65535");
  }
  return port;
}

SshDriver::SshDriver(SshDriverConfig config, const core::Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  if (!config_.limiter) {
    config_.limiter = std::make_shared<SshHostLimiter>(config_.max_sessions_per_host);
  }
}

SshDriver::RunResult SshDriver::Run(const HostTarget& host, const std::vector<std::string>& args,
                                    Deadline deadline) {
  RunResult r;
  const auto left = [&] {
    return std::chrono::duration_cast<milliseconds>(deadline - clock_.Monotonic());
  };
  const auto timed_out = [&](const std::string& what) {
    return Fail(OutcomeKind::kTimedOut, true, "timed_out", "host " + host.host + ": " + what);
  };
  if (!config_.Configured()) {
    r.failure = Fail(
        OutcomeKind::kFailed, false, kReasonSshNotConfigured,
        "host " + host.host + " is an ssh target but SLUICE_EXECUTOR_SSH_KNOWN_HOSTS is not set");
    return r;
  }
  std::string user;
  int port = 0;
  std::string command;
  try {
    ValidateAddress(host.address);
    user = SshUserFor(host, config_);
    port = SshPortFor(host, config_);
    command = RemoteCommandLine(args);
  } catch (const SshArgumentError& e) {
    r.failure = Fail(OutcomeKind::kFailed, false, kReasonInvalidField, e.what());
    return r;
  }
  if (left().count() <= 0) {
    r.failure = timed_out("deadline passed before the call");
    return r;
  }
  if (!config_.limiter->Acquire(host.host, std::chrono::steady_clock::now() + left())) {
    r.failure = timed_out("no ssh session free before the deadline (at most " +
                          std::to_string(config_.max_sessions_per_host) + " per host)");
    return r;
  }
  struct Slot {
    SshHostLimiter& l;
    const std::string& h;
    ~Slot() { l.Release(h); }
  } slot{*config_.limiter, host.host};

  const std::string where = host.host + " (" + host.address + ":" + std::to_string(port) + ")";
  const Session s(ssh_new());
  if (!s) {
    r.failure = Fail(OutcomeKind::kFailed, true, "ssh_error", "cannot make an ssh session");
    return r;
  }
  const long connect_s = std::max<long>(
      1, static_cast<long>(std::min(left(), config_.connect_timeout).count() + 999) / 1000);
  const int no = 0;
  ssh_options_set(s.get(), SSH_OPTIONS_HOST, host.address.c_str());
  ssh_options_set(s.get(), SSH_OPTIONS_PORT, &port);
  ssh_options_set(s.get(), SSH_OPTIONS_USER, user.c_str());
  ssh_options_set(s.get(), SSH_OPTIONS_TIMEOUT, &connect_s);
  ssh_options_set(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no);  // no ~/.ssh/config
  ssh_options_set(s.get(), SSH_OPTIONS_KNOWNHOSTS, config_.known_hosts_file.c_str());
  ssh_options_set(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, config_.known_hosts_file.c_str());
  if (ssh_connect(s.get()) != SSH_OK) {
    const std::string e = ssh_get_error(s.get());
    r.failure =
        e.find("imeout") != std::string::npos
            ? timed_out("connect: " + e)
            : Fail(OutcomeKind::kUnreachable, true, "unreachable", "host " + where + ": " + e);
    return r;
  }
  SetKeepAlive(s.get(), config_.keepalive);
  if (auto f = CheckHostKey(s.get(), config_, where)) {
    r.failure = std::move(f);
    return r;
  }
  if (auto f = Authenticate(s.get(), config_, where)) {
    r.failure = std::move(f);
    return r;
  }
  const Channel ch(ssh_channel_new(s.get()));
  if (!ch || ssh_channel_open_session(ch.get()) != SSH_OK ||
      ssh_channel_request_exec(ch.get(), command.c_str()) != SSH_OK) {
    r.failure = Fail(OutcomeKind::kUnreachable, true, "unreachable",
                     "host " + where + ": cannot run the step script: " + ssh_get_error(s.get()));
    return r;
  }
  const auto script = SshStepsScript();
  if (ssh_channel_write(ch.get(), script.data(), static_cast<uint32_t>(script.size())) !=
          static_cast<int>(script.size()) ||
      ssh_channel_send_eof(ch.get()) != SSH_OK) {
    r.failure = Fail(OutcomeKind::kUnreachable, true, "unreachable",
                     "host " + where + ": cannot send the step script: " + ssh_get_error(s.get()));
    return r;
  }
  char buf[8192];
  auto last_keepalive = clock_.Monotonic();
  while (true) {
    const auto remaining = left();
    if (remaining.count() <= 0) {
      r.failure = timed_out("the step script did not finish before the deadline");
      return r;
    }
    const int slice = static_cast<int>(std::min<std::int64_t>(remaining.count(), 500));
    const int n = ssh_channel_read_timeout(ch.get(), buf, sizeof buf, 0, slice);
    if (n == SSH_ERROR) {
      r.failure = Fail(OutcomeKind::kUnreachable, true, "unreachable",
                       "host " + where + ": the session broke: " + ssh_get_error(s.get()));
      return r;
    }
    if (n > 0) Append(r.out, buf, n, kMaxOut, false);
    int e = 0;
    while ((e = ssh_channel_read_nonblocking(ch.get(), buf, sizeof buf, 1)) > 0) {
      Append(r.err, buf, e, kMaxErr, true);
    }
    if (n == 0 && ssh_channel_is_eof(ch.get()) != 0) break;
    if (clock_.Monotonic() - last_keepalive >= config_.keepalive) {
      ssh_send_ignore(s.get(), "keepalive");
      last_keepalive = clock_.Monotonic();
    }
  }
  r.exit_status = ssh_channel_get_exit_status(ch.get());
  return r;
}

HostOutcome SshDriver::Deploy(const HostTarget& host, const ArtifactRef& artifact,
                              const CommandFence& fence, Deadline deadline) {
  if (!config_.service) {
    return Fail(OutcomeKind::kFailed, false, "no_service_config",
                "host " + host.host + ": the batch carries no service block");
  }
  std::vector<std::string> args;
  try {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_.Monotonic());
    args = DeployArgs(config_.layout, artifact, fence, *config_.service, left);
  } catch (const SshArgumentError& e) {
    return Fail(OutcomeKind::kFailed, false, kReasonInvalidField, e.what());
  }
  auto r = Run(host, args, deadline);
  if (r.failure) return *r.failure;
  return StepOutcome(ParseStepReport(r.out), r.exit_status, r.err, artifact.version);
}

HostOutcome SshDriver::Revert(const HostTarget& host, std::string version,
                              const CommandFence& fence, Deadline deadline) {
  std::vector<std::string> args;
  try {
    args = RevertArgs(config_.layout, version, fence, config_.service);
  } catch (const SshArgumentError& e) {
    return Fail(OutcomeKind::kFailed, false, kReasonInvalidField, e.what());
  }
  auto r = Run(host, args, deadline);
  if (r.failure) return *r.failure;
  return StepOutcome(ParseStepReport(r.out), r.exit_status, r.err, version);
}

HostState SshDriver::Status(const HostTarget& host, Deadline deadline) {
  HostState s;
  std::vector<std::string> args;
  try {
    args = StatusArgs(config_.layout);
  } catch (const SshArgumentError& e) {
    s.error = e.what();
    return s;
  }
  auto r = Run(host, args, deadline);
  if (r.failure) {
    s.error = r.failure->message;
    return s;
  }
  return StepStatus(ParseStepReport(r.out), r.exit_status, r.err);
}

}  // namespace sluice::executor
