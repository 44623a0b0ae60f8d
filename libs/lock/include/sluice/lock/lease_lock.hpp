#pragma once

#include <chrono>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/lock/redis_client.hpp>
#include <string>
#include <string_view>

namespace sluice::lock {

// A held lease. The token increases with every acquisition of the name, whoever acquires it:
// a protected Postgres write carries it in its WHERE clause, so a holder whose lease expired
// (paused process, slow network) cannot overwrite the work of the next one.
struct Lease {
  std::string name;
  std::string owner;
  core::FencingToken token;
  core::MonotonicTime expires_at;  // local estimate, measured from before the request was sent
};

// Leases in Redis (DESIGN.md invariant 7): they only prevent duplicate work; Postgres, with
// the fencing token, stays the authority.
class LeaseLock {
 public:
  LeaseLock(RedisClient& redis, const core::Clock& clock, std::string key_prefix = "sluice:lock:");

  // Atomically (one Lua script): if "<prefix><name>" is free, INCR "<prefix>fence:<name>"
  // and SET the key to "<token>:<owner>" with PX ttl. nullopt when someone holds it.
  // The token is above `above`: after Redis lost its counters (a flush, a new instance), the
  // holder that finds a higher token stored with the protected state asks for a token above it
  // instead of being refused until the counter gets there. Throws RedisUnavailable.
  std::optional<Lease> TryAcquire(std::string_view name, std::string_view owner,
                                  std::chrono::milliseconds ttl,
                                  core::FencingToken above = core::FencingToken(0));

  // Extends the lease to ttl from now, only if this exact lease (owner and token) still
  // holds the key; updates lease.expires_at. False when it was lost.
  bool Renew(Lease& lease, std::chrono::milliseconds ttl);

  // Deletes the key only if this exact lease still holds it (compare-and-delete).
  bool Release(const Lease& lease);

  // True while the local estimate says the lease has not expired. Act only while Held, and
  // still carry the token into the Postgres write.
  bool Held(const Lease& lease) const { return clock_.Monotonic() < lease.expires_at; }

  std::string KeyFor(std::string_view name) const;
  std::string FenceKeyFor(std::string_view name) const;

 private:
  RedisClient& redis_;
  const core::Clock& clock_;
  const std::string prefix_;
};

}  // namespace sluice::lock
