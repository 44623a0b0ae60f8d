// Environments and promotion against the real release-intake binary, PostgreSQL and Kafka of
// the local stack: the gate on POST /v1/deployments (and its dry run), the deployment outcomes
// it learns from the planner's and the watcher's events (produced here on topics of the test's
// own, as those services would), `promotion: auto` requested once however often an event is
// delivered, and the freeze switch. Every decision is read back from the audit log.
//
// Isolation: its own Postgres schema, port, consumer groups, topics and app names.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sluice/v1/intake.pb.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <thread>

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
    planner_port_ = st::FreePort();
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    service_env_ = std::map<std::string, std::string>{
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
        // Nothing listens there but a test's stand-in for the planner's deployment list.
        {"SLUICE_PLANNER_URL", "http://127.0.0.1:" + std::to_string(planner_port_)},
        {"SLUICE_LOG_LEVEL", "info"}};
    StartService();
    WaitReady();
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

  // Ready, with the promotion consumer's partitions assigned.
  static void WaitReady() {
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
  }

  // The binary on the suite's schema, port and topics (again after a restart).
  static void StartService() {
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN}, service_env_,
        std::string(SLUICE_TEST_LOG_DIR) + "/release-intake-" + schema_->Name() + ".log");
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

  // A token created with `body` (name added): {id, token}.
  static std::pair<std::string, std::string> NewTokenWith(json body) {
    body["name"] = "grant-" + st::RandomSuffix();
    const auto r = Call("POST", "/v1/tokens", body.dump(), admin_token_);
    if (r.status != 201) throw std::runtime_error("token: " + r.body);
    const auto j = json::parse(r.body);
    return {j["id"], j["token"]};
  }
  static http::ClientResponse DeployAs(const std::string& token, const std::string& release,
                                       const std::string& env, const json& extra = json::object(),
                                       bool dry_run = false) {
    json body = {{"release_id", release}, {"env", env}};
    body.update(extra);
    return Call("POST", std::string("/v1/deployments") + (dry_run ? "?dry_run=true" : ""),
                body.dump(), token);
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
  static inline std::map<std::string, std::string> service_env_;
  static inline std::unique_ptr<st::PgSchema> schema_;
  static inline std::unique_ptr<kafka::Producer> producer_;
  static inline core::SystemClock clock_;
  static inline std::string deployments_topic_;
  static inline std::string analyses_topic_;
  static inline std::string intake_topic_;
  static inline int port_ = 0;
  static inline int planner_port_ = 0;
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

TEST_F(ReleaseIntakePromotionItest, OutsideItsWindowsADeploymentWaitsNamingTheNextOpening) {
  const std::string app = "papp-" + st::RandomSuffix();
  // The window opens the day after tomorrow (UTC), so it is closed now whatever the time.
  const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::weekday later{day + std::chrono::days(2)};
  static const char* const kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const std::string window = "    windows: [{days: [" + std::string(kDays[later.c_encoding()]) +
                             "], start: '10:00', end: '12:00', timeZone: UTC}]\n";
  const std::string release = AppWithRelease(app, EnvYaml("prod", window));
  ASSERT_FALSE(release.empty());
  EXPECT_EQ(Blocked(release, "prod"), "outside_window/");  // the plan says why it waits
  const auto r = Deploy(release, "prod");
  ASSERT_EQ(r.status, 202) << r.body;
  const auto answer = json::parse(r.body);
  EXPECT_EQ(answer["status"], "waiting");
  const std::string id = answer["deployment_id"];
  const std::int64_t opens =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          (day + std::chrono::days(2) + std::chrono::hours(10)).time_since_epoch())
          .count();
  EXPECT_EQ(answer["waiting"]["code"], "outside_window");
  EXPECT_EQ(answer["waiting"]["next_open_ms"], opens) << r.body;
  EXPECT_EQ(Audit("deployment.request", app + "/prod").at(0)["outcome"], "waiting_outside_window");

  // Its status says why it waits and until when; an operator aborts it.
  auto got = Call("GET", "/v1/deployments/" + id, "", deployer_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body)["status"], "waiting");
  EXPECT_EQ(json::parse(got.body)["waiting"]["next_open_ms"], opens) << got.body;
  EXPECT_EQ(Call("POST", "/v1/deployments/" + id + ":pause", "{}", admin_token_).status, 409);
  const auto abort = Call("POST", "/v1/deployments/" + id + ":abort",
                          json{{"reason", "not this week"}}.dump(), admin_token_);
  ASSERT_EQ(abort.status, 202) << abort.body;
  got = Call("GET", "/v1/deployments/" + id, "", deployer_);
  EXPECT_EQ(json::parse(got.body)["status"], "aborted") << got.body;
  EXPECT_EQ(Audit("deployment.abort", app + "/prod").at(0)["outcome"], "aborted_waiting");
  // Its event stream (the console's and `sluice deployment watch`'s) shows it, and ends.
  const auto stream = Call("GET", "/v1/events?deployment=" + id, "", deployer_);
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_NE(stream.body.find("event: snapshot"), std::string::npos) << stream.body;
  EXPECT_NE(stream.body.find("\"status\":\"aborted\""), std::string::npos) << stream.body;
  EXPECT_NE(stream.body.find("event: end"), std::string::npos) << stream.body;

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

