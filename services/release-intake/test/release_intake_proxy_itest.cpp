// release-intake's proxies to the metric-watcher and the rollback-agent, and the rollback
// command's role and target: the real binary against the real PostgreSQL and Kafka of the local
// stack, with the upstream services stood in for by local HTTP servers that record what they
// were asked.
//
// Isolation: its own Postgres schema, its own free ports, a consumer group of its own that reads
// sluice.releases.v1 and keeps only the events of this run's deployment ids.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/testing/event_reader.hpp>
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

// What an upstream stand-in was asked.
struct Asked {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;
  std::string accept;
  std::string content_type;
  std::string body;
  std::string authorization;
};

// A local HTTP server standing in for an upstream; every request it routes is recorded
// (before the handler answers, so the answer never races the record).
class FakeUpstream {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit FakeUpstream(int port) : port_(port) {}
  ~FakeUpstream() { Stop(); }

  void Get(const std::string& pattern, Handler h) { server_.Get(pattern, Recorded(std::move(h))); }
  void Post(const std::string& pattern, Handler h) {
    server_.Post(pattern, Recorded(std::move(h)));
  }

  void Start() {
    if (!server_.bind_to_port("127.0.0.1", port_)) {
      throw std::runtime_error("fake upstream cannot bind port " + std::to_string(port_));
    }
    thread_ = http::testing::ServeInBackground(server_);
  }
  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  Handler Recorded(Handler h) {
    return [this, h = std::move(h)](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        asked_.push_back({req.method, req.path, req.params, req.get_header_value("Accept"),
                          req.get_header_value("Content-Type"), req.body,
                          req.get_header_value("Authorization")});
      }
      h(req, res);
    };
  }

  Asked Last() {
    std::lock_guard lock(mu_);
    if (asked_.empty()) throw std::runtime_error("the fake upstream was not called");
    return asked_.back();
  }
  std::size_t Count() {
    std::lock_guard lock(mu_);
    return asked_.size();
  }

 private:
  int port_;
  httplib::Server server_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Asked> asked_;
};

// A query parameter an upstream stand-in was sent; "" when it was not.
std::string ParamOf(const Asked& asked, const std::string& name) {
  const auto it = asked.params.find(name);
  return it == asked.params.end() ? std::string() : it->second;
}

void Json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

