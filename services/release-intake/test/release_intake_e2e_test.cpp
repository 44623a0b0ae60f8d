// release-intake end to end: the real binary against the real PostgreSQL and Kafka of the local
// stack (scripts/stack.sh), including outages of each.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/testing/event_reader.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <sstream>
#include <thread>

#include "release.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::PgDsn;
using st::WaitFor;

const std::string kSha = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

// Every event on sluice.releases.v1 that `match` accepts: all those seen within `window`, or
// the first `stop_after` of them as soon as that many are seen.
std::vector<st::SeenEvent> ReadEvents(const std::function<bool(const events::v1::Envelope&)>& match,
                                      std::chrono::milliseconds window,
                                      std::size_t stop_after = 0) {
  st::EventReader reader(KafkaBrokers(), std::string(events::kTopicReleases));
  std::vector<st::SeenEvent> seen;
  WaitFor(
      [&] {
        seen = reader.Seen(match);
        return stop_after > 0 && seen.size() >= stop_after;
      },
      window, std::chrono::milliseconds(200));
  if (stop_after > 0 && seen.size() > stop_after) seen.resize(stop_after);
  return seen;
}

// Every ReleaseCreated for `release_id` on sluice.releases.v1 within `window`.
std::vector<st::SeenEvent> ReadReleaseEvents(const std::string& release_id,
                                             std::chrono::milliseconds window,
                                             std::size_t stop_after = 0) {
  return ReadEvents([&](const auto& e) { return e.release_id() == release_id; }, window,
                    stop_after);
}

// Stands in for the rollout-planner's read API (GET /v1/deployments[/{id}]) in the tests that
// need one to answer; the proxy and existence checks are tested against it and without it.
class FakePlanner {
 public:
  FakePlanner(int port, std::string known_id) : known_id_(std::move(known_id)) {
    server_.Get(R"(/v1/deployments/([A-Za-z0-9-]+))", [this](const httplib::Request& req,
                                                             httplib::Response& res) {
      if (req.matches[1] == known_id_) {
        res.set_content(json{{"id", known_id_}, {"status", "running"}, {"app", "shop"}}.dump(),
                        "application/json");
      } else {
        res.status = 404;
        res.set_content(
            R"({"error":{"code":"not_found","message":"no such deployment","field":""}})",
            "application/json");
      }
    });
    server_.Get("/v1/deployments", [](const httplib::Request& req, httplib::Response& res) {
      json query = json::object();
      for (const auto& [k, v] : req.params) query[k] = v;
      res.set_content(json{{"items", json::array()}, {"query", query}}.dump(), "application/json");
    });
    if (!server_.bind_to_port("127.0.0.1", port)) {
      throw std::runtime_error("fake planner cannot bind port " + std::to_string(port));
    }
    thread_ = http::testing::ServeInBackground(server_);
  }
  ~FakePlanner() {
    server_.stop();
    thread_.join();
  }

 private:
  std::string known_id_;
  httplib::Server server_;
  std::thread thread_;
};