// GET /v1/deployments shows a deployment waiting for its window before the planner's (a local
// server stands in for the planner and lists one of its own, whatever the filters), with and
// without filters, as GET by id shows it; an aborted one only when asked for.
TEST_F(ReleaseIntakePromotionItest, TheDeploymentListShowsAWaitingDeploymentFirst) {
  const std::string app = "papp-" + st::RandomSuffix();
  const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  const std::chrono::weekday later{day + std::chrono::days(2)};
  static const char* const kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const std::string window = "    windows: [{days: [" + std::string(kDays[later.c_encoding()]) +
                             "], start: '10:00', end: '12:00', timeZone: UTC}]\n";
  const std::string release = AppWithRelease(app, EnvYaml("prod", window));
  ASSERT_FALSE(release.empty());

  httplib::Server planner;
  std::mutex mu;
  std::vector<std::multimap<std::string, std::string>> asked;  // the planner's list queries
  planner.Get("/v1/deployments", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu);
      asked.push_back(req.params);
    }
    const json started = {{"id", "planner-1"},
                          {"release_id", release},
                          {"app", app},
                          {"env", "prod"},
                          {"version", "1.0.0"},
                          {"strategy", "all-at-once"},
                          {"status", "succeeded"},
                          {"phase", "done"},
                          {"generation", 1},
                          {"current_batch", 0},
                          {"batch_count", 1},
                          {"created_at", "2026-01-01T00:00:00.000Z"}};
    res.set_content(json{{"deployments", json::array({started})}}.dump(), "application/json");
  });
  ASSERT_TRUE(planner.bind_to_port("127.0.0.1", planner_port_));
  std::thread serving = http::testing::ServeInBackground(planner);
  struct Stop {
    httplib::Server& server;
    std::thread& thread;
    ~Stop() {
      server.stop();
      thread.join();
    }
  } stop{planner, serving};
  const auto times_asked = [&] {
    std::lock_guard lock(mu);
    return asked.size();
  };

  const auto r = Deploy(release, "prod");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = json::parse(r.body)["deployment_id"];
  const auto list = [&](const std::string& query) {
    const auto got = Call("GET", "/v1/deployments" + query, "", deployer_);
    EXPECT_EQ(got.status, 200) << query << ": " << got.body;
    return got.status == 200 ? json::parse(got.body)["deployments"] : json::array();
  };
  const auto ids = [&](const std::string& query) {
    std::vector<std::string> out;
    for (const auto& d : list(query)) out.push_back(d["id"]);
    return out;
  };
  using Ids = std::vector<std::string>;

  // Without filters (other tests' waiting deployments may be listed too): before the planner's,
  // as GET by id shows it.
  const json all = list("");
  const auto at = [&](const std::string& wanted) {
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (all[i]["id"] == wanted) return static_cast<int>(i);
    }
    return -1;
  };
  ASSERT_GE(at(id), 0) << all.dump();
  EXPECT_LT(at(id), at("planner-1")) << all.dump();
  const auto by_id = Call("GET", "/v1/deployments/" + id, "", deployer_);
  ASSERT_EQ(by_id.status, 200) << by_id.body;
  EXPECT_EQ(all[at(id)], json::parse(by_id.body));
  EXPECT_EQ(all[at(id)]["status"], "waiting");
  EXPECT_EQ(all[at(id)]["waiting"]["code"], "outside_window");

  // Filtered: app and env match it, status=waiting lists only held ones (the planner is not
  // asked), another environment or status does not; past the first page only the planner's.
  EXPECT_EQ(ids("?app=" + app + "&env=prod"), (Ids{id, "planner-1"}));
  const auto before = times_asked();
  EXPECT_EQ(ids("?app=" + app + "&status=waiting"), (Ids{id}));
  EXPECT_EQ(times_asked(), before);
  EXPECT_EQ(ids("?app=" + app + "&env=staging"), (Ids{"planner-1"}));
  EXPECT_EQ(ids("?app=" + app + "&status=running"), (Ids{"planner-1"}));
  EXPECT_EQ(ids("?app=" + app + "&limit=1"), (Ids{id, "planner-1"}));  // one more, see limit
  EXPECT_EQ(ids("?app=" + app + "&cursor=planner-0"), (Ids{"planner-1"}));
  const auto bad = Call("GET", "/v1/deployments?status=started", "", deployer_);
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(json::parse(bad.body)["error"]["field"], "status");

  // Aborted: out of the list unless status=aborted asks for it (and the planner is asked too).
  ASSERT_EQ(Call("POST", "/v1/deployments/" + id + ":abort",
                 json{{"reason", "not this week"}}.dump(), admin_token_)
                .status,
            202);
  EXPECT_EQ(ids("?app=" + app), (Ids{"planner-1"}));
  const json aborted = list("?app=" + app + "&status=aborted");
  ASSERT_EQ(aborted.size(), 2u) << aborted.dump();
  EXPECT_EQ(aborted[0]["id"], id);
  EXPECT_EQ(aborted[0]["status"], "aborted");
  std::lock_guard lock(mu);
  ASSERT_FALSE(asked.empty());
  const std::multimap<std::string, std::string> forwarded = {{"app", app}, {"status", "aborted"}};
  EXPECT_EQ(asked.back(), forwarded);
}

