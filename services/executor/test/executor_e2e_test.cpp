// executor end to end: the real binary against the stack's Kafka, PostgreSQL and Redis, driving
// three real sluice-agent processes on loopback (each with its own root) that download
// tar.gz artifacts built here from a loopback artifact server.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/sha.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/events/vocabulary.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/kube/client.hpp>
#include <sluice/kube/rollout_status.hpp>
#include <sluice/testing/event_reader.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <sstream>
#include <thread>

#include "loopback_sshd.hpp"
#include "s3_presign.hpp"
#include "tar_builder.hpp"

namespace sluice::executor {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace st = sluice::testing;
using st::KafkaBrokers;
using st::PgDsn;
using st::RedisUrl;
using st::WaitFor;
namespace fs = std::filesystem;
namespace v1 = events::v1;

constexpr const char* kToken = "e2e-agent-token-0123456789";

std::string Sha256Hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountLines(const fs::path& p) {
  std::ifstream in(p);
  int n = 0;
  std::string line;
  while (std::getline(in, line)) n += line.empty() ? 0 : 1;
  return n;
}

http::ClientResponse Get(const std::string& url, bool with_token = false) {
  http::ClientRequest req;
  req.url = url;
  req.timeout = 5s;
  // The agents take the agent token; the executor's own API the service token.
  req.headers.emplace_back(
      "Authorization", with_token ? std::string("Bearer ") + kToken : st::ServiceAuthorization());
  return http::Send(req);
}

struct Agent {
  std::string name;
  fs::path root;
  int port = 0;
  std::unique_ptr<st::ChildProcess> process;
  std::string Endpoint() const { return "http://127.0.0.1:" + std::to_string(port); }
};

class ExecutorE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sfx_ = st::RandomSuffix();
    schema_ = "itest_executor_" + sfx_;
    deployments_topic_ = "itest.exec.deployments." + sfx_;
    rollbacks_topic_ = "itest.exec.rollbacks." + sfx_;
    dir_ = fs::temp_directory_path() / ("executor-e2e-" + sfx_);
    fs::create_directories(dir_ / "artifacts");
    fs::create_directories(SLUICE_TEST_LOG_DIR);

    kafka_.brokers = KafkaBrokers();
    ASSERT_NO_THROW(kafka::EnsureTopics(
        kafka_, {deployments_topic_, rollbacks_topic_, std::string(events::kTopicExecutions)}))
        << "Kafka at " << KafkaBrokers() << " is needed: bash scripts/stack.sh up";
    reader_ =
        std::make_unique<st::EventReader>(KafkaBrokers(), std::string(events::kTopicExecutions));

    for (const char* v : {"1.0.0", "2.0.0"}) BuildArtifact(v);
    artifacts_.set_mount_point("/", (dir_ / "artifacts").string());
    artifact_port_ = artifacts_.bind_to_any_port("127.0.0.1");
    artifact_thread_ = http::testing::ServeInBackground(artifacts_);

