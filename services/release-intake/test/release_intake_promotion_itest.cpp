// Environments and promotion against the real release-intake binary, PostgreSQL and Kafka of
// the local stack: the gate on POST /v1/deployments (and its dry run), the deployment outcomes
// it learns from the planner's and the watcher's events (produced here on topics of the test's
// own, as those services would), `promotion: auto` requested once however often an event is
// delivered, and the freeze switch. Every decision is read back from the audit log.
//
// Isolation: its own Postgres schema, port, consumer groups, topics and app names.
#include <gtest/gtest.h>
#include <sluice/v1/intake.pb.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>

namespace sluice::release_intake {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::WaitFor;

const std::string kSha = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

std::string EnvYaml(const std::string& name, const std::string& extra) {
  return "  " + name + ":\n    targets: {web: {hosts: [{name: " + name +
         "-1, address: 10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}]}}\n"
         "    strategy: {type: all-at-once}\n" +
         extra;
}

const std::string kBake =
    "    analysis:\n"
    "      bakeWatch: {template: default, duration: 5m}\n"
    "      templates:\n"
    "        default:\n"
    "          metrics: {error_rate: {query: 'sum(rate(errors[1m]))'}}\n"
    "          rules: [{name: errors, failWhen: 'error_rate > 5%'}]\n";

class ReleaseIntakePromotionItest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = std::make_unique<st::PgSchema>("rip");
    const std::string suffix = st::RandomSuffix();
    deployments_topic_ = "itest.deployments." + suffix;
    analyses_topic_ = "itest.analyses." + suffix;
    intake_topic_ = "itest.intake." + suffix;
    port_ = st::FreePort();
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)},
            {"SLUICE_PG_SCHEMA", schema_->Name()},
            {"SLUICE_PG_DSN", schema_->Dsn()},
            {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
            {"SLUICE_KAFKA_GROUP", "itest-promotion-" + suffix},
            {"SLUICE_INTAKE_TOPICS", intake_topic_},
            {"SLUICE_INTAKE_RESULTS_TOPIC", "itest.intake.results." + suffix},
            {"SLUICE_PROMOTION_TOPICS", deployments_topic_ + "," + analyses_topic_},
            {"SLUICE_ADMIN_TOKEN", admin_token_},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            {"SLUICE_PLANNER_URL", "http://127.0.0.1:" + std::to_string(st::FreePort())},
            {"SLUICE_LOG_LEVEL", "info"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/release-intake-" + schema_->Name() + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Url("/readyz"), 60s)) << service_->LogTail();
    ASSERT_TRUE(WaitFor(
        [] {
          http::ClientRequest req;
          req.url = Url("/readyz");
          req.timeout = 5s;
          try {
            const auto body = http::Send(req).body;
            return body.find("kafka-promotion") != std::string::npos &&
                   body.find("promotions wait") == std::string::npos;
          } catch (const http::HttpError&) {
            return false;
          }
        },
        60s))
        << service_->LogTail();
    kafka::KafkaConfig c;
    c.brokers = KafkaBrokers();
    c.client_id = "itest-promotion";
    producer_ = std::make_unique<kafka::Producer>(c);
    deployer_ = NewToken("deployer");
  }
  static void TearDownTestSuite() {
    producer_.reset();
    if (service_) {
      EXPECT_EQ(service_->Terminate(), 0) << service_->LogTail();
    }
    service_.reset();
    schema_.reset();
  }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  static http::ClientResponse Call(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string& token,
                                   const std::string& content_type = "application/json") {
    http::ClientRequest req;
    req.method = method;
    req.url = Url(path);
    req.body = body;
    req.timeout = 10s;
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
    return http::Send(req);
  }
  static std::string NewToken(const std::string& role) {
    auto r =
        Call("POST", "/v1/tokens",
             json{{"name", role + "-" + st::RandomSuffix()}, {"role", role}}.dump(), admin_token_);
    if (r.status != 201) throw std::runtime_error("token: " + r.body);
    return json::parse(r.body)["token"];
  }

  // The app with `envs`, and a release of it; the release id.
  static std::string AppWithRelease(const std::string& app, const std::string& envs) {
    const auto spec = Call("PUT", "/v1/apps/" + app, "app: " + app + "\nenvironments:\n" + envs,
                           admin_token_, "application/yaml");
    EXPECT_EQ(spec.status, 201) << spec.body;
    const auto r = Call("POST", "/v1/releases",
                        json{{"app", app},
                             {"tag", "v1.0.0"},
                             {"artifact_url", "https://artifacts.example.com/" + app + ".tar.gz"},
                             {"sha256", kSha}}
                            .dump(),
                        deployer_);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("id", "");
  }

  static http::ClientResponse Deploy(const std::string& release, const std::string& env,
                                     bool dry_run = false) {
    return Call("POST", std::string("/v1/deployments") + (dry_run ? "?dry_run=true" : ""),
                json{{"release_id", release}, {"env", env}}.dump(), deployer_);
  }

  // The `blocked` of a dry run ("" when the release may go).
  static std::string Blocked(const std::string& release, const std::string& env) {
    const auto r = Deploy(release, env, /*dry_run=*/true);
    if (r.status != 200) return "status " + std::to_string(r.status) + ": " + r.body;
    const auto j = json::parse(r.body);
    return j.contains("blocked") ? j["blocked"].value("code", "?") + "/" +
                                       j["blocked"]["detail"].value("waiting_for", "")
                                 : "";
  }

  // Produces an event as the planner or the watcher would, keyed by `key`.
  static void Produce(events::v1::Envelope e, const std::string& topic, const std::string& key) {
    events::Finalize(e);
    kafka::OutgoingMessage m;
    m.topic = topic;
    m.key = key;
    m.value = e.SerializeAsString();
    for (auto& [k, v] : events::CloudEventHeaders(e)) m.headers.push_back({k, v});
    producer_->ProduceSync({m}, 10s);
  }
  static events::v1::Envelope Planned(const std::string& deployment, const std::string& app,
                                      const std::string& env, const std::string& release) {
    auto e = events::NewEnvelope("rollout-planner", clock_);
    e.set_deployment_id(deployment);
    e.set_release_id(release);
    auto* p = e.mutable_deployment_planned();
    p->set_deployment_id(deployment);
    p->set_app(app);
    p->set_env(env);
    p->set_release_id(release);
    return e;
  }
  static events::v1::Envelope Succeeded(const std::string& deployment, const std::string& app,
                                        const std::string& env, const std::string& release) {
    auto e = events::NewEnvelope("rollout-planner", clock_);
    e.set_deployment_id(deployment);
    e.set_release_id(release);
    auto* p = e.mutable_deployment_succeeded();
    p->set_deployment_id(deployment);
    p->set_app(app);
    p->set_env(env);
    return e;
  }

  static std::vector<json> Audit(const std::string& action, const std::string& target) {
    const auto r = Call("GET", "/v1/audit?limit=200", "", admin_token_);
    EXPECT_EQ(r.status, 200) << r.body;
    const json page = json::parse(r.body);  // newest first
    std::vector<json> out;
    for (const auto& item : page["items"]) {
      if (item.value("action", "") == action && item.value("target", "") == target) {
        out.push_back(item);
      }
    }
    return out;
  }

  static inline std::unique_ptr<st::ChildProcess> service_;
  static inline std::unique_ptr<st::PgSchema> schema_;
  static inline std::unique_ptr<kafka::Producer> producer_;
  static inline core::SystemClock clock_;
  static inline std::string deployments_topic_;
  static inline std::string analyses_topic_;
  static inline std::string intake_topic_;
  static inline int port_ = 0;
  static inline std::string admin_token_;
  static inline std::string deployer_;
};

