// Kafka producers as clients: records produced on the inbound topic are carried out by the real
// release-intake binary against the real PostgreSQL and Kafka of the local stack, and answered
// on the results topic.
//
// Isolation: its own Postgres schema and port; inbound and results topics, consumer groups and
// app names of its own (random suffixes). The dead-letter topic is the shared one: its records
// are told apart by dlq_original_topic.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sluice/v1/intake.pb.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/kafka/consumer.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/testing/event_reader.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <sstream>
#include <thread>

namespace sluice::release_intake {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::WaitFor;

const std::string kSha = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

kafka::KafkaConfig Config(const std::string& client) {
  kafka::KafkaConfig c;
  c.brokers = KafkaBrokers();
  c.client_id = client;
  return c;
}

// Every record of a topic from its start, read by a consumer group of its own.
class RawReader {
 public:
  RawReader(const std::string& topic, kafka::Producer& dead_letters)
      : consumer_(
            Config("itest-raw"), Options(topic),
            [this](const kafka::ConsumedMessage& m) {
              std::lock_guard lock(mu_);
              seen_.push_back(m);
            },
            dead_letters) {
    consumer_.Start();
  }
  ~RawReader() { consumer_.Stop(); }

  std::vector<kafka::ConsumedMessage> Matching(
      const std::function<bool(const kafka::ConsumedMessage&)>& match) const {
    std::lock_guard lock(mu_);
    std::vector<kafka::ConsumedMessage> out;
    for (const auto& m : seen_) {
      if (match(m)) out.push_back(m);
    }
    return out;
  }
  std::vector<kafka::ConsumedMessage> Keyed(const std::string& key) const {
    return Matching([&](const kafka::ConsumedMessage& m) { return m.key == key; });
  }

