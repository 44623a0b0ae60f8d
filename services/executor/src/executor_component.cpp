#include "executor_component.hpp"

#include <map>
#include <set>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>

#include "instance_record_repository.hpp"
#include "results.hpp"

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

// The reason of a host this run did not drive (its lease could not be had, or a newer holder
// wrote first): the host is left for the next claim of the command, nothing is recorded.
constexpr std::string_view kReasonNotDriven = "not_driven";

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

std::optional<std::string> Rfc3339(std::optional<std::int64_t> ms) {
  if (!ms) return std::nullopt;
  return core::FormatRfc3339(core::FromUnixMillis(*ms));
}

json OrNull(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

json RecordJson(const InstanceRecord& r) {
  return {{"host", r.host},
          {"ip", r.ip},
          {"batch_index", r.batch_index.Value()},
          {"generation", r.generation.Value()},
          {"status", ToString(r.status)},
          {"version", r.version},
          {"health_status", ToString(r.health)},
          {"deployed_at", OrNull(Rfc3339(r.deployed_at_ms))},
          {"error_message", r.error_message},
          {"attempts", r.attempts},
          {"updated_at", core::FormatRfc3339(core::FromUnixMillis(r.updated_at_ms))}};
}

json CommandJson(const CommandRow& row) {
  const Command& c = row.command;
  json hosts = json::array();
  for (const auto& t : c.targets) hosts.push_back(t.host);
  return {{"id", c.id},
          {"operation", ToString(c.operation)},
          {"batch_index", c.batch_index.Value()},
          {"generation", c.generation.Value()},
          {"rollback_id", c.rollback_id},
          {"event_id", c.event_id},
          {"version", c.artifact.version},
          {"hosts", hosts},
          {"unresolved", UnresolvedToJson(c.unresolved)},
          {"status", row.status},
          {"result", row.result},
          {"reason", row.reason},
          {"claims", row.claim},
          {"accepted_at", core::FormatRfc3339(core::FromUnixMillis(row.accepted_at_ms))},
          {"started_at", OrNull(Rfc3339(row.started_at_ms))},
          {"finished_at", OrNull(Rfc3339(row.finished_at_ms))}};
}

}  // namespace

// ---- metrics -------------------------------------------------------------------------------

ExecutorMetrics::ExecutorMetrics(prometheus::Registry& registry)
    : commands_(prometheus::BuildCounter()
                    .Name("sluice_executor_commands_total")
                    .Help("Commands received, by operation and outcome (accepted, refused, "
                          "duplicate)")
                    .Register(registry)),
      hosts_(prometheus::BuildCounter()
                 .Name("sluice_executor_host_outcomes_total")
                 .Help("Host results recorded, by operation and outcome kind")
                 .Register(registry)),
      durations_(prometheus::BuildHistogram()
                     .Name("sluice_executor_batch_duration_seconds")
                     .Help("Time from a command's claim to its result, by operation and result")
                     .Register(registry)) {}

void ExecutorMetrics::Command(BatchOperation op, std::string_view outcome) {
  commands_.Add({{"operation", std::string(ToString(op))}, {"outcome", std::string(outcome)}})
      .Increment();
}

void ExecutorMetrics::HostOutcome(BatchOperation op, OutcomeKind kind) {
  hosts_.Add({{"operation", std::string(ToString(op))}, {"kind", std::string(ToString(kind))}})
      .Increment();
}

void ExecutorMetrics::BatchDuration(BatchOperation op, std::string_view result,
                                    std::chrono::duration<double> d) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {1,   5,   15,  30,  60,
                                                                   120, 300, 600, 1800};
  durations_
      .Add({{"operation", std::string(ToString(op))}, {"result", std::string(result)}}, kBuckets)
      .Observe(d.count());
}

// ---- accepting -----------------------------------------------------------------------------

std::string_view ToString(Intake i) {
  switch (i) {
    case Intake::kAccepted:
      return "accepted";
    case Intake::kDuplicate:
      return "duplicate";
    case Intake::kRefusedStale:
      return "refused";
    case Intake::kIgnored:
      return "ignored";
  }
  return "ignored";
}

bool IsCommand(const events::v1::Envelope& envelope) {
  return envelope.has_batch_requested() || envelope.has_revert_requested();
}

