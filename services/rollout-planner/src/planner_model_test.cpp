#include "planner_model.hpp"

#include <gtest/gtest.h>

#include <sluice/core/testing/manual_clock.hpp>

namespace sluice::rollout_planner {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const core::SystemTime kT0 = core::FromUnixMillis(1'760'000'000'000);

Host MakeHost(const std::string& name, const std::string& zone) {
  return Host{name,
              "10.0.0." + name.substr(name.size() - 1),
              "http://" + name + ":7070",
              {{"zone", zone}},
              "web"};
}

// A 3-batch canary: [h1], pause 1s, [h2] with analysis, approval, [h3, h4].
std::vector<Batch> ThreeBatches() {
  Batch b0;
  b0.index = 0;
  b0.weight_percent = 25;
  b0.hosts = {MakeHost("h1", "a")};
  b0.cumulative_hosts = 1;
  b0.host_timeout = minutes(5);
  Batch b1;
  b1.index = 1;
  b1.weight_percent = 50;
  b1.hosts = {MakeHost("h2", "b")};
  b1.cumulative_hosts = 2;
  b1.gates_before = {Gate{Gate::Kind::kPause, seconds(1)}};
  b1.analysis_template = "default";
  b1.host_timeout = minutes(5);
  Batch b2;
  b2.index = 2;
  b2.weight_percent = 100;
  b2.hosts = {MakeHost("h3", "a"), MakeHost("h4", "b")};
  b2.cumulative_hosts = 4;
  b2.gates_before = {Gate{Gate::Kind::kApproval, std::nullopt}};
  b2.max_parallel = 2;
  b2.failure_tolerance = 1;
  b2.host_timeout = seconds(90);
  b2.traffic_switch_url = "http://lb.local/switch";
  return {b0, b1, b2};
}

DeploymentContext Context() {
  DeploymentContext c;
  c.deployment_id = "9d3c1f1e-0a4b-4c55-8e1c-2f6a0b7d9e01";
  c.release_id = "rel-1";
  c.app = "shop";
  c.env = "production";
  c.version = "1.4.0";
  c.artifact.set_version("1.4.0");
  c.artifact.set_url("https://artifacts.local/shop-1.4.0.tar.gz");
  c.artifact.set_sha256(std::string(64, 'a'));
  c.artifact.set_kind(events::v1::ARTIFACT_KIND_TARBALL);
  c.strategy = StrategyType::kCanary;
  ServiceSpec s;
  s.restart_command = {"bin/restart.sh"};
  s.restart_timeout = seconds(30);
  s.health_http_url = "http://127.0.0.1:8000/healthz";
  s.health_timeout = seconds(20);
  c.service = s;
  c.stable_release_id = "rel-0";
  c.stable_version = "1.3.9";
  c.spec_version = 7;
  c.spec_yaml = "app: shop\n";
  c.on_canary_failure = "revert-all";
  return c;
}

TEST(PlannerModelTest, DeploymentJsonRoundTripsEveryField) {
  Deployment d = NewDeployment(core::DeploymentId("d-1"), ThreeBatches());
  d.status = Status::kPaused;
  d.phase = Phase::kAtGate;
  d.generation = core::Generation(3);
  d.current_batch = 1;
  d.gate_index = 0;
  d.operator_hold = true;
  d.timer_key = "pause/b1/g0/gen3";
  d.timer_due_at = kT0 + seconds(1);
  d.pause_reason = PauseReason::kPauseStep;
  d.failure_reason = FailureReason::kAnalysisFailed;
  d.rollback_started = true;
  d.started_at = kT0;
  d.finished_at = kT0 + minutes(3);
  d.bake_watch = BakeWatchPlan{"bake", minutes(10)};
  d.await_rollback = minutes(10);
  const auto text = DeploymentToJson(d).dump();
  EXPECT_EQ(DeploymentFromJson(nlohmann::json::parse(text)), d);

  const Deployment fresh = NewDeployment(core::DeploymentId("d-2"), {});
  EXPECT_EQ(DeploymentFromJson(DeploymentToJson(fresh)), fresh);
}

TEST(PlannerModelTest, DeploymentJsonWrittenBeforeTemplatesStillReads) {
  // Stored before steps named their analysis template and before the bake watch.
  auto j = DeploymentToJson(NewDeployment(core::DeploymentId("d-1"), ThreeBatches()));
  j.erase("bake_watch");
  for (auto& b : j["batches"]) {
    b["analysis"] = !b["analysis_template"].get<std::string>().empty();
    b.erase("analysis_template");
  }
  const auto d = DeploymentFromJson(j);
  EXPECT_EQ(d.batches[0].analysis_template, "");
  EXPECT_EQ(d.batches[1].analysis_template, "default");
  EXPECT_FALSE(d.bake_watch.has_value());
}

TEST(PlannerModelTest, DeploymentJsonWrittenBeforeTheRollbackWaitStillReads) {
  auto j = DeploymentToJson(NewDeployment(core::DeploymentId("d-1"), ThreeBatches()));
  j.erase("await_rollback_ms");
  EXPECT_FALSE(DeploymentFromJson(j).await_rollback.has_value());
}

TEST(PlannerModelTest, ARollbackIsAwaitedOnlyWhenThereIsAnotherStableRelease) {
  auto ctx = Context();
  ctx.version = "1.5.0";
  ctx.stable_version = "1.4.0";
  EXPECT_EQ(AwaitRollbackFor(ctx, minutes(10)), minutes(10));
  ctx.stable_version = "";  // nothing to go back to: the rollback-agent records no_stable_release
  EXPECT_EQ(AwaitRollbackFor(ctx, minutes(10)), std::nullopt);
  ctx.stable_version = "1.5.0";  // already stable: no host to send back (nothing_deployed)
  EXPECT_EQ(AwaitRollbackFor(ctx, minutes(10)), std::nullopt);
}

TEST(PlannerModelTest, DeploymentJsonRejectsUnknownNames) {
  auto j = DeploymentToJson(NewDeployment(core::DeploymentId("d-1"), ThreeBatches()));
  j["status"] = "exploded";
  EXPECT_THROW(DeploymentFromJson(j), std::invalid_argument);
  j = DeploymentToJson(NewDeployment(core::DeploymentId("d-1"), ThreeBatches()));
  j.erase("phase");
  EXPECT_THROW(DeploymentFromJson(j), nlohmann::json::exception);
}

TEST(PlannerModelTest, ServiceJsonRoundTrips) {
  const auto s = *Context().service;
  EXPECT_EQ(ServiceFromJson(ServiceToJson(s)), s);
  ServiceSpec by_command;
  by_command.restart_command = {"systemctl", "restart", "shop"};
  by_command.health_command = {"bin/check"};
  EXPECT_EQ(ServiceFromJson(ServiceToJson(by_command)), by_command);
}

TEST(PlannerModelTest, NamesParseBack) {
  for (auto s : {Status::kPending, Status::kRunning, Status::kPaused, Status::kSucceeded,
                 Status::kFailed, Status::kRollingBack, Status::kRolledBack, Status::kAborted}) {
    EXPECT_EQ(ParseStatus(ToString(s)), s);
  }
  EXPECT_EQ(ParseStatus("done"), std::nullopt);
  EXPECT_EQ(ParsePhase("switching_traffic"), Phase::kSwitchingTraffic);
  EXPECT_EQ(ParsePauseReason("approval_required"), PauseReason::kApprovalRequired);
  EXPECT_EQ(ParseFailureReason("rollback_failed"), FailureReason::kRollbackFailed);
  EXPECT_EQ(ToProto(Status::kRolledBack), events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  EXPECT_EQ(ToProto(StrategyType::kBlueGreen), events::v1::STRATEGY_BLUE_GREEN);
}

TEST(PlannerModelTest, BatchStatusFollowsTheDeployment) {
  Deployment d = NewDeployment(core::DeploymentId("d-1"), ThreeBatches());
  EXPECT_EQ(BatchStatus(d, 0), "pending");
  auto t = Next(d, Start{}, kT0);
  d = t.next;
  EXPECT_EQ(BatchStatus(d, 0), "running");
  EXPECT_EQ(BatchStatus(d, 1), "pending");
  d = Next(d, BatchSucceeded{0, d.generation}, kT0).next;  // to the pause gate of batch 1
  EXPECT_EQ(BatchStatus(d, 0), "succeeded");
  EXPECT_EQ(BatchStatus(d, 1), "waiting");
  d = Next(d, TimerFired{*d.timer_key}, kT0 + seconds(1)).next;
  EXPECT_EQ(BatchStatus(d, 1), "running");
  d = Next(d, BatchSucceeded{1, d.generation}, kT0).next;
  EXPECT_EQ(BatchStatus(d, 1), "analysing");
  d = Next(d, AnalysisFailed{1, d.generation}, kT0).next;
  EXPECT_EQ(BatchStatus(d, 0), "succeeded");
  EXPECT_EQ(BatchStatus(d, 1), "failed");
  EXPECT_EQ(BatchStatus(d, 2), "pending");

  const auto view = BatchesView(d);
  ASSERT_EQ(view.size(), 3u);
  EXPECT_EQ(view[1]["hosts"], nlohmann::json::array({"h2"}));
  EXPECT_EQ(view[1]["status"], "failed");
  EXPECT_EQ(view[1]["gates"][0]["kind"], "pause");
  EXPECT_EQ(view[1]["gates"][0]["passed"], true);
  EXPECT_EQ(view[1]["gates"][0]["duration_ms"], 1000);
  EXPECT_EQ(view[2]["gates"][0]["kind"], "approval");
  EXPECT_EQ(view[2]["gates"][0]["passed"], false);
}

TEST(PlannerModelTest, WaitingGateIsNotPassed) {
  Deployment d = NewDeployment(core::DeploymentId("d-1"), ThreeBatches());
  d = Next(d, Start{}, kT0).next;
  d = Next(d, BatchSucceeded{0, d.generation}, kT0).next;
  const auto view = BatchesView(d);
  EXPECT_EQ(view[1]["gates"][0]["passed"], false);
  EXPECT_EQ(view[0]["status"], "succeeded");
}

TEST(PlannerModelTest, AutoDeployIdsAreDeterministicVersion5Uuids) {
  const auto a = AutoDeployDeploymentId("rel-1", "staging");
  EXPECT_EQ(a, AutoDeployDeploymentId("rel-1", "staging"));
  EXPECT_NE(a, AutoDeployDeploymentId("rel-1", "production"));
  EXPECT_NE(a, AutoDeployDeploymentId("rel-2", "staging"));
  EXPECT_TRUE(core::IsUuid(a)) << a;
  EXPECT_EQ(a[14], '5');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b') << a;
  EXPECT_EQ(TimerRowKey("d-1", "pause/b1/g0/gen1"), "deployment/d-1/pause/b1/g0/gen1");
}

TEST(PlannerModelTest, StartPublishesPlannedThenTheFirstBatch) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  const Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  const auto t = Next(d, Start{}, kT0);
  ASSERT_EQ(t.commands.size(), 2u);

  const auto planned = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(planned && planned->has_deployment_planned());
  EXPECT_EQ(planned->deployment_id(), ctx.deployment_id);
  EXPECT_EQ(planned->release_id(), "rel-1");
  EXPECT_EQ(planned->source(), "rollout-planner");
  const auto& p = planned->deployment_planned();
  EXPECT_EQ(p.app(), "shop");
  EXPECT_EQ(p.env(), "production");
  EXPECT_EQ(p.version(), "1.4.0");
  EXPECT_EQ(p.stable_release_id(), "rel-0");
  EXPECT_EQ(p.stable_version(), "1.3.9");
  EXPECT_EQ(p.strategy(), events::v1::STRATEGY_CANARY);
  EXPECT_EQ(p.canary_failure_policy(), events::v1::CANARY_FAILURE_POLICY_REVERT_ALL);
  EXPECT_EQ(p.generation(), 1u);
  ASSERT_EQ(p.batches_size(), 3);
  EXPECT_EQ(p.batches(2).weight_percent(), 100u);
  EXPECT_EQ(p.batches(2).targets_size(), 2);

  const auto batch = EventFor(t.commands[1], ctx, t.next, clock);
  ASSERT_TRUE(batch && batch->has_batch_requested());
  const auto& b = batch->batch_requested();
  EXPECT_EQ(b.deployment_id(), ctx.deployment_id);
  EXPECT_EQ(b.batch_index(), 0u);
  EXPECT_EQ(b.generation(), 1u);
  EXPECT_EQ(b.artifact().sha256(), std::string(64, 'a'));
  EXPECT_EQ(b.app(), "shop");
  EXPECT_EQ(b.env(), "production");
  ASSERT_EQ(b.targets_size(), 1);
  EXPECT_EQ(b.targets(0).host(), "h1");
  EXPECT_EQ(b.targets(0).agent_endpoint(), "http://h1:7070");
  EXPECT_EQ(b.targets(0).driver(), "agent");
  EXPECT_EQ(b.targets(0).labels().at("zone"), "a");
  EXPECT_EQ(b.host_timeout().seconds(), 300);
  EXPECT_EQ(b.service().restart_command(0), "bin/restart.sh");
  EXPECT_EQ(b.service().restart_timeout().seconds(), 30);
  EXPECT_EQ(b.service().health_http_url(), "http://127.0.0.1:8000/healthz");
  EXPECT_EQ(b.service().health_timeout().seconds(), 20);
}

TEST(PlannerModelTest, NoServiceBlockLeavesTheServiceUnset) {
  core::testing::ManualClock clock(kT0);
  auto ctx = Context();
  ctx.service.reset();
  const Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  const auto t = Next(d, Start{}, kT0);
  const auto batch = EventFor(t.commands[1], ctx, t.next, clock);
  EXPECT_FALSE(batch->batch_requested().has_service());
}

TEST(PlannerModelTest, PausesAnalysesAndTheEndBecomeEvents) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  d = Next(d, Start{}, kT0).next;
  auto t = Next(d, BatchSucceeded{0, d.generation}, kT0);
  // ScheduleTimer then Paused: the timer is not an event.
  ASSERT_EQ(t.commands.size(), 2u);
  EXPECT_FALSE(EventFor(t.commands[0], ctx, t.next, clock).has_value());
  const auto paused = EventFor(t.commands[1], ctx, t.next, clock);
  ASSERT_TRUE(paused && paused->has_deployment_paused());
  EXPECT_EQ(paused->deployment_paused().reason_code(), events::v1::REASON_PAUSE_STEP);
  EXPECT_EQ(paused->deployment_paused().batch_index(), 1u);
  EXPECT_EQ(paused->deployment_paused().duration().seconds(), 1);