    for (int i = 1; i <= 3; ++i) {
      Agent a;
      a.name = "host-" + std::to_string(i) + "-" + sfx_;
      a.root = dir_ / ("agent-" + std::to_string(i));
      fs::create_directories(a.root);
      a.port = st::FreePort();
      a.process = std::make_unique<st::ChildProcess>(
          std::vector<std::string>{SLUICE_AGENT_BIN},
          std::map<std::string, std::string>{
              {"SLUICE_AGENT_ADDR", "127.0.0.1:" + std::to_string(a.port)},
              {"SLUICE_AGENT_ROOT", a.root.string()},
              {"SLUICE_AGENT_TOKEN", kToken},
              {"SLUICE_LOG_LEVEL", "info"}},
          std::string(SLUICE_TEST_LOG_DIR) + "/executor-e2e-agent-" + std::to_string(i) + "-" +
              sfx_ + ".log");
      ASSERT_TRUE(st::WaitForHttpOk(a.Endpoint() + "/healthz", 30s))
          << "agent " << i << " did not start:\n"
          << a.process->LogTail();
      agents_.push_back(std::move(a));
    }
    StartExecutor();
  }

  void TearDown() override {
    if (executor_) {
      EXPECT_EQ(executor_->Terminate(), 0) << executor_->LogTail();
    }
    executor_.reset();
    for (auto& a : agents_) a.process.reset();
    artifacts_.stop();
    if (artifact_thread_.joinable()) artifact_thread_.join();
    reader_.reset();
    try {
      pqxx::connection conn(PgDsn());
      pqxx::work tx(conn);
      tx.exec0("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      tx.commit();
    } catch (const std::exception&) {
    }
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // The local control plane's admin kubeconfig (scripts/kube.sh): the executor's cluster
  // "local" in every test; the Kubernetes tests create their workloads with it.
  static fs::path Kubeconfig() {
    const auto var = std::getenv("SLUICE_VAR_DIR");
    return fs::path(var != nullptr && *var != '\0' ? var : SLUICE_SOURCE_DIR "/var") / "local" /
           "kubeconfig";
  }

  void StartExecutor() {
    http_port_ = st::FreePort();
    std::map<std::string, std::string> kube_env;
    if (fs::exists(Kubeconfig())) {
      kube_env["SLUICE_EXECUTOR_KUBE_CLUSTERS"] =
          json{{"local", {{"kubeconfig", Kubeconfig().string()}}}}.dump();
      kube_env["SLUICE_EXECUTOR_KUBE_POLL_INTERVAL"] = "200ms";
    }
    std::map<std::string, std::string> env{
        {"SLUICE_HTTP_ADDR", "127.0.0.1:" + std::to_string(http_port_)},
        {"SLUICE_SERVICE_TOKEN", st::kServiceToken},
        {"SLUICE_PG_DSN", PgDsn()},
        {"SLUICE_PG_SCHEMA", schema_},
        {"SLUICE_KAFKA_BROKERS", KafkaBrokers()},
        {"SLUICE_KAFKA_GROUP", "itest-executor-" + sfx_},
        {"SLUICE_EXECUTOR_TOPICS", deployments_topic_ + "," + rollbacks_topic_},
        {"SLUICE_REDIS_URL", RedisUrl()},
        {"SLUICE_EXECUTOR_AGENT_TOKEN", kToken},
        {"SLUICE_EXECUTOR_WORKERS", "2"},
        {"SLUICE_EXECUTOR_POLL_INTERVAL", "100ms"},
        {"SLUICE_EXECUTOR_COMMAND_LEASE", "3s"},
        {"SLUICE_EXECUTOR_HOST_LOCK_TTL", "3s"},
        {"SLUICE_EXECUTOR_RETRY_BACKOFF", "200ms"},
        {"SLUICE_EXECUTOR_CANCEL_CHECK", "200ms"},
        {"SLUICE_LOG_LEVEL", "info"}};
    env.insert(kube_env.begin(), kube_env.end());
    env.insert(extra_env_.begin(), extra_env_.end());
    executor_ = std::make_unique<st::ChildProcess>(
        std::vector<std::string>{SLUICE_EXECUTOR_BIN}, std::move(env),
        std::string(SLUICE_TEST_LOG_DIR) + "/executor-e2e-" + sfx_ + ".log");
    ASSERT_TRUE(st::WaitForHttpOk(Base() + "/readyz", 60s))
        << "executor did not become ready; log:\n"
        << executor_->LogTail();
  }

  std::string Base() const { return "http://127.0.0.1:" + std::to_string(http_port_); }

  void BuildArtifact(const std::string& version) {
    const fs::path path = dir_ / "artifacts" / ("app-" + version + ".tar.gz");
    agent::testing::WriteTarGz(
        path.string(), {agent::testing::Dir("bin"), agent::testing::File("VERSION", version + "\n"),
                        agent::testing::File("bin/serve", "#!/bin/sh\n", 0755)});
    sha_[version] = Sha256Hex(ReadFile(path));
  }

  v1::Artifact Artifact(const std::string& version, const std::string& sha = "") const {
    v1::Artifact a;
    a.set_version(version);
    a.set_url("http://127.0.0.1:" + std::to_string(artifact_port_) + "/app-" + version + ".tar.gz");
    a.set_sha256(sha.empty() ? sha_.at(version) : sha);
    a.set_kind(v1::ARTIFACT_KIND_TARBALL);
    return a;
  }

  // The restart command appends the version to <root>/restarts.txt (one line per restart),
  // then sleeps `restart_sleep`; the health check looks for the unpacked VERSION file.
  v1::BatchRequested Batch(const std::string& deployment_id, std::uint32_t batch,
                           std::uint64_t generation, const v1::Artifact& artifact,
                           const std::vector<int>& hosts, int restart_sleep = 0) const {
    v1::BatchRequested b;
    b.set_deployment_id(deployment_id);
    b.set_batch_index(batch);
    b.set_generation(generation);
    *b.mutable_artifact() = artifact;
    for (int i : hosts) {
      auto* t = b.add_targets();
      t->set_host(agents_[i].name);
      t->set_address("127.0.0.1");
      t->set_agent_endpoint(agents_[i].Endpoint());
      t->set_driver("agent");
    }
    b.set_max_parallel(3);
    b.set_failure_tolerance(0);
    b.mutable_host_timeout()->set_seconds(30);
    b.set_app("shop-" + sfx_);
    b.set_env("staging");
    auto* s = b.mutable_service();
    s->add_restart_command("/bin/sh");
    s->add_restart_command("-c");
    s->add_restart_command(
        "echo \"$SLUICE_RELEASE_VERSION\" >> \"$(dirname \"$SLUICE_RELEASE_DIR\")/restarts.txt\"; "
        "sleep " +
        std::to_string(restart_sleep));
    s->mutable_restart_timeout()->set_seconds(20);
    s->add_health_command("/bin/sh");
    s->add_health_command("-c");
    s->add_health_command("test -f \"$SLUICE_RELEASE_DIR/VERSION\"");
    s->mutable_health_timeout()->set_seconds(10);
    return b;
  }

  void Produce(const std::string& topic, v1::Envelope e) {
    events::Finalize(e);
    kafka::OutgoingMessage m;
    m.topic = topic;
    m.key = e.deployment_id();
    e.SerializeToString(&m.value);
    kafka::Producer producer(kafka_);
    producer.ProduceSync({m}, 20s);
  }

  void SendBatch(const v1::BatchRequested& b) {
    auto e = events::NewEnvelope("rollout-planner", core::SystemClock::Instance());
    e.set_deployment_id(b.deployment_id());
    *e.mutable_batch_requested() = b;
    Produce(deployments_topic_, std::move(e));
  }

  // The closing events (BatchSucceeded, BatchFailed, RevertCompleted) of a deployment.
  std::vector<v1::Envelope> Closing(const std::string& deployment_id) const {
    std::vector<v1::Envelope> out;
    for (auto& e : reader_->For(deployment_id)) {
      if (e.has_batch_succeeded() || e.has_batch_failed() || e.has_revert_completed()) {
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  // The first closing event of the deployment, waiting up to `timeout`.
  v1::Envelope AwaitClosing(const std::string& deployment_id,
                            std::chrono::milliseconds timeout = 60s) {
    std::vector<v1::Envelope> closing;
    const bool got = WaitFor(
        [&] {
          closing = Closing(deployment_id);
          return !closing.empty();
        },
        timeout);
    if (!got) {
      ADD_FAILURE() << "no closing event for deployment " << deployment_id << "; executor log:\n"
                    << executor_->LogTail(8000);
      return {};
    }
    return closing.front();
  }

  void DeployAll(const std::string& version) {
    const std::string d = core::NewUuid();
    SendBatch(Batch(d, 0, 1, Artifact(version), {0, 1, 2}));
    const auto e = AwaitClosing(d);
    ASSERT_TRUE(e.has_batch_succeeded()) << e.DebugString();
  }

  json AgentStatus(int i) {
    const auto res = Get(agents_[i].Endpoint() + "/v1/status", true);
    EXPECT_EQ(res.status, 200) << res.body;
    return json::parse(res.body);
  }

  json Instances(const std::string& deployment_id) {
    const auto res = Get(Base() + "/v1/deployments/" + deployment_id + "/instances");
    EXPECT_EQ(res.status, 200) << res.body;
    return json::parse(res.body)["instances"];
  }

  std::string sfx_;
  std::string schema_;
  std::string deployments_topic_;
  std::string rollbacks_topic_;
  fs::path dir_;
  kafka::KafkaConfig kafka_;
  std::unique_ptr<st::EventReader> reader_;
  std::map<std::string, std::string> sha_;
  httplib::Server artifacts_;
  int artifact_port_ = 0;
  std::thread artifact_thread_;
  std::vector<Agent> agents_;
  int http_port_ = 0;
  std::unique_ptr<st::ChildProcess> executor_;
  std::map<std::string, std::string> extra_env_;  // set by a subclass before SetUp
};

TEST_F(ExecutorE2eTest, BatchRunsOnEveryAgentAndSucceeds) {
  const std::string d = core::NewUuid();
  SendBatch(Batch(d, 0, 1, Artifact("1.0.0"), {0, 1, 2}));
  const auto closing = AwaitClosing(d);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  EXPECT_EQ(closing.batch_succeeded().hosts_size(), 3);
  EXPECT_EQ(closing.batch_succeeded().generation(), 1u);
  EXPECT_EQ(closing.source(), "executor");

  for (int i = 0; i < 3; ++i) {
    const auto s = AgentStatus(i);
    EXPECT_EQ(s["current"], "1.0.0") << s.dump();
    EXPECT_EQ(s["health_status"], "healthy") << s.dump();
    EXPECT_EQ(CountLines(agents_[i].root / "restarts.txt"), 1);
  }
  const auto instances = Instances(d);
  ASSERT_EQ(instances.size(), 3u) << instances.dump(2);
  for (const auto& r : instances) {
    EXPECT_EQ(r["status"], "succeeded") << r.dump();
    EXPECT_EQ(r["version"], "1.0.0");
    EXPECT_EQ(r["health_status"], "healthy");
    EXPECT_EQ(r["generation"], 1);
    EXPECT_EQ(r["ip"], "127.0.0.1");
    EXPECT_TRUE(r["deployed_at"].is_string());
  }
  // One InstanceDeploymentUpdated per host.
  int updates = 0;
  for (const auto& e : reader_->For(d)) updates += e.has_instance_updated() ? 1 : 0;
  EXPECT_EQ(updates, 3);

  EXPECT_EQ(Get(Base() + "/v1/deployments/" + core::NewUuid() + "/instances").status, 404);
  const auto metrics = Get(Base() + "/metrics").body;
  EXPECT_NE(
      metrics.find("sluice_executor_commands_total{operation=\"deploy\",outcome=\"accepted\"} 1"),
      std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("sluice_executor_batch_duration_seconds_count"), std::string::npos);
}

// Redis lost its counters (here: the stored fences are far above anything this Redis handed
// out): the executor takes each host's lease again above the stored fence instead of giving the
// command back until its tokens climb there.
TEST_F(ExecutorE2eTest, StoredFencesAboveRedisCountersDoNotHoldTheBatchUp) {
  {
    pqxx::connection conn(PgDsn());
    pqxx::work tx(conn);
    for (const auto& a : agents_) {
      tx.exec_params0(
          "INSERT INTO " + schema_ +
              ".executor_host_fences (host, token, updated_at) VALUES ($1, 1000, now())",
          a.name);
    }
    tx.commit();
  }
  const std::string d = core::NewUuid();
  SendBatch(Batch(d, 0, 1, Artifact("1.0.0"), {0, 1, 2}));
  const auto closing = AwaitClosing(d, 20s);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  pqxx::connection conn(PgDsn());
  pqxx::work tx(conn);
  EXPECT_EQ(
      tx.exec1("SELECT count(*) FROM " + schema_ + ".executor_host_fences WHERE token > 1000")[0]
          .as<int>(),
      3);
}

TEST_F(ExecutorE2eTest, WrongChecksumFailsTheHostAndLeavesItUnchanged) {
  DeployAll("1.0.0");
  const std::string d = core::NewUuid();
  SendBatch(Batch(d, 0, 1, Artifact("2.0.0", std::string(64, 'f')), {1}));
  const auto closing = AwaitClosing(d);
  ASSERT_TRUE(closing.has_batch_failed()) << closing.DebugString();
  ASSERT_EQ(closing.batch_failed().failed_hosts_size(), 1);
  EXPECT_EQ(closing.batch_failed().failed_hosts(0), agents_[1].name);
  EXPECT_EQ(closing.batch_failed().reason_code(), events::v1::REASON_CHECKSUM_MISMATCH);

  const auto instances = Instances(d);
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0]["status"], "failed");
  EXPECT_EQ(instances[0]["attempts"], 1);  // not retried
  EXPECT_EQ(instances[0]["error_message"].get<std::string>().rfind("checksum_mismatch", 0), 0u)
      << instances[0].dump();
  const auto s = AgentStatus(1);
  EXPECT_EQ(s["current"], "1.0.0");
  EXPECT_EQ(CountLines(agents_[1].root / "restarts.txt"), 1);
}

TEST_F(ExecutorE2eTest, StaleGenerationIsRefused) {
  const std::string d = core::NewUuid();
  SendBatch(Batch(d, 0, 2, Artifact("1.0.0"), {0}));
  ASSERT_TRUE(AwaitClosing(d).has_batch_succeeded());
  // Generation 1 after 2 has been seen: refused, nothing runs, nothing is reported.
  SendBatch(Batch(d, 1, 1, Artifact("2.0.0"), {1}));
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto res = Get(Base() + "/v1/deployments/" + d + "/commands");
        return res.status == 200 && json::parse(res.body)["commands"].size() == 2;
      },
      30s))
      << executor_->LogTail();
  const auto commands = json::parse(Get(Base() + "/v1/deployments/" + d + "/commands").body);
  const auto& refused = commands["commands"][1];
  EXPECT_EQ(refused["status"], "refused");
  EXPECT_EQ(refused["reason"], "stale_generation");
  EXPECT_EQ(refused["generation"], 1);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(Closing(d).size(), 1u);
  EXPECT_FALSE(fs::exists(agents_[1].root / "restarts.txt"));
  EXPECT_NE(
      Get(Base() + "/metrics")
          .body.find("sluice_executor_commands_total{operation=\"deploy\",outcome=\"refused\"} 1"),
      std::string::npos);
}