 private:
  static kafka::ConsumerOptions Options(const std::string& topic) {
    kafka::ConsumerOptions o;
    o.group_id = "itest-raw-" + st::RandomSuffix();
    o.topics = {topic};
    return o;
  }
  mutable std::mutex mu_;
  std::vector<kafka::ConsumedMessage> seen_;
  kafka::Consumer consumer_;  // last: its thread uses the rest
};

class ReleaseIntakeKafkaItest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = std::make_unique<st::PgSchema>("rik");
    const std::string suffix = st::RandomSuffix();
    intake_topic_ = "itest.intake." + suffix;
    ci_principal_ = "itest-ci-" + suffix;
    approver_principal_ = "itest-approver-" + suffix;
    admin_principal_ = "itest-admin-" + suffix;
    results_topic_ = "itest.intake.results." + suffix;
    port_ = st::FreePort();
    planner_port_ = st::FreePort();
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)},
            {"SLUICE_PG_SCHEMA", schema_->Name()},
            {"SLUICE_PG_DSN", schema_->Dsn()},
            {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
            {"SLUICE_KAFKA_GROUP", "itest-intake-" + suffix},
            {"SLUICE_INTAKE_TOPICS", intake_topic_},
            {"SLUICE_INTAKE_RESULTS_TOPIC", results_topic_},
            {"SLUICE_INTAKE_KAFKA_PRINCIPALS", ci_principal_ + "=deployer@production:viewer," +
                                                   approver_principal_ + "=approver," +
                                                   admin_principal_ + "=admin"},
            {"SLUICE_ADMIN_TOKEN", admin_token_},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            // Nothing listens there but a test's stand-in for the planner's deployment.
            {"SLUICE_PLANNER_URL", "http://127.0.0.1:" + std::to_string(planner_port_)},
            {"SLUICE_HOUSEKEEPING_INTERVAL", "1s"},
            {"SLUICE_LOG_LEVEL", "info"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/release-intake-" + schema_->Name() + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Url("/readyz"), 60s))
        << "release-intake did not become ready; log:\n"
        << service_->LogTail();
    // Its consumer has its partitions of the inbound topic (which it created): shown on
    // /readyz, which does not wait for it.
    ASSERT_TRUE(WaitFor(
        [] {
          http::ClientRequest req;
          req.url = Url("/readyz");
          req.timeout = 5s;
          try {
            return http::Send(req).body.find("partition(s) assigned") != std::string::npos;
          } catch (const http::HttpError&) {
            return false;
          }
        },
        60s))
        << service_->LogTail();
    producer_ = std::make_unique<kafka::Producer>(Config("itest-producer"));
    results_ = std::make_unique<RawReader>(results_topic_, *producer_);
    dead_letters_ = std::make_unique<RawReader>("sluice.deadletter.v1", *producer_);
    releases_ = std::make_unique<st::EventReader>(KafkaBrokers(), "sluice.releases.v1");
    viewer_ = NewToken("viewer");
    deployer_ = NewToken("deployer");
    approver_ = NewToken("approver");
  }
  static void TearDownTestSuite() {
    results_.reset();
    dead_letters_.reset();
    releases_.reset();
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

  static std::string NewApp() { return "kapp-" + st::RandomSuffix(); }
  static std::string NewId() { return "sub-" + st::RandomSuffix(16); }

  // Produces one record on the inbound topic, keyed by `app`.
  static void Produce(const std::string& app, const std::string& value, const std::string& token,
                      const std::string& content_type, std::vector<kafka::Header> extra = {}) {
    ProduceTo(intake_topic_, app, value, token, content_type, std::move(extra));
  }
  static void ProduceTo(const std::string& topic, const std::string& app, const std::string& value,
                        const std::string& token, const std::string& content_type,
                        std::vector<kafka::Header> extra = {}) {
    kafka::OutgoingMessage m{topic, app, value, std::move(extra)};
    if (!token.empty()) m.headers.push_back({"authorization", "Bearer " + token});
    if (!content_type.empty()) m.headers.push_back({"content-type", content_type});
    producer_->ProduceSync({m}, 10s);
  }

  static v1::IntakeSubmission Release(const std::string& id, const std::string& app,
                                      const std::string& tag) {
    v1::IntakeSubmission s;
    s.set_submission_id(id);
    auto* r = s.mutable_release();
    r->set_app(app);
    r->set_tag(tag);
    r->set_artifact_url("https://artifacts.example.com/" + app + "-" + tag + ".tar.gz");
    r->set_sha256(kSha);
    return s;
  }

  // The answers to submission `id` once `n` have arrived (protobuf or JSON, each as JSON).
  static std::vector<json> Answers(const std::string& id, std::size_t n = 1,
                                   std::chrono::milliseconds timeout = 30s) {
    std::vector<kafka::ConsumedMessage> got;
    WaitFor([&] { return (got = results_->Keyed(id)).size() >= n; }, timeout);
    std::vector<json> out;
    for (const auto& m : got) {
      if (m.HeaderValue("content-type") == "application/json") {
        out.push_back(json::parse(m.value));
        continue;
      }
      v1::IntakeResult r;
      if (!r.ParseFromString(m.value)) throw std::runtime_error("an answer is not IntakeResult");
      json j = {{"submission_id", r.submission_id()},
                {"outcome", r.outcome() == v1::INTAKE_OUTCOME_ACCEPTED ? "accepted" : "refused"},
                {"kind", r.kind()},
                {"http_status", r.http_status()},
                {"release_id", r.release_id()},
                {"deployment_id", r.deployment_id()},
                {"body", json::parse(r.body_json())}};
      if (r.has_error()) {
        j["error"] = {{"code", r.error().code()},
                      {"message", r.error().message()},
                      {"field", r.error().field()}};
      }
      out.push_back(j);
    }
    return out;
  }

  static std::vector<st::SeenEvent> ReleasesOf(const std::string& app) {
    return releases_->Seen([&](const events::v1::Envelope& e) {
      return e.has_release_created() && e.release_created().app() == app;
    });
  }

  static inline std::unique_ptr<st::ChildProcess> service_;
  static inline std::unique_ptr<st::PgSchema> schema_;
  static inline std::unique_ptr<kafka::Producer> producer_;
  static inline std::unique_ptr<RawReader> results_;
  static inline std::unique_ptr<RawReader> dead_letters_;
  static inline std::unique_ptr<st::EventReader> releases_;
  static inline std::string intake_topic_;
  // Kafka principals mapped to roles (SLUICE_INTAKE_KAFKA_PRINCIPALS), each with its own topic.
  static inline std::string ci_principal_;
  static inline std::string approver_principal_;
  static inline std::string admin_principal_;
  static inline std::string results_topic_;
  static inline int port_ = 0;
  static inline int planner_port_ = 0;
  static inline std::string admin_token_;
  static inline std::string viewer_;
  static inline std::string deployer_;
  static inline std::string approver_;
};

TEST_F(ReleaseIntakeKafkaItest, ReleaseSubmittedOverKafkaIsCreatedAndAnswered) {
  const auto app = NewApp();
  const auto id = NewId();
  Produce(app, Release(id, app, "v1.2.3").SerializeAsString(), deployer_, "");
  const auto answers = Answers(id);
  ASSERT_EQ(answers.size(), 1u) << service_->LogTail();
  const auto& a = answers[0];
  EXPECT_EQ(a["outcome"], "accepted") << a.dump();
  EXPECT_EQ(a["kind"], "release");
  EXPECT_EQ(a["http_status"], 201);
  const std::string release_id = a["release_id"];
  ASSERT_FALSE(release_id.empty());
  EXPECT_EQ(a["body"]["version"], "1.2.3");
  EXPECT_EQ(a["body"]["source"], "kafka");

  ASSERT_TRUE(WaitFor([&] { return !ReleasesOf(app).empty(); }, 30s));
  EXPECT_EQ(ReleasesOf(app)[0].envelope.release_created().release_id(), release_id);
  // The same release, as the HTTP API shows it.
  auto got = Call("GET", "/v1/releases/" + release_id, "", viewer_);
  ASSERT_EQ(got.status, 200) << got.body;
  // The audit log names the token and the transport.
  auto audit = Call("GET", "/v1/audit?limit=200", "", admin_token_);
  ASSERT_EQ(audit.status, 200);
  bool found = false;
  const json items = json::parse(audit.body)["items"];
  for (const auto& e : items) {
    if (e.value("target", "") == app + "@1.2.3") {
      found = true;
      EXPECT_EQ(e["detail"]["source"], "kafka") << e.dump();
      EXPECT_EQ(e["actor"].get<std::string>().rfind("deployer-", 0), 0u) << e.dump();
    }
  }
  EXPECT_TRUE(found) << audit.body;
}

// GET /v1/audit pages newest first by id (next_cursor null on the last page) and filters by
// actor, action, app, env and time, exactly; each refused parameter is named. The entries are
// written here through the API: a token of its own that makes three releases of a new app, and
// a grant of that token in an environment.
TEST_F(ReleaseIntakeKafkaItest, TheAuditLogPagesWithACursorAndFilters) {
  const auto app = NewApp();
  const std::string name = "auditor-" + st::RandomSuffix();
  auto made =
      Call("POST", "/v1/tokens", json{{"name", name}, {"role", "deployer"}}.dump(), admin_token_);
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string token = json::parse(made.body)["token"];
  const std::string token_id = json::parse(made.body)["id"];
  for (const char* tag : {"v1.0.0", "v1.0.1", "v1.0.2"}) {
    auto r = Call("POST", "/v1/releases",
                  json{{"app", app},
                       {"tag", tag},
                       {"artifact_url", "https://artifacts.example.com/" + app + ".tar.gz"},
                       {"sha256", kSha}}
                      .dump(),
                  token);
    ASSERT_EQ(r.status, 201) << r.body;
  }
  const std::string env = "stage-" + st::RandomSuffix();
  auto granted = Call("PUT", "/v1/tokens/" + token_id + "/environments/" + env,
                      json{{"role", "approver"}}.dump(), admin_token_);
  ASSERT_EQ(granted.status, 200) << granted.body;

  auto page = [&](const std::string& query) {
    auto r = Call("GET", "/v1/audit?" + query, "", admin_token_);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return r.status == 200 ? json::parse(r.body) : json{{"items", json::array()}};
  };
  auto targets = [](const json& body) {
    std::vector<std::string> out;
    for (const auto& e : body["items"]) out.push_back(e["target"]);
    return out;
  };

  // Two pages of the app's releases, newest first; the second is the last.
  const json first = page("action=release.create&app=" + app + "&limit=2");
  EXPECT_EQ(targets(first), (std::vector<std::string>{app + "@1.0.2", app + "@1.0.1"}))
      << first.dump();
  ASSERT_TRUE(first["next_cursor"].is_string()) << first.dump();
  EXPECT_EQ(first["next_cursor"], std::to_string(first["items"][1]["id"].get<std::int64_t>()));
  for (const auto& e : first["items"]) {
    EXPECT_EQ(e["app"], app) << e.dump();
    EXPECT_TRUE(e["env"].is_null()) << e.dump();
    EXPECT_EQ(e["actor"], name) << e.dump();
  }
  const json second = page("action=release.create&app=" + app +
                           "&limit=2&cursor=" + first["next_cursor"].get<std::string>());
  EXPECT_EQ(targets(second), std::vector<std::string>{app + "@1.0.0"}) << second.dump();
  EXPECT_TRUE(second["next_cursor"].is_null()) << second.dump();
  // A page exactly as long as what is left is the last one too.
  EXPECT_TRUE(page("action=release.create&app=" + app + "&limit=3")["next_cursor"].is_null());

  // By actor: the token's three releases and nothing else (the grant is the admin's).
  const json by_actor = page("actor=" + name);
  EXPECT_EQ(targets(by_actor),
            (std::vector<std::string>{app + "@1.0.2", app + "@1.0.1", app + "@1.0.0"}))
      << by_actor.dump();
  // By action and env: the grant, made by the bootstrap admin token.
  const json grants = page("action=token.grant&env=" + env);
  ASSERT_EQ(grants["items"].size(), 1u) << grants.dump();
  EXPECT_EQ(grants["items"][0]["target"], name + "/" + env);
  EXPECT_EQ(grants["items"][0]["actor"], "local-admin");
  EXPECT_TRUE(grants["items"][0]["app"].is_null());
  const json created = page("actor=local-admin&action=token.create&limit=200");
  const auto created_targets = targets(created);
  EXPECT_NE(std::find(created_targets.begin(), created_targets.end(), name), created_targets.end())
      << created.dump();
  for (const auto& e : created["items"]) EXPECT_EQ(e["action"], "token.create") << e.dump();

  // By time, [since, until) as every list reads it: the middle release's millisecond holds it;
  // until the oldest's instant, nothing of the token's; from it, all three.
  const json middle = by_actor["items"][1];
  const auto at = [](std::int64_t ms) { return core::FormatRfc3339(core::FromUnixMillis(ms)); };
  const auto middle_ms = middle["at_ms"].get<std::int64_t>();
  const json instant =
      page("actor=" + name + "&since=" + at(middle_ms) + "&until=" + at(middle_ms + 1));
  const auto instant_targets = targets(instant);
  EXPECT_NE(std::find(instant_targets.begin(), instant_targets.end(), app + "@1.0.1"),
            instant_targets.end())
      << instant.dump();
  for (const auto& e : instant["items"]) EXPECT_EQ(e["at_ms"], middle["at_ms"]) << e.dump();
  const auto oldest = by_actor["items"][2]["at_ms"].get<std::int64_t>();
  EXPECT_TRUE(page("actor=" + name + "&until=" + at(oldest))["items"].empty());
  EXPECT_EQ(page("actor=" + name + "&since=" + at(oldest))["items"].size(), 3u);

  // Each refused parameter is named; the role check is unchanged.
  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"cursor=not.a.cursor", "cursor"},
           {"cursor=-1", "cursor"},
           {"limit=0", "limit"},
           {"actor=", "actor"},
           {"action=Token.Create", "action"},
           {"app=Not_An_App", "app"},
           {"env=prod-", "env"},
           {"since=yesterday", "since"},
           {"until=2027-01-31", "until"},
           {"since=2027-01-31T10:00:00Z&until=2027-01-31T09:00:00Z", "until"}}) {
    auto r = Call("GET", "/v1/audit?" + query, "", admin_token_);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
    if (r.status == 400) {
      EXPECT_EQ(json::parse(r.body)["error"]["field"], field) << query << ": " << r.body;
    }
  }
  EXPECT_EQ(Call("GET", "/v1/audit?actor=" + name, "", token).status, 403);
  EXPECT_EQ(Call("GET", "/v1/audit", "", viewer_).status, 403);
}