TEST_F(ReleaseIntakePromotionItest, AReleaseGoesOnOnlyAfterItPassedTheEnvironmentBefore) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release = AppWithRelease(
      app, EnvYaml("dev", kBake) + EnvYaml("staging", "    promotion: {from: dev}\n"));
  ASSERT_FALSE(release.empty());

  // Never deployed to dev: refused, naming dev and the command to run; audited.
  auto r = Deploy(release, "staging");
  ASSERT_EQ(r.status, 409) << r.body;
  auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["code"], "promotion_required");
  EXPECT_EQ(error["detail"]["requires"], "dev");
  EXPECT_EQ(error["next"], "sluice deploy --release " + release + " --env dev");
  EXPECT_NE(error["message"].get<std::string>().find("after it passed 'dev'"), std::string::npos);
  const auto refused = Audit("deployment.request", app + "/staging");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0]["outcome"], "refused_promotion_required");
  // The dry run shows the plan and why the release may not go yet.
  EXPECT_EQ(Blocked(release, "staging"), "promotion_required/");
  // dev has no gate.
  EXPECT_EQ(Blocked(release, "dev"), "");

  // The planner says it succeeded in dev: the bake watch is still to pass.
  const std::string dep = "dep-" + st::RandomSuffix(12);
  Produce(Planned(dep, app, "dev", release), deployments_topic_, dep);
  Produce(Succeeded(dep, app, "dev", release), deployments_topic_, dep);
  std::string blocked;
  EXPECT_TRUE(WaitFor(
      [&] { return (blocked = Blocked(release, "staging")) == "promotion_pending/bake_watch"; },
      30s))
      << blocked << "\n"
      << service_->LogTail();
  EXPECT_EQ(Deploy(release, "staging").status, 409);

  // The watcher says the bake passed: staging takes it.
  auto passed = events::NewEnvelope("metric-watcher", clock_);
  passed.set_deployment_id(dep);
  passed.mutable_analysis_passed()->set_deployment_id(dep);
  passed.mutable_analysis_passed()->set_bake_watch(true);
  Produce(passed, analyses_topic_, dep);
  EXPECT_TRUE(WaitFor([&] { return (blocked = Blocked(release, "staging")).empty(); }, 30s))
      << blocked;
  r = Deploy(release, "staging");
  EXPECT_EQ(r.status, 202) << r.body;
}