  d = Next(t.next, TimerFired{*t.next.timer_key}, kT0 + seconds(1)).next;
  t = Next(d, BatchSucceeded{1, d.generation}, kT0);
  ASSERT_EQ(t.commands.size(), 1u);
  const auto analysis = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(analysis && analysis->has_analysis_requested());
  const auto& a = analysis->analysis_requested();
  EXPECT_TRUE(core::IsUuid(a.analysis_id()));
  EXPECT_EQ(a.batch_index(), 1u);
  EXPECT_EQ(a.version(), "1.4.0");
  EXPECT_EQ(a.baseline_version(), "1.3.9");
  EXPECT_EQ(a.template_name(), "default");
  EXPECT_EQ(a.release_id(), "rel-1");
  EXPECT_EQ(a.spec_version(), 7u);
  EXPECT_EQ(a.spec_yaml(), "app: shop\n");
  EXPECT_EQ(a.app(), "shop");
  EXPECT_EQ(a.env(), "production");
  EXPECT_FALSE(a.bake_watch());
  ASSERT_EQ(a.instances_size(), 1);
  EXPECT_EQ(a.instances(0), "h2");
  // The hosts of the batches not yet deployed still run the stable version.
  EXPECT_EQ(std::vector<std::string>(a.baseline_instances().begin(), a.baseline_instances().end()),
            (std::vector<std::string>{"h3", "h4"}));

