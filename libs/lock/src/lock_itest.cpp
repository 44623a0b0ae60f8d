// Integration tests against the real Redis of the local stack (scripts/stack.sh up).
// Every test uses keys under a random prefix, deleted at the end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sluice/core/ids.hpp>
#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <thread>

namespace sluice::lock {
namespace {

using namespace std::chrono_literals;

std::string RedisUrl() {
  const char* env = std::getenv("SLUICE_REDIS_URL");
  return env && *env ? env : "redis://127.0.0.1:16379/0";
}

class LockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisConfig config;
    config.url = RedisUrl();
    redis_ = std::make_unique<RedisClient>(config);
    ASSERT_TRUE(redis_->Ping()) << "Redis is not reachable at SLUICE_REDIS_URL (" << config.url
                                << "); start it with `bash scripts/stack.sh up`";
    prefix_ = "itest:" + core::NewUuid() + ":";
  }

  void TearDown() override {
    if (!redis_) return;
    try {
      const auto keys = redis_->Command({"KEYS", prefix_ + "*"});
      for (const auto& key : keys.elements) redis_->Command({"DEL", key.str});
    } catch (const std::exception&) {
    }
  }

  int64_t Pttl(const std::string& key) { return redis_->Command({"PTTL", key}).integer; }

  std::unique_ptr<RedisClient> redis_;
  std::string prefix_;
};

TEST_F(LockTest, AcquireThenSecondOwnerIsRefused) {
  core::testing::ManualClock clock;
  LeaseLock lock(*redis_, clock, prefix_);
  const auto lease = lock.TryAcquire("deployment:d1", "planner-a", 10s);
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->name, "deployment:d1");
  EXPECT_EQ(lease->owner, "planner-a");
  EXPECT_GE(lease->token.Value(), 1);
  EXPECT_EQ(lease->expires_at, clock.Monotonic() + 10s);
  EXPECT_GT(Pttl(lock.KeyFor("deployment:d1")), 9000);

  EXPECT_FALSE(lock.TryAcquire("deployment:d1", "planner-b", 10s).has_value());
  // Even the same owner cannot take it twice: a second acquisition is a second lease.
  EXPECT_FALSE(lock.TryAcquire("deployment:d1", "planner-a", 10s).has_value());
  // Another name is independent.
  EXPECT_TRUE(lock.TryAcquire("deployment:d2", "planner-b", 10s).has_value());
}

TEST_F(LockTest, TokenStrictlyIncreasesAcrossAcquisitions) {
  LeaseLock lock(*redis_, core::SystemClock::Instance(), prefix_);
  int64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const auto lease = lock.TryAcquire("x", i % 2 ? "a" : "b", 10s);
    ASSERT_TRUE(lease.has_value());
    EXPECT_GT(lease->token.Value(), last);
    last = lease->token.Value();
    ASSERT_TRUE(lock.Release(*lease));
  }
}

// After Redis lost its counters, a holder can ask for a token above the one stored with the
// protected state; the counter never goes back down.
TEST_F(LockTest, TokenAboveAFloorAndNeverBelowTheCounter) {
  LeaseLock lock(*redis_, core::SystemClock::Instance(), prefix_);
  auto lease = lock.TryAcquire("x", "a", 10s);
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->token.Value(), 1);
  // Held: no token at all, whatever the floor.
  EXPECT_FALSE(lock.TryAcquire("x", "b", 10s, core::FencingToken(40)).has_value());
  ASSERT_TRUE(lock.Release(*lease));
  lease = lock.TryAcquire("x", "a", 10s, core::FencingToken(40));
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->token.Value(), 41);
  ASSERT_TRUE(lock.Release(*lease));
  // A floor below the counter changes nothing.
  lease = lock.TryAcquire("x", "a", 10s, core::FencingToken(7));
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->token.Value(), 42);
}