class ReleaseIntakeE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = "itest_ri_" + st::RandomSuffix();
    port_ = st::FreePort();
    planner_port_ = st::FreePort();
    executor_port_ = st::FreePort();
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    github_secret_ = "gh-secret-" + st::RandomSuffix(12);
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)},
            {"SLUICE_PG_SCHEMA", schema_},
            {"SLUICE_PG_DSN", PgDsn()},
            {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
            {"SLUICE_ADMIN_TOKEN", admin_token_},
            {"SLUICE_GITHUB_WEBHOOK_SECRET", github_secret_},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            // Nothing listens there unless a test starts a FakePlanner.
            {"SLUICE_PLANNER_URL", "http://127.0.0.1:" + std::to_string(planner_port_)},
            {"SLUICE_EXECUTOR_URL", "http://127.0.0.1:" + std::to_string(executor_port_)},
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

  // The demo application's delivery spec, renamed to `app`.
  static std::string DemoSpec(const std::string& app) {
    std::ifstream in(std::string(SLUICE_REPO_ROOT) +
                     "/services/rollout-planner/examples/demo-app.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    const auto at = text.find("app: demo-app");
    if (at == std::string::npos) throw std::runtime_error("demo-app.yaml has no 'app: demo-app'");
    text.replace(at, 13, "app: " + app);
    // The example's hosts are on private networks; a planner or executor reading the shared
    // test broker must only ever reach loopback, so the test's copy points there.
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"10.20.0.", "127.0.20."},
                                   {"10.10.0.", "127.0.10."},
                                   {"https://", "http://"}}) {
      for (auto p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) {
        text.replace(p, from.size(), to);
      }
    }
    return text;
  }

  static http::ClientResponse PutSpec(const std::string& app, const std::string& text,
                                      const std::string& token,
                                      const std::string& content_type = "application/yaml") {
    http::ClientRequest req;
    req.method = "PUT";
    req.url = Url("/v1/apps/" + app);
    req.body = text;
    req.timeout = 10s;
    req.headers = {{"Authorization", "Bearer " + token}, {"Content-Type", content_type}};
    return http::Send(req);
  }

  static std::string NewToken(const std::string& role) {
    auto r =
        Call("POST", "/v1/tokens",
             json{{"name", role + "-" + st::RandomSuffix()}, {"role", role}}.dump(), admin_token_);
    if (r.status != 201) throw std::runtime_error("token: " + r.body);
    return json::parse(r.body)["token"];
  }

  // An app with the demo spec applied and one release; returns the release id.
  static std::string AppWithRelease(const std::string& app) {
    auto spec = PutSpec(app, DemoSpec(app), admin_token_);
    if (spec.status != 201) throw std::runtime_error("apply: " + spec.body);
    auto r = Call("POST", "/v1/releases", Body(app, "v1.4.2").dump(), admin_token_);
    if (r.status != 201) throw std::runtime_error("release: " + r.body);
    return json::parse(r.body)["id"];
  }

  static inline std::unique_ptr<st::ChildProcess> service_;
  static inline std::string schema_;
  static inline int port_ = 0;
  static inline int planner_port_ = 0;
  static inline int executor_port_ = 0;
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
  // The outbox's state is on /metrics, for alerts on a relay that stopped publishing.
  const auto metrics = Call("GET", "/metrics", "", "").body;
  for (const char* name : {"sluice_outbox_pending{", "sluice_outbox_oldest_pending_age_seconds{",
                           "sluice_outbox_dead{", "sluice_outbox_dead_lettered_total{"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  }

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

  // The HMAC does not cover X-GitHub-Delivery: the same signed body under a new delivery id is
  // the same (repository, release, action), refused with no second effect.
  auto new_id = headers(good_sig);
  new_id[1].second = "d-" + st::RandomSuffix();
  auto resent = Call("POST", "/v1/hooks/github", body, "", new_id);
  EXPECT_EQ(resent.status, 409) << resent.body;
  EXPECT_EQ(ErrorCode(resent), "replayed_release_event");
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".releases WHERE app = '" + app + "'"), 1);

  // A sender whose login carries a bidirectional override is refused.
  payload["sender"]["login"] = "octo\u202Ecat";
  payload["release"]["tag_name"] = "v3.0.1";
  const std::string bidi = payload.dump();
  new_id = headers(GithubSignature(github_secret_, bidi));
  new_id[1].second = "d-" + st::RandomSuffix();
  auto refused = Call("POST", "/v1/hooks/github", bidi, "", new_id);
  EXPECT_EQ(refused.status, 422) << refused.body;
  EXPECT_EQ(ErrorField(refused), "sender.login");
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".releases WHERE app = '" + app + "'"), 1);
}

TEST_F(ReleaseIntakeE2eTest, ReleaseTextFieldsRefuseBidiAndControlCharacters) {
  const auto app = NewApp();
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, std::string>>{{"created_by", "ci\u202Egnp.exe"},
                                                        {"repo", "acme/\u2066shop"},
                                                        {"created_by", "ci\nInjected: header"}}) {
    auto body = Body(app, "v1.0.0");
    body[field] = value;
    auto r = Call("POST", "/v1/releases", body.dump(), admin_token_);
    EXPECT_EQ(r.status, 400) << field << ": " << r.body;
    EXPECT_EQ(ErrorField(r), field);
    EXPECT_NE(r.body.find("byte offset"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".releases WHERE app = '" + app + "'"), 0);
}

