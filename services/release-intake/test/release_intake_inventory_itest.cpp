// Inventory host groups (issue 19): the real release-intake binary, the real PostgreSQL and
// Kafka of the local stack, and a real HTTP server (in this process, on a free loopback port)
// serving an Ansible JSON inventory behind a bearer token. A deployment request reads the
// inventory; its dry run's plan and its answer show the hosts with their source; the
// DeploymentRequested on sluice.releases.v1 carries them; a host dropped from the inventory is
// reported by the next request; an inventory that cannot be used is refused naming it. And the
// `selector:` groups: agents enrolled through the API, matched by their labels.
//
// Isolation: its own Postgres schema, its own free ports and inventory directory, a consumer
// group of its own keeping only this run's deployment ids.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
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
namespace fs = std::filesystem;

const std::string kSha = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
const std::string kInventoryToken = "inv-token-0123456789";

// The inventory server: GET /inventory answers what `document` holds (with the token), GET
// /slow answers after 3 s.
class InventoryServer {
 public:
  explicit InventoryServer(int port) : port_(port) {
    server_.Get("/inventory", [this](const httplib::Request& req, httplib::Response& res) {
      ++calls_;
      if (req.get_header_value("Authorization") != "Bearer " + kInventoryToken) {
        res.status = 401;
        return;
      }
      std::lock_guard lock(mu_);
      res.status = status_;
      res.set_content(document_, "application/json");
    });
    server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(3s);
      res.set_content("{}", "application/json");
    });
    if (!server_.bind_to_port("127.0.0.1", port_)) {
      throw std::runtime_error("inventory server cannot bind port " + std::to_string(port_));
    }
    thread_ = http::testing::ServeInBackground(server_);
  }
  ~InventoryServer() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }
  void Serve(int status, std::string document) {
    std::lock_guard lock(mu_);
    status_ = status;
    document_ = std::move(document);
  }
  int Calls() const { return calls_; }

 private:
  int port_;
  httplib::Server server_;
  std::thread thread_;
  std::mutex mu_;
  int status_ = 200;
  std::string document_ = "{}";
  std::atomic<int> calls_{0};
};

json Inventory(const std::vector<std::string>& web_hosts) {
  json hostvars = json::object();
  int i = 1;
  for (const auto& h : web_hosts) {
    hostvars[h] = {{"ansible_host", "10.20.0." + std::to_string(i++)},
                   {"ansible_port", 22},
                   {"zone", "zone-a"},
                   {"ansible_password", "never-a-label"}};
  }
  return {{"all", {{"children", {"web", "ungrouped"}}}},
          {"web", {{"hosts", web_hosts}, {"vars", {{"role", "web"}}}}},
          {"ungrouped", {{"hosts", json::array()}}},
          {"_meta", {{"hostvars", hostvars}}}};
}