// A window that opens within the next minute or so: the deployment waits, is frozen at the
// opening (release-intake was restarted meanwhile) and keeps waiting with that reason, and
// starts by itself once the freeze is lifted.
TEST_F(ReleaseIntakePromotionItest, AWaitingDeploymentStartsWhenItsWindowOpensAndNotWhileFrozen) {
  const std::string app = "papp-" + st::RandomSuffix();
  // The next whole minute at least 5 s away (UTC); the window is 30 minutes from then.
  const auto now = std::chrono::system_clock::now();
  const auto opening = std::chrono::ceil<std::chrono::minutes>(now + std::chrono::seconds(5));
  const auto day = std::chrono::floor<std::chrono::days>(opening);
  static const char* const kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const auto clock_time = [](std::chrono::sys_time<std::chrono::minutes> t) {
    const std::chrono::hh_mm_ss hms{t - std::chrono::floor<std::chrono::days>(t)};
    char text[8];
    std::snprintf(text, sizeof text, "%02d:%02d", static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()));
    return std::string(text);
  };
  const std::string start = clock_time(opening);
  const std::string end = clock_time(opening + std::chrono::minutes(30));
  const std::string window = "    windows: [{days: [" +
                             std::string(kDays[std::chrono::weekday{day}.c_encoding()]) +
                             "], start: '" + start + "', end: '" + end + "', timeZone: UTC}]\n";
  const std::string release = AppWithRelease(app, EnvYaml("prod", window));
  ASSERT_FALSE(release.empty());
  const auto r = Deploy(release, "prod");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = json::parse(r.body)["deployment_id"];
  EXPECT_EQ(json::parse(r.body)["waiting"]["code"], "outside_window") << r.body;
  const std::string freeze = "/v1/apps/" + app + "/environments/prod/freeze";
  ASSERT_EQ(Call("PUT", freeze, json{{"reason", "incident 42"}}.dump(), admin_token_).status, 200);

  const auto outcomes = [&] {
    std::vector<std::string> out;
    for (const auto& a : Audit("deployment.start", app + "/prod")) out.push_back(a["outcome"]);
    return out;
  };
  const auto has = [&](const std::string& outcome) {
    const auto o = outcomes();
    return std::find(o.begin(), o.end(), outcome) != o.end();
  };
  // Down over the opening: what came due while it was down is acted on once it is back (the
  // waiting deployment and its timer are rows, not memory).
  ASSERT_EQ(service_->Terminate(), 0) << service_->LogTail();
  std::this_thread::sleep_until(opening + 2s);
  StartService();
  WaitReady();
  // At the opening the freeze holds it: waiting, with the freeze as its reason.
  ASSERT_TRUE(WaitFor([&] { return has("waiting_environment_frozen"); }, 100s, 1s))
      << service_->LogTail();
  EXPECT_GE(std::chrono::system_clock::now(), opening);
  EXPECT_FALSE(has("started"));
  const auto got = Call("GET", "/v1/deployments/" + id, "", deployer_);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body)["status"], "waiting");
  EXPECT_EQ(json::parse(got.body)["waiting"]["code"], "environment_frozen") << got.body;

  // Lifted: it starts by itself (its DeploymentRequested goes to the planner).
  ASSERT_EQ(Call("DELETE", freeze, "", admin_token_).status, 200);
  ASSERT_TRUE(WaitFor([&] { return has("started"); }, 60s, 1s)) << service_->LogTail();
  pqxx::connection c(schema_->Dsn());
  pqxx::work tx(c);
  tx.exec("SET search_path TO " + tx.quote_name(schema_->Name()));
  EXPECT_EQ(tx.exec_params("SELECT state FROM deployment_waits WHERE deployment_id = $1", id)[0][0]
                .as<std::string>(),
            "started");
  EXPECT_EQ(
      tx.exec_params("SELECT count(*) FROM timers WHERE key LIKE '%' || $1", id)[0][0].as<int>(),
      0);
}