TEST_F(LockTest, ReleaseByNonOwnerIsRefused) {
  LeaseLock lock(*redis_, core::SystemClock::Instance(), prefix_);
  const auto lease = lock.TryAcquire("x", "a", 10s);
  ASSERT_TRUE(lease.has_value());
  Lease forged = *lease;
  forged.owner = "b";
  EXPECT_FALSE(lock.Release(forged));
  Lease stale = *lease;
  stale.token = core::FencingToken(lease->token.Value() - 1);  // an earlier lease of "a"
  EXPECT_FALSE(lock.Release(stale));
  EXPECT_FALSE(lock.TryAcquire("x", "b", 10s).has_value());  // still held
  EXPECT_TRUE(lock.Release(*lease));
  EXPECT_FALSE(lock.Release(*lease));  // already gone
  EXPECT_TRUE(lock.TryAcquire("x", "b", 10s).has_value());
}

TEST_F(LockTest, ExpiryLetsAnotherOwnerInWithAHigherToken) {
  LeaseLock lock(*redis_, core::SystemClock::Instance(), prefix_);
  auto first = lock.TryAcquire("x", "a", 100ms);
  ASSERT_TRUE(first.has_value());
  std::this_thread::sleep_for(250ms);
  EXPECT_FALSE(lock.Held(*first));
  const auto second = lock.TryAcquire("x", "b", 10s);
  ASSERT_TRUE(second.has_value());
  EXPECT_GT(second->token.Value(), first->token.Value());
  // The paused former holder wakes up: it can neither renew nor release the new lease.
  EXPECT_FALSE(lock.Renew(*first, 10s));
  EXPECT_FALSE(lock.Release(*first));
  EXPECT_FALSE(lock.TryAcquire("x", "a", 10s).has_value());
  // Even the same owner name re-acquiring does not make an old lease valid again.
  ASSERT_TRUE(lock.Release(*second));
  const auto third = lock.TryAcquire("x", "a", 10s);
  ASSERT_TRUE(third.has_value());
  EXPECT_FALSE(lock.Release(*first));
  EXPECT_TRUE(lock.Release(*third));
}

TEST_F(LockTest, RenewExtendsOnlyForTheOwner) {
  core::testing::ManualClock clock;
  LeaseLock lock(*redis_, clock, prefix_);
  auto lease = lock.TryAcquire("x", "a", 2s);
  ASSERT_TRUE(lease.has_value());
  const auto key = lock.KeyFor("x");
  EXPECT_LE(Pttl(key), 2000);

  Lease other = *lease;
  other.owner = "b";
  EXPECT_FALSE(lock.Renew(other, 60s));
  EXPECT_LE(Pttl(key), 2000);
  EXPECT_EQ(other.expires_at, lease->expires_at);

  clock.Advance(1s);
  EXPECT_TRUE(lock.Held(*lease));
  EXPECT_TRUE(lock.Renew(*lease, 60s));
  EXPECT_GT(Pttl(key), 50'000);
  EXPECT_EQ(lease->expires_at, clock.Monotonic() + 60s);
  clock.Advance(61s);
  EXPECT_FALSE(lock.Held(*lease));
}

TEST_F(LockTest, ClientReconnectsAfterItsConnectionIsKilled) {
  const auto id = redis_->Command({"CLIENT", "ID"}).integer;
  RedisConfig config;
  config.url = RedisUrl();
  RedisClient admin(config);
  const auto killed = admin.Command({"CLIENT", "KILL", "ID", std::to_string(id)});
  ASSERT_EQ(killed.integer, 1) << killed.str;
  // The first command may find the dead socket (and throws RedisUnavailable); the next one
  // reconnects.
  bool ok = redis_->Ping() || redis_->Ping();
  EXPECT_TRUE(ok);
  EXPECT_NE(redis_->Command({"CLIENT", "ID"}).integer, id);
}

TEST(LockUnavailable, ClosedPortIsRedisUnavailable) {
  RedisConfig config;
  config.url = "redis://127.0.0.1:1/0";
  config.timeout = 500ms;
  RedisClient redis(config);
  EXPECT_FALSE(redis.Ping());
  EXPECT_THROW(redis.Command({"PING"}), RedisUnavailable);
  LeaseLock lock(redis, core::SystemClock::Instance());
  EXPECT_THROW(lock.TryAcquire("x", "a", 1s), RedisUnavailable);
}

}  // namespace
}  // namespace sluice::lock