class ReleaseIntakeProxyItest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = std::make_unique<st::PgSchema>("rip");
    port_ = st::FreePort();
    planner_port_ = st::FreePort();
    watcher_port_ = st::FreePort();
    agent_port_ = st::FreePort();
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    std::filesystem::create_directories(SLUICE_TEST_LOG_DIR);
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)},
            {"SLUICE_PG_SCHEMA", schema_->Name()},
            {"SLUICE_PG_DSN", schema_->Dsn()},
            {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
            {"SLUICE_ADMIN_TOKEN", admin_token_},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            // Nothing listens on these unless a test starts a FakeUpstream there.
            {"SLUICE_PLANNER_URL", "http://127.0.0.1:" + std::to_string(planner_port_)},
            {"SLUICE_WATCHER_URL", "http://127.0.0.1:" + std::to_string(watcher_port_)},
            {"SLUICE_ROLLBACK_AGENT_URL", "http://127.0.0.1:" + std::to_string(agent_port_)},
            {"SLUICE_LOG_LEVEL", "info"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/release-intake-" + schema_->Name() + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Url("/readyz"), 60s))
        << "release-intake did not become ready (is PostgreSQL up? bash scripts/stack.sh "
           "status); log:\n"
        << service_->LogTail();
    viewer_ = NewToken("viewer");
    deployer_ = NewToken("deployer");
    approver_ = NewToken("approver");
  }
  static void TearDownTestSuite() {
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

  static std::string NewToken(const std::string& role) {
    auto r =
        Call("POST", "/v1/tokens",
             json{{"name", role + "-" + st::RandomSuffix()}, {"role", role}}.dump(), admin_token_);
    if (r.status != 201) throw std::runtime_error("token: " + r.body);
    return json::parse(r.body)["token"];
  }

  static std::string ErrorCode(const http::ClientResponse& r) {
    const auto j = json::parse(r.body, nullptr, false);
    return j.is_discarded() ? "" : j["error"].value("code", "");
  }

  static inline std::unique_ptr<st::ChildProcess> service_;
  static inline std::unique_ptr<st::PgSchema> schema_;
  static inline int port_ = 0;
  static inline int planner_port_ = 0;
  static inline int watcher_port_ = 0;
  static inline int agent_port_ = 0;
  static inline std::string admin_token_;
  static inline std::string viewer_;
  static inline std::string deployer_;
  static inline std::string approver_;
};

TEST_F(ReleaseIntakeProxyItest, UnreachableWatcherOrAgentIs503WithRetryAfter) {
  const std::string id(36, 'a');
  const std::vector<std::tuple<std::string, std::string, std::string>> calls = {
      {"POST", "/v1/analyses", "watcher_unavailable"},
      {"GET", "/v1/analyses?deployment_id=" + id, "watcher_unavailable"},
      {"GET", "/v1/analyses/" + id, "watcher_unavailable"},
      {"GET", "/v1/incidents?deployment_id=" + id, "rollback_agent_unavailable"},
      {"GET", "/v1/incidents/" + id, "rollback_agent_unavailable"},
      {"GET", "/v1/incidents/" + id + "/chart.svg", "rollback_agent_unavailable"},
      {"GET", "/v1/rollbacks?deployment_id=" + id, "rollback_agent_unavailable"},
  };
  for (const auto& [method, path, code] : calls) {
    const std::string body = method == "POST" ? R"({"template":{}})" : "";
    // Reads are for viewers; a retrospective analysis (queries run at the watcher) for deployers.
    auto r = Call(method, path, body, method == "POST" ? deployer_ : viewer_);
    EXPECT_EQ(r.status, 503) << method << " " << path << ": " << r.body;
    EXPECT_EQ(ErrorCode(r), code) << path;
    EXPECT_EQ(r.Header("Retry-After").value_or(""), "2") << path;
    // Any valid token reads; no token does not.
    EXPECT_EQ(Call(method, path, body, "").status, 401) << path;
    EXPECT_EQ(Call(method, path, body, "not-a-token").status, 401) << path;
  }
}

TEST_F(ReleaseIntakeProxyItest, AnalysesGoToTheWatcherAndTheirAnswersComeBack) {
  FakeUpstream watcher(watcher_port_);
  watcher.Post("/v1/analyses", [](const httplib::Request& req, httplib::Response& res) {
    const auto body = json::parse(req.body);
    Json(res, 200,
         {{"outcome", "Failed"},
          {"rules", json::array({{{"name", "seed"}, {"outcome", "Failed"}}})},
          {"echo", body}});
  });
  watcher.Get("/v1/analyses", [](const httplib::Request&, httplib::Response& res) {
    Json(res, 200, {{"analyses", json::array({{{"id", "an-1"}, {"outcome", "Running"}}})}});
  });
  watcher.Get(R"(/v1/analyses/([A-Za-z0-9-]+))",
              [](const httplib::Request& req, httplib::Response& res) {
                if (req.matches[1] != "an-1") {
                  Json(res, 404, {{"error", {{"code", "not_found"}, {"message", "no analysis"}}}});
                  return;
                }
                Json(res, 200, {{"id", "an-1"}, {"measurements", json::array()}});
              });
  watcher.Start();

  const json request = {{"app", "shop"}, {"template", {{"metrics", json::object()}}}};
  // A viewer may read analyses but not make the watcher run queries.
  auto as_viewer = Call("POST", "/v1/analyses", request.dump(), viewer_);
  EXPECT_EQ(as_viewer.status, 403) << as_viewer.body;
  EXPECT_EQ(watcher.Count(), 0u);
  auto posted = Call("POST", "/v1/analyses", request.dump(), deployer_);
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(json::parse(posted.body)["outcome"], "Failed");
  EXPECT_EQ(json::parse(posted.body)["echo"], request);
  auto asked = watcher.Last();
  EXPECT_EQ(asked.method, "POST");
  EXPECT_EQ(asked.path, "/v1/analyses");
  EXPECT_EQ(json::parse(asked.body), request);
  EXPECT_NE(asked.content_type.find("application/json"), std::string::npos);
  // Internal APIs take the shared service token, never the caller's API token.
  EXPECT_EQ(asked.authorization, st::ServiceAuthorization());

  // A body that is not JSON never reaches the watcher.
  const auto before = watcher.Count();
  auto malformed = Call("POST", "/v1/analyses", "{not json", deployer_);
  EXPECT_EQ(malformed.status, 400) << malformed.body;
  EXPECT_EQ(watcher.Count(), before);

  auto list = Call("GET", "/v1/analyses?deployment_id=d-1&bogus=1", "", viewer_);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["analyses"][0]["id"], "an-1");
  asked = watcher.Last();
  EXPECT_EQ(asked.path, "/v1/analyses");
  EXPECT_EQ(asked.params, (std::multimap<std::string, std::string>{{"deployment_id", "d-1"}}));
  EXPECT_EQ(asked.authorization, st::ServiceAuthorization());

  auto one = Call("GET", "/v1/analyses/an-1", "", viewer_);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_TRUE(json::parse(one.body).contains("measurements"));
  auto missing = Call("GET", "/v1/analyses/an-2", "", viewer_);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(ErrorCode(missing), "not_found");
}