TEST_F(ReleaseIntakeE2eTest, SpecIsStoredByteExactOrRefused) {
  const auto app = NewApp();
  const std::string text = DemoSpec(app);
  const auto count = [&] {
    return Scalar("SELECT count(*) FROM " + schema_ + ".app_specs WHERE app = '" + app + "'");
  };
  // A NUL byte in a comment once cut the stored text short, dropping what followed it.
  const std::string comment("# reviewed \0 by approver\n", 25);
  const std::string with_nul = text + comment + "# policy: {approval: required}\n";
  ASSERT_NE(with_nul.find('\0'), std::string::npos);
  auto nul = PutSpec(app, with_nul, admin_token_);
  EXPECT_EQ(nul.status, 400) << nul.body;
  EXPECT_EQ(ErrorField(nul), "body");
  EXPECT_NE(nul.body.find("NUL byte at byte offset " + std::to_string(with_nul.find('\0'))),
            std::string::npos)
      << nul.body;
  // 0xFF in a key, a comment, a label: 400 naming the offset (it was a 500 from PostgreSQL).
  for (const std::string& bad : {text + "\xFF: 1\n", text + "# \xFF\n",
                                 text.substr(0, text.find("zone: ")) + "zone: \xFF" +
                                     text.substr(text.find("zone: ") + 6)}) {
    auto r = PutSpec(app, bad, admin_token_);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("not valid UTF-8 at byte offset"), std::string::npos) << r.body;
  }
  // A second document and a tag were dropped by the parser: refused.
  auto two = PutSpec(app, text + "---\napp: " + app + "\nenvironments: {}\n", admin_token_);
  EXPECT_EQ(two.status, 422) << two.body;
  EXPECT_NE(two.body.find("one YAML document"), std::string::npos) << two.body;
  std::string tagged = text;
  tagged.replace(tagged.find("approval: none"), 14, "approval: !!str none");
  auto tag = PutSpec(app, tagged, admin_token_);
  EXPECT_EQ(tag.status, 422) << tag.body;
  EXPECT_NE(tag.body.find("YAML tags are not supported"), std::string::npos) << tag.body;
  EXPECT_EQ(count(), 0);

  // What is stored is the text that was validated, byte for byte.
  auto ok = PutSpec(app, text, admin_token_);
  ASSERT_EQ(ok.status, 201) << ok.body;
  auto stored = json::parse(Call("GET", "/v1/apps/" + app, "", admin_token_).body);
  EXPECT_EQ(stored["yaml"], text);
  EXPECT_EQ(stored["sha256"], json::parse(ok.body)["sha256"]);
}

TEST_F(ReleaseIntakeE2eTest, TokensAreListedRevokedAndExpire) {
  const std::string name = "ci-" + st::RandomSuffix();
  auto created =
      Call("POST", "/v1/tokens",
           json{{"name", name}, {"role", "deployer"}, {"expires_in", "30d"}}.dump(), admin_token_);
  ASSERT_EQ(created.status, 201) << created.body;
  const auto token = json::parse(created.body);
  const std::string id = token["id"];
  EXPECT_TRUE(token["expires_at_ms"].is_number_integer());
  const std::string secret = token["token"];
  EXPECT_EQ(Call("GET", "/v1/releases", "", secret).status, 200);

  // Admins list tokens without their secrets; nobody else does.
  EXPECT_EQ(Call("GET", "/v1/tokens", "", secret).status, 403);
  auto listed = Call("GET", "/v1/tokens", "", admin_token_);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find(secret), std::string::npos);
  EXPECT_EQ(listed.body.find(HashToken(secret)), std::string::npos);
  json mine;
  const json items = json::parse(listed.body)["items"];
  for (const auto& t : items) {
    if (t["id"] == id) mine = t;
  }
  ASSERT_FALSE(mine.is_null()) << listed.body;
  EXPECT_EQ(mine["name"], name);
  EXPECT_EQ(mine["role"], "deployer");
  EXPECT_EQ(mine["revoked"], false);
  EXPECT_EQ(mine["expires_at_ms"], token["expires_at_ms"]);
  EXPECT_TRUE(mine["last_used_at_ms"].is_number_integer());  // used above
  EXPECT_FALSE(mine.contains("token"));

  // Revoked: refused at once, saying so; revoking again changes nothing.
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + id, "", secret).status, 403);
  auto revoked = Call("DELETE", "/v1/tokens/" + id, "", admin_token_);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(json::parse(revoked.body)["already_revoked"], false);
  auto refused = Call("GET", "/v1/releases", "", secret);
  EXPECT_EQ(refused.status, 401);
  EXPECT_NE(refused.body.find("revoked"), std::string::npos) << refused.body;
  EXPECT_EQ(
      json::parse(Call("DELETE", "/v1/tokens/" + id, "", admin_token_).body)["already_revoked"],
      true);
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + std::string(36, 'f'), "", admin_token_).status, 404);

  // Expired: refused, saying so. (The expiry is moved into the past rather than waited for.)
  auto later = Call("POST", "/v1/tokens",
                    json{{"name", name + "-x"}, {"role", "viewer"}, {"expires_in", "1h"}}.dump(),
                    admin_token_);
  ASSERT_EQ(later.status, 201) << later.body;
  const std::string expiring = json::parse(later.body)["token"];
  EXPECT_EQ(Call("GET", "/v1/releases", "", expiring).status, 200);
  {
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    tx.exec0("UPDATE " + schema_ +
             ".api_tokens SET expires_at = now() - interval '1 second' WHERE name = '" + name +
             "-x'");
    tx.commit();
  }
  auto expired = Call("GET", "/v1/releases", "", expiring);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body.find("expired at"), std::string::npos) << expired.body;
  EXPECT_EQ(
      Call("POST", "/v1/tokens",
           json{{"name", name + "-y"}, {"role", "viewer"}, {"expires_at", "2001-01-01T00:00:00Z"}}
               .dump(),
           admin_token_)
          .status,
      400);

  // The audit log has the creation and the revocation (once: the repeat is already_revoked).
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                   ".audit_log WHERE action = 'token.create' AND target = '" + name + "'"),
            1);
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                   ".audit_log WHERE action = 'token.revoke' AND target = '" + name +
                   "' AND outcome = 'revoked'"),
            1);
}