  d = Next(t.next, AnalysisPassed{1, d.generation}, kT0).next;  // at the approval gate
  t = Next(d, Operator{OperatorCommand::VERB_APPROVE, "alice"}, kT0);
  const auto resumed = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(resumed && resumed->has_deployment_resumed());
  EXPECT_EQ(resumed->deployment_resumed().actor(), "alice");
  d = t.next;
  t = Next(d, BatchSucceeded{2, d.generation}, kT0);  // blue-green style switch on the last
  ASSERT_EQ(t.commands.size(), 1u);
  EXPECT_FALSE(EventFor(t.commands[0], ctx, t.next, clock).has_value());  // SwitchTraffic
  t = Next(t.next, TrafficSwitched{d.generation, true}, kT0);
  ASSERT_EQ(t.commands.size(), 2u);
  EXPECT_FALSE(EventFor(t.commands[0], ctx, t.next, clock).has_value());  // MarkStable
  const auto ok = EventFor(t.commands[1], ctx, t.next, clock);
  ASSERT_TRUE(ok && ok->has_deployment_succeeded());
  EXPECT_EQ(ok->deployment_succeeded().previous_stable_version(), "1.3.9");
  EXPECT_EQ(ok->deployment_succeeded().version(), "1.4.0");
}

// A Kubernetes target's stable pods, reported beside its canary's, join the baseline after the
// VM hosts of the later batches.
TEST(PlannerModelTest, AnalysisBaselineHasTheStablePodsTheExecutorReported) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  auto batches = ThreeBatches();
  batches[1].gates_before.clear();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), batches);
  d = Next(d, Start{}, kT0).next;
  d = Next(d, BatchSucceeded{0, d.generation}, kT0).next;
  const auto t = Next(
      d, BatchSucceeded{1, d.generation, {"h2", "web-canary-x1"}, {"web-s1", "web-s2", "web-s3"}},
      kT0);
  ASSERT_EQ(t.commands.size(), 1u);
  const auto e = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(e && e->has_analysis_requested());
  const auto& a = e->analysis_requested();
  EXPECT_EQ(std::vector<std::string>(a.instances().begin(), a.instances().end()),
            (std::vector<std::string>{"h2", "web-canary-x1"}));
  EXPECT_EQ(std::vector<std::string>(a.baseline_instances().begin(), a.baseline_instances().end()),
            (std::vector<std::string>{"h3", "h4", "web-s1", "web-s2", "web-s3"}));
}

