#include "notification.hpp"

#include <gtest/gtest.h>

#include "test_events.hpp"

namespace sluice::notifier {
namespace {

namespace v1 = events::v1;
using test::Base;

const BuildOptions kOptions{.console_base_url = "https://sluice.example.com/console/"};

DeploymentContext Ctx() {
  return {.app = "payments",
          .env = "prod",
          .release_id = "rel-1",
          .version = "1.5.0",
          .stable_version = "1.4.2"};
}

TEST(NotificationTest, DeploymentPlannedIsDeploymentStarted) {
  auto e = Base("ev-1", "dep-1");
  auto* p = e.mutable_deployment_planned();
  p->set_deployment_id("dep-1");
  p->set_release_id("rel-9");
  p->set_app("payments");
  p->set_env("staging");
  p->set_stable_version("1.4.2");
  p->set_version("1.5.0");
  auto* b = p->add_batches();
  b->add_targets()->set_host("a");
  b->add_targets()->set_host("b");
  p->add_batches()->add_targets()->set_host("c");
  const auto n = BuildNotification(e, {}, kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kDeploymentStarted);
  EXPECT_EQ(n->severity, Severity::kInfo);
  EXPECT_EQ(n->app, "payments");
  EXPECT_EQ(n->env, "staging");
  EXPECT_EQ(n->release_id, "rel-9");
  EXPECT_EQ(n->previous_version, "1.4.2");
  EXPECT_EQ(n->version, "1.5.0");
  EXPECT_EQ(n->hosts, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(n->console_url, "https://sluice.example.com/console/deployments/dep-1");
  EXPECT_EQ(core::ToUnixMillis(n->occurred_at), 1'700'000'000'000);
  EXPECT_TRUE(n->incident_key.empty());
}

TEST(NotificationTest, BatchSucceededUsesContext) {
  auto e = Base("ev-2", "dep-1");
  auto* p = e.mutable_batch_succeeded();
  p->set_deployment_id("dep-1");
  p->set_batch_index(2);
  p->add_hosts("h1");
  const auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kBatchSucceeded);
  EXPECT_EQ(n->app, "payments");
  EXPECT_EQ(n->env, "prod");
  EXPECT_EQ(n->version, "1.5.0");
  EXPECT_EQ(n->batch, 2u);
  EXPECT_EQ(n->hosts, std::vector<std::string>{"h1"});
}

TEST(NotificationTest, PausedForApprovalIsWarningOtherPausesInfo) {
  auto e = Base("ev-3", "dep-1");
  events::SetReason(*e.mutable_deployment_paused(), v1::REASON_APPROVAL_REQUIRED);
  e.mutable_deployment_paused()->set_batch_index(1);
  auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kDeploymentPaused);
  EXPECT_EQ(n->severity, Severity::kWarning);
  EXPECT_EQ(n->reason, "approval_required");
  events::SetReason(*e.mutable_deployment_paused(), v1::REASON_PAUSE_STEP);
  n = BuildNotification(e, Ctx(), kOptions);
  EXPECT_EQ(n->severity, Severity::kInfo);
}

// The enum alone decides (a producer that leaves the deprecated string empty), and a producer
// of the release before (the string alone) reads the same.
TEST(NotificationTest, PausedReasonIsReadFromTheEnumElseTheStringOfAnOlderProducer) {
  auto e = Base("ev-3", "dep-1");
  e.mutable_deployment_paused()->set_reason_code(v1::REASON_APPROVAL_REQUIRED);
  auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->severity, Severity::kWarning);
  EXPECT_EQ(n->reason, "approval_required");

  auto old = Base("ev-3", "dep-1");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  old.mutable_deployment_paused()->set_reason("approval_required");
#pragma GCC diagnostic pop
  n = BuildNotification(old, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->severity, Severity::kWarning);
  EXPECT_EQ(n->reason, "approval_required");
}