TEST_F(ReleaseIntakeE2eTest, WhoRequestedADeploymentDoesNotApproveItUnlessThePolicyAllows) {
  const auto app = NewApp();
  const std::string release = AppWithRelease(app);
  const std::string alice = NewToken("approver");
  const std::string bob = NewToken("approver");
  auto request = [&](const std::string& token) {
    auto r = Call("POST", "/v1/deployments",
                  json{{"release_id", release}, {"env", "production"}}.dump(), token);
    if (r.status != 202) throw std::runtime_error("deployment: " + r.body);
    return json::parse(r.body)["deployment_id"].get<std::string>();
  };
  const std::string first = request(alice);
  auto self = Call("POST", "/v1/deployments/" + first + ":approve", "{}", alice);
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_EQ(ErrorCode(self), "self_approval");
  EXPECT_NE(self.body.find("allowSelfApproval"), std::string::npos);
  auto other = Call("POST", "/v1/deployments/" + first + ":approve", "{}", bob);
  EXPECT_EQ(other.status, 202) << other.body;  // the planner is not there: accepted, with a warning
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                   ".audit_log WHERE action = 'deployment.approve' AND target = '" + first +
                   "' AND outcome = 'refused_self_approval'"),
            1);

  // The spec may allow it explicitly, per environment.
  std::string allowing = DemoSpec(app);
  const auto at = allowing.find("      approval: none\n");
  ASSERT_NE(at, std::string::npos);
  allowing.insert(at, "      allowSelfApproval: true\n");
  ASSERT_EQ(PutSpec(app, allowing, admin_token_).status, 201);
  const std::string second = request(alice);
  auto allowed = Call("POST", "/v1/deployments/" + second + ":approve", "{}", alice);
  EXPECT_EQ(allowed.status, 202) << allowed.body;
}