class ReleaseIntakeInventoryItest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    schema_ = std::make_unique<st::PgSchema>("rii");
    port_ = st::FreePort();
    inventory_port_ = st::FreePort();
    dir_ = fs::temp_directory_path() / ("sluice-inventory-" + st::RandomSuffix(12));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "token") << kInventoryToken << "\n";
    std::ofstream(dir_ / "db.json") << json{{"db", {"db-1", "db-2"}}}.dump();
    std::ofstream(dir_ / "broken.json") << "{\"db\": [";
    admin_token_ = "itest-admin-" + st::RandomSuffix(24);
    fs::create_directories(SLUICE_TEST_LOG_DIR);
    service_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_RELEASE_INTAKE_BIN},
        std::map<std::string, std::string>{
            {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(port_)},
            {"SLUICE_PG_SCHEMA", schema_->Name()},
            {"SLUICE_PG_DSN", schema_->Dsn()},
            {"SLUICE_KAFKA_BROKERS", st::KafkaBrokers()},
            {"SLUICE_ADMIN_TOKEN", admin_token_},
            {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
            {"SLUICE_INVENTORY_DIR", dir_.string()},
            {"SLUICE_INVENTORY_TIMEOUT", "1s"},
            {"SLUICE_INVENTORY_URLS", "http://127.0.0.1:" + std::to_string(inventory_port_) + "/"},
            {"SLUICE_LOG_LEVEL", "info"}},
        std::string(SLUICE_TEST_LOG_DIR) + "/release-intake-" + schema_->Name() + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Url("/readyz"), 60s))
        << "release-intake did not become ready; log:\n"
        << service_->LogTail();
  }
  static void TearDownTestSuite() {
    if (service_) {
      EXPECT_EQ(service_->Terminate(), 0) << service_->LogTail();
    }
    service_.reset();
    schema_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static std::string Url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  static std::string InventoryUrl(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(inventory_port_) + path;
  }

  static http::ClientResponse Call(const std::string& method, const std::string& path,
                                   const std::string& body,
                                   const std::string& content_type = "application/json") {
    http::ClientRequest req;
    req.method = method;
    req.url = Url(path);
    req.body = body;
    req.timeout = 15s;
    req.headers.emplace_back("Authorization", "Bearer " + admin_token_);
    if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
    return http::Send(req);
  }

  // Applies a spec whose environment `production` has the inventory group `web` at `url`
  // (with the token) and the listed group `canary`; `staging` reads `file`.
  static void ApplySpec(const std::string& app, const std::string& url, const std::string& file) {
    const std::string yaml =
        "app: " + app +
        "\n"
        "environments:\n"
        "  production:\n"
        "    targets:\n"
        "      canary:\n"
        "        hosts:\n"
        "          - {name: c-1, address: 10.9.0.1, agentEndpoint: 'http://10.9.0.1:7070'}\n"
        "      web:\n"
        "        inventory:\n"
        "          url: '" +
        url +
        "'\n"
        "          group: web\n"
        "          tokenFile: " +
        (dir_ / "token").string() +
        "\n"
        "          agentEndpoint: 'http://{address}:7070'\n"
        "    strategy:\n"
        "      type: rolling\n"
        "      batchSize: 2\n"
        "      failureTolerance: 50%\n"
        "  staging:\n"
        "    targets:\n"
        "      db:\n"
        "        inventory: {file: '" +
        file + "', group: db, agentEndpoint: 'http://{address}:7070'}\n" +
        "    strategy: {type: all-at-once}\n";
    auto r = Call("PUT", "/v1/apps/" + app, yaml, "application/yaml");
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.body;
  }

  static std::string NewRelease(const std::string& app, const std::string& tag) {
    auto r = Call("POST", "/v1/releases",
                  json{{"app", app},
                       {"tag", tag},
                       {"artifact_url", "https://artifacts.example.com/a.tar.gz"},
                       {"sha256", kSha}}
                      .dump());
    if (r.status != 201) throw std::runtime_error("release: " + r.body);
    return json::parse(r.body)["id"];
  }

  static http::ClientResponse Deploy(const std::string& release, const std::string& env,
                                     bool dry_run) {
    return Call("POST", std::string("/v1/deployments") + (dry_run ? "?dry_run=true" : ""),
                json{{"release_id", release}, {"env", env}}.dump());
  }

  static inline std::unique_ptr<st::ChildProcess> service_;
  static inline std::unique_ptr<st::PgSchema> schema_;
  static inline int port_ = 0;
  static inline int inventory_port_ = 0;
  static inline fs::path dir_;
  static inline std::string admin_token_;
};