TEST_F(ExecutorE2eTest, RevertPutsHostsBackOnTheEarlierVersion) {
  DeployAll("1.0.0");
  const std::string d = core::NewUuid();
  SendBatch(Batch(d, 0, 1, Artifact("2.0.0"), {0, 1, 2}));
  ASSERT_TRUE(AwaitClosing(d).has_batch_succeeded());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(AgentStatus(i)["current"], "2.0.0");

  auto e = events::NewEnvelope("rollback-agent", core::SystemClock::Instance());
  e.set_deployment_id(d);
  auto* r = e.mutable_revert_requested();
  r->set_rollback_id("rb-" + sfx_);
  r->set_deployment_id(d);
  r->set_generation(2);
  r->set_target_version("1.0.0");
  for (const auto& a : agents_) r->add_hosts(a.name);
  r->add_hosts("ghost-" + sfx_);
  Produce(rollbacks_topic_, std::move(e));

  std::vector<v1::Envelope> closing;
  ASSERT_TRUE(WaitFor(
      [&] {
        closing = Closing(d);
        return closing.size() >= 2;
      },
      60s))
      << executor_->LogTail();
  ASSERT_TRUE(closing[1].has_revert_completed()) << closing[1].DebugString();
  const auto& rc = closing[1].revert_completed();
  EXPECT_EQ(rc.rollback_id(), "rb-" + sfx_);
  EXPECT_EQ(rc.target_version(), "1.0.0");
  EXPECT_EQ(rc.generation(), 2u);
  EXPECT_EQ(rc.reverted_hosts_size(), 3);
  ASSERT_EQ(rc.failed_hosts_size(), 1);
  EXPECT_EQ(rc.failed_hosts(0), "ghost-" + sfx_);
  for (int i = 0; i < 3; ++i) {
    const auto s = AgentStatus(i);
    EXPECT_EQ(s["current"], "1.0.0") << s.dump();
    EXPECT_EQ(s["health_status"], "healthy");
  }
  int reverted = 0;
  int failed = 0;
  for (const auto& rec : Instances(d)) {
    if (rec["generation"] != 2) continue;
    if (rec["status"] == "reverted") ++reverted;
    if (rec["status"] == "failed") {
      ++failed;
      EXPECT_EQ(rec["host"], "ghost-" + sfx_);
      EXPECT_NE(rec["error_message"].get<std::string>().find("unknown_host"), std::string::npos);
    }
  }
  EXPECT_EQ(reverted, 3);
  EXPECT_EQ(failed, 1);
}