TEST_F(ReleaseIntakeProxyItest, IncidentsPassMarkdownAndTheChartThrough) {
  FakeUpstream agent(agent_port_);
  const std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>";
  agent.Get("/v1/incidents", [](const httplib::Request&, httplib::Response& res) {
    Json(res, 200, {{"incidents", json::array({{{"id", "inc-1"}}})}});
  });
  agent.Get(R"(/v1/incidents/([A-Za-z0-9-]+))",
            [](const httplib::Request& req, httplib::Response& res) {
              const bool markdown =
                  req.get_header_value("Accept").find("text/markdown") != std::string::npos ||
                  req.get_param_value("format") == "markdown";
              if (markdown) {
                res.set_content("# Incident inc-1\n\nerror_rate 0.31 > 0.05\n",
                                "text/markdown; charset=utf-8");
                return;
              }
              Json(res, 200, {{"id", std::string(req.matches[1])}, {"summary", "s"}});
            });
  agent.Get(R"(/v1/incidents/([A-Za-z0-9-]+)/chart\.svg)",
            [&svg](const httplib::Request&, httplib::Response& res) {
              res.set_content(svg, "image/svg+xml");
            });
  agent.Get("/v1/rollbacks", [](const httplib::Request&, httplib::Response& res) {
    Json(res, 200, {{"rollbacks", json::array({{{"id", "rb-1"}, {"status", "completed"}}})}});
  });
  agent.Start();

  auto list = Call("GET", "/v1/incidents?deployment_id=d-9&limit=5&nope=x", "", viewer_);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["incidents"][0]["id"], "inc-1");
  EXPECT_EQ(agent.Last().params,
            (std::multimap<std::string, std::string>{{"deployment_id", "d-9"}, {"limit", "5"}}));

  auto as_json = Call("GET", "/v1/incidents/inc-1", "", viewer_);
  ASSERT_EQ(as_json.status, 200) << as_json.body;
  EXPECT_EQ(json::parse(as_json.body)["id"], "inc-1");
  EXPECT_NE(as_json.Header("Content-Type").value_or("").find("application/json"),
            std::string::npos);
  Call("GET", "/v1/incidents/inc-1", "", viewer_, {{"Accept", "application/json"}});
  EXPECT_EQ(agent.Last().accept, "application/json");

  auto by_accept = Call("GET", "/v1/incidents/inc-1", "", viewer_, {{"Accept", "text/markdown"}});
  ASSERT_EQ(by_accept.status, 200) << by_accept.body;
  EXPECT_EQ(by_accept.body, "# Incident inc-1\n\nerror_rate 0.31 > 0.05\n");
  EXPECT_EQ(by_accept.Header("Content-Type").value_or(""), "text/markdown; charset=utf-8");
  EXPECT_EQ(agent.Last().accept, "text/markdown");

  auto by_format = Call("GET", "/v1/incidents/inc-1?format=markdown", "", viewer_);
  ASSERT_EQ(by_format.status, 200) << by_format.body;
  EXPECT_EQ(by_format.body.rfind("# Incident inc-1", 0), 0u) << by_format.body;
  EXPECT_EQ(agent.Last().params, (std::multimap<std::string, std::string>{{"format", "markdown"}}));

  auto chart = Call("GET", "/v1/incidents/inc-1/chart.svg", "", viewer_);
  ASSERT_EQ(chart.status, 200) << chart.body;
  EXPECT_EQ(chart.body, svg);
  EXPECT_EQ(chart.Header("Content-Type").value_or(""), "image/svg+xml");
  EXPECT_EQ(agent.Last().path, "/v1/incidents/inc-1/chart.svg");

  auto rollbacks = Call("GET", "/v1/rollbacks?deployment_id=d-9", "", viewer_);
  ASSERT_EQ(rollbacks.status, 200) << rollbacks.body;
  EXPECT_EQ(json::parse(rollbacks.body)["rollbacks"][0]["id"], "rb-1");
  EXPECT_EQ(agent.Last().path, "/v1/rollbacks");

  // Only the incident routes are proxied.
  auto unknown = Call("GET", "/v1/incidents/inc-1/nothing", "", viewer_);
  EXPECT_EQ(unknown.status, 404);
}