TEST_F(ReleaseIntakeInventoryItest, ThePlanShowsTheInventoryHostsReReadAtEachRequest) {
  InventoryServer inventory(inventory_port_);
  inventory.Serve(200, Inventory({"web-1", "web-2", "web-3"}).dump());
  const std::string app = "inv-" + st::RandomSuffix();
  ApplySpec(app, InventoryUrl("/inventory"), (dir_ / "db.json").string());
  const std::string release = NewRelease(app, "v1.0.0");

  // The dry run's plan: the listed host and the inventory's, with the inventory's source.
  auto dry = Deploy(release, "production", true);
  ASSERT_EQ(dry.status, 200) << dry.body;
  const auto plan = json::parse(dry.body);
  EXPECT_EQ(plan["total_hosts"], 4);
  std::vector<std::string> planned;
  for (const auto& b : plan["batches"]) {
    for (const auto& h : b["hosts"]) planned.push_back(h["name"]);
    EXPECT_EQ(b["failure_tolerance"], 1) << b.dump();  // 50% of a batch of 2
  }
  EXPECT_EQ(planned, (std::vector<std::string>{"c-1", "web-1", "web-2", "web-3"}));
  ASSERT_EQ(plan["inventories"].size(), 1u) << dry.body;
  const auto& inv = plan["inventories"][0];
  EXPECT_EQ(inv["group"], "web");
  EXPECT_EQ(inv["source"], "url " + InventoryUrl("/inventory"));
  EXPECT_EQ(inv["hosts"][0], json({{"name", "web-1"}, {"address", "10.20.0.1"}, {"port", 22}}));

  // The request: the hosts in the answer and in DeploymentRequested.spec.
  auto first = Deploy(release, "production", false);
  ASSERT_EQ(first.status, 202) << first.body;
  const std::string first_id = json::parse(first.body)["deployment_id"];
  EXPECT_EQ(json::parse(first.body)["inventories"][0]["hosts"].size(), 3u);
  EXPECT_TRUE(json::parse(first.body)["inventories"][0]["removed_hosts"].empty());

  // The inventory loses web-2 and gains web-4: the next request reads it again and says so.
  inventory.Serve(200, Inventory({"web-1", "web-3", "web-4"}).dump());
  auto second = Deploy(release, "production", false);
  ASSERT_EQ(second.status, 202) << second.body;
  const auto second_body = json::parse(second.body);
  const std::string second_id = second_body["deployment_id"];
  EXPECT_EQ(second_body["inventories"][0]["removed_hosts"], json::array({"web-2"}));
  EXPECT_EQ(second_body["inventories"][0]["added_hosts"], json::array({"web-4"}));

  st::EventReader reader(st::KafkaBrokers(), std::string(events::kTopicReleases), "itest-rii-");
  std::optional<events::v1::Envelope> requested;
  st::WaitFor(
      [&] {
        requested = reader.First(second_id, events::v1::Envelope::kDeploymentRequested);
        return requested.has_value();
      },
      30s, 200ms);
  ASSERT_TRUE(requested.has_value()) << service_->LogTail();
  const auto& spec = requested->deployment_requested().spec();
  const events::v1::DeliverySpec::Environment* prod = nullptr;
  for (const auto& e : spec.environments()) {
    if (e.name() == "production") prod = &e;
  }
  ASSERT_NE(prod, nullptr);
  ASSERT_EQ(prod->targets_size(), 2);
  const auto& web = prod->targets(1);
  EXPECT_EQ(web.name(), "web");
  ASSERT_EQ(web.hosts_size(), 3);
  EXPECT_EQ(web.hosts(2).name(), "web-4");
  EXPECT_EQ(web.hosts(2).address(), "10.20.0.3");
  EXPECT_EQ(web.hosts(2).agent_endpoint(), "http://10.20.0.3:7070");
  EXPECT_EQ(web.hosts(2).port(), 22u);
  EXPECT_EQ(web.hosts(2).labels().at("role"), "web");
  EXPECT_EQ(web.hosts(2).labels().count("ansible_password"), 0u);
  EXPECT_EQ(web.inventory().removed_hosts_size(), 1);
  EXPECT_EQ(web.inventory().removed_hosts(0), "web-2");
  EXPECT_EQ(web.inventory().sha256().size(), 64u);
  EXPECT_EQ(prod->strategy().failure_tolerance_percent(), 50);
  EXPECT_NE(first_id, second_id);

  // A file inventory below SLUICE_INVENTORY_DIR.
  auto staging = Deploy(release, "staging", true);
  ASSERT_EQ(staging.status, 200) << staging.body;
  EXPECT_EQ(json::parse(staging.body)["total_hosts"], 2);
  EXPECT_EQ(json::parse(staging.body)["inventories"][0]["source"],
            "file " + (dir_ / "db.json").string());
}