// Issue 13: deployment A's rollback must not switch a host that a newer deployment B has
// deployed since (B started while A was failing). A's revert goes back on A's other hosts only.
TEST_F(ExecutorE2eTest, RevertLeavesAHostThatANewerDeploymentDeployed) {
  BuildArtifact("3.0.0");
  DeployAll("1.0.0");
  const std::string a = core::NewUuid();
  SendBatch(Batch(a, 0, 1, Artifact("2.0.0"), {0, 1, 2}));
  ASSERT_TRUE(AwaitClosing(a).has_batch_succeeded());
  const std::string b = core::NewUuid();
  SendBatch(Batch(b, 0, 1, Artifact("3.0.0"), {0}));
  ASSERT_TRUE(AwaitClosing(b).has_batch_succeeded());
  ASSERT_EQ(AgentStatus(0)["current"], "3.0.0");

  auto e = events::NewEnvelope("rollback-agent", core::SystemClock::Instance());
  e.set_deployment_id(a);
  auto* r = e.mutable_revert_requested();
  r->set_rollback_id("rb-a-" + sfx_);
  r->set_deployment_id(a);
  r->set_generation(2);
  r->set_target_version("1.0.0");
  for (const auto& agent : agents_) r->add_hosts(agent.name);
  Produce(rollbacks_topic_, std::move(e));

  std::vector<v1::Envelope> closing;
  ASSERT_TRUE(WaitFor(
      [&] {
        closing = Closing(a);
        return closing.size() >= 2;
      },
      60s))
      << executor_->LogTail();
  ASSERT_TRUE(closing[1].has_revert_completed()) << closing[1].DebugString();
  const auto& rc = closing[1].revert_completed();
  EXPECT_EQ(rc.reverted_hosts_size(), 2);
  ASSERT_EQ(rc.failed_hosts_size(), 1);
  EXPECT_EQ(rc.failed_hosts(0), agents_[0].name);
  // B's host still runs B's version; A's other hosts are back on 1.0.0.
  EXPECT_EQ(AgentStatus(0)["current"], "3.0.0");
  EXPECT_EQ(AgentStatus(1)["current"], "1.0.0");
  EXPECT_EQ(AgentStatus(2)["current"], "1.0.0");
  bool refused = false;
  for (const auto& rec : Instances(a)) {
    if (rec["generation"] != 2 || rec["host"] != agents_[0].name) continue;
    EXPECT_EQ(rec["status"], "failed");
    refused = rec["error_message"].get<std::string>().find("host_owned_by_newer_deployment") !=
              std::string::npos;
  }
  EXPECT_TRUE(refused) << Instances(a).dump(2);
}