// The OperatorCommands of `deployment_id` on sluice.releases.v1: the first `want` of them, or
// all those seen within `window`.
std::vector<events::v1::OperatorCommand> ReadCommands(const std::string& deployment_id,
                                                      std::size_t want,
                                                      std::chrono::milliseconds window) {
  st::EventReader reader(KafkaBrokers(), std::string(events::kTopicReleases), "itest-rip-");
  std::vector<st::SeenEvent> seen;
  WaitFor(
      [&] {
        seen = reader.Seen([&](const events::v1::Envelope& e) {
          return e.has_operator_command() && e.deployment_id() == deployment_id;
        });
        return seen.size() >= want;
      },
      window, std::chrono::milliseconds(200));
  std::vector<events::v1::OperatorCommand> out;
  for (const auto& s : seen) {
    if (out.size() < want) out.push_back(s.envelope.operator_command());
  }
  return out;
}

TEST_F(ReleaseIntakeProxyItest, RollbackNeedsAnApproverAndCarriesTheTargetRelease) {
  // The planner knows the deployment; the rollback target must be a known release.
  const std::string deployment = "dep-" + st::RandomSuffix(12);
  FakeUpstream planner(planner_port_);
  planner.Get(R"(/v1/deployments/([A-Za-z0-9-]+))",
              [&](const httplib::Request& req, httplib::Response& res) {
                if (req.matches[1] == deployment) {
                  Json(res, 200, {{"id", deployment}, {"status", "succeeded"}});
                } else {
                  Json(res, 404, {{"error", {{"code", "not_found"}}}});
                }
              });
  planner.Start();
  const std::string app = "app-" + st::RandomSuffix();
  auto release = Call("POST", "/v1/releases",
                      json{{"app", app},
                           {"tag", "v1.0.0"},
                           {"artifact_url", "https://artifacts.example.com/a.tar.gz"},
                           {"sha256", kSha}}
                          .dump(),
                      admin_token_);
  ASSERT_EQ(release.status, 201) << release.body;
  const std::string target = json::parse(release.body)["id"];
  const std::string path = "/v1/deployments/" + deployment + ":rollback";
  const std::string body = json{{"reason", "bake breach"}, {"target_release_id", target}}.dump();

  for (const auto& token : {viewer_, deployer_}) {
    auto refused = Call("POST", path, body, token);
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_NE(refused.body.find("approver"), std::string::npos) << refused.body;
  }
  auto unknown_target =
      Call("POST", path, json{{"target_release_id", "no-such-release"}}.dump(), approver_);
  EXPECT_EQ(unknown_target.status, 422) << unknown_target.body;
  EXPECT_EQ(json::parse(unknown_target.body)["error"]["field"], "target_release_id");

  auto by_approver = Call("POST", path, body, approver_);
  ASSERT_EQ(by_approver.status, 202) << by_approver.body;
  EXPECT_EQ(json::parse(by_approver.body)["verb"], "rollback");
  auto by_admin = Call("POST", path, json{{"reason", "operator"}}.dump(), admin_token_);
  ASSERT_EQ(by_admin.status, 202) << by_admin.body;

  const auto commands = ReadCommands(deployment, 2, 30s);
  ASSERT_EQ(commands.size(), 2u) << service_->LogTail();
  EXPECT_EQ(commands[0].verb(), events::v1::OperatorCommand::VERB_ROLLBACK);
  EXPECT_EQ(commands[0].target_release_id(), target);
  EXPECT_EQ(commands[0].reason(), "bake breach");
  EXPECT_NE(commands[0].actor().find("approver-"), std::string::npos) << commands[0].actor();
  EXPECT_EQ(commands[1].verb(), events::v1::OperatorCommand::VERB_ROLLBACK);
  EXPECT_EQ(commands[1].target_release_id(), "");
  EXPECT_EQ(commands[1].actor(), "local-admin");
}