// Roles per environment: a deployer of staging is a viewer of production unless granted more,
// over HTTP and over the Kafka intake topic; the refusal names the environment and the role.
TEST_F(ReleaseIntakePromotionItest, AStagingDeployerIsAViewerOfProductionUnlessGrantedMore) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release =
      AppWithRelease(app, EnvYaml("staging", "") + EnvYaml("production", ""));
  ASSERT_FALSE(release.empty());
  const auto [id, ci] =
      NewTokenWith({{"role", "viewer"}, {"environments", {{"staging", "deployer"}}}});

  auto r = DeployAs(ci, release, "staging");
  EXPECT_EQ(r.status, 202) << r.body;
  r = DeployAs(ci, release, "production");
  ASSERT_EQ(r.status, 403) << r.body;
  auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["code"], "forbidden_in_environment");
  EXPECT_EQ(error["field"], "env");
  EXPECT_EQ(error["detail"]["env"], "production");
  EXPECT_EQ(error["detail"]["role"], "viewer");
  EXPECT_EQ(error["detail"]["needed"], "deployer");
  EXPECT_NE(error["message"].get<std::string>().find("environment 'production'"),
            std::string::npos);
  EXPECT_EQ(DeployAs(ci, release, "production", json::object(), /*dry_run=*/true).status, 403);
  // Its global role still decides elsewhere: a viewer registers no release.
  EXPECT_EQ(Call("POST", "/v1/releases",
                 json{{"app", app},
                      {"tag", "v1.0.1"},
                      {"artifact_url", "https://artifacts.example.com/" + app + ".tar.gz"},
                      {"sha256", kSha}}
                     .dump(),
                 ci)
                .status,
            403);
  EXPECT_EQ(Call("GET", "/v1/whoami", "", ci).status, 200);
  EXPECT_EQ(json::parse(Call("GET", "/v1/whoami", "", ci).body)["environments"]["staging"],
            "deployer");

  // The same over the Kafka intake topic.
  v1::IntakeSubmission s;
  const std::string submission = "sub-" + st::RandomSuffix(16);
  s.set_submission_id(submission);
  s.mutable_deployment()->set_release_id(release);
  s.mutable_deployment()->set_env("production");
  kafka::OutgoingMessage m{intake_topic_, app, s.SerializeAsString(), {}};
  m.headers.push_back({"authorization", "Bearer " + ci});
  producer_->ProduceSync({m}, 10s);
  pqxx::connection conn(schema_->Dsn());
  std::string answer;
  EXPECT_TRUE(WaitFor(
      [&] {
        pqxx::work tx(conn);
        const auto rows = tx.exec_params("SELECT result::text FROM " + schema_->Name() +
                                             ".intake_answers WHERE submission_id = $1",
                                         submission);
        if (!rows.empty()) answer = rows[0][0].as<std::string>();
        return !rows.empty();
      },
      30s))
      << service_->LogTail();
  EXPECT_NE(answer.find("forbidden_in_environment"), std::string::npos) << answer;
  EXPECT_NE(answer.find("403"), std::string::npos) << answer;
  EXPECT_EQ(Audit("deployment.request", app + "/production").size(), 0u);

  // An admin grants production: it deploys there; the grant is listed and audited; removed, the
  // token is a viewer there again. Only an admin grants.
  const std::string grant = "/v1/tokens/" + id + "/environments/production";
  EXPECT_EQ(Call("PUT", grant, json{{"role", "deployer"}}.dump(), deployer_).status, 403);
  EXPECT_EQ(Call("PUT", grant, json{{"role", "owner"}}.dump(), admin_token_).status, 400);
  r = Call("PUT", grant, json{{"role", "deployer"}}.dump(), admin_token_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["environments"],
            (json{{"production", "deployer"}, {"staging", "deployer"}}));
  r = DeployAs(ci, release, "production");
  EXPECT_EQ(r.status, 202) << r.body;
  const auto tokens = json::parse(Call("GET", "/v1/tokens", "", admin_token_).body);
  bool listed = false;
  for (const auto& t : tokens["items"]) {
    if (t["id"] == id) listed = t["environments"]["production"] == "deployer";
  }
  EXPECT_TRUE(listed) << tokens.dump();
  EXPECT_EQ(Call("DELETE", grant, "", admin_token_).status, 200);
  EXPECT_EQ(DeployAs(ci, release, "production").status, 403);
  const json audit = json::parse(Call("GET", "/v1/audit?limit=200", "", admin_token_).body);
  int grants = 0;
  for (const auto& item : audit["items"]) {
    if (item["detail"].value("token_id", "") == id &&
        (item["action"] == "token.grant" || item["action"] == "token.ungrant")) {
      ++grants;
    }
  }
  EXPECT_EQ(grants, 2) << audit.dump();
}

