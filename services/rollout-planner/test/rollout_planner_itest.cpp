// The rollout-planner against the real Kafka, PostgreSQL and Redis of the local stack.
//
// Isolation: the topics are the fixed ones of the suite, so every run uses its own Postgres
// schema, its own consumer group (whose offsets are set to the topics' ends before each start,
// so nothing older is read), and apps named "itp-<suffix>-..." with the planner's app prefix set
// to "itp-<suffix>", so it plans only this run's apps. The events the planner publishes are read
// from sluice.deployments.v1 by a tap assigned at the partitions' ends when the test starts.

#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/client.hpp>
#include <sluice/http/server.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/spec/convert.hpp>
#include <sluice/testing/pg_schema.hpp>
#include <sluice/testing/process.hpp>
#include <sluice/testing/stack.hpp>
#include <thread>

#include "rollout_planner_app.hpp"

namespace sluice::rollout_planner {
namespace {

namespace st = sluice::testing;
using st::KafkaBrokers;
using st::RedisUrl;
using json = nlohmann::json;
using PC = events::v1::Envelope::PayloadCase;
using namespace std::chrono_literals;

// What release-intake sends beside the text: the spec parsed, validated and resolved (the test
// stands in for intake, the one place that parses it).
events::v1::DeliverySpec Resolved(const std::string& yaml) {
  auto parsed = spec::ParseDeliverySpec(yaml, "itest.yaml");
  if (const auto* e = std::get_if<spec::SpecError>(&parsed)) {
    ADD_FAILURE() << "intake would refuse this spec: " << e->ToString();
    return {};
  }
  return spec::ToProto(std::get<spec::DeliverySpec>(parsed));
}

const std::vector<std::string>& ConsumedTopics() {
  static const std::vector<std::string> kTopics = {
      std::string(events::kTopicReleases), std::string(events::kTopicExecutions),
      std::string(events::kTopicAnalyses), std::string(events::kTopicRollbacks)};
  return kTopics;
}

std::unique_ptr<RdKafka::Conf> ConsumerConf(const std::string& group) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", KafkaBrokers(), err);
  conf->set("group.id", group, err);
  conf->set("enable.auto.commit", "false", err);
  return conf;
}

// Each partition of `topics` at its current end offset.
std::vector<RdKafka::TopicPartition*> EndOffsets(RdKafka::KafkaConsumer& c,
                                                 const std::vector<std::string>& topics) {
  std::vector<RdKafka::TopicPartition*> out;
  for (const auto& topic : topics) {
    RdKafka::Metadata* raw = nullptr;
    std::string err;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&c, topic, nullptr, err));
    if (c.metadata(false, t.get(), &raw, 10000) != RdKafka::ERR_NO_ERROR || raw == nullptr) {
      throw std::runtime_error("no Kafka metadata for " + topic + " at " + KafkaBrokers() +
                               " (is the stack up? bash scripts/stack.sh status)");
    }
    std::unique_ptr<RdKafka::Metadata> md(raw);
    for (const auto* tm : *md->topics()) {
      for (const auto* pm : *tm->partitions()) {
        int64_t low = 0;
        int64_t high = 0;
        if (c.query_watermark_offsets(topic, pm->id(), &low, &high, 10000) !=
            RdKafka::ERR_NO_ERROR) {
          throw std::runtime_error("cannot read the end offsets of " + topic);
        }
        out.push_back(RdKafka::TopicPartition::create(topic, pm->id(), high));
      }
    }
  }
  return out;
}