TEST_F(ReleaseIntakeE2eTest, DeliverySpecIsVersionedAndInvalidSpecsNameTheLine) {
  const auto app = NewApp();
  const std::string text = DemoSpec(app);
  auto first = PutSpec(app, text, admin_token_);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(json::parse(first.body)["version"], 1);
  EXPECT_EQ(first.Header("Location"), "/v1/apps/" + app + "?version=1");

  // The same text again, as YAML or wrapped in JSON: unchanged, no new version, no event.
  auto same = PutSpec(app, text, admin_token_, "text/yaml");
  ASSERT_EQ(same.status, 200) << same.body;
  EXPECT_EQ(json::parse(same.body)["unchanged"], true);
  EXPECT_EQ(json::parse(same.body)["version"], 1);
  auto same_json = PutSpec(app, json{{"spec", text}}.dump(), admin_token_, "application/json");
  ASSERT_EQ(same_json.status, 200) << same_json.body;

  auto second = PutSpec(app, text + "# tuned\n", admin_token_);
  ASSERT_EQ(second.status, 201) << second.body;
  EXPECT_EQ(json::parse(second.body)["version"], 2);
  EXPECT_EQ(json::parse(second.body)["unchanged"], false);

  // An invalid spec: 422 with the file, line and column of the offending key.
  std::string bad = text;
  const auto at = bad.find("weight: 25%");
  ASSERT_NE(at, std::string::npos);
  bad.replace(at, 11, "weight: 250%");
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
  auto invalid = PutSpec(app, bad, admin_token_);
  ASSERT_EQ(invalid.status, 422) << invalid.body;
  const auto error = json::parse(invalid.body)["error"];
  EXPECT_EQ(error["code"], "invalid_spec");
  EXPECT_EQ(error["line"], line);
  EXPECT_TRUE(error["column"].is_number_integer());
  EXPECT_EQ(error["field"], "environments.production.strategy.steps[2].weight");
  const std::string message = error["message"];
  EXPECT_EQ(message.rfind(app + ".yaml:" + std::to_string(line) + ":", 0), 0u) << message;

  auto other_app = PutSpec(NewApp(), text, admin_token_);
  EXPECT_EQ(other_app.status, 422);
  EXPECT_EQ(ErrorField(other_app), "app");
  EXPECT_EQ(PutSpec(app, "<spec/>", admin_token_, "application/xml").status, 415);
  // A valid spec with a ~1 MB comment (under the HTTP body limit): its event would be over
  // Kafka's message size, so it is refused at the door, naming the limit; nothing is stored.
  auto huge = PutSpec(app, text + "#" + std::string(1'040'000, 'x') + "\n", admin_token_);
  ASSERT_EQ(huge.status, 413) << huge.body.substr(0, 300);
  EXPECT_EQ(json::parse(huge.body)["error"]["code"], "spec_too_large");
  EXPECT_EQ(ErrorField(huge), "spec");
  const std::string huge_message = json::parse(huge.body)["error"]["message"];
  EXPECT_NE(huge_message.find("262144 bytes"), std::string::npos) << huge_message;

  // Only approvers (and admins) apply specs.
  EXPECT_EQ(PutSpec(app, text + "# other\n", NewToken("deployer")).status, 403);

  auto latest = Call("GET", "/v1/apps/" + app, "", admin_token_);
  ASSERT_EQ(latest.status, 200) << latest.body;
  EXPECT_EQ(json::parse(latest.body)["version"], 2);
  EXPECT_EQ(json::parse(latest.body)["environments"], json::parse(R"(["staging","production"])"));
  auto v1 = Call("GET", "/v1/apps/" + app + "?version=1", "", admin_token_);
  ASSERT_EQ(v1.status, 200);
  EXPECT_EQ(json::parse(v1.body)["yaml"], text);
  auto versions = Call("GET", "/v1/apps/" + app + "/versions", "", admin_token_);
  ASSERT_EQ(versions.status, 200);
  EXPECT_EQ(json::parse(versions.body)["items"].size(), 2u);
  auto apps = json::parse(Call("GET", "/v1/apps", "", admin_token_).body)["items"];
  EXPECT_TRUE(std::any_of(apps.begin(), apps.end(),
                          [&](const json& a) { return a["app"] == app && a["version"] == 2; }));
  EXPECT_EQ(Call("GET", "/v1/apps/" + NewApp(), "", admin_token_).status, 404);

  // One AppSpecApplied per stored version, carrying the text.
  auto match = [&](const events::v1::Envelope& e) {
    return e.has_app_spec_applied() && e.app_spec_applied().app() == app;
  };
  auto seen = ReadEvents(match, 20s, 2);
  ASSERT_EQ(seen.size(), 2u) << service_->LogTail();
  seen = ReadEvents(match, 5s);
  ASSERT_EQ(seen.size(), 2u);
  // Keyed by event id, the two may sit in different partitions: order by version.
  std::sort(seen.begin(), seen.end(), [](const st::SeenEvent& a, const st::SeenEvent& b) {
    return a.envelope.app_spec_applied().spec_version() <
           b.envelope.app_spec_applied().spec_version();
  });
  EXPECT_EQ(seen[0].envelope.app_spec_applied().spec_version(), 1u);
  EXPECT_EQ(seen[0].envelope.app_spec_applied().spec_yaml(), text);
  EXPECT_EQ(seen[0].envelope.app_spec_applied().spec().app(), app);  // parsed once, here
  EXPECT_EQ(seen[1].envelope.app_spec_applied().spec_version(), 2u);
  EXPECT_EQ(seen[1].envelope.app_spec_applied().sha256(), json::parse(second.body)["sha256"]);
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                   ".audit_log WHERE action = 'app_spec.apply' AND target = '" + app + "'"),
            5);  // two created, two unchanged, one invalid
}

