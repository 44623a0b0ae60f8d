#include "command_run.hpp"

#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/events/vocabulary.hpp>

#include "adapters/agent_driver.hpp"
#include "adapters/kubernetes_driver.hpp"
#include "adapters/ssh_driver.hpp"
#include "artifact_access.hpp"
#include "command_repository.hpp"
#include "executor_handler.hpp"
#include "executor_worker.hpp"
#include "instance_record_repository.hpp"
#include "results.hpp"

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;

// The reason of a host this run did not drive (its lease could not be had, or a newer holder
// wrote first): the host is left for the next claim of the command, nothing is recorded.
constexpr std::string_view kReasonNotDriven = events::Name(events::v1::REASON_NOT_DRIVEN);

// A claim lost to another worker: the write is abandoned.
class ClaimLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Answers every call with the same definitive failure (a batch with no service block).
class FailingDriver final : public TargetDriver {
 public:
  FailingDriver(std::string reason, std::string message)
      : reason_(std::move(reason)), message_(std::move(message)) {}
  HostOutcome Deploy(const HostTarget&, const ArtifactRef&, const CommandFence&,
                     Deadline) override {
    return HostOutcome::Failure(OutcomeKind::kFailed, false, reason_, message_);
  }
  HostOutcome Revert(const HostTarget&, std::string, const CommandFence&, Deadline) override {
    return HostOutcome::Failure(OutcomeKind::kFailed, false, reason_, message_);
  }
  HostState Status(const HostTarget&, Deadline) override {
    HostState s;
    s.error = message_;
    return s;
  }

 private:
  std::string reason_;
  std::string message_;
};

// Drives a host only while the run holds its lease (and its fence held).
class LeasedDriver final : public TargetDriver {
 public:
  LeasedDriver(TargetDriver& inner, ActiveRun& run) : inner_(inner), run_(run) {}

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override {
    if (!Driven(host)) return NotDriven(host);
    return inner_.Deploy(host, artifact, fence, deadline);
  }
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override {
    if (!Driven(host)) return NotDriven(host);
    if (auto owner = OwnedElsewhere(host)) {
      return HostOutcome::Failure(OutcomeKind::kFailed, false,
                                  std::string(kReasonHostOwnedElsewhere),
                                  "host " + host.host + " was deployed by deployment " + *owner +
                                      " after this one; its revert is refused");
    }
    return inner_.Revert(host, std::move(version), fence, deadline);
  }
  HostState Status(const HostTarget& host, Deadline deadline) override {
    return inner_.Status(host, deadline);
  }

 private:
  bool Driven(const HostTarget& host) {
    std::lock_guard lock(run_.mu);
    const auto it = run_.leases.find(host.host);
    return it != run_.leases.end() && !it->second.lost && !run_.fenced.contains(host.host);
  }
  std::optional<std::string> OwnedElsewhere(const HostTarget& host) {
    std::lock_guard lock(run_.mu);
    const auto it = run_.owned_elsewhere.find(host.host);
    if (it == run_.owned_elsewhere.end()) return std::nullopt;
    return it->second;
  }
  static HostOutcome NotDriven(const HostTarget& host) {
    return HostOutcome::Failure(OutcomeKind::kFailed, false, std::string(kReasonNotDriven),
                                "host " + host.host + " is not held by this run");
  }

  TargetDriver& inner_;
  ActiveRun& run_;
};

events::v1::Envelope InstanceEnvelope(const core::Clock& clock, const InstanceRecord& record) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(record.deployment_id.Value());
  *e.mutable_instance_updated() = InstanceUpdate(record);
  return e;
}

}  // namespace

CommandRun::CommandRun(CommandRunDeps deps, const WorkerPoolOptions& options, ActiveRun& run)
    : deps_(deps),
      options_(options),
      run_(run),
      command_(run.command),
      started_(std::chrono::steady_clock::now()) {}

void CommandRun::Run(bool resumed) {
  const auto log = core::Logger("worker");
  log->info("{} command {} of deployment {} batch {} generation {} ({} host(s), claim {})",
            resumed ? "resuming" : "running", command_.id, command_.deployment_id.Value(),
            command_.batch_index.Value(), command_.generation.Value(), command_.targets.size(),
            run_.claim);
  try {
    const auto prior = PriorRecords();
    DriverRegistry registry;
    RegisterDrivers(registry);
    RoutingDriver routing(registry);
    LeasedDriver driver(routing, run_);
    SystemSleeper sleeper;
    BatchRunner runner({driver, deps_.clock, sleeper});

    BatchHooks hooks;
    hooks.cancelled = [&] { return deps_.control.Cancelled(run_); };
    hooks.on_host_started = [&](const HostTarget& host, std::uint32_t attempt) {
      OnHostStarted(host, attempt);
    };
    hooks.on_host_results = [&](const std::vector<HostResult>& results) { OnHostResults(results); };
    const BatchResult result = runner.Run(ToBatchCommand(command_, options_.retry), hooks, prior);

    if (run_.lost) {
      log->warn("command {}: claim lost to another worker; its result is theirs to report",
                command_.id);
    } else if (run_.incomplete || (result.status == BatchStatus::kCancelled && !run_.superseded)) {
      GiveBack(deps_.control.Stopping() ? "shutting down" : "some hosts were not driven");
    } else {
      Finish(result);
    }
  } catch (const std::exception& e) {
    log->error("command {} of deployment {} stopped: {}", command_.id,
               command_.deployment_id.Value(), e.what());
    GiveBack("an error stopped the run");
  }
}