TEST_F(ReleaseIntakeKafkaItest, RetriedRecordHasOneEffectAndTheSameAnswer) {
  const auto app = NewApp();
  const auto id = NewId();
  const json doc = {{"submission_id", id},
                    {"release",
                     {{"app", app},
                      {"tag", "v2.0.0"},
                      {"artifact_url", "https://artifacts.example.com/" + app + ".tgz"},
                      {"sha256", kSha}}}};
  Produce(app, doc.dump(), deployer_, "application/json");
  Produce(app, doc.dump(), deployer_, "application/json");
  const auto answers = Answers(id, 2);
  ASSERT_EQ(answers.size(), 2u) << service_->LogTail();
  EXPECT_EQ(answers[0], answers[1]);
  EXPECT_EQ(answers[0]["outcome"], "accepted");
  EXPECT_EQ(answers[0]["http_status"], 201);

  ASSERT_TRUE(WaitFor([&] { return !ReleasesOf(app).empty(); }, 30s));
  std::this_thread::sleep_for(1s);  // a second ReleaseCreated would be on its way by now
  EXPECT_EQ(ReleasesOf(app).size(), 1u);
  auto list = Call("GET", "/v1/releases?app=" + app, "", viewer_);
  EXPECT_EQ(json::parse(list.body)["items"].size(), 1u);
}

// The housekeeping of every service (service::App, SLUICE_HOUSEKEEPING_INTERVAL=1s here):
// answers and inbox records past SLUICE_INBOX_RETENTION (14 days) and published outbox rows
// past SLUICE_OUTBOX_RETENTION (1 day) go; what is younger stays, and a retried submission is
// still answered the same.
TEST_F(ReleaseIntakeKafkaItest, HousekeepingForgetsOnlyWhatIsPastItsRetention) {
  const auto app = NewApp();
  const auto id = NewId();
  Produce(app, Release(id, app, "v1.0.0").SerializeAsString(), deployer_, "");
  ASSERT_EQ(Answers(id).size(), 1u) << service_->LogTail();
  pg::Database db(schema_->Config(1));
  const std::string old = "old-" + st::RandomSuffix();
  db.WithTransaction([&](pqxx::work& tx) {
    tx.exec_params(
        "INSERT INTO intake_answers (submission_id, content_type, result, answered_at) "
        "VALUES ($1, 'application/json', '{}', now() - interval '15 days')",
        old);
    tx.exec_params(
        "INSERT INTO inbox (consumer, event_id, received_at) "
        "VALUES ('itest', $1, now() - interval '15 days')",
        old);
    tx.exec_params(
        "INSERT INTO outbox (topic, key, payload, published_at) "
        "VALUES ('itest.v1', $1, '\\x00', now() - interval '2 days')",
        old);
  });
  auto count = [&](const std::string& sql, const std::string& arg) {
    return db.WithTransaction(
        [&](pqxx::work& tx) { return tx.exec_params1(sql, arg)[0].as<int64_t>(); });
  };
  const auto gone = WaitFor(
      [&] {
        return count("SELECT count(*) FROM intake_answers WHERE submission_id = $1", old) == 0 &&
               count("SELECT count(*) FROM inbox WHERE event_id = $1", old) == 0 &&
               count("SELECT count(*) FROM outbox WHERE key = $1", old) == 0;
      },
      15s);
  EXPECT_TRUE(gone) << service_->LogTail();
  EXPECT_EQ(count("SELECT count(*) FROM intake_answers WHERE submission_id = $1", id), 1);
  const auto metrics = Call("GET", "/metrics", "", "").body;
  EXPECT_NE(metrics.find("sluice_housekeeping_deleted_rows_total{table=\"intake_answers\"}"),
            std::string::npos);
  // Still a duplicate, still answered the same.
  Produce(app, Release(id, app, "v1.0.0").SerializeAsString(), deployer_, "");
  const auto answers = Answers(id, 2);
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0], answers[1]);
}