TEST_F(ReleaseIntakeInventoryItest, AnInventoryThatCannotBeUsedIsRefusedNamingIt) {
  InventoryServer inventory(inventory_port_);
  struct Case {
    std::string what;
    std::function<void()> arrange;
    std::string url;   // production's inventory
    std::string file;  // staging's inventory
    std::string env;
    std::string code;
    std::string message;
  };
  const std::string good_file = (dir_ / "db.json").string();
  const std::string url = InventoryUrl("/inventory");
  const std::vector<Case> cases = {
      {"http 500", [&] { inventory.Serve(500, "oops"); }, url, good_file, "production",
       "inventory_unreachable", "answered HTTP 500"},
      {"bad json", [&] { inventory.Serve(200, "{\"web\": [}"); }, url, good_file, "production",
       "inventory_bad_json", "is not JSON"},
      {"group missing", [&] { inventory.Serve(200, R"({"db": ["d1"]})"); }, url, good_file,
       "production", "inventory_group_missing", "has no group 'web'"},
      {"empty group", [&] { inventory.Serve(200, R"({"web": {"hosts": []}})"); }, url, good_file,
       "production", "inventory_empty_group", "has no hosts"},
      {"timeout", [] {}, InventoryUrl("/slow"), good_file, "production", "inventory_unreachable",
       "no answer"},
      {"outside the directory", [] {}, url, "/etc/passwd", "staging", "inventory_unreachable",
       "is not below the inventory directory"},
      {"url not allowed", [] {}, "http://localhost:" + std::to_string(inventory_port_) + "/inv",
       good_file, "production", "inventory_not_allowed", "SLUICE_INVENTORY_URLS"},
      {"broken file", [] {}, url, (dir_ / "broken.json").string(), "staging", "inventory_bad_json",
       "is not JSON"},
  };
  for (const auto& c : cases) {
    c.arrange();
    const std::string app = "inv-" + st::RandomSuffix();
    ApplySpec(app, c.url, c.file);
    const std::string release = NewRelease(app, "v1.0.0");
    for (bool dry_run : {true, false}) {
      auto r = Deploy(release, c.env, dry_run);
      EXPECT_EQ(r.status, 422) << c.what << ": " << r.body;
      const auto body = json::parse(r.body, nullptr, false);
      ASSERT_FALSE(body.is_discarded()) << c.what << ": " << r.body;
      EXPECT_EQ(body["error"]["code"], c.code) << c.what << ": " << r.body;
      const std::string message = body["error"]["message"];
      EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ": " << message;
      EXPECT_NE(message.find(c.env == "staging" ? "host group 'db'" : "host group 'web'"),
                std::string::npos)
          << message;
      EXPECT_EQ(message.find("root:"), std::string::npos) << message;
    }
  }
  // Unreachable: nothing listens any more.
  inventory.Stop();
  const std::string app = "inv-" + st::RandomSuffix();
  ApplySpec(app, url, good_file);
  auto r = Deploy(NewRelease(app, "v1.0.0"), "production", false);
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "inventory_unreachable") << r.body;
}