TEST_F(ReleaseIntakeE2eTest, DryRunShowsTheDemoBatchesAndStoresNothing) {
  const auto app = NewApp();
  const auto release_id = AppWithRelease(app);
  const auto outbox_before = Scalar("SELECT count(*) FROM " + schema_ + ".outbox");
  auto r = Call("POST", "/v1/deployments?dry_run=true",
                json{{"release_id", release_id}, {"env", "production"}}.dump(), admin_token_);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto plan = json::parse(r.body);
  EXPECT_EQ(plan["dry_run"], true);
  EXPECT_EQ(plan["app"], app);
  EXPECT_EQ(plan["version"], "1.4.2");
  EXPECT_EQ(plan["strategy"], "canary");
  const auto& b = plan["batches"];
  ASSERT_EQ(b.size(), 3u) << r.body;
  auto names = [](const json& batch) {
    std::vector<std::string> out;
    for (const auto& h : batch["hosts"]) out.push_back(h["name"]);
    return out;
  };
  // spreadBy zone interleaves zone-a, -b, -c: web-1, web-2, web-3, web-4, web-5, web-6.
  EXPECT_EQ(names(b[0]), (std::vector<std::string>{"web-1"}));
  EXPECT_EQ(b[0]["weight_percent"], 5);
  EXPECT_EQ(b[0]["hosts"][0]["address"], "127.0.20.11");
  EXPECT_EQ(names(b[1]), (std::vector<std::string>{"web-2"}));
  EXPECT_EQ(b[1]["weight_percent"], 25);
  EXPECT_EQ(b[1]["gates_before"], json::parse(R"([{"kind":"pause","duration":"2m"}])"));
  EXPECT_EQ(b[1]["analysis"], true);
  EXPECT_EQ(names(b[2]), (std::vector<std::string>{"web-3", "web-4", "web-5", "web-6"}));
  EXPECT_EQ(b[2]["gates_before"], json::parse(R"([{"kind":"approval"}])"));
  EXPECT_EQ(b[2]["cumulative_hosts"], 6);
  EXPECT_EQ(b[2]["max_parallel"], 2);

  auto staging = Call("POST", "/v1/deployments?dry_run=true",
                      json{{"release_id", release_id}, {"env", "staging"}}.dump(), admin_token_);
  ASSERT_EQ(staging.status, 200) << staging.body;
  EXPECT_EQ(json::parse(staging.body)["strategy"], "all-at-once");
  EXPECT_EQ(json::parse(staging.body)["batches"].size(), 1u);

  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ + ".outbox"), outbox_before);
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM " + schema_ + ".deployment_requests WHERE app = '" + app + "'"),
      0);
}