// `sluice publish release`: the CLI as a producer, against this release-intake and broker.
TEST_F(ReleaseIntakeKafkaItest, SluicePublishReleaseIsAnsweredAsAnyProducerIs) {
  const auto app = NewApp();
  const auto id = NewId();
  auto publish = [&](const std::string& token, const std::string& submission) {
    const std::string cmd = std::string(SLUICE_CLI_BIN) + " publish release --app " + app +
                            " --tag v4.1.0 --artifact-url https://artifacts.example.com/" + app +
                            ".tgz --sha256 " + std::string(kSha) + " --brokers " + KafkaBrokers() +
                            " --topic " + intake_topic_ + " --results-topic " + results_topic_ +
                            " --id " + submission + " --timeout 30s --token " + token + " 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return std::make_pair(-1, out);
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  const auto [code, out] = publish(deployer_, id);
  EXPECT_EQ(code, 0) << out << service_->LogTail();
  EXPECT_NE(out.find("submitted " + id), std::string::npos) << out;
  EXPECT_NE(out.find("accepted (201): " + app + " v4.1.0"), std::string::npos) << out;
  // The same id again: the same answer, one release.
  const auto [again, out_again] = publish(deployer_, id);
  EXPECT_EQ(again, 0) << out_again;
  EXPECT_EQ(out_again.substr(out_again.find("release ")), out.substr(out.find("release ")));
  ASSERT_TRUE(WaitFor([&] { return !ReleasesOf(app).empty(); }, 30s));
  EXPECT_EQ(ReleasesOf(app).size(), 1u);
  // A viewer may not submit (a submission of its own): refused as the API refuses it, exit 4.
  const auto [refused, out_refused] = publish(viewer_, NewId());
  EXPECT_EQ(refused, 4) << out_refused;
  EXPECT_NE(out_refused.find("refused (403"), std::string::npos) << out_refused;
}

// `sluice publish release --as-principal P`: on P's own topic, no token, P's role; the
// connection's security from the services' SLUICE_KAFKA_* settings (a bad one named).
TEST_F(ReleaseIntakeKafkaItest, SluicePublishAsAPrincipalUsesItsTopicAndRole) {
  const auto app = NewApp();
  auto run = [&](const std::string& env, const std::string& args) {
    const std::string cmd = "env -u SLUICE_TOKEN " + env + " " + std::string(SLUICE_CLI_BIN) +
                            " publish release --app " + app +
                            " --tag v6.0.0 --artifact-url https://artifacts.example.com/" + app +
                            ".tgz --sha256 " + std::string(kSha) + " --brokers " + KafkaBrokers() +
                            " --results-topic " + results_topic_ + " --timeout 30s " + args +
                            " 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return std::make_pair(-1, out);
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  const auto [code, out] = run("", "--as-principal " + ci_principal_);
  EXPECT_EQ(code, 0) << out << service_->LogTail();
  EXPECT_NE(out.find("to sluice.intake.p." + ci_principal_ + ".v1"), std::string::npos) << out;
  EXPECT_NE(out.find("accepted (201): " + app + " v6.0.0"), std::string::npos) << out;
  ASSERT_TRUE(WaitFor([&] { return !ReleasesOf(app).empty(); }, 30s));
  EXPECT_EQ(ReleasesOf(app)[0].envelope.release_created().created_by(), "kafka:" + ci_principal_);
  // The services' security settings, read as they read them: a bad one is named.
  const auto [bad, out_bad] = run("SLUICE_KAFKA_SECURITY_PROTOCOL=tls", "--as-principal x");
  EXPECT_NE(bad, 0) << out_bad;
  EXPECT_NE(out_bad.find("SLUICE_KAFKA_SECURITY_PROTOCOL"), std::string::npos) << out_bad;
  const auto [both, out_both] = run("", "--as-principal x --topic y");
  EXPECT_NE(both, 0) << out_both;
}

TEST_F(ReleaseIntakeKafkaItest, PoisonRecordIsDeadLetteredAndRefused) {
  const auto app = NewApp();
  const auto id = NewId();
  Produce(app, "{this is not json", deployer_, "application/json", {{"submission-id", id}});
  const auto answers = Answers(id);
  ASSERT_EQ(answers.size(), 1u) << service_->LogTail();
  EXPECT_EQ(answers[0]["outcome"], "refused");
  EXPECT_EQ(answers[0]["http_status"], 400);
  EXPECT_EQ(answers[0]["error"]["code"], "malformed_record");
  EXPECT_NE(answers[0]["error"]["message"].get<std::string>().find("not valid JSON"),
            std::string::npos);

  std::vector<kafka::ConsumedMessage> dead;
  ASSERT_TRUE(WaitFor(
      [&] {
        dead = dead_letters_->Matching([&](const kafka::ConsumedMessage& m) {
          return m.HeaderValue("dlq_original_topic") == intake_topic_ &&
                 m.HeaderValue("submission-id") == id;
        });
        return !dead.empty();
      },
      30s));
  EXPECT_NE(dead[0].HeaderValue("dlq_reason").value_or("").find("not valid JSON"),
            std::string::npos);
  // The producer's token does not travel to the dead letters.
  EXPECT_EQ(dead[0].HeaderValue("authorization"), "[redacted]");

  // A record with no readable id: dead-lettered, nothing to answer.
  Produce(app, "\xff\xfe garbage", deployer_, "", {{"itest-marker", id}});
  ASSERT_TRUE(WaitFor(
      [&] {
        return !dead_letters_
                    ->Matching([&](const kafka::ConsumedMessage& m) {
                      return m.HeaderValue("itest-marker") == id;
                    })
                    .empty();
      },
      30s));
}

TEST_F(ReleaseIntakeKafkaItest, RefusedSubmissionNamesTheFieldAsTheApiDoes) {
  const auto app = NewApp();
  const auto id = NewId();
  auto s = Release(id, app, "not-a-version");
  Produce(app, s.SerializeAsString(), deployer_, "application/protobuf");
  const auto answers = Answers(id);
  ASSERT_EQ(answers.size(), 1u) << service_->LogTail();
  EXPECT_EQ(answers[0]["outcome"], "refused");
  EXPECT_EQ(answers[0]["http_status"], 400);
  EXPECT_EQ(answers[0]["error"]["field"], "tag");
  // The same error body a person gets from POST /v1/releases.
  const json body = {
      {"app", app},
      {"tag", "not-a-version"},
      {"artifact_url", "https://artifacts.example.com/" + app + "-not-a-version.tar.gz"},
      {"sha256", kSha}};
  auto http = Call("POST", "/v1/releases", body.dump(), deployer_);
  EXPECT_EQ(http.status, 400);
  EXPECT_EQ(json::parse(http.body), answers[0]["body"]);
  EXPECT_TRUE(ReleasesOf(app).empty());
}

TEST_F(ReleaseIntakeKafkaItest, TokenWithoutTheRoleIsRefused) {
  const auto app = NewApp();
  const auto viewer_id = NewId();
  Produce(app, Release(viewer_id, app, "v1.0.0").SerializeAsString(), viewer_, "");
  const auto none_id = NewId();
  Produce(app, Release(none_id, app, "v1.0.0").SerializeAsString(), "", "");
  const auto unknown_id = NewId();
  Produce(app, Release(unknown_id, app, "v1.0.0").SerializeAsString(), "slc_not-a-token", "");

  auto viewer = Answers(viewer_id);
  ASSERT_EQ(viewer.size(), 1u) << service_->LogTail();
  EXPECT_EQ(viewer[0]["outcome"], "refused");
  EXPECT_EQ(viewer[0]["http_status"], 403);
  EXPECT_NE(viewer[0]["error"]["message"].get<std::string>().find("has role viewer"),
            std::string::npos);
  auto none = Answers(none_id);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0]["http_status"], 401);
  auto unknown = Answers(unknown_id);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0]["http_status"], 401);
  EXPECT_EQ(unknown[0]["error"]["message"], "unknown API token");
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(ReleasesOf(app).empty());
}

