// release-intake end to end: the real binary against the real PostgreSQL and Kafka of the local
// stack (scripts/stack.sh), including outages of each.
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/testing/process.hpp>
#include <thread>

#include "release.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;

const std::string kSha = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

std::string PgDsn() {
  return st::EnvOr("SLUICE_PG_DSN", "postgresql://sluice:sluice@127.0.0.1:15432/sluice");
}
std::string Brokers() { return st::EnvOr("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092"); }

struct Seen {
  std::string key;
  std::map<std::string, std::string> headers;
  events::v1::Envelope envelope;
};

// Every ReleaseCreated for `release_id` on sluice.releases.v1 within `window`.
std::vector<Seen> ReadReleaseEvents(const std::string& release_id, std::chrono::milliseconds window,
                                    std::size_t stop_after = 0) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", Brokers(), err);
  conf->set("group.id", "itest-" + st::RandomSuffix(), err);
  conf->set("auto.offset.reset", "earliest", err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("consumer: " + err);
  c->subscribe({std::string(events::kTopicReleases)});
  std::vector<Seen> out;
  const auto deadline = std::chrono::steady_clock::now() + window;
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(200));
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;
    std::string error;
    auto e =
        events::Parse(std::string_view(static_cast<const char*>(m->payload()), m->len()), &error);
    if (!e || e->release_id() != release_id) continue;
    Seen s;
    s.key = m->key() != nullptr ? *m->key() : "";
    if (auto* h = m->headers()) {
      for (const auto& header : h->get_all()) {
        s.headers[header.key()] =
            std::string(static_cast<const char*>(header.value()), header.value_size());
      }
    }
    s.envelope = *e;
    out.push_back(std::move(s));
    if (stop_after > 0 && out.size() >= stop_after) break;
  }
  c->close();
  return out;
}

class ReleaseIntakeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = "itest_ri_" + st::RandomSuffix();
    port_ = st::FreePort();
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    github_secret_ = "gh-secret-" + st::RandomSuffix(12);
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)},
            {"SLUICE_PG_SCHEMA", schema_},
            {"SLUICE_PG_DSN", PgDsn()},
            {"SLUICE_KAFKA_BROKERS", Brokers()},
            {"SLUICE_ADMIN_TOKEN", admin_token_},
            {"SLUICE_GITHUB_WEBHOOK_SECRET", github_secret_},
            {"SLUICE_LOG_LEVEL", "info"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/release-intake-" + schema_ + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Url("/readyz"), 60s))
        << "release-intake did not become ready; log:\n"
        << service_->LogTail();
  }
  static void TearDownTestSuite() {
    if (service_) {
      EXPECT_EQ(service_->Terminate(), 0) << service_->LogTail();
    }
    service_.reset();
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    tx.commit();
  }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  static http::ClientResponse Call(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string& token,
                                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::ClientRequest req;
    req.method = method;
    req.url = Url(path);
    req.body = body;
    req.timeout = 10s;
    req.headers = std::move(headers);
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    return http::Send(req);
  }

  static json Body(const std::string& app, const std::string& tag) {
    return {{"app", app},
            {"tag", tag},
            {"artifact_url", "https://artifacts.example.com/" + app + "/" + tag + ".tar.gz"},
            {"sha256", kSha},
            {"created_by", "ci"}};
  }

  static long long Scalar(const std::string& sql) {
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    return tx.exec1(sql)[0].as<long long>();
  }

  static std::string ErrorField(const http::ClientResponse& r) {
    return json::parse(r.body)["error"].value("field", "");
  }
  static std::string ErrorCode(const http::ClientResponse& r) {
    return json::parse(r.body)["error"].value("code", "");
  }

  static std::string NewApp() { return "app-" + st::RandomSuffix(); }

  static inline std::unique_ptr<st::ChildProcess> service_;
  static inline std::string schema_;
  static inline int port_ = 0;
  static inline std::string admin_token_;
  static inline std::string github_secret_;
};