// Commits the topics' end offsets for `group`, so a consumer of that group starts there.
void CommitEndOffsets(const std::string& group) {
  std::string err;
  auto conf = ConsumerConf(group);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("consumer: " + err);
  auto partitions = EndOffsets(*c, ConsumedTopics());
  const auto rc = c->commitSync(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  c->close();
  if (rc != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("cannot commit offsets of group " + group + ": " +
                             RdKafka::err2str(rc));
  }
}

// Reads sluice.deployments.v1 from its end at construction and keeps the envelopes of the
// deployments it is told to watch.
class Tap {
 public:
  Tap() {
    std::string err;
    auto conf = ConsumerConf("itest-planner-tap-" + st::RandomSuffix());
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw std::runtime_error("tap: " + err);
    auto partitions = EndOffsets(*consumer_, {std::string(events::kTopicDeployments)});
    consumer_->assign(partitions);
    RdKafka::TopicPartition::destroy(partitions);
    thread_ = std::thread([this] { Run(); });
  }
  ~Tap() {
    stop_ = true;
    thread_.join();
    consumer_->close();
  }

  void Watch(const std::string& deployment_id) {
    std::lock_guard lock(mu_);
    watched_.insert(deployment_id);
  }

  // The `nth` (0-based) event of that kind for the deployment, waiting up to `timeout`.
  std::optional<events::v1::Envelope> WaitFor(const std::string& id, PC kind,
                                              std::chrono::milliseconds timeout = 15s,
                                              std::size_t nth = 0) {
    std::unique_lock lock(mu_);
    std::optional<events::v1::Envelope> found;
    cv_.wait_for(lock, timeout, [&] {
      std::size_t n = 0;
      for (const auto& e : seen_) {
        if (e.deployment_id() == id && e.payload_case() == kind && n++ == nth) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  std::size_t Count(const std::string& id, PC kind) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& e : seen_) n += e.deployment_id() == id && e.payload_case() == kind;
    return n;
  }

  std::optional<events::v1::Envelope> BatchRequested(const std::string& id, std::uint32_t index,
                                                     std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (std::size_t n = 0;; ++n) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto e = WaitFor(id, PC::kBatchRequested, std::max(left, 0ms), n);
      if (!e) return std::nullopt;
      if (e->batch_requested().batch_index() == index) return e;
    }
  }

 private:
  void Run() {
    while (!stop_) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      if (m->err() != RdKafka::ERR_NO_ERROR) continue;
      std::string error;
      auto e =
          events::Parse(std::string_view(static_cast<const char*>(m->payload()), m->len()), &error);
      if (!e) continue;
      std::lock_guard lock(mu_);
      if (watched_.count(e->deployment_id()) == 0) continue;
      seen_.push_back(std::move(*e));
      cv_.notify_all();
    }
  }

  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> watched_;
  std::deque<events::v1::Envelope> seen_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string Hosts(int n) {
  std::string out;
  for (int i = 1; i <= n; ++i) {
    out += "          - {name: h" + std::to_string(i) + ", address: 127.0.0." + std::to_string(i) +
           ", agentEndpoint: 'http://127.0.0." + std::to_string(i) + ":1'}\n";
  }
  return out;
}

// A spec with one environment, `production`, of `hosts` hosts.
std::string Spec(const std::string& app, int hosts, const std::string& strategy,
                 const std::string& policy = "") {
  return "app: " + app +
         "\n"
         "environments:\n"
         "  production:\n"
         "    targets:\n"
         "      web:\n"
         "        hosts:\n" +
         Hosts(hosts) + "    strategy:\n" + strategy + policy +
         "    service:\n"
         "      restartCommand: [bin/restart.sh]\n"
         "      health: {httpUrl: 'http://127.0.0.1:8000/healthz', timeout: 5s}\n";
}

// An environment's analysis section: a step template, a bake watch and the rollback policy.
const std::string kAnalysis =
    "    analysis:\n"
    "      bakeWatch: {template: bake, duration: 10m}\n"
    "      templates:\n"
    "        strict:\n"
    "          metrics:\n"
    "            error_rate: {query: 'sum(rate(errors{app=\"{{app}}\"}[1m]))'}\n"
    "          rules:\n"
    "            - {name: errors, failWhen: 'error_rate > 1%'}\n"
    "        bake:\n"
    "          metrics:\n"
    "            error_rate: {query: 'sum(rate(errors{app=\"{{app}}\"}[1m]))'}\n"
    "          rules:\n"
    "            - {name: errors, failWhen: 'error_rate > 5%'}\n"
    "    rollback:\n"
    "      onCanaryFailure: revert-all\n";

const std::string kTwoBatches =
    "      type: canary\n"
    "      steps:\n"
    "        - weight: 50%\n"
    "        - weight: 100%\n";

class RolloutPlannerItest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suffix_ = st::RandomSuffix();
    schema_ = std::make_unique<st::PgSchema>("planner");
    group_ = "itest-planner-" + suffix_;
    kafka::KafkaConfig kc;
    kc.brokers = KafkaBrokers();
    kafka::EnsureTopics(kc, events::AllTopics());
  }
  static void TearDownTestSuite() { schema_.reset(); }

  void SetUp() override {
    kafka::KafkaConfig kc;
    kc.brokers = KafkaBrokers();
    producer_ = std::make_unique<kafka::Producer>(kc);
    tap_ = std::make_unique<Tap>();
    StartPlanner();
  }
  void TearDown() override {
    if (service_) service_->Stop();
    service_.reset();
    tap_.reset();
    producer_.reset();
  }

  void StartPlanner() {
    CommitEndOffsets(group_);
    PlannerConfig o;
    o.shared.name = std::string(kServiceName);
    o.shared.http_addr = "127.0.0.1:0";
    o.shared.service_token = st::kServiceToken;
    o.shared.pg.dsn = schema_->Dsn();
    o.shared.pg.schema = schema_->Name();
    o.shared.kafka.brokers = KafkaBrokers();
    o.shared.kafka.client_id = "itest-planner";
    o.shared.group_id = group_;
    o.shared.topics = service::SplitList(kPlannerTopics);
    o.shared.redis_url = RedisUrl();
    o.shared.startup_timeout = 10s;
    o.tick = 100ms;
    o.ensure_topics = false;
    o.planner.app_prefix = "itp-" + suffix_;
    service_ = std::make_unique<RolloutPlannerService>(o, core::SystemClock::Instance());
    service_->Prepare();
    service_->Start();
  }
  void StopPlanner() {
    service_->Stop();
    service_.reset();
  }

  std::string App(const std::string& name) { return "itp-" + suffix_ + "-" + name; }

  void Produce(events::v1::Envelope e) {
    events::Finalize(e);
    kafka::OutgoingMessage m;
    m.topic = std::string(events::TopicFor(e));
    m.key = events::PartitionKey(e);
    m.value = e.SerializeAsString();
    for (auto& [k, v] : events::CloudEventHeaders(e)) m.headers.push_back({k, v});
    producer_->ProduceSync({m}, 10s);
  }

  events::v1::Envelope NewEvent(const std::string& deployment_id, const std::string& source) {
    auto e = events::NewEnvelope(source, core::SystemClock::Instance());
    e.set_deployment_id(deployment_id);
    return e;
  }

  // Requests a deployment of `app` to production with the given spec; returns its id.
  std::string Request(const std::string& app, const std::string& spec,
                      const std::string& version = "1.0.0") {
    const std::string id = core::NewUuid();
    tap_->Watch(id);
    auto e = NewEvent(id, "release-intake");
    e.set_release_id("rel-" + version + "-" + id.substr(0, 8));
    auto* p = e.mutable_deployment_requested();
    p->set_deployment_id(id);
    p->set_release_id(e.release_id());
    p->set_app(app);
    p->set_env("production");
    p->set_requested_by("itest");
    p->set_spec_version(1);
    p->set_spec_yaml(spec);
    *p->mutable_spec() = Resolved(spec);
    p->set_version(version);
    p->mutable_artifact()->set_version(version);
    p->mutable_artifact()->set_url("http://127.0.0.1:1/" + app + "-" + version + ".tar.gz");
    p->mutable_artifact()->set_sha256(std::string(64, 'b'));
    p->mutable_artifact()->set_kind(events::v1::ARTIFACT_KIND_TARBALL);
    Produce(e);
    return id;
  }

  void BatchDone(const std::string& id, std::uint32_t index, std::uint64_t generation,
                 bool ok = true) {
    auto e = NewEvent(id, "executor");
    if (ok) {
      auto* p = e.mutable_batch_succeeded();
      p->set_deployment_id(id);
      p->set_batch_index(index);
      p->set_generation(generation);
    } else {
      auto* p = e.mutable_batch_failed();
      p->set_deployment_id(id);
      p->set_batch_index(index);
      p->set_generation(generation);
      p->add_failed_hosts("h1");
      events::SetReason(*p, "health_check_failed");
    }
    Produce(e);
  }

  void Command(const std::string& id, events::v1::OperatorCommand::Verb verb,
               std::uint64_t generation = 0) {
    auto e = NewEvent(id, "release-intake");
    auto* p = e.mutable_operator_command();
    p->set_deployment_id(id);
    p->set_verb(verb);
    p->set_actor("alice");
    p->set_generation(generation);
    Produce(e);
  }

  json Get(const std::string& path, long* status = nullptr,
           const std::string& authorization = st::ServiceAuthorization()) {
    http::ClientRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(service_->Port()) + path;
    if (!authorization.empty()) req.headers.emplace_back("Authorization", authorization);
    const auto res = http::Send(req);
    if (status != nullptr) *status = res.status;
    return json::parse(res.body);
  }

  // Polls GET /v1/deployments/{id} until `pred` holds or 10 s pass; returns the last body.
  json WaitForDeployment(const std::string& id, const std::function<bool(const json&)>& pred) {
    json body;
    for (int i = 0; i < 100; ++i) {
      long status = 0;
      body = Get("/v1/deployments/" + id, &status);
      if (status == 200 && pred(body)) return body;
      std::this_thread::sleep_for(100ms);
    }
    return body;
  }

  void RollbackStarted(const std::string& id, std::uint64_t generation) {
    auto e = NewEvent(id, "rollback-agent");
    auto* rs = e.mutable_rollback_started();
    rs->set_rollback_id("rb-" + id.substr(0, 8) + "-" + std::to_string(generation));
    rs->set_deployment_id(id);
    rs->set_generation(generation);
    rs->set_scope(events::v1::ROLLBACK_SCOPE_DEPLOYMENT);
    events::SetTrigger(*rs, events::v1::ROLLBACK_TRIGGER_ALERT);
    Produce(e);
  }
  void RollbackCompleted(const std::string& id, std::uint64_t generation,
                         events::v1::DeploymentStatus final_status, bool success = true) {
    auto e = NewEvent(id, "rollback-agent");
    auto* rc = e.mutable_rollback_completed();
    rc->set_rollback_id("rb-" + id.substr(0, 8) + "-" + std::to_string(generation));
    rc->set_deployment_id(id);
    rc->set_success(success);
    rc->set_final_status(final_status);
    Produce(e);
  }

  // Deploys `version` of `app` (one host, all at once) to success; returns the deployment id.
  std::string DeploySucceeded(const std::string& app, const std::string& version) {
    const auto id = Request(app, Spec(app, 1, "      type: all-at-once\n"), version);
    EXPECT_TRUE(tap_->BatchRequested(id, 0)) << version;
    BatchDone(id, 0, 1);
    EXPECT_TRUE(tap_->WaitFor(id, PC::kDeploymentSucceeded)) << version << " did not succeed";
    return id;
  }

  json Stable(const std::string& app, long* status) {
    return Get("/v1/apps/" + app + "/environments/production/stable", status);
  }

  static bool HasTimeline(const json& d, const std::string& kind, const std::string& reason) {
    for (const auto& t : d["timeline"]) {
      if (t["kind"] == kind &&
          (reason.empty() ? t["applied"] == true : t.value("ignored_reason", "") == reason)) {
        return true;
      }
    }
    return false;
  }

  static inline std::string suffix_;
  static inline std::unique_ptr<st::PgSchema> schema_;
  static inline std::string group_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<Tap> tap_;
  std::unique_ptr<RolloutPlannerService> service_;
};

