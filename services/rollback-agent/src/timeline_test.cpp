#include "timeline.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>
#include <sluice/events/vocabulary.hpp>

namespace sluice::rollback {
namespace {

namespace v1 = ::sluice::v1;
using ::testing::ElementsAre;

v1::Envelope New(const std::string& source) {
  static core::testing::ManualClock clock{core::FromUnixMillis(1'700'000'000'000)};
  return events::NewEnvelope(source, clock);
}

TEST(TimelineTest, DeploymentIdComesFromTheEnvelopeOrThePayload) {
  auto e = New("executor");
  e.mutable_batch_failed()->set_deployment_id("d1");
  EXPECT_EQ(DeploymentIdOf(e), "d1");
  e.set_deployment_id("d2");
  EXPECT_EQ(DeploymentIdOf(e), "d2");
  EXPECT_EQ(DeploymentIdOf(New("x")), "");
}

TEST(TimelineTest, OneLinePerEventWithOneBasedBatches) {
  auto req = New("rollout-planner");
  auto* r = req.mutable_batch_requested();
  r->set_batch_index(1);
  r->set_generation(3);
  r->add_targets()->set_host("h3");
  r->add_targets()->set_host("h4");
  events::Finalize(req);
  EXPECT_EQ(ShortType(req), "BatchRequested");
  EXPECT_EQ(TimelineDetail(req), "batch 2 requested (generation 3): h3, h4");

  auto failed = New("executor");
  failed.mutable_batch_failed()->set_batch_index(0);
  events::SetReason(*failed.mutable_batch_failed(), "health_check_failed");
  failed.mutable_batch_failed()->add_failed_hosts("h1");
  EXPECT_EQ(TimelineDetail(failed), "batch 1 failed (health_check_failed): h1");

  auto revert = New("rollback-agent");
  auto* rv = revert.mutable_revert_requested();
  rv->set_target_version("v2");
  rv->set_generation(4);
  rv->add_hosts("h3");
  EXPECT_EQ(TimelineDetail(revert), "revert to v2 requested (generation 4): h3");

  auto cmd = New("release-intake");
  cmd.mutable_operator_command()->set_verb(v1::OperatorCommand::VERB_ROLLBACK);
  cmd.mutable_operator_command()->set_actor("alice");
  cmd.mutable_operator_command()->set_reason("errors");
  EXPECT_EQ(TimelineDetail(cmd), "rollback by alice: errors");
  EXPECT_EQ(ActorOf(cmd), "alice");
  EXPECT_EQ(ActorOf(failed), "executor");
}

TEST(TimelineTest, OccurredAtFallsBackWhenMissing) {
  auto e = New("executor");
  EXPECT_EQ(OccurredMs(e, 5), 1'700'000'000'000);
  e.clear_occurred_at();
  EXPECT_EQ(OccurredMs(e, 5), 5);
}

TEST(TimelineTest, BatchStartsAreReadBackOncePerBatch) {
  const std::vector<TimelineEntry> timeline = {
      {10, "BatchRequested", "rollout-planner", "batch 1 requested (generation 1): h1"},
      {20, "BatchSucceeded", "executor", "batch 1 succeeded"},
      {30, "BatchRequested", "rollout-planner", "batch 2 requested (generation 1): h2"},
      {40, "BatchRequested", "rollout-planner", "batch 2 requested (generation 1): h2"},
      {50, "BatchRequested", "rollout-planner", "batch x requested"},
      {60, "BatchRequested", "rollout-planner", "batch 0 requested"},
  };
  const auto marks = BatchStarts(timeline);
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks[0].at_ms, 10);
  EXPECT_EQ(marks[0].batch, 0u);
  EXPECT_EQ(marks[1].at_ms, 30);
  EXPECT_EQ(marks[1].batch, 1u);
  EXPECT_EQ(JoinHosts({"h1", "h2"}), "h1, h2");
  EXPECT_EQ(JoinHosts({}), "");
}

}  // namespace
}  // namespace sluice::rollback
