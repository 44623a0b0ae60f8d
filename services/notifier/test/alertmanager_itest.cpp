// The alertmanager channel against the real Alertmanager of the local stack
// (SLUICE_ALERTMANAGER_URL, default http://127.0.0.1:19094): the notice shows up in
// GET /api/v2/alerts with its labels, and errors are classified like the other channels.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/http/client.hpp>
#include <sluice/testing/process.hpp>
#include <thread>

#include "channels.hpp"
#include "render.hpp"
#include "test_events.hpp"

namespace sluice::notifier {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;

std::string AlertmanagerUrl() {
  return st::EnvOr("SLUICE_ALERTMANAGER_URL", "http://127.0.0.1:19094");
}

http::ClientResponse Get(const std::string& url) {
  http::ClientRequest req;
  req.url = url;
  req.timeout = 5s;
  return http::Send(req);
}

void RequireAlertmanager() {
  try {
    const auto r = Get(AlertmanagerUrl() + "/api/v2/status");
    ASSERT_EQ(r.status, 200) << "Alertmanager at " << AlertmanagerUrl() << " answered " << r.status;
  } catch (const http::HttpError& e) {
    FAIL() << "Alertmanager is needed at " << AlertmanagerUrl()
           << " (bash scripts/stack.sh up): " << e.what();
  }
}

ChannelSpec AlertmanagerSpec() {
  ChannelSpec spec;
  spec.name = "alerts";
  spec.type = ChannelType::kAlertmanager;
  spec.url_env = std::string(kAlertmanagerUrlEnv);
  spec.resolve_timeout = 2min;
  spec.timeout = 5s;
  return spec;
}

TEST(AlertmanagerItest, NoticeBecomesAnActiveAlertWithItsLabels) {
  RequireAlertmanager();
  if (HasFatalFailure()) return;
  const std::string app = "am-itest-" + st::RandomSuffix();
  const auto n =
      *BuildNotification(test::RollbackStarted(core::NewUuid(), "dep-" + app, app, "prod"), {},
                         {.console_base_url = "https://console.example.com"});
  const auto templates = Templates::Defaults();
  ChannelSecrets secrets;
  secrets.url = AlertmanagerUrl();
  const auto channel = MakeChannel(AlertmanagerSpec(), secrets, templates);
  const auto now = core::SystemClock::Instance().Now();
  const Attempt a = channel->Deliver(n, now);
  ASSERT_EQ(a.outcome.kind, Outcome::Kind::kDelivered) << a.outcome.detail;
  EXPECT_EQ(a.status_code, 200);

  json alerts;
  const std::string filter = "/api/v2/alerts?filter=app%3D%22" + app + "%22";
  for (int i = 0; i < 50; ++i) {
    const auto r = Get(AlertmanagerUrl() + filter);
    ASSERT_EQ(r.status, 200) << r.body;
    alerts = json::parse(r.body);
    if (!alerts.empty()) break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(alerts.size(), 1u) << alerts.dump(2);
  const auto& alert = alerts[0];
  EXPECT_EQ(alert["labels"], json({{"alertname", "SluiceRollbackStarted"},
                                   {"app", app},
                                   {"env", "prod"},
                                   {"deployment_id", "dep-" + app},
                                   {"severity", "critical"},
                                   {"sluice_event", "rollback_started"}}));
  EXPECT_EQ(alert["annotations"]["summary"], templates.Render(n, Language::kEn).title);
  EXPECT_EQ(alert["annotations"]["console_url"],
            "https://console.example.com/deployments/dep-" + app);
  EXPECT_EQ(alert["generatorURL"], "https://console.example.com/deployments/dep-" + app);
  EXPECT_EQ(alert["status"]["state"], "active");
  // It resolves by itself: endsAt is the send time plus the resolve timeout.
  EXPECT_EQ(alert["endsAt"].get<std::string>().substr(0, 19), Rfc3339(now + 2min).substr(0, 19));
}

TEST(AlertmanagerItest, ErrorsAreClassifiedLikeTheOtherChannels) {
  RequireAlertmanager();
  if (HasFatalFailure()) return;
  const auto n =
      *BuildNotification(test::RollbackStarted(core::NewUuid(), "dep-x", "x", "prod"), {}, {});
  const auto templates = Templates::Defaults();
  const auto now = core::SystemClock::Instance().Now();

  // A path Alertmanager does not serve: 4xx, permanent.
  ChannelSecrets wrong_path;
  wrong_path.url = AlertmanagerUrl() + "/no-such-prefix";
  const Attempt permanent = MakeChannel(AlertmanagerSpec(), wrong_path, templates)->Deliver(n, now);
  EXPECT_EQ(permanent.outcome.kind, Outcome::Kind::kPermanent) << permanent.outcome.detail;
  EXPECT_GE(permanent.status_code, 400);
  EXPECT_LT(permanent.status_code, 500);

  // Nobody listening: a transport error, retryable.
  ChannelSecrets closed;
  closed.url = "http://127.0.0.1:" + std::to_string(st::FreePort());
  const Attempt retry = MakeChannel(AlertmanagerSpec(), closed, templates)->Deliver(n, now);
  EXPECT_EQ(retry.outcome.kind, Outcome::Kind::kRetry) << retry.outcome.detail;
  EXPECT_EQ(retry.status_code, 0);
}

}  // namespace
}  // namespace sluice::notifier