TEST_F(RolloutPlannerItest, CanaryRunsBatchByBatchThroughATimedPauseToSuccess) {
  const auto app = App("canary");
  const auto id = Request(app,
                          Spec(app, 4,
                               "      type: canary\n"
                               "      steps:\n"
                               "        - weight: 25%\n"
                               "        - pause: 1s\n"
                               "        - weight: 50%\n"
                               "        - weight: 100%\n"),
                          "2.0.0");
  const auto planned = tap_->WaitFor(id, PC::kDeploymentPlanned);
  ASSERT_TRUE(planned) << "no DeploymentPlanned for " << id;
  EXPECT_EQ(planned->deployment_planned().batches_size(), 3);
  EXPECT_EQ(planned->deployment_planned().version(), "2.0.0");

  auto b0 = tap_->BatchRequested(id, 0);
  ASSERT_TRUE(b0);
  const auto& r0 = b0->batch_requested();
  EXPECT_EQ(r0.generation(), 1u);
  ASSERT_EQ(r0.targets_size(), 1);
  EXPECT_EQ(r0.targets(0).driver(), "agent");
  EXPECT_EQ(r0.app(), app);
  EXPECT_EQ(r0.env(), "production");
  EXPECT_EQ(r0.artifact().version(), "2.0.0");
  EXPECT_EQ(r0.service().restart_command(0), "bin/restart.sh");
  EXPECT_EQ(r0.service().health_http_url(), "http://127.0.0.1:8000/healthz");

  BatchDone(id, 0, 1);
  const auto paused = tap_->WaitFor(id, PC::kDeploymentPaused);
  ASSERT_TRUE(paused);
  EXPECT_EQ(paused->deployment_paused().reason_code(), events::v1::REASON_PAUSE_STEP);
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);  // the pause holds batch 1 back
  auto running = Get("/v1/deployments/" + id);
  EXPECT_EQ(running["status"], "paused");
  EXPECT_EQ(running["batches"][1]["status"], "waiting");

  // The durable timer fires (1 s) and batch 1 follows.
  ASSERT_TRUE(tap_->WaitFor(id, PC::kDeploymentResumed, 10s));
  ASSERT_TRUE(tap_->BatchRequested(id, 1, 10s));
  BatchDone(id, 1, 1);
  auto b2 = tap_->BatchRequested(id, 2);
  ASSERT_TRUE(b2);
  EXPECT_EQ(b2->batch_requested().targets_size(), 2);
  BatchDone(id, 2, 1);
  const auto ok = tap_->WaitFor(id, PC::kDeploymentSucceeded);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->deployment_succeeded().version(), "2.0.0");

  const auto d = WaitForDeployment(id, [](const json& j) { return j["status"] == "succeeded"; });
  EXPECT_EQ(d["status"], "succeeded");
  EXPECT_FALSE(d["finished_at"].is_null());
  for (const auto& b : d["batches"]) EXPECT_EQ(b["status"], "succeeded") << b.dump();
  EXPECT_TRUE(HasTimeline(d, "timer_fired", ""));
  EXPECT_TRUE(HasTimeline(d, "requested", ""));

  long status = 0;
  const auto stable = Get("/v1/apps/" + app + "/environments/production/stable", &status);
  ASSERT_EQ(status, 200) << stable.dump();
  EXPECT_EQ(stable["version"], "2.0.0");
  EXPECT_EQ(stable["deployment_id"], id);

  const auto listed = Get("/v1/deployments?app=" + app + "&status=succeeded");
  ASSERT_EQ(listed["deployments"].size(), 1u);
  EXPECT_EQ(listed["deployments"][0]["id"], id);
  Get("/v1/deployments/" + core::NewUuid(), &status);
  EXPECT_EQ(status, 404);

  // The internal API needs the service token (which Get sends); the probes do not.
  Get("/v1/deployments/" + id, &status, "");
  EXPECT_EQ(status, 401);
  Get("/v1/deployments?app=" + app, &status, "Bearer not-the-service-token-0123456789");
  EXPECT_EQ(status, 401);
  Get("/readyz", &status, "");
  EXPECT_EQ(status, 200);
}