TEST(NotificationTest, AnalysisFailedTakesTheMostSevereEvidence) {
  auto e = Base("ev-4", "dep-1");
  auto* p = e.mutable_analysis_failed();
  p->set_deployment_id("dep-1");
  p->set_batch_index(1);
  events::SetReason(*p, v1::REASON_THRESHOLD_BREACHED);
  auto* mild = p->add_evidence();
  mild->set_metric("cpu");
  mild->set_severity(v1::SEVERITY_WARNING);
  *p->add_evidence() = test::ErrorRateEvidence();
  const auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kAnalysisFailed);
  EXPECT_EQ(n->severity, Severity::kCritical);
  EXPECT_EQ(n->metric, "error_rate");
  EXPECT_EQ(n->threshold, 0.05);
  EXPECT_EQ(n->observed, 0.21);
  EXPECT_EQ(n->comparator, ">");
  EXPECT_EQ(n->series.size(), 6u);
  EXPECT_EQ(n->hosts.size(), 7u);
  EXPECT_EQ(n->detail, "error rate above 5% for 3 intervals");
  EXPECT_EQ(n->incident_key, "analysis_failed:dep-1:1:error_rate");
}

TEST(NotificationTest, AnalysisFailedWithoutEvidenceIsCritical) {
  auto e = Base("ev-4b", "dep-1");
  events::SetReason(*e.mutable_analysis_failed(), v1::REASON_INCONCLUSIVE_LIMIT);
  const auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->severity, Severity::kCritical);
  EXPECT_FALSE(n->threshold);
  EXPECT_TRUE(n->series.empty());
}

TEST(NotificationTest, RollbackStarted) {
  const auto e = test::RollbackStarted("ev-5", "dep-1", "payments", "prod");
  const auto n = BuildNotification(e, {}, kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kRollbackStarted);
  EXPECT_EQ(n->severity, Severity::kCritical);
  EXPECT_EQ(n->app, "payments");
  EXPECT_EQ(n->version, "1.5.0");
  EXPECT_EQ(n->previous_version, "1.4.2");
  EXPECT_EQ(n->reason, "analysis_failed");
  EXPECT_EQ(n->batch, 1u);
  EXPECT_EQ(n->metric, "error_rate");
  EXPECT_EQ(n->incident_key, "rollback_started:dep-1:rb-1");
}

TEST(NotificationTest, RollbackCompletedSuccessAndFailure) {
  auto e = Base("ev-6", "dep-1");
  auto* p = e.mutable_rollback_completed();
  p->set_success(true);
  p->add_reverted_hosts("h1");
  p->add_failed_hosts("h2");
  p->set_target_version("1.4.1");
  auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kRollbackCompleted);
  EXPECT_EQ(n->severity, Severity::kWarning);
  EXPECT_EQ(n->hosts, std::vector<std::string>{"h1"});
  EXPECT_EQ(n->previous_version, "1.4.1");
  EXPECT_EQ(n->detail, "1 host(s) back on 1.4.1");
  p->set_success(false);
  n = BuildNotification(e, Ctx(), kOptions);
  EXPECT_EQ(n->severity, Severity::kCritical);
  EXPECT_EQ(n->reason, "rollback_incomplete");
  EXPECT_EQ(n->detail, "1 host(s) NOT back on 1.4.1");
  EXPECT_EQ(n->hosts, std::vector<std::string>{"h2"});
}

TEST(NotificationTest, IncidentReported) {
  auto e = Base("ev-7", "dep-1");
  auto* p = e.mutable_incident_reported();
  p->set_incident_id("inc-1");
  p->set_summary("canary error rate 21%");
  p->set_report_url("https://sluice/incidents/inc-1");
  p->set_chart_url("https://grafana/chart.png");
  *p->mutable_evidence() = test::ErrorRateEvidence();
  p->mutable_evidence()->set_severity(v1::SEVERITY_WARNING);
  const auto n = BuildNotification(e, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kIncidentReported);
  EXPECT_EQ(n->severity, Severity::kWarning);
  EXPECT_EQ(n->detail, "canary error rate 21%");
  EXPECT_EQ(n->chart_url, "https://grafana/chart.png");
  EXPECT_EQ(n->incident_key, "incident_reported:dep-1:inc-1");
}