TEST_F(ExecutorE2eTest, KilledMidBatchFinishesAfterRestartWithoutRedeploying) {
  const std::string d = core::NewUuid();
  SendBatch(Batch(d, 0, 1, Artifact("2.0.0"), {0, 1, 2}, /*restart_sleep=*/3));
  // Every agent has started its restart: the executor is in the middle of the batch.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const auto& a : agents_) {
          if (CountLines(a.root / "restarts.txt") < 1) return false;
        }
        return true;
      },
      60s))
      << executor_->LogTail();
  executor_->Kill();
  executor_.reset();
  EXPECT_TRUE(Closing(d).empty());

  StartExecutor();
  const auto closing = AwaitClosing(d, 90s);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  EXPECT_EQ(closing.batch_succeeded().hosts_size(), 3);
  std::this_thread::sleep_for(3s);  // time for a duplicate to show up
  EXPECT_EQ(Closing(d).size(), 1u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(CountLines(agents_[i].root / "restarts.txt"), 1) << "agent " << i;
    EXPECT_EQ(AgentStatus(i)["current"], "2.0.0");
  }
  const auto instances = Instances(d);
  ASSERT_EQ(instances.size(), 3u);
  for (const auto& r : instances) EXPECT_EQ(r["status"], "succeeded") << r.dump();
  const auto commands = json::parse(Get(Base() + "/v1/deployments/" + d + "/commands").body);
  EXPECT_EQ(commands["commands"][0]["claims"], 2);  // taken again after the crash
  EXPECT_EQ(commands["commands"][0]["result"], "succeeded");
}

// An agentless host beside the agents (issue 19): a real sshd on loopback, the executor's ssh
// driver configured with its known_hosts and key, the same service block.
class SshE2eTest : public ExecutorE2eTest {
 protected:
  void SetUp() override {
    ssh_dir_ = fs::temp_directory_path() / ("executor-e2e-ssh-" + st::RandomSuffix());
    sshd_ = std::make_unique<testing::LoopbackSshd>(ssh_dir_ / "sshd");
    extra_env_.insert({{"SLUICE_EXECUTOR_SSH_KNOWN_HOSTS", sshd_->KnownHosts().string()},
                       {"SLUICE_EXECUTOR_SSH_KEY_FILE", sshd_->ClientKey().string()},
                       {"SLUICE_EXECUTOR_SSH_USER", sshd_->User()},
                       {"SLUICE_EXECUTOR_SSH_RELEASE_ROOT", (ssh_dir_ / "app").string()}});
    ExecutorE2eTest::SetUp();
  }
  void TearDown() override {
    ExecutorE2eTest::TearDown();
    sshd_.reset();
    if (!HasFailure()) fs::remove_all(ssh_dir_);
  }

  v1::BatchRequested WithSshHost(v1::BatchRequested b) const {
    auto* t = b.add_targets();
    t->set_host("ssh-" + sfx_);
    t->set_address("127.0.0.1");
    t->set_driver("ssh");
    (*t->mutable_labels())["sluice.io/ssh-port"] = std::to_string(sshd_->Port());
    return b;
  }
  std::string SshCurrent() const {
    std::error_code ec;
    return fs::read_symlink(ssh_dir_ / "app" / "current", ec).string();
  }
  int SshRestarts() const { return CountLines(ssh_dir_ / "app" / "restarts.txt"); }

  fs::path ssh_dir_;
  std::unique_ptr<testing::LoopbackSshd> sshd_;
};