TEST_F(RolloutPlannerItest, FailedBatchFailsTheDeployment) {
  const auto app = App("fails");
  const auto id = Request(app, Spec(app, 2, kTwoBatches));
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  BatchDone(id, 0, 1, /*ok=*/false);
  const auto failed = tap_->WaitFor(id, PC::kDeploymentFailed);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->deployment_failed().reason_code(), events::v1::REASON_BATCH_FAILED);
  const auto d = WaitForDeployment(id, [](const json& j) { return j["status"] == "failed"; });
  EXPECT_EQ(d["failure_reason"], "batch_failed");
  EXPECT_EQ(d["batches"][0]["status"], "failed");
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);
}

TEST_F(RolloutPlannerItest, OperatorPauseHoldsTheNextBatchUntilResume) {
  const auto app = App("pause");
  const auto id = Request(app, Spec(app, 2, kTwoBatches));
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  Command(id, events::v1::OperatorCommand::VERB_PAUSE);
  const auto paused = tap_->WaitFor(id, PC::kDeploymentPaused);
  ASSERT_TRUE(paused);
  EXPECT_EQ(paused->deployment_paused().reason_code(), events::v1::REASON_OPERATOR);
  BatchDone(id, 0, 1);
  // A command with a generation the deployment does not have is refused and recorded.
  Command(id, events::v1::OperatorCommand::VERB_RESUME, 7);
  auto d = WaitForDeployment(id, [](const json& j) {
    return HasTimeline(j, "operator_resume", "stale_generation") &&
           HasTimeline(j, "batch_succeeded", "");
  });
  EXPECT_TRUE(HasTimeline(d, "operator_resume", "stale_generation")) << d.dump(2);
  EXPECT_EQ(d["status"], "paused");
  EXPECT_EQ(d["phase"], "held");
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);

  Command(id, events::v1::OperatorCommand::VERB_RESUME);
  const auto resumed = tap_->WaitFor(id, PC::kDeploymentResumed);
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->deployment_resumed().actor(), "alice");
  ASSERT_TRUE(tap_->BatchRequested(id, 1));
}

TEST_F(RolloutPlannerItest, ApprovalGateWaitsForApprove) {
  const auto app = App("approval");
  const auto id = Request(app, Spec(app, 2, kTwoBatches, "    policy: {approval: required}\n"));
  const auto paused = tap_->WaitFor(id, PC::kDeploymentPaused);
  ASSERT_TRUE(paused);
  EXPECT_EQ(paused->deployment_paused().reason_code(), events::v1::REASON_APPROVAL_REQUIRED);
  Command(id, events::v1::OperatorCommand::VERB_RESUME);  // cannot pass an approval gate
  auto d = WaitForDeployment(
      id, [](const json& j) { return HasTimeline(j, "operator_resume", "approval_required"); });
  EXPECT_TRUE(HasTimeline(d, "operator_resume", "approval_required")) << d.dump(2);
  // Nor can promote: release-intake lets a deployer promote, only an approver approve.
  Command(id, events::v1::OperatorCommand::VERB_PROMOTE);
  d = WaitForDeployment(
      id, [](const json& j) { return HasTimeline(j, "operator_promote", "approval_required"); });
  EXPECT_TRUE(HasTimeline(d, "operator_promote", "approval_required")) << d.dump(2);
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 0u);
  EXPECT_EQ(tap_->Count(id, PC::kDeploymentResumed), 0u);
  EXPECT_EQ(d["batches"][0]["status"], "waiting");

  Command(id, events::v1::OperatorCommand::VERB_APPROVE);
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
}

TEST_F(RolloutPlannerItest, SecondDeploymentQueuesUntilTheFirstFinishesAndRejectFailsAtOnce) {
  const auto app = App("queue");
  const auto spec = Spec(app, 1, "      type: all-at-once\n");
  const auto first = Request(app, spec, "1.0.0");
  ASSERT_TRUE(tap_->BatchRequested(first, 0));
  const auto second = Request(app, spec, "1.1.0");
  auto d2 = WaitForDeployment(second, [](const json& j) { return j["queued"] == true; });
  EXPECT_EQ(d2["status"], "pending");
  EXPECT_EQ(d2["queued"], true);

  // With the reject policy a third request fails at once, naming the active deployment.
  const auto third =
      Request(app, Spec(app, 1, "      type: all-at-once\n", "    policy: {concurrency: reject}\n"),
              "1.2.0");
  const auto rejected = tap_->WaitFor(third, PC::kDeploymentFailed);
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->deployment_failed().reason_code(), events::v1::REASON_CONCURRENT_DEPLOYMENT);
  EXPECT_NE(rejected->deployment_failed().detail().find(first), std::string::npos)
      << rejected->deployment_failed().detail();
  EXPECT_EQ(tap_->Count(second, PC::kDeploymentPlanned), 0u);

  BatchDone(first, 0, 1);
  ASSERT_TRUE(tap_->WaitFor(first, PC::kDeploymentSucceeded));
  // The queued one starts once the slot is free.
  ASSERT_TRUE(tap_->WaitFor(second, PC::kDeploymentPlanned));
  auto b = tap_->BatchRequested(second, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->batch_requested().artifact().version(), "1.1.0");
  d2 = Get("/v1/deployments/" + second);
  EXPECT_EQ(d2["queued"], false);
  EXPECT_EQ(d2["status"], "running");
  EXPECT_EQ(d2["stable_version_before"], "1.0.0");
}

