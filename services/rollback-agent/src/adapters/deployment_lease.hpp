#pragma once

// The Redis lease a rollback trigger takes on its deployment (DESIGN.md invariant 7) before its
// transaction opens (invariant 9): it only keeps two replicas from working out the same rollback
// at once. PostgreSQL decides: the rollback row is unique per (deployment, generation), and the
// lease's fencing token is written in the same transaction (rollback_fences), so a holder whose
// lease expired while it was paused writes nothing.

#include <chrono>
#include <memory>
#include <sluice/core/clock.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <string>

namespace sluice::rollback {

// A lease held for one event; it is released (compare-and-delete) when the last copy goes.
using HeldLease = std::shared_ptr<const lock::Lease>;

struct DeploymentLeaseOptions {
  std::string owner;  // lease owner id of this process
  std::chrono::milliseconds ttl{30000};
  std::chrono::milliseconds wait{2000};  // wait for another holder before going ahead
};

class DeploymentLeases {
 public:
  // `locks` null: no Redis lease (the unique row still decides).
  DeploymentLeases(lock::LeaseLock* locks, const core::Clock& clock,
                   DeploymentLeaseOptions options);

  // Takes the deployment's lease, waiting up to options.wait while another holder keeps it.
  // Call it with no transaction open. Null when there is no Redis, Redis fails, or the wait
  // ran out: the caller goes ahead unleased and the unique rollback row decides.
  HeldLease Acquire(const std::string& deployment_id) const;

 private:
  lock::LeaseLock* locks_;
  const core::Clock& clock_;
  DeploymentLeaseOptions options_;
};

}  // namespace sluice::rollback