TEST_F(SshE2eTest, OneBatchReachesAgentsAndAnSshHost) {
  const std::string d = core::NewUuid();
  SendBatch(WithSshHost(Batch(d, 0, 1, Artifact("1.0.0"), {0, 1})));
  const auto closing = AwaitClosing(d);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  EXPECT_EQ(closing.batch_succeeded().hosts_size(), 3);
  EXPECT_EQ(SshCurrent(), "releases/1.0.0");
  EXPECT_EQ(SshRestarts(), 1);
  const auto instances = Instances(d);
  ASSERT_EQ(instances.size(), 3u) << instances.dump(2);
  for (const auto& r : instances) EXPECT_EQ(r["status"], "succeeded") << r.dump();

  // A second deployment, then its revert.
  const std::string d2 = core::NewUuid();
  SendBatch(WithSshHost(Batch(d2, 0, 1, Artifact("2.0.0"), {0})));
  ASSERT_TRUE(AwaitClosing(d2).has_batch_succeeded());
  EXPECT_EQ(SshCurrent(), "releases/2.0.0");

  // The revert takes the ssh host back like the agents.
  auto e = events::NewEnvelope("rollback-agent", core::SystemClock::Instance());
  e.set_deployment_id(d2);
  auto* r = e.mutable_revert_requested();
  r->set_deployment_id(d2);
  r->set_generation(2);
  r->set_target_version("1.0.0");
  r->set_rollback_id(core::NewUuid());
  r->add_hosts("ssh-" + sfx_);
  r->add_hosts(agents_[0].name);
  Produce(rollbacks_topic_, std::move(e));
  bool reverted = WaitFor(
      [&] {
        for (const auto& c : Closing(d2)) {
          if (c.has_revert_completed()) return true;
        }
        return false;
      },
      60s);
  ASSERT_TRUE(reverted) << executor_->LogTail(8000);
  for (const auto& c : Closing(d2)) {
    if (c.has_revert_completed()) {
      EXPECT_EQ(c.revert_completed().failed_hosts_size(), 0) << c.DebugString();
    }
  }
  EXPECT_EQ(SshCurrent(), "releases/1.0.0");
}

TEST_F(SshE2eTest, KilledMidBatchFinishesAfterRestart) {
  const std::string d = core::NewUuid();
  SendBatch(WithSshHost(Batch(d, 0, 1, Artifact("2.0.0"), {0}, /*restart_sleep=*/3)));
  ASSERT_TRUE(WaitFor([&] { return SshRestarts() >= 1; }, 60s)) << executor_->LogTail();
  executor_->Kill();
  executor_.reset();
  EXPECT_TRUE(Closing(d).empty());

  StartExecutor();
  const auto closing = AwaitClosing(d, 90s);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  std::this_thread::sleep_for(3s);  // time for a duplicate to show up
  EXPECT_EQ(Closing(d).size(), 1u);
  EXPECT_EQ(SshCurrent(), "releases/2.0.0");
  // The restarted executor found the host on the version and healthy, or deployed again (a
  // no-op switch with one more restart): never a second download.
  EXPECT_LE(SshRestarts(), 2);
  const auto instances = Instances(d);
  ASSERT_EQ(instances.size(), 2u);
  for (const auto& r : instances) EXPECT_EQ(r["status"], "succeeded") << r.dump();
}

// An s3:// release without S3 settings in the executor: refused before any host is asked, with
// the settings to set in the message.
TEST_F(ExecutorE2eTest, S3ArtifactWithoutS3SettingsFailsNamingTheSettings) {
  const std::string d = core::NewUuid();
  auto artifact = Artifact("1.0.0");
  artifact.set_url("s3://sluice-artifacts/app-1.0.0.tar.gz");
  SendBatch(Batch(d, 0, 1, artifact, {0}));
  const auto closing = AwaitClosing(d);
  ASSERT_TRUE(closing.has_batch_failed()) << closing.DebugString();
  const auto instances = Instances(d);
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0]["attempts"], 1);  // not retried
  const auto message = instances[0]["error_message"].get<std::string>();
  EXPECT_EQ(message.rfind("s3_not_configured", 0), 0u) << message;
  EXPECT_NE(message.find("SLUICE_EXECUTOR_S3_ENDPOINT"), std::string::npos) << message;
  EXPECT_TRUE(AgentStatus(0)["current"].is_null() || AgentStatus(0)["current"] == "")
      << AgentStatus(0).dump();
}