// The demo application's delivery spec, renamed to `app`, its hosts on loopback.
std::string DemoSpec(const std::string& app) {
  std::ifstream in(std::string(SLUICE_REPO_ROOT) +
                   "/services/rollout-planner/examples/demo-app.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const auto at = text.find("app: demo-app");
  if (at == std::string::npos) throw std::runtime_error("demo-app.yaml has no 'app: demo-app'");
  text.replace(at, 13, "app: " + app);
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"10.20.0.", "127.0.20."},
                                 {"10.10.0.", "127.0.10."},
                                 {"https://", "http://"}}) {
    for (auto p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) {
      text.replace(p, from.size(), to);
    }
  }
  return text;
}

TEST_F(ReleaseIntakeKafkaItest, DeploymentRequestedOverKafkaOnceForItsIdempotencyKey) {
  const auto app = NewApp();
  auto spec = Call("PUT", "/v1/apps/" + app, DemoSpec(app), admin_token_, "application/yaml");
  ASSERT_EQ(spec.status, 201) << spec.body;
  const auto release_id_sub = NewId();
  Produce(app, Release(release_id_sub, app, "v1.4.2").SerializeAsString(), deployer_, "");
  const auto released = Answers(release_id_sub);
  ASSERT_EQ(released.size(), 1u) << service_->LogTail();
  const std::string release_id = released[0]["release_id"];

  const auto key = "ci-build-" + st::RandomSuffix();
  const auto ask = [&](const std::string& id, const std::string& env) {
    v1::IntakeSubmission s;
    s.set_submission_id(id);
    s.mutable_deployment()->set_release_id(release_id);
    s.mutable_deployment()->set_env(env);
    s.mutable_deployment()->set_idempotency_key(key);
    Produce(app, s.SerializeAsString(), deployer_, "");
  };
  const auto first = NewId();
  ask(first, "staging");
  const auto a = Answers(first);
  ASSERT_EQ(a.size(), 1u) << service_->LogTail();
  EXPECT_EQ(a[0]["outcome"], "accepted") << a[0].dump();
  EXPECT_EQ(a[0]["kind"], "deployment");
  EXPECT_EQ(a[0]["http_status"], 202);
  EXPECT_EQ(a[0]["release_id"], release_id);
  const std::string deployment_id = a[0]["deployment_id"];
  ASSERT_FALSE(deployment_id.empty());
  ASSERT_TRUE(WaitFor(
      [&] {
        return releases_->Count(deployment_id, events::v1::Envelope::kDeploymentRequested) == 1;
      },
      30s));

  // Another submission with the same idempotency key (a producer that rebuilt its record): the
  // same deployment, replayed, no second DeploymentRequested.
  const auto second = NewId();
  ask(second, "staging");
  const auto b = Answers(second);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0]["deployment_id"], deployment_id);
  EXPECT_EQ(b[0]["body"]["replayed"], true);
  // The same key for another request: refused as the HTTP API refuses it.
  const auto third = NewId();
  ask(third, "production");
  const auto c = Answers(third);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["http_status"], 409);
  EXPECT_EQ(c[0]["error"]["code"], "idempotency_key_reused");
  // An environment the spec does not have: 422 naming env.
  const auto fourth = NewId();
  {
    v1::IntakeSubmission s;
    s.set_submission_id(fourth);
    s.mutable_deployment()->set_release_id(release_id);
    s.mutable_deployment()->set_env("moon");
    Produce(app, s.SerializeAsString(), deployer_, "");
  }
  const auto d = Answers(fourth);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["http_status"], 422);
  EXPECT_EQ(d[0]["error"]["field"], "env");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(releases_->Count(deployment_id, events::v1::Envelope::kDeploymentRequested), 1);
}