TEST_F(ReleaseIntakePromotionItest, TheKafkaIntakePathPassesTheSameGate) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release =
      AppWithRelease(app, EnvYaml("dev", "") + EnvYaml("staging", "    promotion: manual\n"));
  ASSERT_FALSE(release.empty());
  v1::IntakeSubmission s;
  s.set_submission_id("sub-" + st::RandomSuffix(16));
  s.mutable_deployment()->set_release_id(release);
  s.mutable_deployment()->set_env("staging");
  kafka::OutgoingMessage m{intake_topic_, app, s.SerializeAsString(), {}};
  m.headers.push_back({"authorization", "Bearer " + deployer_});
  producer_->ProduceSync({m}, 10s);
  std::vector<json> refused;
  EXPECT_TRUE(WaitFor(
      [&] { return !(refused = Audit("deployment.request", app + "/staging")).empty(); }, 30s))
      << service_->LogTail();
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0]["outcome"], "refused_promotion_required");
  EXPECT_EQ(refused[0]["detail"]["transport"], "kafka");
  EXPECT_EQ(refused[0]["detail"]["requires"], "dev");
}

TEST_F(ReleaseIntakePromotionItest, AutoPromotionIsRequestedOnceBySluiceItself) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release =
      AppWithRelease(app, EnvYaml("dev", "") + EnvYaml("staging", "    promotion: auto\n"));
  ASSERT_FALSE(release.empty());
  const std::string dep = "dep-" + st::RandomSuffix(12);
  Produce(Planned(dep, app, "dev", release), deployments_topic_, dep);
  auto succeeded = Succeeded(dep, app, "dev", release);
  Produce(succeeded, deployments_topic_, dep);
  Produce(succeeded, deployments_topic_, dep);  // redelivered: the inbox makes it a no-op
  // Another success of the same deployment (a new event id) after it: promoted already.
  Produce(Succeeded(dep, app, "dev", release), deployments_topic_, dep);
  // A marker behind them on the same partition: once it is seen, all of them were handled.
  const std::string marker = "dep-" + st::RandomSuffix(12);
  Produce(Planned(marker, app, "qa", release), deployments_topic_, dep);
  pqxx::connection conn(schema_->Dsn());
  EXPECT_TRUE(WaitFor(
      [&] {
        pqxx::work tx(conn);
        return tx.exec1("SELECT count(*) FROM " + schema_->Name() +
                        ".env_deployments WHERE deployment_id = " + tx.quote(marker))[0]
                   .as<int>() == 1;
      },
      30s))
      << service_->LogTail();

  const auto promotions = Audit("promotion.auto", app + "/staging");
  ASSERT_EQ(promotions.size(), 1u) << service_->LogTail();
  EXPECT_EQ(promotions[0]["actor"], "sluice:promotion");
  EXPECT_EQ(promotions[0]["outcome"], "requested");
  EXPECT_EQ(promotions[0]["detail"]["passed_deployment_id"], dep);
  const auto requests = Audit("deployment.request", app + "/staging");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["actor"], "sluice:promotion");
  EXPECT_EQ(requests[0]["outcome"], "requested");
  EXPECT_EQ(requests[0]["detail"]["transport"], "promotion");
}