// Selector host groups: agents enrolled through the API with labels, one of them revoked; the
// dry run's plan, the request's answer and DeploymentRequested carry exactly the enrolled,
// non-revoked agents with all the selector's labels, and the next request reports the change.
TEST_F(ReleaseIntakeInventoryItest, ASelectorGroupTakesTheEnrolledAgentsWithItsLabels) {
  const std::string zone = "zone-" + st::RandomSuffix(6);
  const auto enroll = [&](const std::string& name, const std::string& address, const json& labels) {
    auto t = Call("POST", "/v1/agents/enrollment-tokens", json{{"name", name}}.dump());
    ASSERT_EQ(t.status, 201) << t.body;
    http::ClientRequest req;  // no API token: the enrolment token is the authority
    req.method = "POST";
    req.url = Url("/v1/agents/enroll");
    req.timeout = 15s;
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = json{
        {"enrollment_token", json::parse(t.body)["token"]},
        {"name", name},
        {"address", address},
        {"labels",
         labels}}.dump();
    auto r = http::Send(req);
    ASSERT_EQ(r.status, 201) << r.body;
  };
  const std::string sfx = st::RandomSuffix(6);
  const std::string w1 = "sel-w1-" + sfx, w2 = "sel-w2-" + sfx, w3 = "sel-w3-" + sfx;
  const std::string other = "sel-other-" + sfx, gone = "sel-gone-" + sfx;
  enroll(w2, "10.30.0.2", {{"role", "web"}, {"zone", zone}, {"rack", "r2"}});
  enroll(w1, "10.30.0.1", {{"role", "web"}, {"zone", zone}});
  enroll(other, "10.30.0.9", {{"role", "web"}, {"zone", "zone-b"}});
  enroll(gone, "10.30.0.8", {{"role", "web"}, {"zone", zone}});
  enroll("sel-db-" + sfx, "10.30.0.7", {{"role", "db"}, {"zone", zone}});
  ASSERT_EQ(Call("DELETE", "/v1/agents/" + gone, "").status, 200);

  const std::string app = "sel-" + st::RandomSuffix();
  const auto apply = [&](const std::string& selector) {
    const std::string yaml =
        "app: " + app +
        "\n"
        "environments:\n"
        "  production:\n"
        "    targets:\n"
        "      canary:\n"
        "        hosts:\n"
        "          - {name: c-1, address: 10.9.0.1, agentEndpoint: 'http://10.9.0.1:7070'}\n"
        "      web:\n"
        "        selector: " +
        selector +
        "\n"
        "        agentEndpoint: 'http://{address}:7070'\n"
        "    strategy: {type: rolling, batchSize: 2}\n";
    return Call("PUT", "/v1/apps/" + app, yaml, "application/yaml");
  };
  auto applied = apply("{role: web, zone: " + zone + "}");
  ASSERT_TRUE(applied.status == 201 || applied.status == 200) << applied.body;
  const std::string release = NewRelease(app, "v1.0.0");
  const std::string source = "selector role=web,zone=" + zone;

  auto dry = Deploy(release, "production", true);
  ASSERT_EQ(dry.status, 200) << dry.body;
  const auto plan = json::parse(dry.body);
  std::vector<std::string> planned;
  for (const auto& b : plan["batches"]) {
    for (const auto& h : b["hosts"]) planned.push_back(h["name"]);
  }
  EXPECT_EQ(planned, (std::vector<std::string>{"c-1", w1, w2})) << dry.body;
  ASSERT_EQ(plan["inventories"].size(), 1u) << dry.body;
  EXPECT_EQ(plan["inventories"][0]["group"], "web");
  EXPECT_EQ(plan["inventories"][0]["source"], source);
  EXPECT_EQ(plan["inventories"][0]["selector"], json({{"role", "web"}, {"zone", zone}}));
  EXPECT_EQ(plan["inventories"][0]["hosts"][0], json({{"name", w1}, {"address", "10.30.0.1"}}));

  auto first = Deploy(release, "production", false);
  ASSERT_EQ(first.status, 202) << first.body;
  EXPECT_EQ(json::parse(first.body)["inventories"][0]["hosts"].size(), 2u) << first.body;

  // w3 enrols, w2 is revoked: the next request takes w1 and w3 and says what changed.
  enroll(w3, "10.30.0.3", {{"role", "web"}, {"zone", zone}});
  ASSERT_EQ(Call("DELETE", "/v1/agents/" + w2, "").status, 200);
  auto second = Deploy(release, "production", false);
  ASSERT_EQ(second.status, 202) << second.body;
  const auto second_body = json::parse(second.body);
  const std::string second_id = second_body["deployment_id"];
  EXPECT_EQ(second_body["inventories"][0]["removed_hosts"], json::array({w2})) << second.body;
  EXPECT_EQ(second_body["inventories"][0]["added_hosts"], json::array({w3})) << second.body;

  st::EventReader reader(st::KafkaBrokers(), std::string(events::kTopicReleases), "itest-ris-");
  std::optional<events::v1::Envelope> requested;
  st::WaitFor(
      [&] {
        requested = reader.First(second_id, events::v1::Envelope::kDeploymentRequested);
        return requested.has_value();
      },
      30s, 200ms);
  ASSERT_TRUE(requested.has_value()) << service_->LogTail();
  const auto& spec = requested->deployment_requested().spec();
  ASSERT_EQ(spec.environments_size(), 1);
  const auto& web = spec.environments(0).targets(1);
  EXPECT_EQ(web.name(), "web");
  ASSERT_EQ(web.hosts_size(), 2);
  EXPECT_EQ(web.hosts(0).name(), w1);
  EXPECT_EQ(web.hosts(1).name(), w3);
  EXPECT_EQ(web.hosts(1).address(), "10.30.0.3");
  EXPECT_EQ(web.hosts(1).agent_endpoint(), "http://10.30.0.3:7070");
  EXPECT_EQ(web.hosts(1).labels().at("zone"), zone);
  EXPECT_EQ(web.inventory().selector().at("role"), "web");
  EXPECT_EQ(web.inventory().removed_hosts_size(), 1);
  EXPECT_EQ(web.inventory().sha256().size(), 64u);

  // A selector no enrolled agent matches is refused naming it, dry run or not.
  applied = apply("{role: web, zone: " + zone + ", rack: r2}");  // only w2 had it: revoked
  ASSERT_TRUE(applied.status == 201 || applied.status == 200) << applied.body;
  for (bool dry_run : {true, false}) {
    auto r = Deploy(release, "production", dry_run);
    EXPECT_EQ(r.status, 422) << r.body;
    const auto body = json::parse(r.body);
    EXPECT_EQ(body["error"]["code"], "inventory_empty_group") << r.body;
    const std::string message = body["error"]["message"];
    EXPECT_NE(message.find("host group 'web'"), std::string::npos) << message;
    EXPECT_NE(message.find("selector rack=r2,role=web,zone=" + zone + " matches no enrolled agent"),
              std::string::npos)
        << message;
  }

  // A bad selector is refused when the spec is applied, with its line.
  auto bad = apply("{Role: web}");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("label key"), std::string::npos) << bad.body;
  EXPECT_EQ(json::parse(bad.body)["error"]["line"], 9) << bad.body;
}

}  // namespace
}  // namespace sluice::release_intake