TEST_F(ReleaseIntakeE2eTest, ReleaseReachesPostgresAndKafkaExactlyOnce) {
  const auto app = NewApp();
  const auto body = Body(app, "v1.0.0").dump();
  auto first = Call("POST", "/v1/releases", body, admin_token_);
  ASSERT_EQ(first.status, 201) << first.body;
  const auto release = json::parse(first.body);
  const std::string id = release["id"];
  EXPECT_EQ(release["version"], "1.0.0");
  EXPECT_EQ(first.Header("Location"), "/v1/releases/" + id);

  // The same request again: the same release, no second row, no second event.
  auto again = Call("POST", "/v1/releases", body, admin_token_);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["id"], id);
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".releases WHERE app = '" + app + "'"), 1);
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".outbox"), 1);

  auto seen = ReadReleaseEvents(id, 20s, 1);
  ASSERT_EQ(seen.size(), 1u) << "no ReleaseCreated on Kafka; log:\n" << service_->LogTail();
  // Keep reading: a second copy must not appear.
  seen = ReadReleaseEvents(id, 6s);
  ASSERT_EQ(seen.size(), 1u);
  const auto& s = seen[0];
  EXPECT_EQ(s.key, id);
  EXPECT_EQ(s.headers.at("ce_specversion"), "1.0");
  EXPECT_EQ(s.headers.at("ce_id"), s.envelope.event_id());
  EXPECT_EQ(s.headers.at("ce_type"), "sluice.v1.ReleaseCreated");
  EXPECT_EQ(s.headers.at("ce_source"), "/sluice/release-intake");
  EXPECT_EQ(s.headers.at("content-type"), "application/protobuf");
  EXPECT_FALSE(s.headers.at("ce_time").empty());
  ASSERT_TRUE(s.envelope.has_release_created());
  EXPECT_EQ(s.envelope.release_created().app(), app);
  EXPECT_EQ(s.envelope.release_created().artifact().sha256(), kSha);
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".outbox WHERE published_at IS NULL"), 0);

  // The same version with another artifact is a conflict, and says why.
  auto other = Body(app, "v1.0.0");
  other["sha256"] = std::string(64, 'e');
  auto conflict = Call("POST", "/v1/releases", other.dump(), admin_token_);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(ErrorCode(conflict), "release_exists");
}

TEST_F(ReleaseIntakeE2eTest, GetAndListWithPaging) {
  const auto app = NewApp();
  std::vector<std::string> ids;
  for (const char* tag : {"v1.0.0", "v1.1.0", "v1.2.0"}) {
    auto r = Call("POST", "/v1/releases", Body(app, tag).dump(), admin_token_);
    ASSERT_EQ(r.status, 201) << r.body;
    ids.push_back(json::parse(r.body)["id"]);
  }
  auto page1 = Call("GET", "/v1/releases?app=" + app + "&limit=2", "", admin_token_);
  ASSERT_EQ(page1.status, 200) << page1.body;
  auto p1 = json::parse(page1.body);
  ASSERT_EQ(p1["items"].size(), 2u);
  EXPECT_EQ(p1["items"][0]["id"], ids[2]);  // newest first
  ASSERT_TRUE(p1["next_cursor"].is_string());
  auto page2 = Call(
      "GET", "/v1/releases?app=" + app + "&limit=2&cursor=" + p1["next_cursor"].get<std::string>(),
      "", admin_token_);
  auto p2 = json::parse(page2.body);
  ASSERT_EQ(p2["items"].size(), 1u);
  EXPECT_EQ(p2["items"][0]["id"], ids[0]);
  EXPECT_TRUE(p2["next_cursor"].is_null());

  auto one = Call("GET", "/v1/releases/" + ids[1], "", admin_token_);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["version"], "1.1.0");
  EXPECT_EQ(Call("GET", "/v1/releases/" + std::string(36, 'f'), "", admin_token_).status, 404);
  EXPECT_EQ(ErrorField(Call("GET", "/v1/releases?limit=500", "", admin_token_)), "limit");
}

TEST_F(ReleaseIntakeE2eTest, BadInputIsRefusedWithTheFieldNamed) {
  auto malformed = Call("POST", "/v1/releases", "{\"app\": \"shop\",", admin_token_);
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(ErrorCode(malformed), "malformed_json") << malformed.body;

  auto missing = Body(NewApp(), "v1.0.0");
  missing.erase("sha256");
  auto r = Call("POST", "/v1/releases", missing.dump(), admin_token_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorField(r), "sha256");

  auto wrong_type = Body(NewApp(), "v1.0.0");
  wrong_type["tag"] = 12;
  r = Call("POST", "/v1/releases", wrong_type.dump(), admin_token_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorField(r), "tag");

  auto huge = Body(NewApp(), "v1.0.0");
  huge["created_by"] = std::string(2 << 20, 'x');
  r = Call("POST", "/v1/releases", huge.dump(), admin_token_);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 200);

  EXPECT_EQ(Call("POST", "/v1/releases", Body(NewApp(), "v1.0.0").dump(), "").status, 401);
  auto unknown = Call("POST", "/v1/releases", Body(NewApp(), "v1.0.0").dump(), "slc_unknown");
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(ErrorCode(unknown), "unauthorized") << unknown.body;

  // A viewer may read, not create.
  auto created =
      Call("POST", "/v1/tokens",
           json{{"name", "viewer-" + st::RandomSuffix()}, {"role", "viewer"}}.dump(), admin_token_);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string viewer = json::parse(created.body)["token"];
  EXPECT_EQ(Call("POST", "/v1/releases", Body(NewApp(), "v1.0.0").dump(), viewer).status, 403);
  EXPECT_EQ(Call("GET", "/v1/releases", "", viewer).status, 200);

  // Nothing of the refused requests was stored; the token creation was audited.
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".audit_log WHERE action = 'token.create'"),
            1);
}