Intake AcceptCommand(pqxx::work& tx, const events::v1::Envelope& envelope,
                     const CommandDefaults& defaults, ExecutorMetrics* metrics) {
  const auto log = core::Logger("intake");
  Command command;
  if (envelope.has_batch_requested()) {
    command = CommandFromBatchRequested(envelope.batch_requested(), envelope.event_id(), defaults);
  } else if (envelope.has_revert_requested()) {
    const auto& e = envelope.revert_requested();
    command = CommandFromRevertRequested(
        e, envelope.event_id(),
        CommandRepository::ListLive(tx, core::DeploymentId(e.deployment_id())), defaults);
  } else {
    return Intake::kIgnored;
  }
  if (command.deployment_id.Value().empty()) {
    log->warn("{} {} names no deployment: ignored", envelope.type(), envelope.event_id());
    return Intake::kIgnored;
  }
  const auto op = command.operation;
  const auto highest = CommandRepository::LockHighestGeneration(tx, command.deployment_id);
  if (Fence(highest, command.generation.Value()) == FenceDecision::kRefuseStale) {
    CommandRepository::InsertRefused(tx, command, std::string(kRefusedStaleGeneration));
    log->warn(
        "refused {} of deployment {} batch {} generation {} (event {}): stale_generation, the "
        "deployment is at generation {}",
        ToString(op), command.deployment_id.Value(), command.batch_index.Value(),
        command.generation.Value(), command.event_id, *highest);
    if (metrics != nullptr) metrics->Command(op, "refused");
    return Intake::kRefusedStale;
  }
  const auto id = CommandRepository::InsertAccepted(tx, command);
  if (!id) {
    log->info("{} of deployment {} batch {} generation {} is already accepted (event {})",
              ToString(op), command.deployment_id.Value(), command.batch_index.Value(),
              command.generation.Value(), command.event_id);
    if (metrics != nullptr) metrics->Command(op, "duplicate");
    return Intake::kDuplicate;
  }
  CommandRepository::RaiseGeneration(tx, command.deployment_id, command.generation.Value());
  log->info("accepted {} {} of deployment {} batch {} generation {}: {} host(s), version {}",
            ToString(op), *id, command.deployment_id.Value(), command.batch_index.Value(),
            command.generation.Value(), command.targets.size() + command.unresolved.size(),
            command.artifact.version);
  if (metrics != nullptr) metrics->Command(op, "accepted");
  return Intake::kAccepted;
}

// ---- running -------------------------------------------------------------------------------

struct HostLease {
  lock::Lease lease;
  bool lost = false;  // a renewal failed: the token still fences writes, no new call starts
};

struct WorkerPool::ActiveRun {
  Command command;
  std::int64_t claim = 0;
  std::atomic<bool> lost{false};        // the command's lease went to another worker
  std::atomic<bool> superseded{false};  // a newer generation was accepted
  std::atomic<bool> incomplete{false};  // a host was not driven: the command is given back
  std::mutex mu;
  std::map<std::string, HostLease> leases;  // guarded by mu
  std::set<std::string> fenced;             // guarded by mu: hosts not to drive in this run
  // guarded by mu: hosts this revert must not touch, with the deployment that owns each now
  std::map<std::string, std::string> owned_elsewhere;
  core::MonotonicTime next_cancel_check{};  // guarded by mu
};

namespace {

// Drives a host only while the run holds its lease (and its fence held).
class LeasedDriver final : public TargetDriver {
 public:
  LeasedDriver(TargetDriver& inner, WorkerPool::ActiveRun& run) : inner_(inner), run_(run) {}

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
  WorkerPool::ActiveRun& run_;
};

events::v1::Envelope InstanceEnvelope(const core::Clock& clock, const InstanceRecord& record) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(record.deployment_id.Value());
  *e.mutable_instance_updated() = InstanceUpdate(record);
  return e;
}

void PublishInstance(pqxx::work& tx, const core::Clock& clock, const InstanceRecord& record) {
  eventbus::Publish(tx, InstanceEnvelope(clock, record));
}

}  // namespace

