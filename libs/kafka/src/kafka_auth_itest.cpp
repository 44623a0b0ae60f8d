// Who may produce what on the local stack's SASL_SSL listener (scripts/stack.sh, the table
// scripts/kafka-acls.conf): SCRAM-SHA-512 over TLS, one principal per service, external
// producers limited to the inbound topic.
//
// Where: SLUICE_KAFKA_SASL_BROKERS and SLUICE_KAFKA_SASL_CA from the environment, else from
// <var>/local/stack.env (var: SLUICE_VAR_DIR, else this checkout's var/); the principals'
// passwords are <var>/local/kafka-<principal>.password. Skipped, saying so, only when the stack
// has no SASL listener; a listener that is there but refuses what it should allow fails.
//
// Side effects on a shared stack: one record on sluice.intake.v1 and one on each of
// sluice.intake.p.ci.v1 and sluice.intake.p.approver.v1 (the producers' allowed writes;
// release-intake dead-letters them as malformed submissions), those two topics created as
// release-intake's start-up creates them, and a consumer group "ci-kafka-auth-itest-<uuid>" on
// sluice.intake.results.v1. No service's group is joined.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/core/config.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/kafka/kafka.hpp>
#include <sluice/testing/process.hpp>
#include <string>
#include <vector>

#include "rd_util.hpp"

namespace sluice::kafka {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kInbound = "sluice.intake.v1";
constexpr const char* kResults = "sluice.intake.results.v1";
constexpr const char* kDeployments = "sluice.deployments.v1";
// The producers' own topics (release-intake's SLUICE_INTAKE_KAFKA_PRINCIPALS): a record there
// carries its principal's Sluice role, so only that principal may write it.
constexpr const char* kCiTopic = "sluice.intake.p.ci.v1";
constexpr const char* kApproverTopic = "sluice.intake.p.approver.v1";

std::filesystem::path VarDir() {
  const std::string v = testing::EnvOr("SLUICE_VAR_DIR", "");
  return v.empty() ? std::filesystem::path(SLUICE_SOURCE_DIR) / "var" : std::filesystem::path(v);
}

// `key` from the environment, else the value of "export key=value" in stack.env.
std::string StackSetting(const std::string& key) {
  if (auto v = testing::EnvOr(key.c_str(), ""); !v.empty()) return v;
  std::ifstream in(VarDir() / "local" / "stack.env");
  const std::string prefix = "export " + key + "=";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

class KafkaAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = StackSetting("SLUICE_KAFKA_SASL_BROKERS");
    ca_ = StackSetting("SLUICE_KAFKA_SASL_CA");
    if (brokers_.empty()) {
      GTEST_SKIP() << "the stack has no SASL_SSL listener: no SLUICE_KAFKA_SASL_BROKERS in the "
                      "environment or in "
                   << (VarDir() / "local" / "stack.env")
                   << " (restart its Kafka with this checkout's scripts/stack.sh)";
    }
    ASSERT_FALSE(ca_.empty()) << "SLUICE_KAFKA_SASL_BROKERS without SLUICE_KAFKA_SASL_CA";
    // As release-intake's start-up does, with its rights (create on these topics).
    ASSERT_NO_THROW(EnsureTopics(As("release-intake"), {kInbound, kResults, kDeployments}));
  }

  // A client of `principal`, its password read as a service reads it (ReadSecurity).
  KafkaConfig As(const std::string& principal) {
    core::EnvConfig env(std::map<std::string, std::string>{
        {"SLUICE_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"},
        {"SLUICE_KAFKA_SASL_USERNAME", principal},
        {"SLUICE_KAFKA_SASL_PASSWORD_FILE",
         (VarDir() / "local" / ("kafka-" + principal + ".password")).string()},
        {"SLUICE_KAFKA_SSL_CA_LOCATION", ca_}});
    KafkaConfig c;
    c.brokers = brokers_;
    c.client_id = "sluice-auth-itest-" + principal;
    c.security = ReadSecurity(env);
    c.close_timeout = 2s;
    return c;
  }

  std::string brokers_;
  std::string ca_;
};

// Records librdkafka's error events (authentication failures come only as events).
class Errors : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    if (event.type() == RdKafka::Event::EVENT_ERROR) {
      std::lock_guard lock(mu_);
      codes_.push_back(event.err());
    }
  }
  bool Saw(RdKafka::ErrorCode code) {
    std::lock_guard lock(mu_);
    return std::find(codes_.begin(), codes_.end(), code) != codes_.end();
  }

 private:
  std::mutex mu_;
  std::vector<RdKafka::ErrorCode> codes_;
};

