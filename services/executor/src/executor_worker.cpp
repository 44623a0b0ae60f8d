#include "executor_worker.hpp"

#include <sluice/core/logging.hpp>

namespace sluice::executor {

using namespace std::chrono_literals;

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
  const auto interval = std::max<std::chrono::milliseconds>(
      std::min(options_.command_lease, options_.host_lock_ttl) / 3, 50ms);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval, [this] { return stopping_.load(); });
    std::vector<std::shared_ptr<ActiveRun>> runs;
    for (const auto& [id, run] : active_) runs.push_back(run);
    lock.unlock();
    for (const auto& run : runs) Renew(*run);
    lock.lock();
  }
}

void WorkerPool::Renew(ActiveRun& run) {
  const auto log = core::Logger("keeper");
  try {
    const bool held = deps_.db.WithTransaction([&](pqxx::work& tx) {
      return CommandRepository::Renew(tx, run.command.id, run.claim, options_.command_lease);
    });
    if (!held && !run.lost.exchange(true)) {
      log->warn("command {} of deployment {}: lease lost to another worker; this run stops",
                run.command.id, run.command.deployment_id.Value());
    }
  } catch (const std::exception& e) {
    log->warn("command {}: lease renewal failed: {}", run.command.id, e.what());
  }
  std::lock_guard run_lock(run.mu);
  for (auto& [host, held] : run.leases) {
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
  auto run = std::make_shared<ActiveRun>();
  run->command = claimed.command;
  run->claim = claimed.claim;
  {
    std::lock_guard lock(mu_);
    active_[run->command.id] = run;
  }
  CommandRun({deps_.db, deps_.clock, deps_.metrics, *this}, options_, *run).Run(claimed.resumed);
  Forget(*run);
}

void WorkerPool::Forget(ActiveRun& run) {
  std::vector<std::string> hosts;
  {
    std::lock_guard lock(run.mu);
    for (const auto& [host, held] : run.leases) hosts.push_back(host);
  }
  for (const auto& h : hosts) ReleaseHostLease(run, h);
  std::lock_guard lock(mu_);
  active_.erase(run.command.id);
}

}  // namespace sluice::executor