TEST_F(ReleaseIntakePromotionItest, AFrozenEnvironmentRefusesDeploymentsUntilAnAdminLiftsIt) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release = AppWithRelease(app, EnvYaml("dev", "") + EnvYaml("prod", ""));
  const std::string path = "/v1/apps/" + app + "/environments/prod/freeze";
  const std::string reason = json{{"reason", "quarter-end close"}}.dump();

  EXPECT_EQ(Call("PUT", path, reason, deployer_).status, 403);
  EXPECT_EQ(Call("PUT", "/v1/apps/" + app + "/environments/qa/freeze", reason, admin_token_).status,
            404);
  EXPECT_EQ(Call("PUT", path, "{}", admin_token_).status, 400);
  auto r = Call("PUT", path, reason, admin_token_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["frozen"]["frozen_by"], "local-admin");

  r = Deploy(release, "prod");
  ASSERT_EQ(r.status, 409) << r.body;
  const auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["code"], "environment_frozen");
  EXPECT_NE(error["message"].get<std::string>().find("frozen by local-admin: quarter-end close"),
            std::string::npos);
  EXPECT_EQ(Deploy(release, "dev").status, 202);  // only prod is frozen

  const auto envs =
      json::parse(Call("GET", "/v1/apps/" + app + "/environments", "", deployer_).body);
  ASSERT_EQ(envs["items"].size(), 2u);
  EXPECT_TRUE(envs["items"][0]["frozen"].is_null());
  EXPECT_EQ(envs["items"][1]["frozen"]["reason"], "quarter-end close");

  EXPECT_EQ(Call("DELETE", path, "", deployer_).status, 403);
  EXPECT_EQ(Call("DELETE", path, "", admin_token_).status, 200);
  EXPECT_EQ(Deploy(release, "prod").status, 202);

  EXPECT_EQ(Audit("environment.freeze", app + "/prod").size(), 1u);
  EXPECT_EQ(Audit("environment.unfreeze", app + "/prod").at(0)["outcome"], "lifted");
  EXPECT_EQ(Audit("deployment.request", app + "/prod").back()["outcome"],
            "refused_environment_frozen");
}

TEST_F(ReleaseIntakePromotionItest, OutsideItsWindowsADeploymentIsRefusedNamingTheNextOpening) {
  const std::string app = "papp-" + st::RandomSuffix();
  // The window opens the day after tomorrow (UTC), so it is closed now whatever the time.
  const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::weekday later{day + std::chrono::days(2)};
  static const char* const kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const std::string window = "    windows: [{days: [" + std::string(kDays[later.c_encoding()]) +
                             "], start: '10:00', end: '12:00', timeZone: UTC}]\n";
  const std::string release = AppWithRelease(app, EnvYaml("prod", window));
  ASSERT_FALSE(release.empty());
  const auto r = Deploy(release, "prod");
  ASSERT_EQ(r.status, 409) << r.body;
  const auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["code"], "outside_window");
  const std::int64_t opens =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          (day + std::chrono::days(2) + std::chrono::hours(10)).time_since_epoch())
          .count();
  EXPECT_EQ(error["detail"]["next_open_ms"], opens) << r.body;
  EXPECT_EQ(Blocked(release, "prod"), "outside_window/");
  EXPECT_EQ(Audit("deployment.request", app + "/prod").at(0)["outcome"], "refused_outside_window");

  // A zone the system tz database does not have is refused when the spec is applied.
  const auto bad = Call("PUT", "/v1/apps/" + app,
                        "app: " + app + "\nenvironments:\n" +
                            EnvYaml("prod",
                                    "    windows: [{days: [mon], start: '10:00', end: '12:00', "
                                    "timeZone: Mars/Olympus}]\n"),
                        admin_token_, "application/yaml");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(json::parse(bad.body)["error"]["field"], "environments.prod.windows[0].timeZone");
}

}  // namespace
}  // namespace sluice::release_intake
