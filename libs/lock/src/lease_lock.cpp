#include <sluice/lock/lease_lock.hpp>
#include <string>

namespace sluice::lock {
namespace {

// KEYS[1] lock key, KEYS[2] fence key; ARGV[1] owner, ARGV[2] ttl ms, ARGV[3] the lowest
// token to hand out minus one. The token is taken and the key set in one step, so tokens follow
// acquisition order even across expiries.
constexpr const char* kAcquireScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3])
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return token
)lua";

// KEYS[1] lock key; ARGV[1] the lease's value, ARGV[2] ttl ms.
constexpr const char* kRenewScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
)lua";

// KEYS[1] lock key; ARGV[1] the lease's value.
constexpr const char* kReleaseScript = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
)lua";

std::string LeaseValue(const Lease& lease) {
  return std::to_string(lease.token.Value()) + ":" + lease.owner;
}

void CheckNotError(const RedisReply& reply, const char* what) {
  if (reply.IsError()) {
    throw RedisUnavailable(std::string("Redis refused the ") + what + " script: " + reply.str);
  }
}

void CheckTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) throw std::invalid_argument("lease ttl must be positive");
}

}  // namespace

LeaseLock::LeaseLock(RedisClient& redis, const core::Clock& clock, std::string key_prefix)
    : redis_(redis), clock_(clock), prefix_(std::move(key_prefix)) {}

std::string LeaseLock::KeyFor(std::string_view name) const { return prefix_ + std::string(name); }

std::string LeaseLock::FenceKeyFor(std::string_view name) const {
  return prefix_ + "fence:" + std::string(name);
}

std::optional<Lease> LeaseLock::TryAcquire(std::string_view name, std::string_view owner,
                                           std::chrono::milliseconds ttl,
                                           core::FencingToken above) {
  CheckTtl(ttl);
  const auto started = clock_.Monotonic();
  const auto reply = redis_.Command({"EVAL", kAcquireScript, "2", KeyFor(name), FenceKeyFor(name),
                                     std::string(owner), std::to_string(ttl.count()),
                                     std::to_string(above.Value())});
  CheckNotError(reply, "acquire");
  if (reply.type != RedisReply::Type::kInteger) return std::nullopt;  // held: nil
  return Lease{std::string(name), std::string(owner), core::FencingToken(reply.integer),
               started + ttl};
}

bool LeaseLock::Renew(Lease& lease, std::chrono::milliseconds ttl) {
  CheckTtl(ttl);
  const auto started = clock_.Monotonic();
  const auto reply = redis_.Command({"EVAL", kRenewScript, "1", KeyFor(lease.name),
                                     LeaseValue(lease), std::to_string(ttl.count())});
  CheckNotError(reply, "renew");
  if (reply.type != RedisReply::Type::kInteger || reply.integer != 1) return false;
  lease.expires_at = started + ttl;
  return true;
}

bool LeaseLock::Release(const Lease& lease) {
  const auto reply =
      redis_.Command({"EVAL", kReleaseScript, "1", KeyFor(lease.name), LeaseValue(lease)});
  CheckNotError(reply, "release");
  return reply.type == RedisReply::Type::kInteger && reply.integer == 1;
}

}  // namespace sluice::lock