TEST_F(ReleaseIntakeE2eTest, DeploymentRequestIsOneEventAndHonoursTheIdempotencyKey) {
  const auto app = NewApp();
  const auto release_id = AppWithRelease(app);
  const std::string body = json{{"release_id", release_id}, {"env", "production"}}.dump();
  const std::string key = "deploy-" + st::RandomSuffix();
  auto first = Call("POST", "/v1/deployments", body, admin_token_, {{"Idempotency-Key", key}});
  ASSERT_EQ(first.status, 202) << first.body;
  const std::string id = json::parse(first.body)["deployment_id"];
  EXPECT_EQ(json::parse(first.body)["status"], "requested");

  auto again = Call("POST", "/v1/deployments", body, admin_token_, {{"Idempotency-Key", key}});
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(json::parse(again.body)["deployment_id"], id);
  auto other =
      Call("POST", "/v1/deployments", json{{"release_id", release_id}, {"env", "staging"}}.dump(),
           admin_token_, {{"Idempotency-Key", key}});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(ErrorCode(other), "idempotency_key_reused");

  auto seen = ReadEvents([&](const auto& e) { return e.deployment_id() == id; }, 20s, 1);
  ASSERT_EQ(seen.size(), 1u) << "no DeploymentRequested on Kafka; log:\n" << service_->LogTail();
  seen = ReadEvents([&](const auto& e) { return e.deployment_id() == id; }, 5s);
  ASSERT_EQ(seen.size(), 1u) << "the replayed request must not publish a second event";
  const auto& e = seen[0].envelope;
  EXPECT_EQ(seen[0].key, id);
  EXPECT_EQ(seen[0].headers.at("ce_type"), "sluice.v1.DeploymentRequested");
  ASSERT_TRUE(e.has_deployment_requested());
  const auto& dr = e.deployment_requested();
  EXPECT_EQ(dr.deployment_id(), id);
  EXPECT_EQ(dr.release_id(), release_id);
  EXPECT_EQ(dr.app(), app);
  EXPECT_EQ(dr.env(), "production");
  EXPECT_EQ(dr.spec_version(), 1u);
  EXPECT_EQ(dr.spec_yaml(), DemoSpec(app));
  EXPECT_EQ(dr.spec().app(), app);  // the resolved form the planner plans from
  EXPECT_GT(dr.spec().environments_size(), 0);
  EXPECT_EQ(dr.version(), "1.4.2");
  EXPECT_EQ(dr.artifact().sha256(), kSha);
  EXPECT_EQ(dr.artifact().url(), "https://artifacts.example.com/" + app + "/v1.4.2.tar.gz");
  EXPECT_EQ(dr.artifact().kind(), events::v1::ARTIFACT_KIND_TARBALL);
  EXPECT_EQ(dr.requested_by(), "local-admin");

  // Without a key, a second request is a second deployment.
  auto second = Call("POST", "/v1/deployments", body, admin_token_);
  ASSERT_EQ(second.status, 202);
  EXPECT_NE(json::parse(second.body)["deployment_id"], id);

  // What is refused, and where.
  auto no_release =
      Call("POST", "/v1/deployments",
           json{{"release_id", std::string(36, 'f')}, {"env", "production"}}.dump(), admin_token_);
  EXPECT_EQ(no_release.status, 422);
  EXPECT_EQ(ErrorField(no_release), "release_id");
  auto no_env = Call("POST", "/v1/deployments",
                     json{{"release_id", release_id}, {"env", "qa"}}.dump(), admin_token_);
  EXPECT_EQ(no_env.status, 422);
  EXPECT_EQ(ErrorField(no_env), "env");
  EXPECT_NE(
      json::parse(no_env.body)["error"]["message"].get<std::string>().find("staging, production"),
      std::string::npos);
  auto no_version =
      Call("POST", "/v1/deployments",
           json{{"release_id", release_id}, {"env", "production"}, {"spec_version", 9}}.dump(),
           admin_token_);
  EXPECT_EQ(no_version.status, 422);
  EXPECT_EQ(ErrorField(no_version), "spec_version");
  const auto bare_app = NewApp();
  auto bare = Call("POST", "/v1/releases", Body(bare_app, "v1.0.0").dump(), admin_token_);
  ASSERT_EQ(bare.status, 201);
  auto no_spec =
      Call("POST", "/v1/deployments",
           json{{"release_id", json::parse(bare.body)["id"]}, {"env", "production"}}.dump(),
           admin_token_);
  EXPECT_EQ(no_spec.status, 422);
  EXPECT_EQ(ErrorField(no_spec), "app");
  EXPECT_NE(no_spec.body.find("sluice apply -f"), std::string::npos) << no_spec.body;

  // A viewer may not deploy.
  EXPECT_EQ(Call("POST", "/v1/deployments", body, NewToken("viewer")).status, 403);
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM " + schema_ +
             ".audit_log WHERE action = 'deployment.request' AND detail->>'deployment_id' = '" +
             id + "'"),
      3);  // requested, replayed, key_conflict
}