// Operator commands over Kafka: the verb's role, separation of duties and the OperatorCommand
// event, as POST /v1/deployments/{id}:{verb} (the planner is not running: accepted with a
// warning, as the API does).
TEST_F(ReleaseIntakeKafkaItest, OperatorCommandsOverKafkaKeepTheVerbsRoles) {
  const auto app = NewApp();
  auto spec = Call("PUT", "/v1/apps/" + app, DemoSpec(app), admin_token_, "application/yaml");
  ASSERT_EQ(spec.status, 201) << spec.body;
  const json release = {{"app", app},
                        {"tag", "v3.0.0"},
                        {"artifact_url", "https://artifacts.example.com/" + app + ".tgz"},
                        {"sha256", kSha}};
  auto r = Call("POST", "/v1/releases", release.dump(), deployer_);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string release_id = json::parse(r.body)["id"];
  // The approver requests the deployment, so it may not approve it too.
  const auto requested = NewId();
  Produce(app,
          json{{"submission_id", requested},
               {"deployment", {{"release_id", release_id}, {"env", "staging"}}}}
              .dump(),
          approver_, "application/json");
  const auto a = Answers(requested);
  ASSERT_EQ(a.size(), 1u) << service_->LogTail();
  ASSERT_EQ(a[0]["http_status"], 202) << a[0].dump();
  const std::string deployment_id = a[0]["deployment_id"];

  const auto command = [&](const std::string& verb, const std::string& token) {
    const auto id = NewId();
    Produce(app,
            json{{"submission_id", id},
                 {"command", {{"deployment_id", deployment_id}, {"verb", verb}, {"reason", "it"}}}}
                .dump(),
            token, "application/json");
    const auto got = Answers(id);
    if (got.size() != 1) throw std::runtime_error("no answer to " + verb);
    return got[0];
  };
  const auto pause = command("pause", deployer_);
  EXPECT_EQ(pause["outcome"], "accepted") << pause.dump();
  EXPECT_EQ(pause["kind"], "command");
  EXPECT_EQ(pause["http_status"], 202);
  EXPECT_EQ(pause["deployment_id"], deployment_id);
  EXPECT_EQ(pause["body"]["verb"], "pause");
  EXPECT_NE(pause["body"]["warning"].get<std::string>().find("could not be reached"),
            std::string::npos);
  ASSERT_TRUE(WaitFor(
      [&] { return releases_->Count(deployment_id, events::v1::Envelope::kOperatorCommand) == 1; },
      30s));
  const auto command_event =
      releases_->First(deployment_id, events::v1::Envelope::kOperatorCommand);
  ASSERT_TRUE(command_event);
  EXPECT_EQ(command_event->operator_command().reason(), "it");
  EXPECT_EQ(command_event->event_id(), pause["body"]["command_id"]);

  const auto deployer_approves = command("approve", deployer_);
  EXPECT_EQ(deployer_approves["http_status"], 403) << deployer_approves.dump();
  EXPECT_NE(deployer_approves["error"]["message"].get<std::string>().find("has role deployer"),
            std::string::npos);
  const auto self = command("approve", approver_);
  EXPECT_EQ(self["http_status"], 403) << self.dump();
  EXPECT_EQ(self["error"]["code"], "self_approval");
  const auto unknown = command("explode", approver_);
  EXPECT_EQ(unknown["http_status"], 404);
  EXPECT_EQ(unknown["error"]["code"], "unknown_verb");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(releases_->Count(deployment_id, events::v1::Envelope::kOperatorCommand), 1);
}

// An external alert about app + env is accepted from a caller holding the rollback's role there
// (approver), published as ExternalAlertReceived on release-intake's topic for metric-watcher,
// and audited; a deployer's is refused 403, a bad one 400 naming the field.
TEST_F(ReleaseIntakeKafkaItest, AnExternalAlertIsForwardedForAnApproverOnly) {
  const auto app = NewApp();
  const auto id = NewId();
  v1::IntakeSubmission s;
  s.set_submission_id(id);
  auto* alert = s.mutable_alert();
  alert->set_app(app);
  alert->set_env("production");
  alert->set_alertname("CheckoutErrors");
  alert->set_severity("critical");
  alert->set_summary("checkout 5xx above 2%");
  Produce(app, s.SerializeAsString(), approver_, "application/protobuf");
  const auto a = Answers(id);
  ASSERT_EQ(a.size(), 1u) << service_->LogTail();
  EXPECT_EQ(a[0]["outcome"], "accepted") << a[0].dump();
  EXPECT_EQ(a[0]["kind"], "alert");
  EXPECT_EQ(a[0]["http_status"], 202);
  EXPECT_EQ(a[0]["body"]["result"], "forwarded");
  EXPECT_EQ(a[0]["body"]["status"], "firing");
  const std::string event_id = a[0]["body"]["event_id"];
  std::vector<st::SeenEvent> seen;
  ASSERT_TRUE(WaitFor(
      [&] {
        seen = releases_->Seen([&](const events::v1::Envelope& e) {
          return e.has_external_alert_received() && e.external_alert_received().app() == app;
        });
        return !seen.empty();
      },
      30s));
  ASSERT_EQ(seen.size(), 1u);
  const auto& event = seen[0].envelope;
  EXPECT_EQ(event.event_id(), event_id);
  const auto& received = event.external_alert_received();
  EXPECT_EQ(received.submission_id(), id);
  EXPECT_EQ(received.env(), "production");
  EXPECT_EQ(received.alert_name(), "CheckoutErrors");
  EXPECT_EQ(received.severity(), "critical");
  EXPECT_FALSE(received.resolved());
  EXPECT_NE(received.actor(), "");

  const auto refused = [&](const json& body, const std::string& token) {
    const auto rid = NewId();
    Produce(app, json{{"submission_id", rid}, {"alert", body}}.dump(), token, "application/json");
    const auto got = Answers(rid);
    if (got.size() != 1) throw std::runtime_error("no answer to " + body.dump());
    return got[0];
  };
  const json good = {{"app", app}, {"env", "production"}, {"alertname", "CheckoutErrors"}};
  const auto deployer = refused(good, deployer_);
  EXPECT_EQ(deployer["http_status"], 403) << deployer.dump();
  EXPECT_EQ(deployer["outcome"], "refused");
  json bad_status = good;
  bad_status["status"] = "pending";
  const auto bad = refused(bad_status, approver_);
  EXPECT_EQ(bad["http_status"], 400) << bad.dump();
  EXPECT_EQ(bad["error"]["field"], "status");

  auto audit = Call("GET", "/v1/audit?action=alert.submit&app=" + app, "", admin_token_);
  ASSERT_EQ(audit.status, 200) << audit.body;
  const auto items = json::parse(audit.body)["items"];
  ASSERT_EQ(items.size(), 1u) << audit.body;
  EXPECT_EQ(items[0]["target"], app + "/production");
  EXPECT_EQ(items[0]["detail"]["event_id"], event_id);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(releases_
                ->Seen([&](const events::v1::Envelope& e) {
                  return e.has_external_alert_received() &&
                         e.external_alert_received().app() == app;
                })
                .size(),
            1u)
      << "a refused alert was published";
}