// The executor says when the batch's last host switched; the analysis reads no data before.
TEST(PlannerModelTest, AnalysisRequestCarriesWhenTheBatchSwitched) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  auto batches = ThreeBatches();
  batches[1].gates_before.clear();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), batches);
  d = Next(d, Start{}, kT0).next;
  d = Next(d, BatchSucceeded{0, d.generation}, kT0).next;
  events::v1::Envelope succeeded;
  auto* p = succeeded.mutable_batch_succeeded();
  p->set_batch_index(1);
  p->set_generation(d.generation.Value());
  p->add_hosts("h2");
  p->mutable_switched_at()->set_seconds(1'700'000'042);
  p->mutable_switched_at()->set_nanos(250'000'000);
  std::string why;
  const auto in = InputFor(succeeded, d.generation, &why);
  ASSERT_TRUE(in.has_value()) << why;
  const auto t = Next(d, in->input, kT0);
  ASSERT_EQ(t.commands.size(), 1u);
  const auto e = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(e && e->has_analysis_requested());
  ASSERT_TRUE(e->analysis_requested().has_switched_at());
  EXPECT_EQ(e->analysis_requested().switched_at().seconds(), 1'700'000'042);
  EXPECT_EQ(e->analysis_requested().switched_at().nanos(), 250'000'000);

  // An older executor says nothing: neither does the request.
  const auto old = Next(d, BatchSucceeded{1, d.generation}, kT0);
  const auto unset = EventFor(old.commands[0], ctx, old.next, clock);
  ASSERT_TRUE(unset && unset->has_analysis_requested());
  EXPECT_FALSE(unset->analysis_requested().has_switched_at());
}

TEST(PlannerModelTest, AnalysisRequestNamesTheStepTemplate) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  auto batches = ThreeBatches();
  batches[1].analysis_template = "strict";
  batches[1].gates_before.clear();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), batches);
  d = Next(d, Start{}, kT0).next;
  d = Next(d, BatchSucceeded{0, d.generation}, kT0).next;
  const auto t = Next(d, BatchSucceeded{1, d.generation}, kT0);
  ASSERT_EQ(t.commands.size(), 1u);
  const auto e = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(e && e->has_analysis_requested());
  EXPECT_EQ(e->analysis_requested().template_name(), "strict");
  EXPECT_EQ(e->deployment_id(), ctx.deployment_id);
}