WorkerPool::WorkerPool(WorkerPoolDeps deps, WorkerPoolOptions options)
    : deps_(deps),
      options_(std::move(options)),
      locks_(deps_.redis, deps_.clock, options_.lock_prefix) {}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start() {
  stopping_ = false;
  for (int i = 0; i < std::max(options_.workers, 1); ++i) {
    threads_.emplace_back([this, i] { WorkerLoop(i); });
  }
  threads_.emplace_back([this] { KeeperLoop(); });
}

void WorkerPool::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void WorkerPool::WorkerLoop(int index) {
  const auto log = core::Logger("worker");
  bool failing = false;
  while (!Stopping()) {
    std::optional<ClaimedCommand> claimed;
    try {
      claimed = deps_.db.WithTransaction([&](pqxx::work& tx) {
        return CommandRepository::ClaimNext(tx, options_.owner, options_.command_lease);
      });
      if (failing) log->info("worker {} claims commands again", index);
      failing = false;
    } catch (const std::exception& e) {
      if (!failing) log->error("worker {} cannot claim commands (will retry): {}", index, e.what());
      failing = true;
    }
    if (!claimed) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.poll, [this] { return stopping_.load(); });
      continue;
    }
    Execute(*claimed);
  }
}

void WorkerPool::KeeperLoop() {
  const auto log = core::Logger("keeper");
  const auto interval = std::max<std::chrono::milliseconds>(
      std::min(options_.command_lease, options_.host_lock_ttl) / 3, 50ms);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval, [this] { return stopping_.load(); });
    std::vector<std::shared_ptr<ActiveRun>> runs;
    for (const auto& [id, run] : active_) runs.push_back(run);
    lock.unlock();
    for (const auto& run : runs) {
      try {
        const bool held = deps_.db.WithTransaction([&](pqxx::work& tx) {
          return CommandRepository::Renew(tx, run->command.id, run->claim, options_.command_lease);
        });
        if (!held && !run->lost.exchange(true)) {
          log->warn("command {} of deployment {}: lease lost to another worker; this run stops",
                    run->command.id, run->command.deployment_id.Value());
        }
      } catch (const std::exception& e) {
        log->warn("command {}: lease renewal failed: {}", run->command.id, e.what());
      }
      std::lock_guard run_lock(run->mu);
      for (auto& [host, held] : run->leases) {
        if (held.lost) continue;
        try {
          if (!locks_.Renew(held.lease, options_.host_lock_ttl)) {
            held.lost = true;
            log->warn("host {}: lease lost (token {}); no new call starts under it", host,
                      held.lease.token.Value());
          }
        } catch (const std::exception& e) {
          log->warn("host {}: lease renewal failed: {}", host, e.what());
        }
      }
    }
    lock.lock();
  }
}

bool WorkerPool::Cancelled(ActiveRun& run) {
  if (Stopping() || run.lost || run.superseded) return true;
  {
    std::lock_guard lock(run.mu);
    const auto now = deps_.clock.Monotonic();
    if (now < run.next_cancel_check) return false;
    run.next_cancel_check = now + options_.cancel_check;
  }
  try {
    const auto highest = deps_.db.WithTransaction([&](pqxx::work& tx) {
      return CommandRepository::HighestGeneration(tx, run.command.deployment_id);
    });
    if (highest && *highest > run.command.generation.Value() && !run.superseded.exchange(true)) {
      core::Logger("worker")->info(
          "command {} of deployment {} generation {} is superseded by generation {}: no new "
          "host starts",
          run.command.id, run.command.deployment_id.Value(), run.command.generation.Value(),
          *highest);
    }
  } catch (const std::exception& e) {
    core::Logger("worker")->warn("command {}: cannot read the deployment's generation: {}",
                                 run.command.id, e.what());
  }
  return run.superseded;
}

bool WorkerPool::EnsureHostLease(ActiveRun& run, const std::string& host) {
  {
    std::lock_guard lock(run.mu);
    const auto it = run.leases.find(host);
    if (it != run.leases.end() && !it->second.lost) return true;
  }
  const auto log = core::Logger("worker");
  bool waited = false;
  bool redis_down = false;
  while (!Cancelled(run)) {
    try {
      if (auto lease = locks_.TryAcquire(host, options_.owner, options_.host_lock_ttl)) {
        if (waited) log->info("host {}: lease acquired (token {})", host, lease->token.Value());
        std::lock_guard lock(run.mu);
        run.leases[host] = HostLease{std::move(*lease), false};
        return true;
      }
      if (!waited) log->info("host {} is held by another lease holder; waiting for it", host);
      waited = true;
    } catch (const std::exception& e) {
      if (!redis_down) log->warn("host {}: cannot take its lease ({}); waiting", host, e.what());
      redis_down = true;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 200ms, [this] { return stopping_.load(); });
  }
  return false;
}