TEST_F(ReleaseIntakeE2eTest, GithubWebhookVerifiesSignatureAndRefusesReplays) {
  const auto app = NewApp();
  json payload = {
      {"action", "published"},
      {"repository", {{"name", app}, {"full_name", "acme/" + app}}},
      {"sender", {{"login", "octocat"}}},
      {"release",
       {{"tag_name", "v3.0.0"},
        {"assets",
         json::array({{{"name", app + "-3.0.0.tar.gz"},
                       {"browser_download_url", "https://github.com/acme/" + app + "/a.tar.gz"},
                       {"digest", "sha256:" + kSha}}})}}}};
  const std::string body = payload.dump();
  const std::string delivery = "d-" + st::RandomSuffix();
  auto headers = [&](const std::string& sig) {
    return std::vector<std::pair<std::string, std::string>>{{"X-GitHub-Event", "release"},
                                                            {"X-GitHub-Delivery", delivery},
                                                            {"X-Hub-Signature-256", sig}};
  };
  auto bad = Call("POST", "/v1/hooks/github", body, "", headers(GithubSignature("wrong", body)));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(ErrorCode(bad), "bad_signature");

  const auto good_sig = GithubSignature(github_secret_, body);
  auto ok = Call("POST", "/v1/hooks/github", body, "", headers(good_sig));
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["source"], "github");
  EXPECT_EQ(json::parse(ok.body)["created_by"], "github:octocat");

  auto replay = Call("POST", "/v1/hooks/github", body, "", headers(good_sig));
  EXPECT_EQ(replay.status, 409);
  EXPECT_EQ(ErrorCode(replay), "replayed_delivery");
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".releases WHERE app = '" + app + "'"), 1);
}

// Outages come last: they stop and start servers of the shared local stack.
TEST_F(ReleaseIntakeE2eTest, OutboxKeepsEventsWhileKafkaIsDown) {
  ASSERT_EQ(st::Shell(std::string("bash ") + SLUICE_REPO_ROOT + "/scripts/stack.sh down kafka"), 0);
  const auto app = NewApp();
  auto r = Call("POST", "/v1/releases", Body(app, "v2.0.0").dump(), admin_token_);
  const int status = static_cast<int>(r.status);
  std::string id = status == 201 ? json::parse(r.body)["id"].get<std::string>() : "";
  std::this_thread::sleep_for(2s);
  const auto pending =
      Scalar("SELECT count(*) FROM " + schema_ + ".outbox WHERE published_at IS NULL");
  ASSERT_EQ(st::Shell(std::string("bash ") + SLUICE_REPO_ROOT + "/scripts/stack.sh up kafka"), 0);
  ASSERT_EQ(status, 201) << "a release must be accepted while Kafka is down: " << r.body;
  EXPECT_GE(pending, 1) << "the event should wait in the outbox while Kafka is down";

  auto seen = ReadReleaseEvents(id, 90s, 1);
  ASSERT_EQ(seen.size(), 1u) << "the event did not reach Kafka after it came back; log:\n"
                             << service_->LogTail();
  EXPECT_EQ(seen[0].envelope.release_created().app(), app);
}

TEST_F(ReleaseIntakeE2eTest, PostgresOutageIs503WithRetryAfterThenRecovers) {
  ASSERT_EQ(st::Shell(std::string("bash ") + SLUICE_REPO_ROOT + "/scripts/stack.sh down postgres"),
            0);
  auto r = Call("POST", "/v1/releases", Body(NewApp(), "v1.0.0").dump(), admin_token_);
  ASSERT_EQ(st::Shell(std::string("bash ") + SLUICE_REPO_ROOT + "/scripts/stack.sh up postgres"),
            0);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(r.Header("Retry-After").has_value());
  EXPECT_TRUE(service_->Running()) << "release-intake must not crash when PostgreSQL goes away";

  // Back: the next call succeeds (the pool reconnects).
  long status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    status = Call("POST", "/v1/releases", Body(NewApp(), "v1.0.0").dump(), admin_token_).status;
    if (status == 201) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_EQ(status, 201);
}

}  // namespace
}  // namespace sluice::release_intake
