#pragma once

// One claimed command run to its end. The claim (the command row's lease, taken in its own
// transaction by the worker pool) guards every write; each host's Redis lease is taken and
// every agent call made with no transaction open (DESIGN.md invariant 9); a host's start, the
// hosts' results and the closing event are written in short transactions that check the claim
// and carry each host's fencing token (invariant 7).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <sluice/core/clock.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "batch_runner.hpp"
#include "command.hpp"
#include "executor_metrics.hpp"
#include "instance_record.hpp"

namespace sluice::executor {

struct WorkerPoolOptions;

struct HostLease {
  lock::Lease lease;
  bool lost = false;  // a renewal failed: the token still fences writes, no new call starts
};

// The state of one command being run, shared with the pool's lease keeper.
struct ActiveRun {
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

// What a run asks of the pool that runs it.
class RunControl {
 public:
  virtual ~RunControl() = default;
  // Waits until the host's lease is held by `run`; false when the run must stop instead.
  virtual bool EnsureHostLease(ActiveRun& run, const std::string& host) = 0;
  virtual void ReleaseHostLease(ActiveRun& run, const std::string& host) = 0;
  // Releases the run's lease on `host` and takes it again with a token above `above`; false
  // when another holder took it in between.
  virtual bool RetakeHostLease(ActiveRun& run, const std::string& host, std::int64_t above) = 0;
  // True once the run must start no new host (stopping, claim lost, newer generation).
  virtual bool Cancelled(ActiveRun& run) = 0;
  virtual bool Stopping() const = 0;
};

struct CommandRunDeps {
  pg::Database& db;
  const core::Clock& clock;
  ExecutorMetrics* metrics;  // may be null
  RunControl& control;
};

class CommandRun {
 public:
  CommandRun(CommandRunDeps deps, const WorkerPoolOptions& options, ActiveRun& run);

  // Runs the command's hosts and closes it (its closing event published and the command marked
  // done in one transaction), or gives it back for the next claim. Never throws.
  void Run(bool resumed);

 private:
  // The records of an earlier claim of this command: the runner resumes from them.
  std::map<std::string, InstanceRecord> PriorRecords() const;
  void RegisterDrivers(DriverRegistry& registry) const;
  void OnHostStarted(const HostTarget& host, std::uint32_t attempt);
  // The start record, written only while the claim holds and the host's token is not below its
  // fence; `fence` is set to the stored fence when it is above `token`.
  bool WriteStart(const HostTarget& host, const InstanceRecord& record, std::int64_t token,
                  std::optional<std::int64_t>& fence);
  void OnHostResults(const std::vector<HostResult>& results);
  void Finish(const BatchResult& result);
  void GiveBack(std::string_view why);

  CommandRunDeps deps_;
  const WorkerPoolOptions& options_;
  ActiveRun& run_;
  const Command& command_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace sluice::executor