// An approver grant in one environment approves there and nowhere else.
TEST_F(ReleaseIntakePromotionItest, AnApproverGrantApprovesInItsEnvironmentOnly) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release =
      AppWithRelease(app, EnvYaml("staging", "") + EnvYaml("production", ""));
  ASSERT_FALSE(release.empty());
  const auto [id, ops] =
      NewTokenWith({{"role", "deployer"}, {"environments", {{"production", "approver"}}}});
  auto staging = Deploy(release, "staging");
  auto production = Deploy(release, "production");
  ASSERT_EQ(staging.status, 202) << staging.body;
  ASSERT_EQ(production.status, 202) << production.body;
  const std::string in_staging = json::parse(staging.body)["deployment_id"];
  const std::string in_production = json::parse(production.body)["deployment_id"];

  auto r = Call("POST", "/v1/deployments/" + in_production + ":approve", "", ops);
  EXPECT_EQ(r.status, 202) << r.body;
  r = Call("POST", "/v1/deployments/" + in_staging + ":approve", "", ops);
  ASSERT_EQ(r.status, 403) << r.body;
  const auto error = json::parse(r.body)["error"];
  EXPECT_EQ(error["code"], "forbidden_in_environment");
  EXPECT_EQ(error["detail"]["env"], "staging");
  EXPECT_EQ(error["detail"]["role"], "deployer");
  EXPECT_EQ(error["detail"]["needed"], "approver");
  // Its global deployer role still pauses in staging.
  EXPECT_EQ(Call("POST", "/v1/deployments/" + in_staging + ":pause", "", ops).status, 202);
  EXPECT_EQ(Audit("deployment.approve", in_production).size(), 1u);
  EXPECT_EQ(Audit("deployment.approve", in_staging).size(), 0u);
}