TEST(PlannerModelTest, BakeWatchRequestCoversEveryHost) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  d.generation = core::Generation(4);
  const RequestBakeWatch bake{2, core::Generation(4), BakeWatchPlan{"bake", minutes(5)}};
  const auto e = EventFor(bake, ctx, d, clock);
  ASSERT_TRUE(e && e->has_analysis_requested());
  EXPECT_EQ(e->deployment_id(), ctx.deployment_id);
  EXPECT_EQ(e->release_id(), "rel-1");
  const auto& a = e->analysis_requested();
  EXPECT_TRUE(core::IsUuid(a.analysis_id()));
  EXPECT_TRUE(a.bake_watch());
  EXPECT_EQ(a.duration().seconds(), 300);
  EXPECT_EQ(a.template_name(), "bake");
  EXPECT_EQ(a.batch_index(), 2u);
  EXPECT_EQ(a.generation(), 4u);
  EXPECT_EQ(a.spec_yaml(), "app: shop\n");
  EXPECT_EQ(a.spec_version(), 7u);
  EXPECT_EQ(a.baseline_version(), "1.3.9");
  EXPECT_EQ(std::vector<std::string>(a.instances().begin(), a.instances().end()),
            (std::vector<std::string>{"h1", "h2", "h3", "h4"}));
  EXPECT_EQ(a.baseline_instances_size(), 0);

  // Stable-record commands are not events.
  EXPECT_FALSE(EventFor(RevokeStable{}, ctx, d, clock).has_value());
}

TEST(PlannerModelTest, RollbackCompletedEndsFailedOrRolledBackInTheEvent) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  d = Next(d, Start{}, kT0).next;
  d = Next(d, RollbackStarted{core::Generation(2)}, kT0).next;
  auto t = Next(d, RollbackCompleted{core::Generation(2), true, true}, kT0);
  auto failed = EventFor(t.commands.back(), ctx, t.next, clock);
  ASSERT_TRUE(failed && failed->has_deployment_failed());
  EXPECT_EQ(failed->deployment_failed().reason_code(), events::v1::REASON_ANALYSIS_FAILED);
  EXPECT_EQ(failed->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_FAILED);
  t = Next(d, RollbackCompleted{core::Generation(2), true, false}, kT0);
  failed = EventFor(t.commands.back(), ctx, t.next, clock);
  EXPECT_EQ(failed->deployment_failed().reason_code(), events::v1::REASON_ROLLED_BACK);
  EXPECT_EQ(failed->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
}

constexpr const char* kPolicySpec = R"(app: shop
environments:
  production:
    targets:
      web:
        hosts:
          - {name: h1, address: 10.0.0.1, agentEndpoint: "http://10.0.0.1:7070"}
          - {name: h2, address: 10.0.0.2, agentEndpoint: "http://10.0.0.2:7070"}
          - {name: h3, address: 10.0.0.3, agentEndpoint: "http://10.0.0.3:7070"}
    strategy:
      type: canary
      steps:
        - weight: 33%
          analysis: judge
        - weight: 66%
          analysis: none
        - weight: 100%
          analysis: default
    analysis:
      bakeWatch: {template: default, duration: 15m}
      templates:
        default:
          metrics:
            error_rate: {query: 'sum(rate(errors[1m]))'}
          rules:
            - {name: errors, failWhen: "error_rate > 5%"}
        judge:
          metrics:
            error_rate: {query: 'sum(rate(errors[1m]))'}
          rules:
            - {name: errors, failWhen: "error_rate > 1%"}
    rollback:
      onCanaryFailure: revert-all
  staging:
    targets:
      web:
        hosts:
          - {name: s1, address: 10.0.1.1, agentEndpoint: "http://10.0.1.1:7070"}
    strategy:
      type: all-at-once
)";

TEST(PlannerModelTest, EnvironmentPolicyAndStepTemplatesFromTheSpec) {
  auto parsed = ParseDeliverySpec(kPolicySpec, "shop.yaml");
  ASSERT_TRUE(std::holds_alternative<DeliverySpec>(parsed))
      << std::get<SpecError>(parsed).ToString();
  const auto& spec = std::get<DeliverySpec>(parsed);
  const auto* prod = spec.FindEnvironment("production");
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(BakeWatchOf(*prod), (BakeWatchPlan{"default", minutes(15)}));
  EXPECT_EQ(OnCanaryFailureOf(*prod), "revert-all");
  const auto batches = PlanRollout(*prod, prod->AllHosts());
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].analysis_template, "judge");
  EXPECT_EQ(batches[1].analysis_template, "");
  EXPECT_EQ(batches[2].analysis_template, "default");

  // No analysis section: no bake watch; no rollback section: revert-batch.
  const auto* staging = spec.FindEnvironment("staging");
  ASSERT_NE(staging, nullptr);
  EXPECT_FALSE(BakeWatchOf(*staging).has_value());
  EXPECT_EQ(OnCanaryFailureOf(*staging), "revert-batch");
}

