#pragma once

// Where the tests find the local stack (`bash scripts/stack.sh up`): the SLUICE_* variable
// when set, else the stack's loopback default. And a poll-until helper. Used only by tests.

#include <chrono>
#include <string>
#include <thread>

#include "sluice/testing/process.hpp"

namespace sluice::testing {

inline std::string PgDsn() {
  return EnvOr("SLUICE_PG_DSN", "postgresql://sluice:sluice@127.0.0.1:15432/sluice");
}
inline std::string KafkaBrokers() { return EnvOr("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092"); }
inline std::string RedisUrl() { return EnvOr("SLUICE_REDIS_URL", "redis://127.0.0.1:16379/0"); }
inline std::string PrometheusUrl() {
  return EnvOr("SLUICE_PROMETHEUS_URL", "http://127.0.0.1:19090");
}

// The service token the tests start every internal API with (SLUICE_SERVICE_TOKEN) and send
// to it as "Authorization: Bearer"; release-intake sends it to the stand-ins of those APIs.
inline constexpr const char* kServiceToken = "sluice-test-service-token-0123456789";
inline std::string ServiceAuthorization() { return std::string("Bearer ") + kServiceToken; }

// Calls `done` every `poll` until it returns true or `timeout` passes; the last call's answer.
template <typename F>
bool WaitFor(F&& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);
  }
  return done();
}

}  // namespace sluice::testing