// GET /v1/deployments pages with cursors over (created_at DESC, id DESC): every deployment once,
// in that order, the filters on every page, ties in created_at broken by the id, next_cursor
// null on the last page; a cursor that is not one is refused naming the parameter.
TEST_F(RolloutPlannerItest, TheListPagesWithCursorsInItsOrderAndRefusesAMalformedCursor) {
  const auto app = App("pages");
  const auto spec = Spec(app, 1, "      type: all-at-once\n");
  std::vector<std::string> ids;
  for (const char* version : {"1.0.0", "1.1.0", "1.2.0", "1.3.0"}) {
    ids.push_back(Request(app, spec, version));
    WaitForDeployment(ids.back(), [](const json&) { return true; });
  }
  ASSERT_TRUE(tap_->BatchRequested(ids[0], 0));  // the first runs, the others queue (pending)
  // Times of our choosing, microseconds included: ids[1] and ids[2] tie, so the id decides.
  {
    pqxx::connection c(schema_->Dsn());
    pqxx::work tx(c);
    const std::string table = tx.quote_name(schema_->Name()) + ".deployments";
    const auto at = [&](const std::string& id, const char* ts) {
      tx.exec_params("UPDATE " + table + " SET created_at = $2::timestamptz WHERE id = $1", id, ts);
    };
    at(ids[0], "2026-12-01T10:00:03.000001Z");
    at(ids[1], "2026-12-01T10:00:02.123456Z");
    at(ids[2], "2026-12-01T10:00:02.123456Z");
    at(ids[3], "2026-12-01T10:00:01.999999Z");
    tx.commit();
  }
  const auto [newer, older] = std::minmax(ids[1], ids[2], std::greater<>());
  const std::vector<std::string> order = {ids[0], newer, older, ids[3]};

  // Follows next_cursor from `query` (app, status, limit); the ids in the order seen.
  const auto walk = [&](const std::string& query, std::size_t page_size) {
    std::vector<std::string> seen;
    std::string path = "/v1/deployments?" + query;
    for (int page = 0; page < 10; ++page) {
      long status = 0;
      const json body = Get(path, &status);
      EXPECT_EQ(status, 200) << body.dump();
      if (status != 200) break;
      EXPECT_LE(body["deployments"].size(), page_size) << body.dump();
      for (const auto& d : body["deployments"]) seen.push_back(d["id"]);
      EXPECT_TRUE(body.contains("next_cursor")) << body.dump();
      if (!body["next_cursor"].is_string()) break;
      path = "/v1/deployments?" + query + "&cursor=" + body["next_cursor"].get<std::string>();
    }
    return seen;
  };
  EXPECT_EQ(walk("app=" + app + "&limit=1", 1), order);
  EXPECT_EQ(walk("app=" + app + "&limit=3", 3), order);
  EXPECT_EQ(walk("app=" + app + "&status=pending&limit=2", 2),
            (std::vector<std::string>{newer, older, ids[3]}));
  // A page that ends exactly at the last deployment says there is no further one.
  const json whole = Get("/v1/deployments?app=" + app + "&limit=4");
  EXPECT_EQ(whole["deployments"].size(), 4u);
  EXPECT_TRUE(whole["next_cursor"].is_null()) << whole.dump();

  const std::string cursor = Get("/v1/deployments?app=" + app + "&limit=1")["next_cursor"];
  // As sent in the query (URL-encoded): not base64url, no id ("123"), padded, empty, a negative
  // time ("-1.a"), a space in the id ("5.d 1").
  for (const std::string& bad : {std::string("nonsense!"), std::string("MTIz"), cursor + "%3D",
                                 std::string(""), std::string("LTEuYQ"), std::string("NS5kIDE")}) {
    long status = 0;
    const json body = Get("/v1/deployments?app=" + app + "&cursor=" + bad, &status);
    EXPECT_EQ(status, 400) << bad << ": " << body.dump();
    EXPECT_EQ(body.value(json::json_pointer("/error/field"), std::string()), "cursor")
        << bad << ": " << body.dump();
  }
}

// GET /v1/deployments?since=&until= bounds created_at, since inclusive and until exclusive to
// the microsecond, on every page a cursor walks; a duration counts back from now; a malformed
// bound is refused naming it, and since after until names until.
TEST_F(RolloutPlannerItest, TheListFiltersOnCreatedAtWithSinceAndUntilAcrossPages) {
  const auto app = App("window");
  const auto spec = Spec(app, 1, "      type: all-at-once\n");
  std::vector<std::string> ids;
  for (const char* version : {"1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"}) {
    ids.push_back(Request(app, spec, version));
    WaitForDeployment(ids.back(), [](const json&) { return true; });
  }
  {
    pqxx::connection c(schema_->Dsn());
    pqxx::work tx(c);
    const std::string table = tx.quote_name(schema_->Name()) + ".deployments";
    const auto at = [&](const std::string& id, const std::string& ts) {
      tx.exec_params("UPDATE " + table + " SET created_at = $2::timestamptz WHERE id = $1", id, ts);
    };
    at(ids[0], "2026-12-01T09:59:59.999999Z");
    at(ids[1], "2026-12-01T10:00:00Z");
    at(ids[2], "2026-12-01T10:30:00.5Z");
    at(ids[3], "2026-12-01T11:00:00Z");
    tx.exec_params(
        "UPDATE " + table + " SET created_at = now() - interval '30 minutes' " + "WHERE id = $1",
        ids[4]);
    tx.commit();
  }
  const auto walk = [&](const std::string& query) {
    std::vector<std::string> seen;
    std::string path = "/v1/deployments?app=" + app + "&limit=1&" + query;
    for (int page = 0; page < 10; ++page) {
      long status = 0;
      const json body = Get(path, &status);
      EXPECT_EQ(status, 200) << query << ": " << body.dump();
      if (status != 200) break;
      for (const auto& d : body["deployments"]) seen.push_back(d["id"]);
      if (!body["next_cursor"].is_string()) break;
      path = "/v1/deployments?app=" + app + "&limit=1&" + query +
             "&cursor=" + body["next_cursor"].get<std::string>();
    }
    return seen;
  };
  using Ids = std::vector<std::string>;
  // [10:00, 11:00): 10:00 exactly is in, 11:00 exactly and a microsecond before 10:00 are out.
  EXPECT_EQ(walk("since=2026-12-01T10:00:00Z&until=2026-12-01T11:00:00Z"), (Ids{ids[2], ids[1]}));
  // An offset (URL-encoded '+'), the same instants.
  EXPECT_EQ(walk("since=2026-12-01T12:00:00%2B02:00&until=2026-12-01T13:00:00%2B02:00"),
            (Ids{ids[2], ids[1]}));
  EXPECT_EQ(walk("until=2026-12-01T10:00:00.000001Z"), (Ids{ids[1], ids[0]}));
  EXPECT_EQ(walk("since=2026-12-01T10:30:00.5Z&until=2026-12-02T00:00:00Z"), (Ids{ids[3], ids[2]}));
  // A duration: that long before now.
  EXPECT_EQ(walk("since=1h"), (Ids{ids[4]}));
  EXPECT_EQ(walk("until=1h&since=2026-12-01T10:30:00Z"), (Ids{ids[3], ids[2]}));
  // Equal bounds: an empty range, not an error.
  EXPECT_EQ(walk("since=2026-12-01T10:00:00Z&until=2026-12-01T10:00:00Z"), Ids{});

  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
           {"since=yesterday", "since"},
           {"since=2026-12-01", "since"},
           {"since=", "since"},
           {"until=-1h", "until"},
           {"until=2026-12-01T25:00:00Z", "until"},
           {"since=2026-12-01T11:00:00Z&until=2026-12-01T10:00:00Z", "until"}}) {
    long status = 0;
    const json body = Get("/v1/deployments?app=" + app + "&" + query, &status);
    EXPECT_EQ(status, 400) << query << ": " << body.dump();
    EXPECT_EQ(body.value(json::json_pointer("/error/field"), std::string()), field)
        << query << ": " << body.dump();
  }
}