TEST(PlannerModelTest, FailuresCarryReasonAndStatus) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  d = Next(d, Start{}, kT0).next;
  auto t = Next(d, BatchFailed{0, d.generation}, kT0);
  const auto failed = EventFor(t.commands.back(), ctx, t.next, clock);
  ASSERT_TRUE(failed && failed->has_deployment_failed());
  EXPECT_EQ(failed->deployment_failed().reason_code(), events::v1::REASON_BATCH_FAILED);
  EXPECT_EQ(failed->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_FAILED);

  t = Next(d, Operator{OperatorCommand::VERB_ABORT, "bob"}, kT0);
  const auto aborted = EventFor(t.commands.back(), ctx, t.next, clock);
  EXPECT_EQ(aborted->deployment_failed().reason_code(), events::v1::REASON_ABORTED);
  EXPECT_EQ(aborted->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_ABORTED);

  // A failed analysis that the rollback-agent reverts: the deployment is rolling back.
  Deployment awaiting = NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches());
  awaiting.await_rollback = minutes(10);
  awaiting = Next(awaiting, Start{}, kT0).next;
  awaiting = Next(awaiting, BatchSucceeded{0, awaiting.generation}, kT0).next;
  awaiting = Next(awaiting, Operator{OperatorCommand::VERB_PROMOTE, "bob"}, kT0).next;
  awaiting = Next(awaiting, BatchSucceeded{1, awaiting.generation}, kT0).next;
  ASSERT_EQ(awaiting.phase, Phase::kAnalysing);
  t = Next(awaiting, AnalysisFailed{1, awaiting.generation}, kT0);
  const auto analysis = EventFor(t.commands.back(), ctx, t.next, clock);
  ASSERT_TRUE(analysis && analysis->has_deployment_failed());
  EXPECT_EQ(analysis->deployment_failed().reason_code(), events::v1::REASON_ANALYSIS_FAILED);
  EXPECT_EQ(analysis->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_ROLLING_BACK);

  const auto never = NeverStartedFailure(ctx, kReasonConcurrentDeployment, "d-0 is active", clock);
  EXPECT_EQ(never.deployment_failed().reason_code(), events::v1::REASON_CONCURRENT_DEPLOYMENT);
  EXPECT_EQ(never.deployment_failed().detail(), "d-0 is active");
  EXPECT_EQ(never.deployment_id(), ctx.deployment_id);
}

events::v1::Envelope Operator(events::v1::OperatorCommand::Verb verb, std::uint64_t generation) {
  events::v1::Envelope e;
  e.set_source("release-intake");
  auto* p = e.mutable_operator_command();
  p->set_deployment_id("d-1");
  p->set_verb(verb);
  p->set_actor("alice");
  p->set_generation(generation);
  return e;
}

TEST(PlannerModelTest, EventsMapToInputs) {
  std::string why;
  const core::Generation gen(2);
  auto m = InputFor(Operator(events::v1::OperatorCommand::VERB_PAUSE, 0), gen, &why);
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<rollout_planner::Operator>(m->input).action, OperatorCommand::VERB_PAUSE);
  EXPECT_EQ(m->actor, "alice");
  m = InputFor(Operator(events::v1::OperatorCommand::VERB_APPROVE, 2), gen, &why);
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<rollout_planner::Operator>(m->input).action, OperatorCommand::VERB_APPROVE);

  EXPECT_FALSE(InputFor(Operator(events::v1::OperatorCommand::VERB_RESUME, 1), gen, &why));
  EXPECT_EQ(why, "stale_generation");
  EXPECT_FALSE(InputFor(Operator(events::v1::OperatorCommand::VERB_ROLLBACK, 0), gen, &why));
  EXPECT_EQ(why, kIgnoredRollbackVerb);

  events::v1::Envelope e;
  auto* bs = e.mutable_batch_succeeded();
  bs->set_batch_index(1);
  bs->set_generation(2);
  bs->add_hosts("web-canary-x1");
  bs->add_baseline_hosts("web-s1");
  m = InputFor(e, gen, &why);
  ASSERT_TRUE(m);
  const auto& in = std::get<BatchSucceeded>(m->input);
  EXPECT_EQ(in.batch, 1u);
  EXPECT_EQ(in.generation, gen);
  EXPECT_EQ(in.hosts, std::vector<std::string>{"web-canary-x1"});
  EXPECT_EQ(in.baseline_hosts, std::vector<std::string>{"web-s1"});

  events::v1::Envelope rc;
  rc.mutable_rollback_completed()->set_success(false);
  m = InputFor(rc, gen, &why);
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<RollbackCompleted>(m->input).generation, gen);
  EXPECT_FALSE(std::get<RollbackCompleted>(m->input).success);
  EXPECT_FALSE(std::get<RollbackCompleted>(m->input).deployment_failed);
  for (const auto& [status, failed] : std::vector<std::pair<events::v1::DeploymentStatus, bool>>{
           {events::v1::DEPLOYMENT_STATUS_FAILED, true},
           {events::v1::DEPLOYMENT_STATUS_ROLLED_BACK, false},
           {events::v1::DEPLOYMENT_STATUS_UNSPECIFIED, false}}) {
    rc.mutable_rollback_completed()->set_success(true);
    rc.mutable_rollback_completed()->set_final_status(status);
    m = InputFor(rc, gen, &why);
    ASSERT_TRUE(m);
    EXPECT_TRUE(std::get<RollbackCompleted>(m->input).success);
    EXPECT_EQ(std::get<RollbackCompleted>(m->input).deployment_failed, failed) << status;
  }

  events::v1::Envelope bake;
  bake.mutable_analysis_failed()->set_bake_watch(true);
  why.clear();
  EXPECT_FALSE(InputFor(bake, gen, &why));
  EXPECT_EQ(why, "bake_watch");

  events::v1::Envelope other;
  other.mutable_release_created();
  why.clear();
  EXPECT_FALSE(InputFor(other, gen, &why));
  EXPECT_EQ(why, "");
}