// A deployment release-intake did not request (auto-deploy, another instance): the role in the
// environment the planner names decides an operator command.
TEST_F(ReleaseIntakeProxyItest, ACommandTakesTheRoleInTheEnvironmentThePlannerNames) {
  const std::string deployment = "dep-" + st::RandomSuffix(12);
  FakeUpstream planner(planner_port_);
  planner.Get(R"(/v1/deployments/([A-Za-z0-9-]+))",
              [&](const httplib::Request&, httplib::Response& res) {
                Json(res, 200, {{"id", deployment}, {"env", "production"}, {"status", "running"}});
              });
  planner.Start();
  const auto token = [](const json& environments) {
    auto r = Call("POST", "/v1/tokens",
                  json{{"name", "grant-" + st::RandomSuffix()},
                       {"role", "viewer"},
                       {"environments", environments}}
                      .dump(),
                  admin_token_);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("token", "");
  };
  const std::string path = "/v1/deployments/" + deployment + ":approve";
  auto refused = Call("POST", path, "", token({{"staging", "approver"}}));
  ASSERT_EQ(refused.status, 403) << refused.body;
  const auto error = json::parse(refused.body)["error"];
  EXPECT_EQ(error["code"], "forbidden_in_environment");
  EXPECT_EQ(error["detail"]["env"], "production");
  EXPECT_EQ(error["detail"]["needed"], "approver");
  auto accepted = Call("POST", path, "", token({{"production", "approver"}}));
  EXPECT_EQ(accepted.status, 202) << accepted.body;

  // An admin's override is on the deployment's record as GET /v1/deployments/{id} shows it.
  const std::string app = "app-" + st::RandomSuffix();
  const std::string yaml =
      "app: " + app +
      "\nenvironments:\n  production:\n    targets: {web: {hosts: [{name: w-1, address: "
      "10.0.0.1, agentEndpoint: 'http://10.0.0.1:7070'}]}}\n    strategy: {type: all-at-once}\n";
  auto spec = Call("PUT", "/v1/apps/" + app, json{{"spec", yaml}}.dump(), admin_token_);
  ASSERT_EQ(spec.status, 201) << spec.body;
  auto release = Call("POST", "/v1/releases",
                      json{{"app", app},
                           {"tag", "v1.0.0"},
                           {"artifact_url", "https://artifacts.example.com/a.tar.gz"},
                           {"sha256", kSha}}
                          .dump(),
                      admin_token_);
  ASSERT_EQ(release.status, 201) << release.body;
  auto requested = Call("POST", "/v1/deployments",
                        json{{"release_id", json::parse(release.body)["id"]},
                             {"env", "production"},
                             {"override", {{"reason", "INC-9"}}}}
                            .dump(),
                        admin_token_);
  ASSERT_EQ(requested.status, 202) << requested.body;
  const std::string id = json::parse(requested.body)["deployment_id"];
  auto read = Call("GET", "/v1/deployments/" + id, "", viewer_);
  ASSERT_EQ(read.status, 200) << read.body;
  const auto record = json::parse(read.body);
  EXPECT_EQ(record["status"], "running");  // the planner's answer, with the override added
  EXPECT_EQ(record["gate_override"]["reason"], "INC-9");
  EXPECT_TRUE(record["gate_override"]["overridden"].is_null());  // the gate had nothing to say
  EXPECT_FALSE(json::parse(Call("GET", "/v1/deployments/" + deployment, "", viewer_).body)
                   .contains("gate_override"));
}