TEST_F(RolloutPlannerItest, RollbackStartedFencesALateBatchSucceeded) {
  const auto app = App("rollback");
  const auto id = Request(app, Spec(app, 2, kTwoBatches));
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  auto e = NewEvent(id, "rollback-agent");
  auto* rs = e.mutable_rollback_started();
  rs->set_rollback_id("rb-" + id.substr(0, 8));
  rs->set_deployment_id(id);
  rs->set_generation(2);
  rs->set_scope(events::v1::ROLLBACK_SCOPE_BATCHES);
  events::SetTrigger(*rs, events::v1::ROLLBACK_TRIGGER_OPERATOR);
  Produce(e);
  BatchDone(id, 0, 1);  // late: the deployment is rolling back
  auto d = WaitForDeployment(
      id, [](const json& j) { return HasTimeline(j, "batch_succeeded", "rolling_back"); });
  EXPECT_TRUE(HasTimeline(d, "batch_succeeded", "rolling_back")) << d.dump(2);
  EXPECT_TRUE(HasTimeline(d, "rollback_started", "")) << d.dump(2);
  EXPECT_EQ(d["status"], "rolling_back");
  EXPECT_EQ(d["generation"], 2);
  BatchDone(id, 0, 2);  // even with the new generation no forward batch follows
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);

  auto done = NewEvent(id, "rollback-agent");
  auto* rc = done.mutable_rollback_completed();
  rc->set_rollback_id("rb-" + id.substr(0, 8));
  rc->set_deployment_id(id);
  rc->set_success(true);
  Produce(done);
  const auto failed = tap_->WaitFor(id, PC::kDeploymentFailed);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->deployment_failed().reason_code(), events::v1::REASON_ROLLED_BACK);
  EXPECT_EQ(failed->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);
}

TEST_F(RolloutPlannerItest, ARestartedPlannerContinuesFromPostgres) {
  const auto app = App("restart");
  const auto id = Request(app, Spec(app, 2,
                                    "      type: canary\n"
                                    "      steps:\n"
                                    "        - weight: 50%\n"
                                    "        - pause: 2s\n"
                                    "        - weight: 100%\n"));
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  BatchDone(id, 0, 1);
  ASSERT_TRUE(tap_->WaitFor(id, PC::kDeploymentPaused));
  StopPlanner();  // the pause's timer is due while nobody runs
  std::this_thread::sleep_for(2500ms);
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);
  StartPlanner();
  ASSERT_TRUE(tap_->BatchRequested(id, 1, 15s)) << "the timer did not fire after the restart";
  BatchDone(id, 1, 1);
  ASSERT_TRUE(tap_->WaitFor(id, PC::kDeploymentSucceeded));
}

TEST_F(RolloutPlannerItest, AutoDeployMakesOneDeploymentPerReleaseAndEnvironment) {
  const auto app = App("auto");
  std::string spec = Spec(app, 1, "      type: all-at-once\n", "    policy: {autoDeploy: true}\n");
  auto applied = NewEvent("", "release-intake");
  auto* a = applied.mutable_app_spec_applied();
  a->set_app(app);
  a->set_spec_version(3);
  a->set_spec_yaml(spec);
  *a->mutable_spec() = Resolved(spec);
  a->set_applied_by("itest");
  const std::string release_id = core::NewUuid();
  const auto id = AutoDeployDeploymentId(release_id, "production");
  tap_->Watch(id);
  // Same key as the release, so the spec is in place before the release arrives.
  applied.set_release_id(release_id);
  Produce(applied);
  for (int i = 0; i < 2; ++i) {  // a redelivery (new event id) makes no second deployment
    auto rc = NewEvent("", "release-intake");
    rc.set_release_id(release_id);
    auto* r = rc.mutable_release_created();
    r->set_release_id(release_id);
    r->set_app(app);
    r->set_version("3.0.0");
    r->mutable_artifact()->set_version("3.0.0");
    r->mutable_artifact()->set_url("http://127.0.0.1:1/a.tar.gz");
    r->mutable_artifact()->set_sha256(std::string(64, 'c'));
    Produce(rc);
  }
  const auto planned = tap_->WaitFor(id, PC::kDeploymentPlanned);
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->deployment_planned().version(), "3.0.0");
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  const auto d = WaitForDeployment(id, [&](const json& j) {
    int requested = 0;
    for (const auto& t : j["timeline"]) requested += t["kind"] == "requested";
    return requested >= 1;
  });
  EXPECT_EQ(d["requested_by"], "auto-deploy");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(tap_->Count(id, PC::kDeploymentPlanned), 1u);
  EXPECT_EQ(Get("/v1/deployments?app=" + app)["deployments"].size(), 1u);
}

// Blue-green: the first deployment goes to the idle group (the second, when nothing is known),
// switches traffic through the hook, and the group it switched to is live from then on: the
// next deployment goes to the other group.
TEST_F(RolloutPlannerItest, BlueGreenAlternatesBetweenTheGroups) {
  std::atomic<int> switches{0};
  http::ServerOptions hook_options;
  hook_options.addr = "127.0.0.1:0";
  http::Server hook("switch-hook", hook_options);
  hook.Post("/switch", [&](const httplib::Request&, httplib::Response& res) {
    ++switches;
    http::WriteJson(res, 200, json{{"switched", true}});
  });
  hook.Start();
  const auto app = App("bluegreen");
  const std::string spec =
      "app: " + app +
      "\n"
      "environments:\n"
      "  production:\n"
      "    targets:\n"
      "      blue:\n"
      "        hosts:\n"
      "          - {name: b1, address: 127.0.0.1, agentEndpoint: 'http://127.0.0.1:1'}\n"
      "      green:\n"
      "        hosts:\n"
      "          - {name: g1, address: 127.0.0.2, agentEndpoint: 'http://127.0.0.2:1'}\n"
      "    strategy:\n"
      "      type: blue-green\n"
      "      groups: [blue, green]\n"
      "      trafficSwitch: {url: 'http://127.0.0.1:" +
      std::to_string(hook.Port()) + "/switch'}\n";
  const auto deploy = [&](const std::string& version) {
    const auto id = Request(app, spec, version);
    const auto b = tap_->BatchRequested(id, 0);
    EXPECT_TRUE(b) << "no BatchRequested for " << version;
    std::string host = b && b->batch_requested().targets_size() == 1
                           ? b->batch_requested().targets(0).host()
                           : std::string("?");
    BatchDone(id, 0, 1);
    EXPECT_TRUE(tap_->WaitFor(id, PC::kDeploymentSucceeded)) << version << " did not succeed";
    return host;
  };
  EXPECT_EQ(deploy("1.0.0"), "g1");  // nothing known: blue is taken as live
  EXPECT_EQ(deploy("2.0.0"), "b1");  // green is live now
  EXPECT_EQ(deploy("3.0.0"), "g1");
  EXPECT_EQ(switches.load(), 3);
  hook.Stop();
}

