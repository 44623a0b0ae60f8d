#pragma once

// The executor's scheduled work: a pool of workers that claim accepted commands (a lease on the
// command row, in its own transaction) and run each as a CommandRun, and a keeper that renews
// the claims and the hosts' Redis leases of the runs in flight.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/agent_driver.hpp"
#include "adapters/kubernetes_driver.hpp"
#include "adapters/ssh_driver.hpp"
#include "artifact_access.hpp"
#include "command.hpp"
#include "command_repository.hpp"
#include "command_run.hpp"
#include "executor_metrics.hpp"

namespace sluice::executor {

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
  // Key, known_hosts, user, port and release root of agentless (ssh) hosts; its `service` is
  // set per command.
  SshDriverConfig ssh;
  // The clusters Kubernetes targets name (credentials loaded at start-up) and the workload
  // operations' options.
  KubernetesDriverConfig kubernetes;
  // The service block sent when a BatchRequested carries none; nullopt: such a batch fails
  // with no_service_config.
  std::optional<AgentServiceSpec> default_service;
  RetryPolicy retry;
  // Where s3:// artifacts live and the key that presigns them for agent and ssh hosts;
  // nullopt: such artifacts are refused with s3_not_configured (artifact_access.hpp).
  std::optional<S3Settings> s3;
};

class WorkerPool final : public core::Component, private RunControl {
 public:
  WorkerPool(WorkerPoolDeps deps, WorkerPoolOptions options);
  ~WorkerPool() override;
  std::string_view Name() const override { return "workers"; }
  void Start() override;
  // Hosts in flight finish; commands not finished are given back (their lease ends now) and
  // resumed by the next claim.
  void Stop() override;

 private:
  void WorkerLoop(int index);
  void KeeperLoop();
  // Renews the run's claim and its hosts' leases; marks what was lost.
  void Renew(ActiveRun& run);
  void Execute(const ClaimedCommand& claimed);
  // Gives back the run's host leases and forgets the run.
  void Forget(ActiveRun& run);

  // RunControl
  bool EnsureHostLease(ActiveRun& run, const std::string& host) override;
  void ReleaseHostLease(ActiveRun& run, const std::string& host) override;
  bool RetakeHostLease(ActiveRun& run, const std::string& host, std::int64_t above) override;
  bool Cancelled(ActiveRun& run) override;
  bool Stopping() const override { return stopping_.load(); }

  WorkerPoolDeps deps_;
  WorkerPoolOptions options_;
  lock::LeaseLock locks_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::int64_t, std::shared_ptr<ActiveRun>> active_;  // guarded by mu_
  std::vector<std::thread> threads_;                           // last: joined first
};

}  // namespace sluice::executor
