#pragma once

// The executor's plumbing: accepting commands inside the consumer's transaction, the worker
// pool that runs them (per-host Redis leases with fencing tokens, records and events written
// in one transaction per host, the closing event with the command marked done), and the read
// API.

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/server.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "agent_driver.hpp"
#include "command.hpp"
#include "command_repository.hpp"

namespace sluice::executor {

inline constexpr std::string_view kServiceName = "executor";

// Counters and the batch duration histogram, registered once per process.
class ExecutorMetrics {
 public:
  explicit ExecutorMetrics(prometheus::Registry& registry);
  // outcome: "accepted", "refused", "duplicate".
  void Command(BatchOperation op, std::string_view outcome);
  void HostOutcome(BatchOperation op, OutcomeKind kind);
  void BatchDuration(BatchOperation op, std::string_view result, std::chrono::duration<double> d);

 private:
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Counter>& hosts_;
  prometheus::Family<prometheus::Histogram>& durations_;
};

// What AcceptCommand did with an event.
enum class Intake { kAccepted, kDuplicate, kRefusedStale, kIgnored };
std::string_view ToString(Intake i);

// A BatchRequested or RevertRequested: the events the executor's consumer acts on.
bool IsCommand(const events::v1::Envelope& envelope);

// Inside the consumer's transaction (the inbox already holds the event id): a BatchRequested or
// RevertRequested becomes an accepted command unless its generation is lower than the highest
// the deployment has seen (then it is recorded as refused, reason stale_generation). Other
// payloads are ignored. `metrics` may be null.
Intake AcceptCommand(pqxx::work& tx, const events::v1::Envelope& envelope,
                     const CommandDefaults& defaults, ExecutorMetrics* metrics);

struct WorkerPoolDeps {
  pg::Database& db;
  lock::RedisClient& redis;
  const core::Clock& clock;
  ExecutorMetrics* metrics;  // may be null
};

struct WorkerPoolOptions {
  int workers = 4;
  std::chrono::milliseconds poll{500};  // idle wait between claims
  std::chrono::milliseconds command_lease{30'000};
  std::chrono::milliseconds host_lock_ttl{30'000};
  // How often a running command asks whether a newer generation was accepted.
  std::chrono::milliseconds cancel_check{1'000};
  std::string owner;  // lease owner id of this process
  std::string lock_prefix = "sluice:host:";
  // Token, TLS files and default port of every agent; its `service` is unused (see below).
  AgentDriverConfig agent;
  // The service block sent when a BatchRequested carries none; nullopt: such a batch fails
  // with no_service_config.
  std::optional<AgentServiceSpec> default_service;
  RetryPolicy retry;
};

class WorkerPool final : public core::Component {
 public:
  WorkerPool(WorkerPoolDeps deps, WorkerPoolOptions options);
  ~WorkerPool() override;
  std::string_view Name() const override { return "workers"; }
  void Start() override;
  // Hosts in flight finish; commands not finished are given back (their lease ends now) and
  // resumed by the next claim.
  void Stop() override;

  struct ActiveRun;  // one command being run (defined in the .cpp)

 private:
  void WorkerLoop(int index);
  void KeeperLoop();
  void Execute(const ClaimedCommand& claimed);
  // Waits until the host's lease is held by `run`; false when the run must stop instead.
  bool EnsureHostLease(ActiveRun& run, const std::string& host);
  void ReleaseHostLease(ActiveRun& run, const std::string& host);
  // Releases the run's lease on `host` and takes it again with a token above `above`; false
  // when another holder took it in between.
  bool RetakeHostLease(ActiveRun& run, const std::string& host, std::int64_t above);
  bool Cancelled(ActiveRun& run);
  bool Stopping() const { return stopping_.load(); }

  WorkerPoolDeps deps_;
  WorkerPoolOptions options_;
  lock::LeaseLock locks_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::int64_t, std::shared_ptr<ActiveRun>> active_;  // guarded by mu_
  std::vector<std::thread> threads_;                           // last: joined first
};

// GET /v1/deployments/{id}/instances and GET /v1/deployments/{id}/commands.
void MountExecutorApi(http::Server& server, pg::Database& db);

}  // namespace sluice::executor