// A mapped principal's own topic: its records need no token, carry the principal's role (as a
// token with that role and grants is checked), and are audited as kafka:<principal>. A token on
// such a record is not read.
TEST_F(ReleaseIntakeKafkaItest, APrincipalsTopicCarriesItsMappedRole) {
  const auto app = NewApp();
  auto spec = Call("PUT", "/v1/apps/" + app, DemoSpec(app), admin_token_, "application/yaml");
  ASSERT_EQ(spec.status, 201) << spec.body;
  const std::string ci_topic = "sluice.intake.p." + ci_principal_ + ".v1";
  const std::string approver_topic = "sluice.intake.p." + approver_principal_ + ".v1";
  const auto submit = [&](const std::string& topic, const json& request,
                          const std::string& token = "") {
    const auto id = NewId();
    json doc = request;
    doc["submission_id"] = id;
    ProduceTo(topic, app, doc.dump(), token, "application/json");
    const auto got = Answers(id);
    if (got.size() != 1) throw std::runtime_error("no answer to " + doc.dump());
    return got[0];
  };
  // ci (deployer, a viewer in production) submits a release and deploys it to staging.
  const auto released = submit(ci_topic, {{"release",
                                           {{"app", app},
                                            {"tag", "v5.0.0"},
                                            {"artifact_url", "https://artifacts.example.com/x.tgz"},
                                            {"sha256", kSha}}}});
  ASSERT_EQ(released["http_status"], 201) << released.dump() << service_->LogTail();
  const std::string release_id = released["release_id"];
  const auto deployed =
      submit(ci_topic, {{"deployment", {{"release_id", release_id}, {"env", "staging"}}}});
  ASSERT_EQ(deployed["http_status"], 202) << deployed.dump();
  const std::string deployment_id = deployed["deployment_id"];
  const auto production =
      submit(ci_topic, {{"deployment", {{"release_id", release_id}, {"env", "production"}}}});
  EXPECT_EQ(production["http_status"], 403) << production.dump();
  EXPECT_EQ(production["error"]["code"], "forbidden_in_environment");

  const json approve = {
      {"command", {{"deployment_id", deployment_id}, {"verb", "approve"}, {"reason", "ok"}}}};
  // ci may not approve: the role error, as a deployer token gets; the approver's token on ci's
  // topic changes nothing (the topic's principal decides).
  const auto ci_approves = submit(ci_topic, approve, approver_);
  EXPECT_EQ(ci_approves["outcome"], "refused") << ci_approves.dump();
  EXPECT_EQ(ci_approves["http_status"], 403);
  EXPECT_NE(ci_approves["error"]["message"].get<std::string>().find(
                "token 'kafka:" + ci_principal_ + "' has role deployer"),
            std::string::npos)
      << ci_approves.dump();
  // The approver may, with no token at all.
  const auto approved = submit(approver_topic, approve);
  EXPECT_EQ(approved["outcome"], "accepted") << approved.dump();
  EXPECT_EQ(approved["http_status"], 202);
  // The public topic still wants a token.
  const auto anonymous = Answers([&] {
    const auto id = NewId();
    Produce(app, json{{"submission_id", id}, {"command", approve["command"]}}.dump(), "",
            "application/json");
    return id;
  }());
  ASSERT_EQ(anonymous.size(), 1u);
  EXPECT_EQ(anonymous[0]["http_status"], 401) << anonymous[0].dump();

  // ci's submission ids are its own: one another producer used first on the public topic
  // (refused there, no token) does not make ci's a duplicate of it.
  const auto taken = NewId();
  const json other = {{"submission_id", taken},
                      {"release",
                       {{"app", app},
                        {"tag", "v5.0.1"},
                        {"artifact_url", "https://artifacts.example.com/y.tgz"},
                        {"sha256", kSha}}}};
  Produce(app, other.dump(), "", "application/json");
  ASSERT_EQ(Answers(taken).size(), 1u) << service_->LogTail();
  ProduceTo(ci_topic, app, other.dump(), "", "application/json");
  const auto both = Answers(taken, 2);
  ASSERT_EQ(both.size(), 2u) << service_->LogTail();
  EXPECT_EQ(both[0]["http_status"], 401) << both[0].dump();
  EXPECT_EQ(both[1]["http_status"], 201) << both[1].dump();
  // ... and a retry of ci's is still one effect with the same answer.
  ProduceTo(ci_topic, app, other.dump(), "", "application/json");
  const auto three = Answers(taken, 3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[2], three[1]);

  auto audit = Call("GET", "/v1/audit?limit=200", "", admin_token_);
  ASSERT_EQ(audit.status, 200);
  std::map<std::string, std::vector<std::string>> actors;  // action -> actors
  const json items = json::parse(audit.body)["items"];
  for (const auto& e : items) {
    if (e.value("target", "") == deployment_id || e.value("target", "") == app + "@5.0.0") {
      actors[e.value("action", "")].push_back(e.value("actor", ""));
    }
  }
  EXPECT_EQ(actors["release.create"], std::vector<std::string>{"kafka:" + ci_principal_})
      << audit.body;
  EXPECT_EQ(actors["deployment.approve"], std::vector<std::string>{"kafka:" + approver_principal_})
      << audit.body;
}