// The error code of the last delivery report.
class Reports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    std::lock_guard lock(mu_);
    last_ = message.err();
  }
  std::optional<RdKafka::ErrorCode> Last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  std::optional<RdKafka::ErrorCode> last_;
};

// Produces one record with a plain (non-idempotent) librdkafka producer made from `config`;
// its delivery report's error code (ERR__MSG_TIMED_OUT when it was never delivered within
// `timeout`), or ERR__TIMED_OUT when there was no report at all.
RdKafka::ErrorCode ProduceOnce(const KafkaConfig& config, const std::string& topic, Errors& errors,
                               std::chrono::milliseconds timeout) {
  auto conf =
      internal::MakeConf(config, {}, {{"message.timeout.ms", std::to_string(timeout.count())}});
  Reports reports;
  std::string err;
  EXPECT_EQ(conf->set("event_cb", static_cast<RdKafka::EventCb*>(&errors), err),
            RdKafka::Conf::CONF_OK)
      << err;
  EXPECT_EQ(conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&reports), err),
            RdKafka::Conf::CONF_OK)
      << err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  EXPECT_TRUE(p) << err;
  if (!p) return RdKafka::ERR__FAIL;
  std::string value = "kafka-auth-itest probe: not a submission";
  EXPECT_EQ(p->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                       value.data(), value.size(), nullptr, 0, 0, nullptr),
            RdKafka::ERR_NO_ERROR);
  p->flush(static_cast<int>(timeout.count()) + 2000);
  p->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  p->poll(0);  // serves the report of a purged message
  return reports.Last().value_or(RdKafka::ERR__TIMED_OUT);
}

TEST_F(KafkaAuthTest, AWrongPasswordIsRefusedAndNothingIsProduced) {
  auto config = As("ci");
  config.security.sasl_password = "not-the-password-" + core::NewUuid();
  Errors errors;
  const auto result = ProduceOnce(config, kInbound, errors, 8s);
  EXPECT_NE(result, RdKafka::ERR_NO_ERROR) << "a wrong password delivered a record";
  EXPECT_NE(result, RdKafka::ERR__TIMED_OUT) << "no delivery report";
  EXPECT_TRUE(errors.Saw(RdKafka::ERR__AUTHENTICATION)) << "expected a SASL authentication failure";
}

TEST_F(KafkaAuthTest, AClientWithoutCredentialsCannotProduce) {
  KafkaConfig config;
  config.brokers = brokers_;
  config.client_id = "sluice-auth-itest-anonymous";
  config.security.protocol = "ssl";  // TLS to the listener, but no SASL: no principal
  config.security.ssl_ca_location = ca_;
  Errors errors;
  const auto result = ProduceOnce(config, kInbound, errors, 8s);
  EXPECT_NE(result, RdKafka::ERR_NO_ERROR) << "a client without credentials delivered a record";
  EXPECT_NE(result, RdKafka::ERR__TIMED_OUT) << "no delivery report";
  // The same client with ci's credentials delivers: the refusal above is the missing SASL.
  auto ci = As("ci");
  EXPECT_EQ(ProduceOnce(ci, kInbound, errors, 15s), RdKafka::ERR_NO_ERROR);
}

TEST_F(KafkaAuthTest, CiWritesTheInboundTopicButIsRefusedOnTheDeploymentsTopic) {
  Producer ci(As("ci"));
  // Allowed: the inbound topic (release-intake dead-letters this probe as malformed).
  ASSERT_NO_THROW(ci.ProduceSync(
      {{kInbound, "kafka-auth-itest", "kafka-auth-itest probe: not a submission", {}}}, 30s));
  try {
    ci.ProduceSync({{kDeployments, "kafka-auth-itest", "forged", {}}}, 30s);
    FAIL() << "ci produced to " << kDeployments;
  } catch (const KafkaError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Topic authorization failed"));
    EXPECT_THAT(e.what(),
                HasSubstr("(" + std::to_string(RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED) + ")"));
    EXPECT_FALSE(e.IsRetryable());
  }
}

// What ProduceSync of one probe record by `producer` on `topic` threw, or "" when it delivered.
std::string ProduceError(Producer& producer, const std::string& topic) {
  try {
    producer.ProduceSync(
        {{topic, "kafka-auth-itest", "kafka-auth-itest probe: not a submission", {}}}, 30s);
    return "";
  } catch (const KafkaError& e) {
    EXPECT_FALSE(e.IsRetryable()) << e.what();
    return e.what();
  }
}

