#include "deployment_lease.hpp"

#include <sluice/core/logging.hpp>
#include <thread>

namespace sluice::rollback {

using namespace std::chrono_literals;

DeploymentLeases::DeploymentLeases(lock::LeaseLock* locks, const core::Clock& clock,
                                   DeploymentLeaseOptions options)
    : locks_(locks), clock_(clock), options_(std::move(options)) {}

HeldLease DeploymentLeases::Acquire(const std::string& deployment_id) const {
  if (locks_ == nullptr) return nullptr;
  const auto log = core::Logger("trigger");
  const auto deadline = clock_.Monotonic() + options_.wait;
  while (true) {
    try {
      if (auto lease = locks_->TryAcquire(deployment_id, options_.owner, options_.ttl)) {
        lock::LeaseLock* locks = locks_;
        return HeldLease(new lock::Lease(std::move(*lease)), [locks](const lock::Lease* held) {
          try {
            locks->Release(*held);
          } catch (const std::exception&) {
            // It expires.
          }
          delete held;
        });
      }
    } catch (const std::exception& e) {
      // Losing Redis only costs the duplicate-work guard: the unique row still decides.
      log->warn("deployment {}: Redis lease not taken ({}); the unique rollback row decides",
                deployment_id, e.what());
      return nullptr;
    }
    if (clock_.Monotonic() >= deadline) {
      log->warn(
          "deployment {}: the rollback lease is held elsewhere after {} ms; going ahead, "
          "the unique rollback row decides",
          deployment_id, options_.wait.count());
      return nullptr;
    }
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace sluice::rollback
