#include "adapters/ssh_steps.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>

namespace sluice::executor {
namespace {

constexpr std::string_view kNoDeployment = "~";

bool AllOf(std::string_view s, bool (*ok)(char)) { return std::all_of(s.begin(), s.end(), ok); }

bool IsBlankOrControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isspace(u) != 0 || std::iscntrl(u) != 0;
}

// Whole seconds, at least 1 (the script's `timeout` and its health loop count in seconds).
std::string Seconds(std::chrono::milliseconds d) {
  const auto s = std::max<std::int64_t>(1, (d.count() + 999) / 1000);
  return std::to_string(s);
}

void CheckArgv(const std::vector<std::string>& argv, const std::string& field) {
  if (argv.size() > 64) throw SshArgumentError(field, "has more than 64 arguments");
  for (const auto& a : argv) {
    if (a.find('\0') != std::string::npos) throw SshArgumentError(field, "contains a NUL byte");
  }
  if (!argv.empty() && argv.front().empty()) {
    throw SshArgumentError(field, "the program (first element) is empty");
  }
}

void AppendService(std::vector<std::string>& args, const AgentServiceSpec& s) {
  CheckArgv(s.restart_command, "service.restart_command");
  CheckArgv(s.health.command, "service.health.command");
  if (s.restart_command.empty()) throw SshArgumentError("service.restart_command", "is required");
  if (s.health.http_url.empty() == s.health.command.empty()) {
    throw SshArgumentError("service.health", "needs exactly one of http_url and command");
  }
  if (!s.health.http_url.empty()) ValidateArtifactUrl(s.health.http_url);
  args.push_back(Seconds(s.restart_timeout));
  args.push_back(Seconds(s.health.timeout));
  args.push_back(s.health.http_url);
  args.push_back(std::to_string(s.restart_command.size()));
  args.insert(args.end(), s.restart_command.begin(), s.restart_command.end());
  args.push_back(std::to_string(s.health.command.size()));
  args.insert(args.end(), s.health.command.begin(), s.health.command.end());
}

std::string FenceId(const CommandFence& fence) {
  ValidateDeploymentId(fence.deployment_id);
  return fence.deployment_id.empty() ? std::string(kNoDeployment) : fence.deployment_id;
}

}  // namespace

std::string ShellQuote(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) {
    throw SshArgumentError("argument", "contains a NUL byte");
  }
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string RemoteCommandLine(const std::vector<std::string>& args) {
  std::string line = "sh -s --";
  for (const auto& a : args) {
    line += ' ';
    line += ShellQuote(a);
  }
  return line;
}

void ValidateRoot(std::string_view root) {
  const bool plain = AllOf(root, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '.' || c == '_' ||
           c == '-';
  });
  const std::string r(root);
  if (root.size() < 2 || root.size() > 256 || root.front() != '/' || !plain ||
      ("/" + r + "/").find("/../") != std::string::npos ||
      ("/" + r + "/").find("/./") != std::string::npos || root.find("//") != std::string::npos) {
    throw SshArgumentError("release_root",
                           "must be an absolute path of letters, digits, '/', '.', '_' or '-', "
                           "without '.' or '..' components, got '" +
                               r + "'");
  }
}

void ValidateVersion(std::string_view version) {
  // sluice-agent's rule (agent/src/deploy.cpp IsValidVersion): safe as a directory name.
  static const std::regex kRe(
      R"(^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$)");
  if (version.empty() || version.size() > 128 ||
      !std::regex_match(version.begin(), version.end(), kRe)) {
    throw SshArgumentError("version", "must be a version such as 1.2.3 or 1.2.3-rc.1");
  }
}

void ValidateArtifactUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
  }
  if (url.size() > 2048 || rest.empty() || rest.front() == '/' || rest.front() == ':' ||
      std::any_of(url.begin(), url.end(), IsBlankOrControl)) {
    throw SshArgumentError("url", "must be an http:// or https:// URL without blanks");
  }
}