TEST(PlannerModelTest, TimelineWording) {
  EXPECT_EQ(InputKind(rollout_planner::Operator{OperatorCommand::VERB_RESUME, "a"}),
            "operator_resume");
  EXPECT_EQ(InputKind(TimerFired{"k"}), "timer_fired");
  EXPECT_EQ(InputDetail(BatchFailed{2, core::Generation(3)}), "batch 2, generation 3");
  EXPECT_EQ(InputDetail(RollbackCompleted{core::Generation(3), false}), "failed");
}

// --- Kubernetes targets beside VM hosts ---------------------------------------------------

spec::KubernetesTarget WebDeployment() {
  spec::KubernetesTarget t;
  t.name = "web-k8s";
  t.cluster = "in-cluster";
  t.ns = "shop";
  t.workload = "web";
  t.container = "app";
  t.traffic = spec::HttpRouteTraffic{"web", "web-stable", "web-canary"};
  return t;
}

// ThreeBatches with the Deployment web-k8s in every batch.
std::vector<Batch> MixedBatches() {
  auto batches = ThreeBatches();
  for (auto& b : batches) b.kubernetes = {WebDeployment()};
  return batches;
}

TEST(PlannerModelTest, KubernetesTargetsAreInEveryBatchRequestedAtTheBatchWeight) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), MixedBatches());
  auto t = Next(d, Start{}, kT0);
  std::optional<events::v1::Envelope> planned, requested;
  for (const auto& c : t.commands) {
    auto e = EventFor(c, ctx, t.next, clock);
    if (e && e->has_deployment_planned()) planned = e;
    if (e && e->has_batch_requested()) requested = e;
  }
  ASSERT_TRUE(requested.has_value());
  const auto& b = requested->batch_requested();
  EXPECT_EQ(b.weight_percent(), 25u);
  ASSERT_EQ(b.targets_size(), 2);
  EXPECT_EQ(b.targets(0).host(), "h1");
  EXPECT_EQ(b.targets(0).driver(), "agent");
  EXPECT_EQ(b.targets(1).host(), "web-k8s");
  EXPECT_EQ(b.targets(1).driver(), "kubernetes");
  EXPECT_EQ(b.targets(1).kubernetes().name(), "web");
  EXPECT_EQ(b.targets(1).kubernetes().namespace_(), "shop");
  EXPECT_EQ(b.targets(1).kubernetes().kind(), "Deployment");
  EXPECT_EQ(b.targets(1).kubernetes().rollout(), events::v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
  EXPECT_EQ(b.targets(1).kubernetes().traffic().canary_service(), "web-canary");

  // DeploymentPlanned names the workload in every batch (the rollback-agent's scope).
  ASSERT_TRUE(planned.has_value());
  const auto& p = planned->deployment_planned();
  ASSERT_EQ(p.batches_size(), 3);
  for (const auto& pb : p.batches()) {
    ASSERT_GE(pb.targets_size(), 2);
    EXPECT_EQ(pb.targets(pb.targets_size() - 1).driver(), "kubernetes");
  }
  EXPECT_EQ(p.batches(2).weight_percent(), 100u);

  // The stored state keeps them.
  EXPECT_EQ(DeploymentFromJson(DeploymentToJson(t.next)), t.next);
}

TEST(PlannerModelTest, VmBatchesCarryTheirCumulativeWeightToo) {
  core::testing::ManualClock clock(kT0);
  const auto ctx = Context();
  auto t = Next(NewDeployment(core::DeploymentId(ctx.deployment_id), ThreeBatches()), Start{}, kT0);
  bool seen = false;
  for (const auto& c : t.commands) {
    auto e = EventFor(c, ctx, t.next, clock);
    if (!e || !e->has_batch_requested()) continue;
    seen = true;
    EXPECT_EQ(e->batch_requested().weight_percent(), 25u);
    EXPECT_EQ(e->batch_requested().targets_size(), 1);
  }
  EXPECT_TRUE(seen);
}