TEST(NotificationTest, LinksAreSignedWhenLinkKeysAreSet) {
  auto e = Base("ev-7", "dep-1");
  auto* p = e.mutable_incident_reported();
  p->set_incident_id("inc-1");
  p->set_report_url("http://127.0.0.1:8080/v1/incidents/inc-1");
  p->set_chart_url("http://127.0.0.1:8080/v1/incidents/inc-1/chart.svg");
  const core::LinkKey key{"k1", std::string(32, 's')};
  BuildOptions options = kOptions;
  options.link_keys = {key};
  options.link_ttl = std::chrono::hours(24);
  const auto n = BuildNotification(e, Ctx(), options);
  ASSERT_TRUE(n);
  // The event's time (1 700 000 000 s) + the TTL; the same event always gives the same links.
  const std::int64_t exp = 1'700'000'000 + 86'400;
  EXPECT_EQ(n->console_url,
            core::SignUrl(key, "https://sluice.example.com/console/deployments/dep-1", exp));
  EXPECT_EQ(n->report_url, core::SignUrl(key, "http://127.0.0.1:8080/v1/incidents/inc-1", exp));
  EXPECT_EQ(n->chart_url,
            core::SignUrl(key, "http://127.0.0.1:8080/v1/incidents/inc-1/chart.svg", exp));
  const auto chart = core::ParseLinkTarget(n->chart_url.substr(n->chart_url.find("/v1/")));
  EXPECT_EQ(chart.path, "/v1/incidents/inc-1/chart.svg");
  EXPECT_EQ(core::VerifyLink({key}, chart.path, chart.params, exp - 1, 86'400).verdict,
            core::LinkVerdict::kOk);
  EXPECT_EQ(core::VerifyLink({key}, chart.path, chart.params, exp, 86'400).verdict,
            core::LinkVerdict::kExpired);
  // Without keys the links stay as they are.
  EXPECT_EQ(BuildNotification(e, Ctx(), kOptions)->chart_url,
            "http://127.0.0.1:8080/v1/incidents/inc-1/chart.svg");
}

TEST(NotificationTest, DeploymentSucceededAndFailed) {
  auto e = Base("ev-8", "dep-1");
  auto* s = e.mutable_deployment_succeeded();
  s->set_version("1.5.0");
  s->set_previous_stable_version("1.4.2");
  auto n = BuildNotification(e, {}, kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kDeploymentSucceeded);
  EXPECT_EQ(n->severity, Severity::kInfo);
  EXPECT_EQ(n->previous_version, "1.4.2");

  auto f = Base("ev-9", "dep-1");
  events::SetReason(*f.mutable_deployment_failed(), v1::REASON_BATCH_FAILED);
  f.mutable_deployment_failed()->set_detail("2 of 3 hosts failed");
  n = BuildNotification(f, Ctx(), kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, EventKind::kDeploymentFailed);
  EXPECT_EQ(n->severity, Severity::kCritical);
  EXPECT_EQ(n->detail, "2 of 3 hosts failed");
}

TEST(NotificationTest, UninterestingEventsMakeNoNotice) {
  auto e = Base("ev-10", "dep-1");
  e.mutable_instance_updated()->set_host("h");
  EXPECT_FALSE(BuildNotification(e, Ctx(), kOptions));
  auto none = Base("ev-11", "dep-1");
  EXPECT_FALSE(BuildNotification(none, Ctx(), kOptions));
}

TEST(NotificationTest, UpdateContextMergesFields) {
  auto e = Base("ev", "dep-1");
  e.mutable_analysis_requested()->set_version("2.0.0");
  e.mutable_analysis_requested()->set_baseline_version("1.9.0");
  const auto c = UpdateContext(e, Ctx());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->app, "payments");
  EXPECT_EQ(c->version, "2.0.0");
  EXPECT_EQ(c->stable_version, "1.9.0");
  auto other = Base("ev", "dep-1");
  other.mutable_batch_succeeded();
  EXPECT_FALSE(UpdateContext(other, Ctx()));
}

TEST(NotificationTest, ContextComesFromTheStoredProjection) {
  projection::Deployment d;
  auto planned = Base("ev-p", "dep-1");
  auto* p = planned.mutable_deployment_planned();
  p->set_deployment_id("dep-1");
  p->set_release_id("rel-1");
  p->set_app("payments");
  p->set_env("prod");
  p->set_version("1.5.0");
  p->set_stable_version("1.4.2");
  ASSERT_TRUE(projection::Apply(d, planned, 0));
  EXPECT_EQ(ContextOf(d), Ctx());
  // An operator's rollback to an earlier release: later notices call its target the previous.
  auto started = Base("ev-r", "dep-1");
  started.mutable_rollback_started()->set_target_version("1.3.0");
  ASSERT_TRUE(projection::Apply(d, started, 0));
  auto ctx = Ctx();
  ctx.stable_version = "1.3.0";
  EXPECT_EQ(ContextOf(d), ctx);
  // A batch outcome names nothing new.
  auto batch = Base("ev-b", "dep-1");
  batch.mutable_batch_succeeded();
  ASSERT_TRUE(projection::Apply(d, batch, 0));
  EXPECT_EQ(ContextOf(d), ctx);
}

TEST(NotificationTest, Sparkline) {
  EXPECT_EQ(Sparkline({}), "");
  EXPECT_EQ(Sparkline({1, 2, 3, 4, 5, 6, 7, 8}), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(Sparkline({0, 7}), "▁█");
  EXPECT_EQ(Sparkline({5, 5, 5}), "▄▄▄");
  EXPECT_EQ(Sparkline({0.01, 0.02, 0.01, 0.05, 0.12, 0.21}), "▁▁▁▂▅█");
  EXPECT_EQ(Sparkline({1, std::nan(""), 2}), "▁█");
  EXPECT_EQ(Sparkline({9, 0, 1, 2}, 3), "▁▅█");  // the most recent three
}

TEST(NotificationTest, FormatHosts) {
  EXPECT_EQ(FormatHosts({}), "");
  EXPECT_EQ(FormatHosts({"a"}), "a");
  EXPECT_EQ(FormatHosts({"a", "b", "c"}, 3), "a, b, c");
  EXPECT_EQ(FormatHosts({"a", "b", "c", "d", "e"}, 3), "a, b, c +2 more");
  EXPECT_EQ(FormatHosts({"a", "b"}, 0), "+2 more");
}

TEST(NotificationTest, FormatNumber) {
  EXPECT_EQ(FormatNumber(0.05), "0.05");
  EXPECT_EQ(FormatNumber(12), "12");
  EXPECT_EQ(FormatNumber(0.1 + 0.2), "0.3");
  EXPECT_EQ(FormatNumber(0.4648112742682566), "0.4648");
  EXPECT_EQ(FormatNumber(0.000123456), "0.0001235");
  EXPECT_EQ(FormatNumber(12345.67), "12346");
  EXPECT_EQ(FormatNumber(1.5e6), "1500000");
  EXPECT_EQ(FormatNumber(std::nan("")), "nan");
  EXPECT_EQ(FormatNumber(-INFINITY), "-inf");
}

TEST(NotificationTest, JsonRoundTrip) {
  auto n = BuildNotification(test::RollbackStarted("ev", "dep", "a", "e"), {}, kOptions);
  ASSERT_TRUE(n);
  EXPECT_EQ(NotificationFromJson(ToJson(*n)), *n);
  Notification bare;
  bare.event_id = "x";
  EXPECT_EQ(NotificationFromJson(nlohmann::json::parse(ToJson(bare).dump())), bare);
  auto bad = ToJson(bare);
  bad["kind"] = "nope";
  EXPECT_THROW(NotificationFromJson(bad), nlohmann::json::exception);
}

TEST(NotificationTest, KindAndSeverityNames) {
  for (auto k : AllEventKinds()) EXPECT_EQ(ParseEventKind(EventKindName(k)), k);
  EXPECT_EQ(AllEventKinds().size(), 9u);
  EXPECT_FALSE(ParseEventKind("deployment"));
  for (auto s : {Severity::kInfo, Severity::kWarning, Severity::kCritical}) {
    EXPECT_EQ(ParseSeverity(SeverityName(s)), s);
  }
  EXPECT_FALSE(ParseSeverity("CRITICAL"));
}

}  // namespace
}  // namespace sluice::notifier