// The ci principal may not write the approver's topic, whose records approve: refused by the
// broker, whether or not the topic exists yet.
TEST_F(KafkaAuthTest, CiCannotWriteTheApproversTopic) {
  Producer ci(As("ci"));
  const std::string refused = "(" + std::to_string(RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED) + ")";
  EXPECT_THAT(ProduceError(ci, kApproverTopic), HasSubstr(refused));
  Producer approver(As("approver"));
  EXPECT_THAT(ProduceError(approver, kCiTopic), HasSubstr(refused));
}

// Each producer writes its own topic, which release-intake creates (its create right on
// sluice.intake.p.*) and reads: the refusals above are the ACLs', not a missing topic.
TEST_F(KafkaAuthTest, EachProducerWritesItsOwnTopic) {
  ASSERT_NO_THROW(EnsureTopics(As("release-intake"), {kCiTopic, kApproverTopic}))
      << "release-intake may not create the producers' topics: is this stack's Kafka applying "
         "an older scripts/kafka-acls.conf? (scripts/stack.sh applies it when it starts Kafka)";
  Producer ci(As("ci"));
  EXPECT_EQ(ProduceError(ci, kCiTopic), "");
  Producer approver(As("approver"));
  EXPECT_EQ(ProduceError(approver, kApproverTopic), "");
}

// The topics `config`'s principal may see in the cluster's metadata.
std::vector<std::string> VisibleTopics(const KafkaConfig& config) {
  auto conf = internal::MakeConf(config, {}, {});
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  RdKafka::Metadata* raw = nullptr;
  const auto code = p->metadata(true, nullptr, &raw, 15000);
  EXPECT_EQ(code, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(code);
  std::unique_ptr<RdKafka::Metadata> md(raw);
  std::vector<std::string> out;
  if (md) {
    for (const auto* t : *md->topics()) {
      if (t->err() == RdKafka::ERR_NO_ERROR) out.push_back(t->topic());
    }
  }
  return out;
}

TEST_F(KafkaAuthTest, EachPrincipalSeesOnlyItsTopics) {
  const auto executor = VisibleTopics(As("executor"));
  EXPECT_THAT(executor, ::testing::Contains(kDeployments));
  EXPECT_THAT(executor, ::testing::Not(::testing::Contains(kInbound)));
  const auto ci = VisibleTopics(As("ci"));
  EXPECT_THAT(ci, ::testing::Contains(kInbound));
  EXPECT_THAT(ci, ::testing::Not(::testing::Contains(kDeployments)));
}

// Subscribes `config` to `topic` in `group`; the first consumer error within `timeout`, or
// ERR_NO_ERROR once the group gave it partitions.
RdKafka::ErrorCode JoinGroup(const KafkaConfig& config, const std::string& group,
                             const std::string& topic, std::chrono::milliseconds timeout) {
  auto conf = internal::MakeConf(config, {},
                                 {{"group.id", group},
                                  {"enable.auto.commit", "false"},
                                  {"auto.offset.reset", "latest"},
                                  {"session.timeout.ms", "6000"}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  EXPECT_TRUE(c) << err;
  if (!c) return RdKafka::ERR__FAIL;
  EXPECT_EQ(c->subscribe({topic}), RdKafka::ERR_NO_ERROR);
  auto result = RdKafka::ERR__TIMED_OUT;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(200));
    if (m->err() != RdKafka::ERR_NO_ERROR && m->err() != RdKafka::ERR__TIMED_OUT &&
        m->err() != RdKafka::ERR__PARTITION_EOF) {
      result = m->err();
      break;
    }
    std::vector<RdKafka::TopicPartition*> assigned;
    c->assignment(assigned);
    const bool joined = !assigned.empty();
    RdKafka::TopicPartition::destroy(assigned);
    if (joined) {
      result = RdKafka::ERR_NO_ERROR;
      break;
    }
  }
  c->close();
  return result;
}

TEST_F(KafkaAuthTest, AServiceCannotJoinAnotherServicesConsumerGroup) {
  // The executor may read sluice.deployments.v1, but not in the notifier's group (refused
  // before the group is touched: the notifier's members are not disturbed).
  EXPECT_EQ(JoinGroup(As("executor"), "notifier", kDeployments, 30s),
            RdKafka::ERR_GROUP_AUTHORIZATION_FAILED);
  // The same call in a group the principal may use does join: the refusal above is the ACL's.
  EXPECT_EQ(
      JoinGroup(As("ci"), "ci-kafka-auth-itest-" + core::NewUuid().substr(0, 8), kResults, 30s),
      RdKafka::ERR_NO_ERROR);
}

}  // namespace
}  // namespace sluice::kafka