std::map<std::string, InstanceRecord> CommandRun::PriorRecords() const {
  std::map<std::string, InstanceRecord> prior;
  std::set<std::string> hosts;
  for (const auto& t : command_.targets) hosts.insert(t.host);
  const auto records = deps_.db.WithTransaction([&](pqxx::work& tx) {
    return InstanceRecordRepository::ListDeployment(tx, command_.deployment_id);
  });
  for (const auto& r : records) {
    if (r.generation != command_.generation || !hosts.contains(r.host)) continue;
    if (r.batch_index.Value() != BatchIndexFor(command_, r.host)) continue;
    prior[r.host] = r;
  }
  return prior;
}

void CommandRun::RegisterDrivers(DriverRegistry& registry) const {
  // Kubernetes targets need no service block: the workload's own controllers restart and
  // health-check its pods.
  registry.Register(std::string(kDriverKubernetes), [this] {
    return std::make_unique<KubernetesDriver>(options_.kubernetes, deps_.clock);
  });
  const auto service = ServiceFor(command_, options_.default_service);
  // Agentless hosts: the same service block; a revert without one uses the host's own.
  SshDriverConfig ssh = options_.ssh;
  ssh.service = service;
  // Hosts that download the artifact themselves get an s3:// one as a URL presigned just
  // before each deploy call (artifact_access.hpp).
  registry.Register(std::string(kDriverSsh), [ssh, this] {
    return WithArtifactAccess(std::make_unique<SshDriver>(ssh, deps_.clock), options_.s3,
                              deps_.clock);
  });
  if (service || command_.operation == BatchOperation::kRevert) {
    AgentDriverConfig config = options_.agent;
    if (service) config.service = *service;
    const core::Clock& clock = deps_.clock;
    registry.Register(std::string(kDriverAgent), [config, &clock, this] {
      return WithArtifactAccess(std::make_unique<AgentDriver>(config, clock), options_.s3, clock);
    });
    return;
  }
  registry.Register(std::string(kDriverAgent), [] {
    return std::make_unique<FailingDriver>(
        std::string(kReasonNoServiceConfig),
        "the batch carries no service block and SLUICE_EXECUTOR_RESTART_COMMAND is not set");
  });
}

// Must not throw: a host whose start cannot be recorded is simply not driven.
void CommandRun::OnHostStarted(const HostTarget& host, std::uint32_t attempt) {
  const auto log = core::Logger("worker");
  try {
    if (!deps_.control.EnsureHostLease(run_, host.host)) return;
    const auto record =
        StartedRecord(command_, host, attempt, core::ToUnixMillis(deps_.clock.Now()));
    std::int64_t token = 0;
    for (bool retaken = false;; retaken = true) {
      {
        std::lock_guard lock(run_.mu);
        token = run_.leases.at(host.host).lease.token.Value();
      }
      std::optional<std::int64_t> fence;  // the stored fence, when above this lease
      if (WriteStart(host, record, token, fence)) return;
      // This run holds the host's lease, yet a higher token wrote for the host: Redis lost its
      // counters (a flush, a new instance, another lock prefix). Taking the lease again with a
      // token above the stored one is what enough retries would reach; do it now.
      if (retaken || run_.lost || !fence ||
          !deps_.control.RetakeHostLease(run_, host.host, *fence)) {
        break;
      }
      log->warn("host {}: token {} is below the stored fence {}; lease taken again above it",
                host.host, token, *fence);
    }
    std::lock_guard lock(run_.mu);
    run_.fenced.insert(host.host);
    if (!run_.lost) {
      log->warn("host {}: a newer lease holder wrote first (token {}); not driven", host.host,
                token);
    }
  } catch (const std::exception& e) {
    std::lock_guard lock(run_.mu);
    run_.fenced.insert(host.host);
    log->warn("host {}: start not recorded ({}); not driven in this run", host.host, e.what());
  }
}

bool CommandRun::WriteStart(const HostTarget& host, const InstanceRecord& record,
                            std::int64_t token, std::optional<std::int64_t>& fence) {
  return deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (!CommandRepository::HoldsShared(tx, command_.id, run_.claim)) {
      run_.lost = true;
      return false;
    }
    if (!CommandRepository::AdvanceHostFence(tx, host.host, token)) {
      fence = CommandRepository::HostFence(tx, host.host);
      return false;
    }
    if (command_.operation == BatchOperation::kRevert) {
      // A revert never touches a host that another deployment deployed since: an older
      // deployment's rollback must not switch a host under a newer one.
      if (const auto owner =
              InstanceRecordRepository::RevertRefusedBy(tx, host.host, command_.deployment_id)) {
        core::Logger("worker")->warn("host {}: deployment {} deployed it after {}; revert refused",
                                     host.host, owner->Value(), command_.deployment_id.Value());
        std::lock_guard lock(run_.mu);
        run_.owned_elsewhere[host.host] = owner->Value();
        return true;
      }
    } else {
      InstanceRecordRepository::ClaimHost(tx, host.host, command_.deployment_id,
                                          command_.generation, record.updated_at_ms);
    }
    InstanceRecordRepository::Upsert(tx, record);
    return true;
  });
}