TEST_F(RolloutPlannerItest, PlannedAndAnalysisEventsCarryWhatTheWatcherAndAgentNeed) {
  const auto app = App("analysis");
  const auto spec = Spec(app, 3,
                         "      type: canary\n"
                         "      steps:\n"
                         "        - weight: 33%\n"
                         "          analysis: strict\n"
                         "        - weight: 100%\n",
                         kAnalysis);
  const auto id = Request(app, spec, "4.0.0");
  const auto planned = tap_->WaitFor(id, PC::kDeploymentPlanned);
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->deployment_planned().generation(), 1u);
  EXPECT_EQ(planned->deployment_planned().canary_failure_policy(),
            events::v1::CANARY_FAILURE_POLICY_REVERT_ALL);
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  BatchDone(id, 0, 1);
  const auto requested = tap_->WaitFor(id, PC::kAnalysisRequested);
  ASSERT_TRUE(requested) << "no AnalysisRequested for " << id;
  const auto& a = requested->analysis_requested();
  EXPECT_EQ(a.deployment_id(), id);
  EXPECT_EQ(a.release_id(), requested->release_id());
  EXPECT_FALSE(a.release_id().empty());
  EXPECT_EQ(a.spec_version(), 1u);
  EXPECT_EQ(a.spec_yaml(), spec);
  EXPECT_EQ(a.template_name(), "strict");
  EXPECT_EQ(a.resolved_template().name(), "strict");  // resolved at intake, passed on
  EXPECT_GT(a.resolved_template().rules_size(), 0);
  EXPECT_EQ(a.version(), "4.0.0");
  EXPECT_EQ(a.generation(), 1u);
  EXPECT_FALSE(a.bake_watch());
  EXPECT_EQ(std::vector<std::string>(a.instances().begin(), a.instances().end()),
            (std::vector<std::string>{"h1"}));
  EXPECT_EQ(std::vector<std::string>(a.baseline_instances().begin(), a.baseline_instances().end()),
            (std::vector<std::string>{"h2", "h3"}));
  auto d = Get("/v1/deployments/" + id);
  EXPECT_EQ(d["batches"][0]["analysis_template"], "strict");
  EXPECT_EQ(d["batches"][0]["status"], "analysing");
  EXPECT_EQ(d["on_canary_failure"], "revert-all");

  // The analysis passes, the last batch succeeds: the deployment succeeded, and the bake watch
  // over every host is requested in the same transaction.
  auto passed = NewEvent(id, "metric-watcher");
  auto* p = passed.mutable_analysis_passed();
  p->set_analysis_id(a.analysis_id());
  p->set_deployment_id(id);
  p->set_batch_index(0);
  p->set_generation(1);
  events::SetOutcome(*p, events::v1::ANALYSIS_OUTCOME_SUCCESSFUL);
  Produce(passed);
  ASSERT_TRUE(tap_->BatchRequested(id, 1));
  BatchDone(id, 1, 1);
  ASSERT_TRUE(tap_->WaitFor(id, PC::kDeploymentSucceeded));
  const auto bake = tap_->WaitFor(id, PC::kAnalysisRequested, 15s, 1);
  ASSERT_TRUE(bake) << "no bake-watch AnalysisRequested for " << id;
  const auto& b = bake->analysis_requested();
  EXPECT_TRUE(b.bake_watch());
  EXPECT_EQ(b.duration().seconds(), 600);
  EXPECT_EQ(b.template_name(), "bake");
  EXPECT_EQ(b.batch_index(), 1u);
  EXPECT_EQ(b.spec_yaml(), spec);
  EXPECT_EQ(b.resolved_template().name(), "bake");
  EXPECT_NE(b.analysis_id(), a.analysis_id());
  EXPECT_EQ(std::vector<std::string>(b.instances().begin(), b.instances().end()),
            (std::vector<std::string>{"h1", "h2", "h3"}));
  EXPECT_EQ(b.baseline_instances_size(), 0);
  d = WaitForDeployment(id, [](const json& j) { return j["status"] == "succeeded"; });
  EXPECT_EQ(d["status"], "succeeded");
  long status = 0;
  EXPECT_EQ(Stable(app, &status)["deployment_id"], id);
}

TEST_F(RolloutPlannerItest, RevertedCanaryEndsFailedWithItsReason) {
  const auto app = App("revertbatch");
  const auto id = Request(app, Spec(app, 2, kTwoBatches));
  ASSERT_TRUE(tap_->BatchRequested(id, 0));
  RollbackStarted(id, 2);
  ASSERT_TRUE(WaitForDeployment(id, [](const json& j) {
                return j["status"] == "rolling_back";
              })["status"] == "rolling_back");
  RollbackCompleted(id, 2, events::v1::DEPLOYMENT_STATUS_FAILED);
  const auto failed = tap_->WaitFor(id, PC::kDeploymentFailed);
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->deployment_failed().reason_code(), events::v1::REASON_ANALYSIS_FAILED);
  EXPECT_EQ(failed->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_FAILED);
  const auto d = WaitForDeployment(id, [](const json& j) { return j["status"] == "failed"; });
  EXPECT_EQ(d["status"], "failed");
  EXPECT_EQ(d["failure_reason"], "analysis_failed");
  EXPECT_FALSE(d["finished_at"].is_null());
  EXPECT_EQ(tap_->Count(id, PC::kBatchRequested), 1u);

  // A failed rollback: rollback_failed, whatever the final status says.
  const auto other = Request(app, Spec(app, 2, kTwoBatches), "1.1.0");
  ASSERT_TRUE(tap_->BatchRequested(other, 0));
  RollbackStarted(other, 2);
  RollbackCompleted(other, 2, events::v1::DEPLOYMENT_STATUS_FAILED, /*success=*/false);
  const auto rb_failed = tap_->WaitFor(other, PC::kDeploymentFailed);
  ASSERT_TRUE(rb_failed);
  EXPECT_EQ(rb_failed->deployment_failed().reason_code(), events::v1::REASON_ROLLBACK_FAILED);
}