// GET /v1/releases?tag=&since=&until=: the tag is a literal, case-sensitive substring ('%' and
// '_' match themselves), created_at in [since, until), all of them on every page of the cursor;
// a malformed one is refused naming it.
TEST_F(ReleaseIntakeProxyItest, ReleasesFilterByTagAndCreationTimeOnEveryPage) {
  const std::string app = "tags-" + st::RandomSuffix();
  std::map<std::string, std::string> id_of;
  for (const char* tag : {"v1.0.0", "v1.1.0", "rel_v2.0.0", "relXv3.0.0", "build-1.2.0"}) {
    auto r = Call("POST", "/v1/releases",
                  json{{"app", app},
                       {"tag", tag},
                       {"artifact_url", "https://artifacts.example.com/a.tar.gz"},
                       {"sha256", kSha}}
                      .dump(),
                  deployer_);
    ASSERT_EQ(r.status, 201) << tag << ": " << r.body;
    id_of[tag] = json::parse(r.body)["id"];
  }
  {
    pqxx::connection c(schema_->Dsn());
    pqxx::work tx(c);
    const std::string table = tx.quote_name(schema_->Name()) + ".releases";
    const auto at = [&](const char* tag, const char* ts) {
      tx.exec_params("UPDATE " + table + " SET created_at = $2::timestamptz WHERE id = $1",
                     id_of[tag], ts);
    };
    at("v1.0.0", "2026-12-01T09:59:59.999999Z");
    at("v1.1.0", "2026-12-01T10:00:00Z");
    at("rel_v2.0.0", "2026-12-01T10:30:00Z");
    at("relXv3.0.0", "2026-12-01T11:00:00Z");
    at("build-1.2.0", "2026-12-01T10:45:00Z");
    tx.commit();
  }
  // The tags listed, newest first (seq), following next_cursor one release at a time.
  const auto walk = [&](const std::string& query) {
    std::vector<std::string> seen;
    std::string path = "/v1/releases?app=" + app + "&limit=1&" + query;
    for (int page = 0; page < 10; ++page) {
      auto r = Call("GET", path, "", viewer_);
      EXPECT_EQ(r.status, 200) << query << ": " << r.body;
      if (r.status != 200) break;
      const json body = json::parse(r.body);
      for (const auto& item : body["items"]) seen.push_back(item["tag"]);
      if (!body["next_cursor"].is_string()) break;
      path = "/v1/releases?app=" + app + "&limit=1&" + query +
             "&cursor=" + body["next_cursor"].get<std::string>();
    }
    return seen;
  };
  using Tags = std::vector<std::string>;
  EXPECT_EQ(walk("tag=v1."), (Tags{"v1.1.0", "v1.0.0"}));
  EXPECT_EQ(walk("tag=REL"), Tags{});  // case-sensitive: not rel_v2.0.0 nor relXv3.0.0
  EXPECT_EQ(walk("tag=rel_v"), (Tags{"rel_v2.0.0"}));  // '_' is not a wildcard
  EXPECT_EQ(walk("tag=%25"), Tags{});                  // nor is '%'
  EXPECT_EQ(walk("tag=.0"), (Tags{"build-1.2.0", "relXv3.0.0", "rel_v2.0.0", "v1.1.0", "v1.0.0"}));
  EXPECT_EQ(walk("since=2026-12-01T10:00:00Z&until=2026-12-01T11:00:00Z"),
            (Tags{"build-1.2.0", "rel_v2.0.0", "v1.1.0"}));
  EXPECT_EQ(walk("tag=v&since=2026-12-01T10:30:00Z"), (Tags{"relXv3.0.0", "rel_v2.0.0"}));
  EXPECT_EQ(walk("until=2026-12-01T12:00:00%2B02:00"), (Tags{"v1.0.0"}));
  EXPECT_EQ(walk("since=1h"), Tags{});  // all were made days before the test runs

  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"tag=", "tag"},
           {"tag=" + std::string(129, 'v'), "tag"},
           {"tag=v1%0A", "tag"},
           {"tag=v1%E2%80%AE", "tag"},
           {"since=last-week", "since"},
           {"until=2026-02-30T00:00:00Z", "until"},
           {"since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until"}}) {
    auto r = Call("GET", "/v1/releases?app=" + app + "&" + query, "", viewer_);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
    const json body = json::parse(r.body, nullptr, false);
    EXPECT_EQ(body.value(json::json_pointer("/error/field"), std::string()), field)
        << query << ": " << r.body;
  }
}