// The hosts that finished while the previous group was written: one transaction records them
// all (and their InstanceDeploymentUpdated events), so a wide batch does not run one transaction
// (and one commit) per host.
void CommandRun::OnHostResults(const std::vector<HostResult>& results) {
  std::vector<const HostResult*> driven;
  std::map<std::string, std::int64_t> tokens;
  for (const auto& result : results) {
    const std::string& host = result.host.host;
    if (result.outcome.reason == kReasonNotDriven || !deps_.control.EnsureHostLease(run_, host)) {
      run_.incomplete = true;
      continue;
    }
    std::lock_guard lock(run_.mu);
    tokens[host] = run_.leases.at(host).lease.token.Value();
    driven.push_back(&result);
  }
  if (driven.empty()) return;
  const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
  std::vector<InstanceRecord> written;
  std::vector<events::v1::Envelope> updates;
  for (const HostResult* result : driven) {
    written.push_back(ResultRecord(command_, *result, now_ms));
    updates.push_back(InstanceEnvelope(deps_.clock, written.back()));
  }
  deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (!CommandRepository::HoldsShared(tx, command_.id, run_.claim)) {
      run_.lost = true;
      throw ClaimLost("command " + std::to_string(command_.id) + " was claimed again");
    }
    const auto raised = CommandRepository::AdvanceHostFences(tx, tokens);
    for (const auto& [host, token] : tokens) {
      if (!raised.contains(host)) {
        throw ClaimLost("host " + host + ": a newer lease holder wrote first");
      }
    }
    InstanceRecordRepository::UpsertAll(tx, written);
    eventbus::PublishAll(tx, std::move(updates));
  });
  const auto log = core::Logger("worker");
  for (std::size_t i = 0; i < driven.size(); ++i) {
    const HostResult& result = *driven[i];
    const InstanceRecord& record = written[i];
    if (deps_.metrics != nullptr)
      deps_.metrics->HostOutcome(command_.operation, result.outcome.kind);
    log->info("host {} {}: {}{}", record.host, events::Name(record.status),
              ToString(result.outcome.kind),
              record.error_message.empty() ? "" : " (" + record.error_message + ")");
    deps_.control.ReleaseHostLease(run_, record.host);
  }
}

// The unresolved hosts' records, the closing event and the command marked done, in one
// transaction guarded by the claim.
void CommandRun::Finish(const BatchResult& result) {
  const auto log = core::Logger("worker");
  const Completion completion = CompletionOf(result, !command_.unresolved.empty());
  const bool finished = deps_.db.WithTransaction([&](pqxx::work& tx) {
    if (!CommandRepository::Holds(tx, command_.id, run_.claim)) return false;
    const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
    for (const auto& u : command_.unresolved) {
      const auto record = UnresolvedRecord(command_, u, now_ms);
      InstanceRecordRepository::Upsert(tx, record);
      eventbus::Publish(tx, InstanceEnvelope(deps_.clock, record));
    }
    auto closing = events::NewEnvelope(kServiceName, deps_.clock);
    if (FillClosingEvent(command_, result, closing)) eventbus::Publish(tx, std::move(closing));
    return CommandRepository::Finish(tx, command_.id, run_.claim, completion.result,
                                     completion.reason);
  });
  if (!finished) {
    log->warn("command {}: claim lost before its result was written", command_.id);
    return;
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started_;
  if (deps_.metrics != nullptr) {
    deps_.metrics->BatchDuration(command_.operation, completion.result, took);
  }
  log->info(
      "command {} of deployment {} batch {} generation {} {}{}: {} succeeded, {} failed, {} not "
      "started, {} unresolved",
      command_.id, command_.deployment_id.Value(), command_.batch_index.Value(),
      command_.generation.Value(), completion.result,
      completion.reason.empty() ? "" : " (" + completion.reason + ")",
      result.succeeded_hosts.size(), result.failed_hosts.size(), result.not_started_hosts.size(),
      command_.unresolved.size());
}

void CommandRun::GiveBack(std::string_view why) {
  if (run_.lost) return;
  const auto log = core::Logger("worker");
  try {
    // On shutdown another replica may take it at once; otherwise pause, so a host that cannot be
    // driven now does not make the command spin.
    const auto delay = deps_.control.Stopping() ? 0ms : options_.poll * 10;
    deps_.db.WithTransaction([&](pqxx::work& tx) {
      return CommandRepository::Release(tx, command_.id, run_.claim, delay);
    });
    log->info("command {} given back ({}); the next claim resumes it", command_.id, why);
  } catch (const std::exception& e) {
    log->warn("command {} not given back ({}); its lease expires", command_.id, e.what());
  }
}

}  // namespace sluice::executor