bool WorkerPool::RetakeHostLease(ActiveRun& run, const std::string& host, std::int64_t above) {
  ReleaseHostLease(run, host);
  try {
    auto lease =
        locks_.TryAcquire(host, options_.owner, options_.host_lock_ttl, core::FencingToken(above));
    if (!lease) return false;  // someone else took it in between: theirs now
    std::lock_guard lock(run.mu);
    run.leases[host] = HostLease{std::move(*lease), false};
    return true;
  } catch (const std::exception& e) {
    core::Logger("worker")->warn("host {}: cannot take its lease again ({})", host, e.what());
    return false;
  }
}

void WorkerPool::ReleaseHostLease(ActiveRun& run, const std::string& host) {
  std::lock_guard lock(run.mu);
  const auto it = run.leases.find(host);
  if (it == run.leases.end()) return;
  try {
    locks_.Release(it->second.lease);
  } catch (const std::exception& e) {
    core::Logger("worker")->warn("host {}: lease not released ({}); it expires", host, e.what());
  }
  run.leases.erase(it);
}

void WorkerPool::Execute(const ClaimedCommand& claimed) {
  const auto log = core::Logger("worker");
  auto run = std::make_shared<ActiveRun>();
  run->command = claimed.command;
  run->claim = claimed.claim;
  const Command& command = run->command;
  const auto op = command.operation;
  {
    std::lock_guard lock(mu_);
    active_[command.id] = run;
  }
  const auto started = std::chrono::steady_clock::now();
  log->info("{} command {} of deployment {} batch {} generation {} ({} host(s), claim {})",
            claimed.resumed ? "resuming" : "running", command.id, command.deployment_id.Value(),
            command.batch_index.Value(), command.generation.Value(), command.targets.size(),
            run->claim);

  auto forget = [&] {
    std::vector<std::string> hosts;
    {
      std::lock_guard lock(run->mu);
      for (const auto& [host, held] : run->leases) hosts.push_back(host);
    }
    for (const auto& h : hosts) ReleaseHostLease(*run, h);
    std::lock_guard lock(mu_);
    active_.erase(command.id);
  };
  auto give_back = [&](std::string_view why) {
    if (run->lost) return;
    try {
      // On shutdown another replica may take it at once; otherwise pause, so a host that
      // cannot be driven now does not make the command spin.
      const auto delay = Stopping() ? 0ms : options_.poll * 10;
      deps_.db.WithTransaction([&](pqxx::work& tx) {
        return CommandRepository::Release(tx, command.id, run->claim, delay);
      });
      log->info("command {} given back ({}); the next claim resumes it", command.id, why);
    } catch (const std::exception& e) {
      log->warn("command {} not given back ({}); its lease expires", command.id, e.what());
    }
  };

  try {
    // The records of an earlier claim of this command: the runner resumes from them.
    std::map<std::string, InstanceRecord> prior;
    std::set<std::string> hosts;
    for (const auto& t : command.targets) hosts.insert(t.host);
    const auto records = deps_.db.WithTransaction([&](pqxx::work& tx) {
      return InstanceRecordRepository::ListDeployment(tx, command.deployment_id);
    });
    for (const auto& r : records) {
      if (r.generation != command.generation || !hosts.contains(r.host)) continue;
      if (r.batch_index.Value() != BatchIndexFor(command, r.host)) continue;
      prior[r.host] = r;
    }

    DriverRegistry registry;
    const auto service = ServiceFor(command, options_.default_service);
    if (service || op == BatchOperation::kRevert) {
      AgentDriverConfig config = options_.agent;
      if (service) config.service = *service;
      const core::Clock& clock = deps_.clock;
      registry.Register(std::string(kDriverAgent),
                        [config, &clock] { return std::make_unique<AgentDriver>(config, clock); });
    } else {
      registry.Register(std::string(kDriverAgent), [] {
        return std::make_unique<FailingDriver>(
            std::string(kReasonNoServiceConfig),
            "the batch carries no service block and SLUICE_EXECUTOR_RESTART_COMMAND is not set");
      });
    }
    RoutingDriver routing(registry);
    LeasedDriver driver(routing, *run);
    SystemSleeper sleeper;
    BatchRunner runner({driver, deps_.clock, sleeper});

    BatchHooks hooks;
    hooks.cancelled = [&] { return Cancelled(*run); };
    hooks.on_host_started = [&](const HostTarget& host, std::uint32_t attempt) {
      // Must not throw: a host whose start cannot be recorded is simply not driven.
      try {
        if (!EnsureHostLease(*run, host.host)) return;
        const auto record =
            StartedRecord(command, host, attempt, core::ToUnixMillis(deps_.clock.Now()));
        std::int64_t token = 0;
        for (bool retaken = false;; retaken = true) {
          {
            std::lock_guard lock(run->mu);
            token = run->leases.at(host.host).lease.token.Value();
          }
          std::optional<std::int64_t> fence;  // the stored fence, when above this lease
          const bool written = deps_.db.WithTransaction([&](pqxx::work& tx) {
            if (!CommandRepository::HoldsShared(tx, command.id, run->claim)) {
              run->lost = true;
              return false;
            }
            if (!CommandRepository::AdvanceHostFence(tx, host.host, token)) {
              fence = CommandRepository::HostFence(tx, host.host);
              return false;
            }
            if (op == BatchOperation::kRevert) {
              // A revert never touches a host that another deployment deployed since: an older
              // deployment's rollback must not switch a host under a newer one.
              if (const auto owner = InstanceRecordRepository::RevertRefusedBy(
                      tx, host.host, command.deployment_id)) {
                log->warn("host {}: deployment {} deployed it after {}; revert refused", host.host,
                          owner->Value(), command.deployment_id.Value());
                std::lock_guard lock(run->mu);
                run->owned_elsewhere[host.host] = owner->Value();
                return true;
              }
            } else {
              InstanceRecordRepository::ClaimHost(tx, host.host, command.deployment_id,
                                                  command.generation, record.updated_at_ms);
            }
            InstanceRecordRepository::Upsert(tx, record);
            return true;
          });
          if (written) return;
          // This run holds the host's lease, yet a higher token wrote for the host: Redis lost
          // its counters (a flush, a new instance, another lock prefix). Taking the lease again
          // with a token above the stored one is what enough retries would reach; do it now.
          if (retaken || run->lost || !fence || !RetakeHostLease(*run, host.host, *fence)) break;
          log->warn("host {}: token {} is below the stored fence {}; lease taken again above it",
                    host.host, token, *fence);
        }
        std::lock_guard lock(run->mu);
        run->fenced.insert(host.host);
        if (!run->lost) {
          log->warn("host {}: a newer lease holder wrote first (token {}); not driven", host.host,
                    token);
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(run->mu);
        run->fenced.insert(host.host);
        log->warn("host {}: start not recorded ({}); not driven in this run", host.host, e.what());
      }
    };
    // The hosts that finished while the previous group was written: one transaction records
    // them all (and their InstanceDeploymentUpdated events), so a wide batch does not run one
    // transaction (and one commit) per host.
    hooks.on_host_results = [&](const std::vector<HostResult>& results) {
      std::vector<const HostResult*> driven;
      std::map<std::string, std::int64_t> tokens;
      for (const auto& result : results) {
        const std::string& host = result.host.host;
        if (result.outcome.reason == kReasonNotDriven || !EnsureHostLease(*run, host)) {
          run->incomplete = true;
          continue;
        }
        std::lock_guard lock(run->mu);
        tokens[host] = run->leases.at(host).lease.token.Value();
        driven.push_back(&result);
      }
      if (driven.empty()) return;
      const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
      std::vector<InstanceRecord> written;
      std::vector<events::v1::Envelope> updates;
      for (const HostResult* result : driven) {
        written.push_back(ResultRecord(command, *result, now_ms));
        updates.push_back(InstanceEnvelope(deps_.clock, written.back()));
      }
      deps_.db.WithTransaction([&](pqxx::work& tx) {
        if (!CommandRepository::HoldsShared(tx, command.id, run->claim)) {
          run->lost = true;
          throw ClaimLost("command " + std::to_string(command.id) + " was claimed again");
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
      for (std::size_t i = 0; i < driven.size(); ++i) {
        const HostResult& result = *driven[i];
        const InstanceRecord& record = written[i];
        if (deps_.metrics != nullptr) deps_.metrics->HostOutcome(op, result.outcome.kind);
        log->info("host {} {}: {}{}", record.host, ToString(record.status),
                  ToString(result.outcome.kind),
                  record.error_message.empty() ? "" : " (" + record.error_message + ")");
        ReleaseHostLease(*run, record.host);
      }
    };

    const BatchResult result = runner.Run(ToBatchCommand(command, options_.retry), hooks, prior);

    if (run->lost) {
      log->warn("command {}: claim lost to another worker; its result is theirs to report",
                command.id);
    } else if (run->incomplete || (result.status == BatchStatus::kCancelled && !run->superseded)) {
      give_back(Stopping() ? "shutting down" : "some hosts were not driven");
    } else {
      const Completion completion = CompletionOf(result, !command.unresolved.empty());
      const bool finished = deps_.db.WithTransaction([&](pqxx::work& tx) {
        if (!CommandRepository::Holds(tx, command.id, run->claim)) return false;
        const auto now_ms = core::ToUnixMillis(deps_.clock.Now());
        for (const auto& u : command.unresolved) {
          const auto record = UnresolvedRecord(command, u, now_ms);
          InstanceRecordRepository::Upsert(tx, record);
          PublishInstance(tx, deps_.clock, record);
        }
        auto closing = events::NewEnvelope(kServiceName, deps_.clock);
        if (FillClosingEvent(command, result, closing)) eventbus::Publish(tx, std::move(closing));
        return CommandRepository::Finish(tx, command.id, run->claim, completion.result,
                                         completion.reason);
      });
      if (!finished) {
        log->warn("command {}: claim lost before its result was written", command.id);
      } else {
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
        if (deps_.metrics != nullptr) deps_.metrics->BatchDuration(op, completion.result, took);
        log->info(
            "command {} of deployment {} batch {} generation {} {}{}: {} succeeded, {} failed, "
            "{} not started, {} unresolved",
            command.id, command.deployment_id.Value(), command.batch_index.Value(),
            command.generation.Value(), completion.result,
            completion.reason.empty() ? "" : " (" + completion.reason + ")",
            result.succeeded_hosts.size(), result.failed_hosts.size(),
            result.not_started_hosts.size(), command.unresolved.size());
      }
    }
  } catch (const std::exception& e) {
    log->error("command {} of deployment {} stopped: {}", command.id, command.deployment_id.Value(),
               e.what());
    give_back("an error stopped the run");
  }
  forget();
}

// ---- read API ------------------------------------------------------------------------------

void MountExecutorApi(http::Server& server, pg::Database& db) {
  server.Get(R"(/v1/deployments/([^/]+)/instances)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const core::DeploymentId id(req.matches[1]);
               const auto [records, known] = db.WithTransaction([&](pqxx::work& tx) {
                 auto r = InstanceRecordRepository::ListDeployment(tx, id);
                 const bool k = !r.empty() || !CommandRepository::ListRows(tx, id).empty();
                 return std::make_pair(std::move(r), k);
               });
               if (!known) {
                 throw http::NotFound("deployment " + id.Value() + " is unknown to the executor");
               }
               json items = json::array();
               for (const auto& r : records) items.push_back(RecordJson(r));
               http::WriteJson(res, 200, {{"instances", items}});
             });
  server.Get(R"(/v1/deployments/([^/]+)/commands)", [&db](const httplib::Request& req,
                                                          httplib::Response& res) {
    const core::DeploymentId id(req.matches[1]);
    const auto rows =
        db.WithTransaction([&](pqxx::work& tx) { return CommandRepository::ListRows(tx, id); });
    if (rows.empty()) {
      throw http::NotFound("deployment " + id.Value() + " is unknown to the executor");
    }
    json items = json::array();
    for (const auto& r : rows) items.push_back(CommandJson(r));
    http::WriteJson(res, 200, {{"commands", items}});
  });
}

}  // namespace sluice::executor