// GET /v1/deployments?since=&until=: release-intake reads the bounds (a duration from its own
// now), sends them on to the planner to the microsecond, and filters the deployments it holds
// (waiting for a window) on the same bounds; a malformed bound is refused before the planner is
// asked.
TEST_F(ReleaseIntakeProxyItest, DeploymentListBoundsReachThePlannerAndFilterTheHeldOnes) {
  FakeUpstream planner(planner_port_);
  planner.Get("/v1/deployments", [](const httplib::Request&, httplib::Response& res) {
    Json(res, 200, {{"deployments", json::array()}, {"next_cursor", nullptr}});
  });
  planner.Start();
  const std::string app = "held-" + st::RandomSuffix();
  {
    pqxx::connection c(schema_->Dsn());
    pqxx::work tx(c);
    const std::string table = tx.quote_name(schema_->Name()) + ".deployment_waits";
    const auto hold = [&](const std::string& id, const char* ts) {
      tx.exec_params("INSERT INTO " + table +
                         " (deployment_id, app, env, state, reason, requested, created_at, "
                         "updated_at) VALUES ($1, $2, 'production', 'waiting', "
                         "'{\"code\": \"outside_window\", \"message\": \"closed\"}'::jsonb, "
                         "''::bytea, $3::timestamptz, $3::timestamptz)",
                     id, app, ts);
    };
    hold(app + "-early", "2026-12-01T09:59:59.999Z");
    hold(app + "-at", "2026-12-01T10:00:00Z");
    hold(app + "-late", "2026-12-01T11:00:00Z");
    tx.commit();
  }
  const auto ids = [&](const std::string& query) {
    auto r = Call("GET", "/v1/deployments?app=" + app + "&" + query, "", viewer_);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> out;
    const json body =
        json::parse(r.body);  // kept: a range-for over a member of a temporary dangles
    for (const auto& d : body["deployments"]) out.push_back(d["id"]);
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids("since=2026-12-01T12:00:00%2B02:00&until=2026-12-01T11:00:00Z"),
            (Ids{app + "-at"}));
  // The planner got the same instants, in UTC to the microsecond.
  const Asked asked = planner.Last();
  EXPECT_EQ(ParamOf(asked, "since"), "2026-12-01T10:00:00.000000Z");
  EXPECT_EQ(ParamOf(asked, "until"), "2026-12-01T11:00:00.000000Z");
  EXPECT_EQ(ParamOf(asked, "app"), app);
  EXPECT_EQ(ids("until=2026-12-01T10:00:00Z"), (Ids{app + "-early"}));
  EXPECT_EQ(ids("since=2026-12-01T10:00:00Z"), (Ids{app + "-late", app + "-at"}));
  // A duration is resolved here and sent on as a time.
  EXPECT_EQ(ids("since=1h"), Ids{});
  const std::string sent = ParamOf(planner.Last(), "since");
  EXPECT_EQ(sent.size(), std::string("2026-12-01T10:00:00.000000Z").size()) << sent;
  EXPECT_EQ(sent.back(), 'Z') << sent;

  const std::size_t asked_before = planner.Count();
  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"since=soon", "since"}, {"until=12", "until"}, {"since=2h&until=3h", "until"}}) {
    auto r = Call("GET", "/v1/deployments?" + query, "", viewer_);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
    const json body = json::parse(r.body, nullptr, false);
    EXPECT_EQ(body.value(json::json_pointer("/error/field"), std::string()), field)
        << query << ": " << r.body;
  }
  EXPECT_EQ(planner.Count(), asked_before);
}

}  // namespace
}  // namespace sluice::release_intake