void ValidateSha256(std::string_view sha256) {
  if (sha256.size() != 64 ||
      !AllOf(sha256, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) {
    throw SshArgumentError("sha256", "must be 64 hexadecimal digits");
  }
}

void ValidateDeploymentId(std::string_view id) {
  const bool ok = id.size() <= 128 && AllOf(id, [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' ||
                           c == '_' || c == ':' || c == '-';
                  });
  if (!ok) {
    throw SshArgumentError("deployment_id",
                           "must be at most 128 letters, digits, '.', '_', ':' or '-'");
  }
}

void ValidateAddress(std::string_view address) {
  const bool ok = !address.empty() && address.size() <= 253 && address.front() != '-' &&
                  AllOf(address, [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' ||
                           c == ':' || c == '-' || c == '_' || c == '%';
                  });
  if (!ok) {
    throw SshArgumentError("address",
                           "must be an IP address or DNS name, got '" + std::string(address) + "'");
  }
}

std::vector<std::string> StatusArgs(const SshHostLayout& layout) {
  ValidateRoot(layout.release_root);
  return {"status", layout.release_root};
}

std::vector<std::string> DeployArgs(const SshHostLayout& layout, const ArtifactRef& artifact,
                                    const CommandFence& fence, const AgentServiceSpec& service,
                                    std::chrono::milliseconds download_timeout) {
  ValidateRoot(layout.release_root);
  ValidateVersion(artifact.version);
  ValidateArtifactUrl(artifact.url);
  ValidateSha256(artifact.sha256);
  std::string sha = artifact.sha256;
  std::transform(sha.begin(), sha.end(), sha.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::string> args = {"deploy",
                                   layout.release_root,
                                   std::to_string(layout.keep),
                                   artifact.version,
                                   artifact.url,
                                   sha,
                                   FenceId(fence),
                                   std::to_string(fence.generation.Value()),
                                   Seconds(download_timeout)};
  AppendService(args, service);
  return args;
}

std::vector<std::string> RevertArgs(const SshHostLayout& layout, std::string_view version,
                                    const CommandFence& fence,
                                    const std::optional<AgentServiceSpec>& service) {
  ValidateRoot(layout.release_root);
  ValidateVersion(version);
  std::vector<std::string> args = {"revert",
                                   layout.release_root,
                                   std::to_string(layout.keep),
                                   std::string(version),
                                   FenceId(fence),
                                   std::to_string(fence.generation.Value())};
  if (service) {
    AppendService(args, *service);
  } else {
    args.insert(args.end(), {"0", "0", "", "0", "0"});
  }
  return args;
}

StepReport ParseStepReport(std::string_view out) {
  StepReport r;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto end = out.find('\n', pos);
    if (end == std::string_view::npos) end = out.size();
    const std::string_view line = out.substr(pos, end - pos);
    pos = end + 1;
    if (!line.starts_with("sluice:")) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = line.substr(7, eq - 7);
    const std::string value(line.substr(eq + 1));
    if (key == "result") {
      r.result = value;
    } else if (key == "reason") {
      r.reason = value;
    } else if (key == "message") {
      r.message = value;
    } else if (key == "retryable") {
      r.retryable = value == "1";
    } else if (key == "current") {
      r.current = value;
    } else if (key == "previous") {
      r.previous = value;
    } else if (key == "health") {
      r.health = value;
    } else if (key == "installed") {
      r.installed.push_back(value);
    } else if (key == "highest_generation") {
      std::uint64_t g = 0;
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), g);
      if (ec == std::errc() && p == value.data() + value.size()) r.highest_generation = g;
    }
  }
  return r;
}

namespace {

std::string Tail(std::string_view err) {
  constexpr std::size_t kMax = 400;
  std::string s(err.size() > kMax ? err.substr(err.size() - kMax) : err);
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

HostOutcome StepOutcome(const StepReport& r, int exit_status, std::string_view err,
                        std::string_view expected_version) {
  const HostHealth health = ParseHostHealth(r.health);
  if (r.result.empty()) {
    return HostOutcome::Failure(OutcomeKind::kFailed, false, "bad_response",
                                "the step script ended with status " + std::to_string(exit_status) +
                                    " and no report" + (err.empty() ? "" : ": " + Tail(err)));
  }
  if (r.result == "stale") {
    return HostOutcome::Failure(OutcomeKind::kStale, false, r.reason, r.message);
  }
  if (r.result == "failed") {
    const bool unhealthy = r.reason == "health_check_failed";
    auto o = HostOutcome::Failure(unhealthy ? OutcomeKind::kUnhealthy : OutcomeKind::kFailed,
                                  r.retryable, r.reason, r.message);
    o.version = r.current;
    o.health = unhealthy ? HostHealth::kUnhealthy : health;
    return o;
  }
  if ((r.result != "succeeded" && r.result != "unchanged") || r.current != expected_version) {
    auto o = HostOutcome::Failure(OutcomeKind::kFailed, false, "version_mismatch",
                                  "host reports result \"" + r.result +
                                      "\" and current version \"" + r.current + "\", expected \"" +
                                      std::string(expected_version) + "\"");
    o.version = r.current;
    o.health = health;
    return o;
  }
  return HostOutcome::Success(r.current,
                              health == HostHealth::kUnknown ? HostHealth::kHealthy : health);
}

HostState StepStatus(const StepReport& r, int exit_status, std::string_view err) {
  HostState s;
  if (r.result != "status") {
    s.error = "the step script ended with status " + std::to_string(exit_status) +
              " and no status" + (err.empty() ? "" : ": " + Tail(err));
    return s;
  }
  s.reachable = true;
  s.current = r.current;
  s.previous = r.previous;
  s.installed = r.installed;
  s.health = ParseHostHealth(r.health);
  s.highest_generation = r.highest_generation;
  return s;
}

}  // namespace sluice::executor