// An admin's override of the promotion gate over Kafka, as POST /v1/deployments takes it: a
// principal mapped as deployer is refused (403 override_not_allowed naming the field, audited as
// kafka:<principal>), one mapped as admin deploys past the gate, audited, and the deployment
// shows the override (gate_override) as one requested over HTTP does.
TEST_F(ReleaseIntakeKafkaItest, AnOverrideOfTheGateOverKafkaIsAnAdminsOnly) {
  const auto app = NewApp();
  auto spec = Call("PUT", "/v1/apps/" + app, DemoSpec(app), admin_token_, "application/yaml");
  ASSERT_EQ(spec.status, 201) << spec.body;
  auto r = Call("POST", "/v1/releases",
                json{{"app", app},
                     {"tag", "v7.0.0"},
                     {"artifact_url", "https://artifacts.example.com/" + app + ".tgz"},
                     {"sha256", kSha}}
                    .dump(),
                deployer_);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string release_id = json::parse(r.body)["id"];
  // staging is frozen: the gate refuses every deployment into it.
  r = Call("PUT", "/v1/apps/" + app + "/environments/staging/freeze",
           json{{"reason", "audit week"}}.dump(), admin_token_);
  ASSERT_EQ(r.status, 200) << r.body;

  const std::string reason = "INC-9: the fix must ship now";
  const auto submit = [&](const std::string& principal, const std::string& why) {
    v1::IntakeSubmission s;
    s.set_submission_id(NewId());
    s.mutable_deployment()->set_release_id(release_id);
    s.mutable_deployment()->set_env("staging");
    if (!why.empty()) s.mutable_deployment()->mutable_override()->set_reason(why);
    ProduceTo("sluice.intake.p." + principal + ".v1", app, s.SerializeAsString(), "", "");
    const auto got = Answers(s.submission_id());
    if (got.size() != 1) throw std::runtime_error("no answer to " + s.DebugString());
    return got[0];
  };
  // Without an override the gate holds, for an admin too.
  const auto held = submit(admin_principal_, "");
  EXPECT_EQ(held["http_status"], 409) << held.dump() << service_->LogTail();
  EXPECT_EQ(held["error"]["code"], "environment_frozen");

  // ci, a deployer in staging: the override is refused as the HTTP API refuses a deployer's.
  auto refused = submit(ci_principal_, reason);
  EXPECT_EQ(refused["outcome"], "refused") << refused.dump();
  EXPECT_EQ(refused["http_status"], 403) << refused.dump();
  EXPECT_EQ(refused["error"]["code"], "override_not_allowed");
  EXPECT_EQ(refused["error"]["field"], "override");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("only an admin of 'staging'"),
            std::string::npos)
      << refused.dump();
  EXPECT_EQ(refused["body"]["error"]["detail"]["needed"], "admin") << refused.dump();
  const json over = {
      {"release_id", release_id}, {"env", "staging"}, {"override", {{"reason", reason}}}};
  auto http = Call("POST", "/v1/deployments", over.dump(), deployer_);
  ASSERT_EQ(http.status, 403) << http.body;
  const json http_error = json::parse(http.body)["error"];
  EXPECT_EQ(http_error["code"], refused["error"]["code"]);
  EXPECT_EQ(http_error["field"], refused["error"]["field"]);

  // The admin principal deploys past the freeze.
  const auto passed = submit(admin_principal_, reason);
  ASSERT_EQ(passed["http_status"], 202) << passed.dump() << service_->LogTail();
  EXPECT_EQ(passed["outcome"], "accepted");
  EXPECT_EQ(passed["body"]["override"]["overridden"], "environment_frozen") << passed.dump();
  EXPECT_EQ(passed["body"]["override"]["reason"], reason);
  const std::string deployment_id = passed["deployment_id"];
  ASSERT_TRUE(WaitFor(
      [&] {
        return releases_->Count(deployment_id, events::v1::Envelope::kDeploymentRequested) == 1;
      },
      30s));

  // The deployment's record shows it (a stand-in planner answers for the deployment).
  httplib::Server planner;
  planner.Get(R"(/v1/deployments/([A-Za-z0-9-]+))",
              [&](const httplib::Request& req, httplib::Response& res) {
                res.set_content(json{{"id", std::string(req.matches[1])},
                                     {"release_id", release_id},
                                     {"app", app},
                                     {"env", "staging"},
                                     {"status", "pending"}}
                                    .dump(),
                                "application/json");
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
  auto shown = Call("GET", "/v1/deployments/" + deployment_id, "", viewer_);
  ASSERT_EQ(shown.status, 200) << shown.body;
  const json record = json::parse(shown.body);
  EXPECT_EQ(record["gate_override"]["reason"], reason) << record.dump();
  EXPECT_EQ(record["gate_override"]["overridden"], "environment_frozen") << record.dump();

  // Audited as over HTTP, with the principal as the actor and kafka as the transport.
  auto audit = Call("GET", "/v1/audit?limit=200", "", admin_token_);
  ASSERT_EQ(audit.status, 200);
  std::vector<json> refused_rows, override_rows;
  const json items = json::parse(audit.body)["items"];
  for (const auto& e : items) {
    if (e.value("target", "") != app + "/staging") continue;
    if (e.value("outcome", "") == "refused_override" &&
        e["detail"].value("transport", "") == "kafka") {
      refused_rows.push_back(e);
    }
    if (e.value("action", "") == "deployment.override") override_rows.push_back(e);
  }
  ASSERT_EQ(refused_rows.size(), 1u) << audit.body;
  EXPECT_EQ(refused_rows[0]["action"], "deployment.request");
  EXPECT_EQ(refused_rows[0]["actor"], "kafka:" + ci_principal_);
  EXPECT_EQ(refused_rows[0]["detail"]["override_reason"], reason);
  ASSERT_EQ(override_rows.size(), 1u) << audit.body;
  EXPECT_EQ(override_rows[0]["actor"], "kafka:" + admin_principal_);
  EXPECT_EQ(override_rows[0]["outcome"], "overrode_environment_frozen");
  EXPECT_EQ(override_rows[0]["detail"]["reason"], reason);
  EXPECT_EQ(override_rows[0]["detail"]["deployment_id"], deployment_id);
  EXPECT_EQ(override_rows[0]["detail"]["transport"], "kafka");

  // `sluice publish deployment --override REASON`, as `sluice deploy --override REASON`.
  const auto publish = [&](const std::string& principal) {
    const std::string cmd = "env -u SLUICE_TOKEN " + std::string(SLUICE_CLI_BIN) +
                            " publish deployment --release " + release_id +
                            " --env staging --override 'INC-10: the CLI' --brokers " +
                            KafkaBrokers() + " --as-principal " + principal + " --results-topic " +
                            results_topic_ + " --timeout 30s 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return std::make_pair(-1, out);
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
  };
  const auto [code, out] = publish(ci_principal_);
  EXPECT_EQ(code, 4) << out << service_->LogTail();
  EXPECT_NE(out.find("refused (403 override_not_allowed)"), std::string::npos) << out;
  EXPECT_NE(out.find("[field override]"), std::string::npos) << out;
  const auto [admin_code, admin_out] = publish(admin_principal_);
  EXPECT_EQ(admin_code, 0) << admin_out << service_->LogTail();
  EXPECT_NE(admin_out.find("accepted (202): release " + release_id + " -> staging"),
            std::string::npos)
      << admin_out;
  EXPECT_NE(admin_out.find("the promotion gate was overridden (environment_frozen)"),
            std::string::npos)
      << admin_out;
}

}  // namespace
}  // namespace sluice::release_intake
