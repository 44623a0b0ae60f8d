#include "target_driver.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "fake_driver.hpp"

namespace sluice::executor {
namespace {

using testing::FakeDriver;

TEST(DriverRegistryTest, CreatesRegisteredTypesAndNamesTheKnownOnesOtherwise) {
  DriverRegistry registry;
  registry.Register("agent", [] { return std::make_unique<FakeDriver>(); });
  registry.Register("ssh", [] { return std::make_unique<FakeDriver>(); });
  EXPECT_TRUE(registry.Has("agent"));
  EXPECT_FALSE(registry.Has("kubernetes"));
  EXPECT_EQ(registry.Types(), (std::vector<std::string>{"agent", "ssh"}));
  EXPECT_NE(registry.Create("agent"), nullptr);
  try {
    registry.Create("kubernetes");
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown driver type \"kubernetes\"; known: agent, ssh");
  }
}

TEST(DriverRegistryTest, RefusesDuplicatesAndEmptyNames) {
  DriverRegistry registry;
  registry.Register("agent", [] { return std::make_unique<FakeDriver>(); });
  EXPECT_THROW(registry.Register("agent", [] { return std::make_unique<FakeDriver>(); }),
               std::invalid_argument);
  EXPECT_THROW(registry.Register("", [] { return std::make_unique<FakeDriver>(); }),
               std::invalid_argument);
  EXPECT_THROW(registry.Register("ssh", nullptr), std::invalid_argument);
}

TEST(RoutingDriverTest, SendsEachHostToTheDriverOfItsTypeCreatedOnce) {
  DriverRegistry registry;
  int agents_created = 0;
  FakeDriver* agent = nullptr;
  registry.Register("agent", [&] {
    ++agents_created;
    auto d = std::make_unique<FakeDriver>();
    agent = d.get();
    return d;
  });
  FakeDriver* ssh = nullptr;
  registry.Register("ssh", [&] {
    auto d = std::make_unique<FakeDriver>();
    ssh = d.get();
    return d;
  });
  RoutingDriver routing(registry);
  HostTarget a{"a", "10.0.0.1", "", {}, "agent"};
  HostTarget b{"b", "10.0.0.2", "", {}, "ssh"};
  const ArtifactRef art{"1.0.0", "http://x/a.tgz", ""};
  EXPECT_TRUE(routing.Deploy(a, art, CommandFence{"d", core::Generation(1)}, {}).Succeeded());
  EXPECT_TRUE(routing.Revert(a, "0.9.0", CommandFence{"d", core::Generation(2)}, {}).Succeeded());
  EXPECT_TRUE(routing.Deploy(b, art, CommandFence{"d", core::Generation(1)}, {}).Succeeded());
  EXPECT_EQ(agents_created, 1);
  ASSERT_NE(agent, nullptr);
  ASSERT_NE(ssh, nullptr);
  EXPECT_EQ(agent->CallsOf("a"), (std::vector<std::string>{"deploy", "revert"}));
  EXPECT_EQ(ssh->CallsOf("b"), (std::vector<std::string>{"deploy"}));
}

TEST(RoutingDriverTest, UnknownTypeFailsWithoutRetry) {
  DriverRegistry registry;
  RoutingDriver routing(registry);
  HostTarget k{"k", "", "", {}, "kubernetes"};
  const auto outcome =
      routing.Deploy(k, {"1.0.0", "", ""}, CommandFence{"d", core::Generation(1)}, {});
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(outcome.retryable);
  EXPECT_EQ(outcome.reason, kReasonUnknownDriver);
  EXPECT_NE(outcome.message.find("kubernetes"), std::string::npos);
  const auto state = routing.Status(k, {});
  EXPECT_FALSE(state.reachable);
  EXPECT_FALSE(state.error.empty());
}

TEST(HostHealthTest, ParsesTheAgentSpellings) {
  EXPECT_EQ(ParseHostHealth("healthy"), HostHealth::kHealthy);
  EXPECT_EQ(ParseHostHealth("unhealthy"), HostHealth::kUnhealthy);
  EXPECT_EQ(ParseHostHealth("unknown"), HostHealth::kUnknown);
  EXPECT_EQ(ParseHostHealth("bogus"), HostHealth::kUnknown);
  EXPECT_EQ(ToString(HostHealth::kUnhealthy), "unhealthy");
  EXPECT_EQ(ToString(OutcomeKind::kTimedOut), "timed_out");
}

}  // namespace
}  // namespace sluice::executor