// The race of issue 13: the next deployment is requested the instant the canary analysis of the
// previous one fails. The failed one keeps its app+env until its rollback has completed, so the
// next one waits and never deploys to a host the revert is still sending back.
TEST_F(RolloutPlannerItest, NextDeploymentWaitsUntilTheFailedOnesRollbackCompleted) {
  const auto app = App("revertrace");
  DeploySucceeded(app, "1.0.0");  // a stable release: an analysis failure is reverted
  const auto spec = Spec(app, 2,
                         "      type: canary\n"
                         "      steps:\n"
                         "        - weight: 50%\n"
                         "          analysis: strict\n"
                         "        - weight: 100%\n",
                         kAnalysis);
  const auto a = Request(app, spec, "2.0.0");
  ASSERT_TRUE(tap_->BatchRequested(a, 0));
  BatchDone(a, 0, 1);
  ASSERT_TRUE(tap_->WaitFor(a, PC::kAnalysisRequested));

  auto failed = NewEvent(a, "metric-watcher");
  auto* af = failed.mutable_analysis_failed();
  af->set_deployment_id(a);
  af->set_batch_index(0);
  af->set_generation(1);
  Produce(failed);
  const auto b = Request(app, spec, "3.0.0");  // at once, no wait for the planner

  const auto announced = tap_->WaitFor(a, PC::kDeploymentFailed);
  ASSERT_TRUE(announced);
  EXPECT_EQ(announced->deployment_failed().reason_code(), events::v1::REASON_ANALYSIS_FAILED);
  EXPECT_EQ(announced->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_ROLLING_BACK);
  auto da = WaitForDeployment(a, [](const json& j) { return j["status"] == "rolling_back"; });
  EXPECT_EQ(da["status"], "rolling_back");
  auto db = WaitForDeployment(b, [](const json& j) { return j["queued"] == true; });
  EXPECT_EQ(db["status"], "pending");
  EXPECT_EQ(db["queued"], true);

  // The rollback starts (generation 2) and runs: the next deployment still waits.
  RollbackStarted(a, 2);
  da = WaitForDeployment(a, [](const json& j) { return HasTimeline(j, "rollback_started", ""); });
  EXPECT_EQ(da["status"], "rolling_back");
  EXPECT_EQ(da["generation"], 2);
  std::this_thread::sleep_for(1s);  // a sweep of the queues has run meanwhile
  EXPECT_EQ(tap_->Count(b, PC::kDeploymentPlanned), 0u);
  EXPECT_EQ(tap_->Count(b, PC::kBatchRequested), 0u);
  EXPECT_EQ(Get("/v1/deployments/" + b)["status"], "pending");

  // Its completion frees the app+env: the next deployment starts, on the stable baseline.
  RollbackCompleted(a, 2, events::v1::DEPLOYMENT_STATUS_FAILED);
  const auto planned = tap_->WaitFor(b, PC::kDeploymentPlanned);
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->deployment_planned().stable_version(), "1.0.0");
  ASSERT_TRUE(tap_->BatchRequested(b, 0));
  da = WaitForDeployment(a, [](const json& j) { return j["status"] == "failed"; });
  EXPECT_EQ(da["status"], "failed");
  EXPECT_EQ(da["failure_reason"], "analysis_failed");
  EXPECT_EQ(tap_->Count(a, PC::kDeploymentFailed), 1u);  // told once
}

// A rollback of a finished deployment (a bake-watch breach, an operator) while a newer
// deployment holds the app+env is recorded and refused: the older one does not take the slot
// back (no retries on the unique index, no dead letter), and the newer one goes on.
TEST_F(RolloutPlannerItest, RollbackOfAFinishedDeploymentUnderANewerOneIsRefused) {
  const auto app = App("lateroll");
  const auto first = DeploySucceeded(app, "1.0.0");
  const auto second = Request(app, Spec(app, 1, "      type: all-at-once\n"), "2.0.0");
  ASSERT_TRUE(tap_->BatchRequested(second, 0));
  RollbackStarted(first, 2);
  const auto d = WaitForDeployment(first, [](const json& j) {
    return HasTimeline(j, "rollback_started", "newer_deployment_active");
  });
  EXPECT_TRUE(HasTimeline(d, "rollback_started", "newer_deployment_active")) << d.dump(2);
  EXPECT_EQ(d["status"], "succeeded");
  BatchDone(second, 0, 1);
  ASSERT_TRUE(tap_->WaitFor(second, PC::kDeploymentSucceeded));
}

// A release that became stable and is then rolled back (a bake-watch breach) is not the stable
// one any more: the release before it is, so the next deployment's baseline is a good release.
TEST_F(RolloutPlannerItest, RollingBackTheStableReleaseRestoresTheOneBefore) {
  const auto app = App("restore");
  const auto first = DeploySucceeded(app, "1.0.0");
  const auto second = DeploySucceeded(app, "2.0.0");
  long status = 0;
  auto stable = Stable(app, &status);
  ASSERT_EQ(status, 200);
  ASSERT_EQ(stable["version"], "2.0.0");

  RollbackStarted(second, 2);
  RollbackCompleted(second, 2, events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  const auto rolled = tap_->WaitFor(second, PC::kDeploymentFailed);
  ASSERT_TRUE(rolled);
  EXPECT_EQ(rolled->deployment_failed().status(), events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  const auto d =
      WaitForDeployment(second, [](const json& j) { return j["status"] == "rolled_back"; });
  EXPECT_TRUE(HasTimeline(d, "stable_restored", "")) << d.dump(2);
  stable = Stable(app, &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(stable["version"], "1.0.0");
  EXPECT_EQ(stable["deployment_id"], first);

  // The next deployment's baseline is the restored release.
  const auto third = Request(app, Spec(app, 1, "      type: all-at-once\n"), "3.0.0");
  const auto planned = tap_->WaitFor(third, PC::kDeploymentPlanned);
  ASSERT_TRUE(planned);
  EXPECT_EQ(planned->deployment_planned().stable_version(), "1.0.0");
  EXPECT_EQ(planned->deployment_planned().stable_release_id(), stable["release_id"]);
  ASSERT_TRUE(tap_->BatchRequested(third, 0));
  BatchDone(third, 0, 1);
  ASSERT_TRUE(tap_->WaitFor(third, PC::kDeploymentSucceeded));
  EXPECT_EQ(Stable(app, &status)["version"], "3.0.0");

  // Rolling back a deployment that is not the stable one leaves the record alone.
  RollbackStarted(second, 3);  // already rolled back: ignored
  RollbackStarted(first, 2);
  RollbackCompleted(first, 2, events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  ASSERT_TRUE(tap_->WaitFor(first, PC::kDeploymentFailed));
  EXPECT_EQ(Stable(app, &status)["version"], "3.0.0");

  // Rolling back the only release ever stable leaves no stable release.
  const auto lone_app = App("lone");
  const auto lone = DeploySucceeded(lone_app, "1.0.0");
  ASSERT_EQ(Stable(lone_app, &status)["version"], "1.0.0");
  RollbackStarted(lone, 2);
  RollbackCompleted(lone, 2, events::v1::DEPLOYMENT_STATUS_ROLLED_BACK);
  ASSERT_TRUE(tap_->WaitFor(lone, PC::kDeploymentFailed));
  WaitForDeployment(lone, [](const json& j) { return j["status"] == "rolled_back"; });
  Stable(lone_app, &status);
  EXPECT_EQ(status, 404);
}

}  // namespace
}  // namespace sluice::rollout_planner