TEST_F(ReleaseIntakeE2eTest, OperatorCommandsAreCheckedAgainstThePlannerAndPublished) {
  const std::string known = "dep-" + st::RandomSuffix(12);
  const std::string deployer = NewToken("deployer");
  const std::string approver = NewToken("approver");
  {
    FakePlanner planner(planner_port_, known);
    auto pause = Call("POST", "/v1/deployments/" + known + ":pause",
                      json{{"reason", "checking dashboards"}}.dump(), deployer);
    ASSERT_EQ(pause.status, 202) << pause.body;
    const auto accepted = json::parse(pause.body);
    EXPECT_EQ(accepted["deployment_id"], known);
    EXPECT_EQ(accepted["verb"], "pause");
    EXPECT_FALSE(accepted.contains("warning"));

    auto unknown =
        Call("POST", "/v1/deployments/" + std::string(36, 'e') + ":pause", "{}", deployer);
    EXPECT_EQ(unknown.status, 404) << unknown.body;

    // Rollback and approve need an approver.
    auto rollback = Call("POST", "/v1/deployments/" + known + ":rollback", "{}", deployer);
    EXPECT_EQ(rollback.status, 403) << rollback.body;
    auto approve = Call("POST", "/v1/deployments/" + known + ":approve",
                        json{{"generation", 2}}.dump(), approver);
    EXPECT_EQ(approve.status, 202) << approve.body;

    auto seen = ReadEvents(
        [&](const auto& e) { return e.deployment_id() == known && e.has_operator_command(); }, 20s,
        2);
    ASSERT_EQ(seen.size(), 2u) << service_->LogTail();
    const auto& c = seen[0].envelope.operator_command();
    EXPECT_EQ(seen[0].key, known);
    EXPECT_EQ(seen[0].envelope.event_id(), accepted["command_id"]);
    EXPECT_EQ(c.verb(), events::v1::OperatorCommand::VERB_PAUSE);
    EXPECT_EQ(c.reason(), "checking dashboards");
    EXPECT_EQ(c.generation(), 0u);
    EXPECT_NE(c.actor().find("deployer-"), std::string::npos) << c.actor();
    EXPECT_EQ(seen[1].envelope.operator_command().verb(),
              events::v1::OperatorCommand::VERB_APPROVE);
    EXPECT_EQ(seen[1].envelope.operator_command().generation(), 2u);
  }
  // The planner is gone: the command is accepted, and the answer says it was not checked.
  auto resume = Call("POST", "/v1/deployments/" + std::string(36, 'e') + ":resume", "{}", deployer);
  ASSERT_EQ(resume.status, 202) << resume.body;
  EXPECT_NE(json::parse(resume.body).value("warning", "").find("could not be reached"),
            std::string::npos);

  auto bad_verb = Call("POST", "/v1/deployments/" + known + ":explode", "{}", admin_token_);
  EXPECT_EQ(bad_verb.status, 404);
  EXPECT_EQ(ErrorCode(bad_verb), "unknown_verb");
  EXPECT_NE(bad_verb.body.find("explode"), std::string::npos);
  auto bad_field = Call("POST", "/v1/deployments/" + known + ":pause",
                        json{{"target_release_id", "x"}}.dump(), admin_token_);
  EXPECT_EQ(bad_field.status, 400);
  EXPECT_EQ(ErrorField(bad_field), "target_release_id");
  EXPECT_EQ(Scalar("SELECT count(*) FROM " + schema_ +
                   ".audit_log WHERE action LIKE 'deployment.%' AND target = '" + known + "'"),
            2);
}

TEST_F(ReleaseIntakeE2eTest, ProxiesAnswer503WithoutUpstreamsAndPassAnswersThrough) {
  const std::string viewer = NewToken("viewer");
  for (const std::string& path :
       std::vector<std::string>{"/v1/deployments", "/v1/deployments/" + std::string(36, 'a')}) {
    auto r = Call("GET", path, "", viewer);
    EXPECT_EQ(r.status, 503) << path << ": " << r.body;
    EXPECT_EQ(ErrorCode(r), "planner_unavailable");
    EXPECT_TRUE(r.Header("Retry-After").has_value());
  }
  auto instances =
      Call("GET", "/v1/deployments/" + std::string(36, 'a') + "/instances", "", viewer);
  EXPECT_EQ(instances.status, 503);
  EXPECT_EQ(ErrorCode(instances), "executor_unavailable");
  EXPECT_EQ(Call("GET", "/v1/deployments", "", "").status, 401);

  FakePlanner planner(planner_port_, "d-1");
  auto list = Call("GET", "/v1/deployments?app=shop&status=running&bogus=1", "", viewer);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["query"], json::parse(R"({"app":"shop","status":"running"})"));
  auto one = Call("GET", "/v1/deployments/d-1", "", viewer);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["status"], "running");
  auto missing = Call("GET", "/v1/deployments/d-2", "", viewer);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ErrorCode(missing), "not_found");
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