// An admin deploys past the gate only with an override and a reason, which land in the audit
// log and on the deployment's record; anyone else is refused, and without an override the gate
// holds for admins too.
TEST_F(ReleaseIntakePromotionItest, AnAdminOverridesTheGateWithAReasonAndItIsAudited) {
  const std::string app = "papp-" + st::RandomSuffix();
  const std::string release = AppWithRelease(
      app, EnvYaml("staging", "") + EnvYaml("production", "    promotion: {from: staging}\n"));
  ASSERT_FALSE(release.empty());
  const json over = {{"override", {{"reason", "INC-7: the fix must ship now"}}}};

  // Without an override the gate holds for an admin too.
  EXPECT_EQ(DeployAs(admin_token_, release, "production").status, 409);
  // A deployer's override is refused (403, audited), and so is an approver's.
  auto r = DeployAs(deployer_, release, "production", over);
  ASSERT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "override_not_allowed");
  EXPECT_EQ(json::parse(r.body)["error"]["detail"]["needed"], "admin");
  EXPECT_EQ(DeployAs(NewToken("approver"), release, "production", over).status, 403);
  // An override without a reason is no override.
  EXPECT_EQ(DeployAs(admin_token_, release, "production", {{"override", json::object()}}).status,
            400);
  // The dry run says what it would override.
  r = DeployAs(admin_token_, release, "production", over, /*dry_run=*/true);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["override"]["overridden"], "promotion_required");

  r = DeployAs(admin_token_, release, "production", over);
  ASSERT_EQ(r.status, 202) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["override"]["overridden"], "promotion_required");
  EXPECT_EQ(body["override"]["reason"], "INC-7: the fix must ship now");
  const std::string deployment = body["deployment_id"];

  const auto overrides = Audit("deployment.override", app + "/production");
  ASSERT_EQ(overrides.size(), 1u);
  EXPECT_EQ(overrides[0]["actor"], "local-admin");
  EXPECT_EQ(overrides[0]["outcome"], "overrode_promotion_required");
  EXPECT_EQ(overrides[0]["detail"]["reason"], "INC-7: the fix must ship now");
  EXPECT_EQ(overrides[0]["detail"]["deployment_id"], deployment);
  EXPECT_EQ(overrides[0]["detail"]["refusal"]["detail"]["requires"], "staging");
  std::vector<std::string> outcomes;
  for (const auto& a : Audit("deployment.request", app + "/production")) {
    outcomes.push_back(a["outcome"]);
  }
  // Newest first: the request, the two refused overrides, the admin's refusal without one.
  EXPECT_EQ(outcomes, (std::vector<std::string>{"requested", "refused_override", "refused_override",
                                                "refused_promotion_required"}));
  pqxx::connection conn(schema_->Dsn());
  pqxx::work tx(conn);
  const auto row = tx.exec_params1("SELECT override_reason, overridden FROM " + schema_->Name() +
                                       ".deployment_requests WHERE deployment_id = $1",
                                   deployment);
  EXPECT_EQ(row[0].as<std::string>(), "INC-7: the fix must ship now");
  EXPECT_EQ(row[1].as<std::string>(), "promotion_required");
  tx.commit();

  // A frozen environment: an admin of production by grant overrides it too.
  const std::string freeze = "/v1/apps/" + app + "/environments/production/freeze";
  ASSERT_EQ(Call("PUT", freeze, json{{"reason", "audit week"}}.dump(), admin_token_).status, 200);
  const auto [id, prod_admin] =
      NewTokenWith({{"role", "deployer"}, {"environments", {{"production", "admin"}}}});
  EXPECT_EQ(DeployAs(prod_admin, release, "production").status, 409);
  r = DeployAs(prod_admin, release, "production", {{"override", {{"reason", "INC-8"}}}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(json::parse(r.body)["override"]["overridden"], "environment_frozen");
  EXPECT_EQ(Audit("deployment.override", app + "/production").at(0)["outcome"],
            "overrode_environment_frozen");
  // Its admin grant is for production only: it freezes nothing else, manages no tokens.
  EXPECT_EQ(Call("PUT", "/v1/apps/" + app + "/environments/staging/freeze",
                 json{{"reason", "x"}}.dump(), prod_admin)
                .status,
            403);
  EXPECT_EQ(Call("GET", "/v1/tokens", "", prod_admin).status, 403);
  EXPECT_EQ(Call("DELETE", freeze, "", prod_admin).status, 200);
}

}  // namespace
}  // namespace sluice::release_intake