// Artifacts in S3-compatible storage (issue 19): the local SeaweedFS of scripts/s3.sh holds the
// release; the executor presigns it for each host, agents and an agentless host alike, which
// download it as a plain http URL and check its sha256. Hosts hold no S3 credentials.
class S3E2eTest : public SshE2eTest {
 protected:
  void SetUp() override {
    const auto var = std::getenv("SLUICE_VAR_DIR");
    const fs::path local =
        fs::path(var != nullptr && *var != '\0' ? var : SLUICE_SOURCE_DIR "/var") / "local";
    // make e2e starts the store (SLUICE_STACK_S3=1): without it this scenario fails, never
    // passes unseen.
    if (!fs::exists(local / "s3.env")) {
      FAIL() << local / "s3.env"
             << " is missing: the local S3 store is not up (bash scripts/s3.sh up, or make e2e)";
    }
    std::ifstream in(local / "s3.env");
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("export ")) line.erase(0, 7);
      if (const auto eq = line.find('='); eq != std::string::npos && line.front() != '#') {
        s3_[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
    signer_.endpoint = ParseS3Endpoint(s3_.at("SLUICE_S3_ENDPOINT"));
    signer_.region = s3_.at("SLUICE_S3_REGION");
    std::ifstream id(s3_.at("SLUICE_S3_ACCESS_KEY_ID_FILE"));
    std::ifstream secret(s3_.at("SLUICE_S3_SECRET_ACCESS_KEY_FILE"));
    std::getline(id, signer_.credentials.access_key_id);
    std::getline(secret, signer_.credentials.secret_access_key);
    extra_env_ = {
        {"SLUICE_EXECUTOR_S3_ENDPOINT", s3_.at("SLUICE_S3_ENDPOINT")},
        {"SLUICE_EXECUTOR_S3_REGION", s3_.at("SLUICE_S3_REGION")},
        {"SLUICE_EXECUTOR_S3_ACCESS_KEY_ID", signer_.credentials.access_key_id},
        {"SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY_FILE", s3_.at("SLUICE_S3_SECRET_ACCESS_KEY_FILE")},
        {"SLUICE_EXECUTOR_S3_URL_TTL", "10m"}};
    SshE2eTest::SetUp();
  }

  // Uploads the built tarball of `version` under a key with a space in it; its s3:// artifact.
  v1::Artifact S3Artifact(const std::string& version) {
    const std::string key = "e2e-" + sfx_ + "/app " + version + ".tar.gz";
    const auto put = PresignS3(signer_, {s3_.at("SLUICE_S3_BUCKET"), key}, "PUT",
                               core::SystemClock::Instance().Now(), std::chrono::seconds(60));
    http::ClientRequest req;
    req.method = "PUT";
    req.url = put.url;
    req.body = ReadFile(dir_ / "artifacts" / ("app-" + version + ".tar.gz"));
    req.timeout = 20s;
    const auto res = http::Send(req);
    EXPECT_EQ(res.status, 200) << res.body;
    auto a = Artifact(version);
    a.set_url("s3://" + s3_.at("SLUICE_S3_BUCKET") + "/" + key);
    return a;
  }

  std::map<std::string, std::string> s3_;
  S3Signer signer_;
};

TEST_F(S3E2eTest, AnS3ReleaseReachesAgentsAndAnSshHost) {
  const std::string d = core::NewUuid();
  SendBatch(WithSshHost(Batch(d, 0, 1, S3Artifact("1.0.0"), {0, 1})));
  const auto closing = AwaitClosing(d);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  EXPECT_EQ(closing.batch_succeeded().hosts_size(), 3);
  EXPECT_EQ(SshCurrent(), "releases/1.0.0");
  for (int i = 0; i < 2; ++i) EXPECT_EQ(AgentStatus(i)["current"], "1.0.0");

  // A second version, to an agent.
  const std::string d2 = core::NewUuid();
  SendBatch(Batch(d2, 0, 1, S3Artifact("2.0.0"), {0}));
  ASSERT_TRUE(AwaitClosing(d2).has_batch_succeeded());
  EXPECT_EQ(AgentStatus(0)["current"], "2.0.0");

  // Neither the secret nor a signature is in the executor's log.
  const std::string log = executor_->LogTail(1 << 20);
  EXPECT_EQ(log.find(signer_.credentials.secret_access_key), std::string::npos);
  EXPECT_EQ(log.find("X-Amz-Signature"), std::string::npos);
}

// One release to VM hosts and a Kubernetes Deployment together (issue 15): the agents take the
// tarball, the Deployment a canary of the image by digest; a revert takes both back.
class MixedE2eTest : public ExecutorE2eTest {
 protected:
  void SetUp() override {
    if (!fs::exists(Kubeconfig())) {
      GTEST_FAIL() << Kubeconfig() << " is missing: the local control plane is not up (make kube)";
    }
    ExecutorE2eTest::SetUp();
    if (HasFatalFailure()) return;
    kube_ = std::make_unique<kube::Client>(kube::LoadKubeconfig(Kubeconfig()));
    ns_ = "executor-e2e-" + sfx_;
    for (char& c : ns_) {
      if (c == '_') c = '-';
    }
    kube_->Create(kube::kNamespaces, "", {{"metadata", {{"name", ns_}}}});
  }
  void TearDown() override {
    if (kube_ && !ns_.empty()) kube_->DeleteIfExists(kube::kNamespaces, "", ns_);
    ExecutorE2eTest::TearDown();
  }

  // 4 replicas of kOld, Ready; pods Ready `ready_delay` after they are bound (KWOK).
  void CreateWeb(const std::string& ready_delay = "0s") {
    const json labels = {{"app", "web"}};
    kube_->Create(
        kube::kDeployments, ns_,
        {{"apiVersion", "apps/v1"},
         {"kind", "Deployment"},
         {"metadata", {{"name", "web"}, {"labels", labels}}},
         {"spec",
          {{"replicas", 4},
           {"selector", {{"matchLabels", labels}}},
           {"template",
            {{"metadata",
              {{"labels", labels}, {"annotations", {{"kwok-test/ready-delay", ready_delay}}}}},
             {"spec", {{"containers", json::array({{{"name", "app"}, {"image", kOld}}})}}}}}}}});
    ASSERT_TRUE(
        WaitFor([&] { return Web().value("/status/readyReplicas"_json_pointer, 0) == 4; }, 90s));
  }
  json Web(const std::string& name = "web") { return kube_->Get(kube::kDeployments, ns_, name); }

