#include "host_agent.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sluice/core/logging.hpp>
#include <sluice/http/client.hpp>
#include <sstream>
#include <thread>

#include "download.hpp"

extern char** environ;

namespace sluice::agent {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kStateFile = "state.json";

void FsyncPath(const fs::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Write to a temporary file, flush it to disk, rename over the target, flush the directory.
void WriteFileAtomic(const fs::path& path, const std::string& data) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  FsyncPath(tmp, O_RDONLY);
  fs::rename(tmp, path);
  FsyncPath(path.parent_path(), O_RDONLY | O_DIRECTORY);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string CommandResult::Describe() const {
  if (!started) return "could not be started";
  if (timed_out) return "timed out and was killed";
  return "exited with status " + std::to_string(exit_code);
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env, const fs::path& log_path,
                         std::chrono::milliseconds timeout, const core::Clock& clock,
                         const fs::path& working_dir) {
  CommandResult result;
  if (argv.empty()) return result;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& e : extra_env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  // The agent's sockets (its listening port) must not leak into the service it starts.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  // After the opens (the log path is absolute either way), before the exec resolves argv[0].
  if (!working_dir.empty()) posix_spawn_file_actions_addchdir_np(&fa, working_dir.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGHUP);
  posix_spawnattr_setsigmask(&attr, &empty);  // the agent blocks SIGTERM; its children must not
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return result;
  result.started = true;

  const auto deadline = clock.Monotonic() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      result.exit_code = -1;
      return result;
    }
    if (clock.Monotonic() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.timed_out = true;
      return result;
    }
    std::this_thread::sleep_for(20ms);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

HostAgent::HostAgent(const core::Clock& clock, HostAgentOptions options)
    : clock_(clock), options_(std::move(options)) {}

fs::path HostAgent::ReleaseDir(const std::string& version) const {
  return options_.root / "releases" / version;
}

void HostAgent::Load() {
  const auto log = core::Logger("state");
  for (const char* d : {"releases", "downloads", "logs"}) fs::create_directories(options_.root / d);
  std::lock_guard lock(mu_);
  const fs::path path = options_.root / kStateFile;
  if (fs::exists(path)) {
    try {
      state_ = StateFromJson(json::parse(ReadFile(path)));
    } catch (const std::exception& e) {
      throw std::runtime_error(path.string() + ": " + e.what());
    }
  }
  if (state_.last_operation && state_.last_operation->state == OperationState::kInProgress) {
    auto& op = *state_.last_operation;
    op.state = OperationState::kFailed;
    op.reason = std::string(kReasonInterrupted);
    op.message = "the agent stopped during the operation";
    op.finished_at_ms = NowMs();
    state_.health = HealthStatus::kUnknown;
    log->warn("the last {} of {} was interrupted", ToString(op.kind), op.version);
  }
  // Leftovers of an interrupted install.
  for (const auto& entry : fs::directory_iterator(options_.root / "releases")) {
    if (entry.path().filename().string().starts_with(".staging-")) fs::remove_all(entry.path());
  }
  std::vector<std::string> missing;
  for (const auto& v : state_.installed) {
    if (!fs::is_directory(ReleaseDir(v.version))) missing.push_back(v.version);
  }
  for (const auto& v : missing) {
    log->warn("release {} is in the state file but not on disk; forgetting it", v);
    RecordRemoved(state_, v);
  }
  // The link is switched before the state is written: after a crash in between, the link wins.
  std::error_code ec;
  const fs::path target = fs::read_symlink(options_.root / "current", ec);
  if (!ec) {
    const std::string linked = target.filename().string();
    if (linked != state_.current && state_.Find(linked) != nullptr) {
      log->warn("current points at {} while the state said {}; following the link", linked,
                state_.current);
      RecordSwitch(state_, linked);
      state_.health = HealthStatus::kUnknown;
    }
  }
  Persist();
}

void HostAgent::Persist() {
  WriteFileAtomic(options_.root / kStateFile, ToJson(state_).dump(2) + "\n");
}

void HostAgent::Admit(const std::string& deployment_id, std::uint64_t generation) {
  if (IsStale(state_, deployment_id, generation)) {
    const std::string of = deployment_id.empty() ? "" : " of deployment " + deployment_id;
    throw Refused(409, std::string(kReasonStaleGeneration),
                  "generation " + std::to_string(generation) + of + " is older than " +
                      std::to_string(state_.HighestGeneration(deployment_id)) +
                      ", the highest seen");
  }
  ObserveGeneration(state_, deployment_id, generation);
}

agentapi::v1::Status HostAgent::Status() const {
  std::lock_guard lock(mu_);
  return StatusLocked();
}

agentapi::v1::Status HostAgent::StatusLocked() const { return StatusMessage(state_); }

OperationReport HostAgent::Finish(Operation op, OperationState state, std::string reason,
                                  std::string message) {
  std::lock_guard lock(mu_);
  op.state = state;
  op.reason = std::move(reason);
  op.message = std::move(message);
  op.finished_at_ms = NowMs();
  state_.last_operation = op;
  Persist();
  return ReportMessage(state_);
}

OperationReport HostAgent::Deploy(const DeployRequest& request) {
  const auto log = core::Logger("deploy");
  std::unique_lock op_lock(op_mu_, std::try_to_lock);
  if (!op_lock.owns_lock()) {
    throw Refused(409, "operation_in_progress", "another deploy or revert is running; retry");
  }
  Operation op{OperationKind::kDeploy,
               request.version,
               request.generation,
               OperationState::kInProgress,
               "",
               "",
               NowMs(),
               0};
  PlanKind plan;
  {
    std::lock_guard lock(mu_);
    Admit(request.deployment_id, request.generation);
    plan = Plan(state_, request);
    if (plan == PlanKind::kSwitchOnly && !fs::is_directory(ReleaseDir(request.version))) {
      RecordRemoved(state_, request.version);
      plan = PlanKind::kDownloadInstall;
    }
    if (plan == PlanKind::kConflict) {
      Persist();
      throw Refused(409, std::string(kReasonVersionConflict),
                    "version " + request.version + " is installed with another sha256");
    }
    if (plan != PlanKind::kNoOp) {
      state_.last_operation = op;
    }
    // Accepted (even when already current): this deployment owns the host from now on.
    if (!request.deployment_id.empty()) state_.owner = request.deployment_id;
    Persist();
  }
  log->info("deploy {} generation {}: {}", request.version, request.generation, ToString(plan));
  if (plan == PlanKind::kNoOp) {
    return Finish(op, OperationState::kUnchanged, "", "already current and healthy");
  }
  if (plan == PlanKind::kDownloadInstall) {
    try {
      Install(request);
    } catch (const DownloadFailed& e) {
      log->warn("deploy {}: {}", request.version, e.what());
      Finish(op, OperationState::kFailed, std::string(e.Reason()), e.what());
      const int status = e.Reason() == kReasonDownloadFailed ? 502 : 422;
      throw Refused(status, std::string(e.Reason()), e.what());
    } catch (const UnsafeArchive& e) {
      log->warn("deploy {}: unsafe archive: {}", request.version, e.what());
      Finish(op, OperationState::kFailed, std::string(kReasonUnsafeArchive), e.what());
      throw Refused(422, std::string(kReasonUnsafeArchive), e.what());
    } catch (const std::exception& e) {
      log->error("deploy {}: install failed: {}", request.version, e.what());
      Finish(op, OperationState::kFailed, std::string(kReasonInstallFailed), e.what());
      throw Refused(500, std::string(kReasonInstallFailed), e.what());
    }
  }
  {
    std::lock_guard lock(mu_);
    state_.service = request.service;
  }
  SwitchCurrent(request.version);
  const auto outcome = RestartAndCheck(request.version, request.service);
  PruneReleases();
  return Finish(op, outcome.ok ? OperationState::kSucceeded : OperationState::kFailed,
                outcome.reason, outcome.message);
}

OperationReport HostAgent::Revert(const RevertRequest& request) {
  const auto log = core::Logger("revert");
  std::unique_lock op_lock(op_mu_, std::try_to_lock);
  if (!op_lock.owns_lock()) {
    throw Refused(409, "operation_in_progress", "another deploy or revert is running; retry");
  }
  Operation op{OperationKind::kRevert,
               request.version,
               request.generation,
               OperationState::kInProgress,
               "",
               "",
               NowMs(),
               0};
  ServiceConfig service;
  {
    std::lock_guard lock(mu_);
    Admit(request.deployment_id, request.generation);
    if (OwnedByAnother(state_, request.deployment_id)) {
      Persist();
      throw Refused(409, std::string(kReasonOwnedByNewerDeployment),
                    "deployment " + state_.owner + " deployed this host after deployment " +
                        request.deployment_id + "; its revert is refused");
    }
    if (state_.Find(request.version) == nullptr || !fs::is_directory(ReleaseDir(request.version))) {
      Persist();
      throw Refused(404, std::string(kReasonNotInstalled),
                    "version " + request.version + " is not kept on this host");
    }
    if (!request.service && !state_.service) {
      Persist();
      throw Refused(422, "no_service_config",
                    "no service configuration is known yet; send \"service\" with the revert");
    }
    service = request.service ? *request.service : *state_.service;
    state_.service = service;
    state_.last_operation = op;
    Persist();
  }
  log->info("revert to {} generation {}", request.version, request.generation);
  SwitchCurrent(request.version);
  const auto outcome = RestartAndCheck(request.version, service);
  return Finish(op, outcome.ok ? OperationState::kSucceeded : OperationState::kFailed,
                outcome.reason, outcome.message);
}

void HostAgent::Install(const DeployRequest& request) {
  const auto log = core::Logger("install");
  DownloadOptions d;
  d.url = request.artifact_url;
  d.part_path = options_.root / "downloads" / (request.sha256 + ".part");
  d.expected_sha256 = request.sha256;
  d.max_bytes = options_.max_artifact_bytes;
  d.timeout = options_.download_timeout;
  const auto got = Download(d);
  log->info("artifact of {} downloaded: {} bytes ({} resumed)", request.version, got.bytes,
            got.resumed_from);

  const fs::path staging = options_.root / "releases" / (".staging-" + request.version);
  fs::remove_all(staging);
  fs::create_directories(staging);
  try {
    ExtractTarGz(d.part_path, staging, options_.extract);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    fs::remove(d.part_path, ec);  // verified but unusable: do not resume it
    throw;
  }
  FsyncPath(staging, O_RDONLY | O_DIRECTORY);
  const fs::path dir = ReleaseDir(request.version);
  fs::remove_all(dir);  // a leftover the state does not know
  fs::rename(staging, dir);
  FsyncPath(dir.parent_path(), O_RDONLY | O_DIRECTORY);
  fs::remove(d.part_path);
  std::lock_guard lock(mu_);
  RecordInstalled(state_, {request.version, request.sha256, NowMs()});
  Persist();
}

void HostAgent::SwitchCurrent(const std::string& version) {
  const fs::path tmp = options_.root / "current.tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(fs::path("releases") / version, tmp);
  // rename(2) replaces the old link in one step: readers see the old or the new, never none.
  fs::rename(tmp, options_.root / "current");
  FsyncPath(options_.root, O_RDONLY | O_DIRECTORY);
  std::lock_guard lock(mu_);
  RecordSwitch(state_, version);
  state_.health = HealthStatus::kUnknown;
  Persist();
}

HostAgent::Switched HostAgent::RestartAndCheck(const std::string& version,
                                               const ServiceConfig& service) {
  const auto log = core::Logger("service");
  const std::vector<std::string> env = {
      "SLUICE_RELEASE_VERSION=" + version,
      "SLUICE_RELEASE_DIR=" + (options_.root / "current").string()};
  Switched out;
  const auto restart = RunCommand(service.restart_command, env, options_.root / "logs/restart.log",
                                  service.restart_timeout, clock_, ReleaseDir(version));
  if (!restart.started || restart.timed_out || restart.exit_code != 0) {
    out.reason = std::string(kReasonRestartFailed);
    out.message = "restart command " + restart.Describe();
    log->warn("{}: {}", version, out.message);
    std::lock_guard lock(mu_);
    state_.health = HealthStatus::kUnhealthy;
    return out;
  }
  const auto deadline = clock_.Monotonic() + service.health.timeout;
  std::string detail;
  int attempts = 0;
  for (;;) {
    ++attempts;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.Monotonic());
    if (CheckHealthOnce(service.health, std::max(left, 100ms), version, detail)) {
      out.ok = true;
      break;
    }
    if (clock_.Monotonic() + service.health.interval >= deadline) break;
    std::this_thread::sleep_for(service.health.interval);
  }
  std::lock_guard lock(mu_);
  state_.health = out.ok ? HealthStatus::kHealthy : HealthStatus::kUnhealthy;
  if (!out.ok) {
    out.reason = std::string(kReasonHealthCheckFailed);
    out.message = "not healthy after " + std::to_string(attempts) + " attempt(s): " + detail;
    log->warn("{}: {}", version, out.message);
  } else {
    log->info("{} is healthy", version);
  }
  return out;
}

bool HostAgent::CheckHealthOnce(const HealthCheck& h, std::chrono::milliseconds budget,
                                const std::string& version, std::string& detail) {
  if (!h.http_url.empty()) {
    http::ClientRequest req;
    req.url = h.http_url;
    req.timeout = std::min<std::chrono::milliseconds>(budget, 5s);
    req.max_response_bytes = 64 * 1024;
    try {
      const auto res = http::Send(req);
      if (res.status >= 200 && res.status < 300) return true;
      detail = "health URL answered " + std::to_string(res.status);
    } catch (const std::exception& e) {
      detail = e.what();
    }
    return false;
  }
  const std::vector<std::string> env = {
      "SLUICE_RELEASE_VERSION=" + version,
      "SLUICE_RELEASE_DIR=" + (options_.root / "current").string()};
  const auto r = RunCommand(h.command, env, options_.root / "logs/health.log", budget, clock_,
                            ReleaseDir(version));
  if (r.started && !r.timed_out && r.exit_code == 0) return true;
  detail = "health command " + r.Describe();
  return false;
}

void HostAgent::PruneReleases() {
  const auto log = core::Logger("retention");
  std::lock_guard lock(mu_);
  for (const auto& v : SelectForRemoval(state_, options_.keep)) {
    std::error_code ec;
    fs::remove_all(ReleaseDir(v), ec);
    if (ec) {
      log->warn("cannot remove release {}: {}", v, ec.message());
      continue;
    }
    RecordRemoved(state_, v);
    log->info("removed release {} (keeping {})", v, options_.keep);
  }
  Persist();
}

}  // namespace sluice::agent