TEST(PlannerModelTest, AnalysisInstancesAddTheReportedPodsToTheBatchHosts) {
  const Deployment d = NewDeployment(core::DeploymentId("d-1"), MixedBatches());
  // The executor reports the VM host and the canary pods of its Kubernetes target (and, from
  // some drivers, the target's own name): VM hosts come from the plan, the target name is no
  // instance, a pod named twice counts once, a VM host of another batch is not this batch's.
  const std::vector<std::string> reported = {
      "web-canary-7f9c-abcde", "h2", "web-k8s", "web-canary-7f9c-fghij",
      "web-canary-7f9c-abcde", "h3"};
  EXPECT_EQ(AnalysisInstances(d, 1, reported),
            (std::vector<std::string>{"h2", "web-canary-7f9c-abcde", "web-canary-7f9c-fghij"}));
  // VM hosts only, nothing reported: the batch's hosts, as before.
  EXPECT_EQ(AnalysisInstances(NewDeployment(core::DeploymentId("d-2"), ThreeBatches()), 2, {}),
            (std::vector<std::string>{"h3", "h4"}));
  // Kubernetes targets only: the pods.
  Batch only;
  only.weight_percent = 50;
  only.kubernetes = {WebDeployment()};
  EXPECT_EQ(AnalysisInstances(NewDeployment(core::DeploymentId("d-3"), {only}), 0,
                              {"web-canary-1", "web-canary-2"}),
            (std::vector<std::string>{"web-canary-1", "web-canary-2"}));
}

TEST(PlannerModelTest, TheAnalysisRequestCarriesTheReportedPodsAndTheResolvedTemplate) {
  core::testing::ManualClock clock(kT0);
  auto ctx = Context();
  auto* tmpl = ctx.env_spec.mutable_analysis()->add_templates();
  tmpl->set_name("default");
  tmpl->add_metrics()->set_name("error_rate");
  Deployment d = NewDeployment(core::DeploymentId(ctx.deployment_id), MixedBatches());
  d = Next(d, Start{}, kT0).next;
  auto t = Next(d, BatchSucceeded{0, d.generation, {"h1", "web-canary-a"}}, kT0);
  d = Next(t.next, TimerFired{*t.next.timer_key}, kT0 + seconds(1)).next;
  t = Next(d, BatchSucceeded{1, d.generation, {"h2", "web-canary-a", "web-canary-b"}}, kT0);
  ASSERT_EQ(t.commands.size(), 1u);
  const auto e = EventFor(t.commands[0], ctx, t.next, clock);
  ASSERT_TRUE(e && e->has_analysis_requested());
  const auto& a = e->analysis_requested();
  EXPECT_EQ(std::vector<std::string>(a.instances().begin(), a.instances().end()),
            (std::vector<std::string>{"h2", "web-canary-a", "web-canary-b"}));
  EXPECT_EQ(a.resolved_template().name(), "default");
  EXPECT_EQ(a.resolved_template().metrics(0).name(), "error_rate");

  // An environment without that template: no resolved template (the watcher reports it).
  const auto bare = EventFor(t.commands[0], Context(), t.next, clock);
  EXPECT_FALSE(bare->analysis_requested().has_resolved_template());
}

TEST(PlannerModelTest, InputForKeepsTheReportedHosts) {
  events::v1::Envelope e;
  auto* p = e.mutable_batch_succeeded();
  p->set_batch_index(1);
  p->set_generation(2);
  p->add_hosts("h2");
  p->add_hosts("web-canary-a");
  const auto in = InputFor(e, core::Generation(2), nullptr);
  ASSERT_TRUE(in.has_value());
  const auto* ok = std::get_if<BatchSucceeded>(&in->input);
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->hosts, (std::vector<std::string>{"h2", "web-canary-a"}));
}

TEST(PlannerModelTest, AnSshHostBecomesAnSshTarget) {
  Host h = MakeHost("h1", "a");
  EXPECT_EQ(ToTarget(h).driver(), "agent");
  h.agent_endpoint.clear();
  h.ssh = spec::SshAccess{"deploy", 2222};
  const auto t = ToTarget(h);
  EXPECT_EQ(t.driver(), "ssh");
  EXPECT_EQ(t.address(), h.address);
  EXPECT_EQ(t.labels().at("sluice.io/ssh-user"), "deploy");
  EXPECT_EQ(t.labels().at("sluice.io/ssh-port"), "2222");
  EXPECT_EQ(t.labels().at("zone"), "a");
  h.ssh = spec::SshAccess{};
  EXPECT_EQ(ToTarget(h).labels().count("sluice.io/ssh-user"), 0u);

  // Kept in the stored deployment, so later batches stay ssh targets.
  auto batches = ThreeBatches();
  batches[0].hosts[0].ssh = spec::SshAccess{"deploy", 2222};
  const Deployment d = NewDeployment(core::DeploymentId("d-ssh"), batches);
  const auto back = DeploymentFromJson(nlohmann::json::parse(DeploymentToJson(d).dump()));
  EXPECT_EQ(back, d);
}

}  // namespace
}  // namespace sluice::rollout_planner