  v1::Target KubeTarget(std::uint32_t) const {
    v1::Target t;
    t.set_host(Target());
    t.set_driver("kubernetes");
    auto* k = t.mutable_kubernetes();
    k->set_cluster("local");
    k->set_namespace_(ns_);
    k->set_kind("Deployment");
    k->set_name("web");
    k->set_container("app");
    k->set_rollout(v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
    return t;
  }
  std::string Target() const { return "web-" + sfx_; }

  // Agents 0 and 1 and the Deployment, at `weight`%.
  v1::BatchRequested MixedBatch(const std::string& d, std::uint32_t weight) const {
    v1::Artifact a = Artifact("2.0.0");
    a.set_image("example.com/web:2.0.0");
    a.set_image_digest(kDigest);
    v1::BatchRequested b = Batch(d, 0, 1, a, {0, 1});
    *b.add_targets() = KubeTarget(weight);
    b.set_weight_percent(weight);
    return b;
  }

  static inline const std::string kOld = "example.com/web:1.0.0";
  static inline const std::string kDigest = "sha256:" + std::string(64, 'd');
  std::unique_ptr<kube::Client> kube_;
  std::string ns_;
};

TEST_F(MixedE2eTest, OneBatchReachesAgentsAndADeploymentAndOneRevertTakesBothBack) {
  CreateWeb();
  DeployAll("1.0.0");
  const std::string d = core::NewUuid();
  SendBatch(MixedBatch(d, 50));
  const auto closing = AwaitClosing(d, 120s);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  std::vector<std::string> hosts(closing.batch_succeeded().hosts().begin(),
                                 closing.batch_succeeded().hosts().end());
  // The two agents, the target, then its canary pods (what {{instances}} selects).
  ASSERT_EQ(hosts.size(), 5u) << closing.DebugString();
  EXPECT_EQ(hosts[0], agents_[0].name);
  EXPECT_EQ(hosts[1], agents_[1].name);
  EXPECT_EQ(hosts[2], Target());
  EXPECT_EQ(hosts[3].rfind("web-canary-", 0), 0u) << hosts[3];
  EXPECT_EQ(hosts[4].rfind("web-canary-", 0), 0u) << hosts[4];
  EXPECT_EQ(AgentStatus(0)["current"], "2.0.0");
  EXPECT_EQ(AgentStatus(2)["current"], "1.0.0");  // not in this batch
  EXPECT_EQ(Web("web-canary")["spec"]["template"]["spec"]["containers"][0]["image"],
            "example.com/web@" + kDigest);
  EXPECT_EQ(Web()["spec"]["replicas"], 2);
  // One record per target (the pods come and go; the target is what is driven and fenced).
  const auto records = Instances(d);
  ASSERT_EQ(records.size(), 3u) << records.dump();
  for (const auto& r : records) EXPECT_EQ(r["status"], "succeeded") << r.dump();

  // The whole deployment back: the agents to 1.0.0, the Deployment to none of the release.
  auto e = events::NewEnvelope("rollback-agent", core::SystemClock::Instance());
  e.set_deployment_id(d);
  auto* r = e.mutable_revert_requested();
  r->set_rollback_id("rb-" + sfx_);
  r->set_deployment_id(d);
  r->set_generation(2);
  r->set_target_version("1.0.0");
  r->add_hosts(agents_[0].name);
  r->add_hosts(agents_[1].name);
  r->add_hosts(Target());
  *r->add_kubernetes_targets() = KubeTarget(0);
  r->set_weight_percent(0);
  Produce(rollbacks_topic_, std::move(e));
  std::vector<v1::Envelope> all;
  ASSERT_TRUE(WaitFor(
      [&] {
        all = Closing(d);
        return all.size() >= 2;
      },
      120s))
      << executor_->LogTail();
  ASSERT_TRUE(all[1].has_revert_completed()) << all[1].DebugString();
  EXPECT_EQ(all[1].revert_completed().reverted_hosts_size(), 3) << all[1].DebugString();
  EXPECT_EQ(all[1].revert_completed().failed_hosts_size(), 0) << all[1].DebugString();
  EXPECT_EQ(AgentStatus(0)["current"], "1.0.0");
  EXPECT_EQ(AgentStatus(1)["current"], "1.0.0");
  EXPECT_EQ(Web("web-canary")["spec"]["replicas"], 0);
  const json web = Web();
  EXPECT_EQ(web["spec"]["replicas"], 4);
  EXPECT_EQ(web["spec"]["template"]["spec"]["containers"][0]["image"], kOld);
}

// The executor killed (-9) while the canary's pods are not Ready yet: the restarted executor
// claims the command again, finds its writes on the objects and waits the rollout out; the spec
// of neither Deployment is written again (metadata.generation unchanged).
TEST_F(MixedE2eTest, KilledMidRolloutIsResumedWithoutRewritingTheWorkload) {
  CreateWeb("10s");
  const std::string d = core::NewUuid();
  v1::BatchRequested b = MixedBatch(d, 50);
  b.clear_targets();
  *b.add_targets() = KubeTarget(50);
  SendBatch(b);
  ASSERT_TRUE(WaitFor(
      [&] {
        const auto canary = kube_->GetIfExists(kube::kDeployments, ns_, "web-canary");
        return canary && Web()["spec"]["replicas"] == 2;
      },
      60s))
      << executor_->LogTail();
  executor_->Kill();
  executor_.reset();
  ASSERT_LT(Web("web-canary").value("/status/readyReplicas"_json_pointer, 0), 2)
      << "the canary was Ready before the kill: nothing was mid-rollout";
  EXPECT_TRUE(Closing(d).empty());
  const auto stable_gen = Web()["metadata"]["generation"];
  const auto canary_gen = Web("web-canary")["metadata"]["generation"];

  StartExecutor();
  const auto closing = AwaitClosing(d, 120s);
  ASSERT_TRUE(closing.has_batch_succeeded()) << closing.DebugString();
  EXPECT_EQ(closing.batch_succeeded().hosts_size(), 3);  // the target and its two canary pods
  EXPECT_EQ(Web()["metadata"]["generation"], stable_gen);
  EXPECT_EQ(Web("web-canary")["metadata"]["generation"], canary_gen);
  EXPECT_EQ(Web("web-canary")["status"]["readyReplicas"], 2);
  const auto commands = json::parse(Get(Base() + "/v1/deployments/" + d + "/commands").body);
  EXPECT_EQ(commands["commands"][0]["claims"], 2);  // taken again after the crash
}

}  // namespace
}  // namespace sluice::executor
