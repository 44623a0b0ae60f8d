// Unit tests: pure helpers, plus the producer and consumer against librdkafka's in-process
// mock cluster (loopback only, no external server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <sluice/core/config.hpp>
#include <sluice/kafka/kafka.hpp>
#include <sluice/kafka/testing/mock_cluster.hpp>
#include <thread>

#include "rd_util.hpp"

namespace sluice::kafka {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

// --- pure helpers -------------------------------------------------------------------------

TEST(RetryBackoffTest, DoublesPerAttemptAndCapsAtFiveSeconds) {
  ConsumerOptions options;
  options.retry_backoff = 200ms;
  EXPECT_EQ(RetryBackoff(options, 1), 200ms);
  EXPECT_EQ(RetryBackoff(options, 2), 400ms);
  EXPECT_EQ(RetryBackoff(options, 3), 800ms);
  EXPECT_EQ(RetryBackoff(options, 5), 3200ms);
  EXPECT_EQ(RetryBackoff(options, 6), 5000ms);
  EXPECT_EQ(RetryBackoff(options, 1000), 5000ms);
  options.retry_backoff = 9s;
  EXPECT_EQ(RetryBackoff(options, 1), 5000ms);
}

TEST(ConsumedMessageTest, HeaderValueLastOneWins) {
  ConsumedMessage m;
  m.headers = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(m.HeaderValue("a"), "3");
  EXPECT_EQ(m.HeaderValue("b"), "2");
  EXPECT_EQ(m.HeaderValue("c"), std::nullopt);
}

TEST(DeadLetterMessageTest, KeepsTheRecordAndAddsTheDlqHeaders) {
  ConsumedMessage m;
  m.topic = "sluice.release.v1";
  m.partition = 2;
  m.offset = 41;
  m.key = "dep-1";
  m.value = "payload";
  m.headers = {{"ce_id", "e1"}};
  ConsumerOptions options;
  options.group_id = "rollout-planner";
  const auto out = DeadLetterMessage(m, options, 5, "boom");
  EXPECT_EQ(out.topic, "sluice.deadletter.v1");
  EXPECT_EQ(out.key, "dep-1");
  EXPECT_EQ(out.value, "payload");
  EXPECT_THAT(
      out.headers,
      ElementsAre(Header{"ce_id", "e1"}, Header{"dlq_reason", "boom"},
                  Header{"dlq_original_topic", "sluice.release.v1"},
                  Header{"dlq_original_partition", "2"}, Header{"dlq_original_offset", "41"},
                  Header{"dlq_consumer_group", "rollout-planner"}, Header{"dlq_attempts", "5"}));
}

// A producer's API token (sluice.intake.v1 records carry one) never reaches the dead letters.
TEST(DeadLetterMessageTest, CredentialHeadersAreRedacted) {
  ConsumedMessage m;
  m.topic = "sluice.intake.v1";
  m.key = "shop";
  m.value = "not a submission";
  m.headers = {{"Authorization", "Bearer slc_secret"},
               {"content-type", "application/json"},
               {"proxy-authorization", "Basic c2VjcmV0"}};
  const auto out = DeadLetterMessage(m, ConsumerOptions{}, 1, "malformed");
  EXPECT_EQ(out.headers.at(0), (Header{"Authorization", "[redacted]"}));
  EXPECT_EQ(out.headers.at(1), (Header{"content-type", "application/json"}));
  EXPECT_EQ(out.headers.at(2), (Header{"proxy-authorization", "[redacted]"}));
  // Also when the record is cut to fit a small budget.
  const auto small = DeadLetterMessage(m, ConsumerOptions{}, 1, "malformed", 300);
  for (const auto& h : small.headers) EXPECT_EQ(h.value.find("slc_secret"), std::string::npos);
}

ConsumedMessage Big(std::size_t value_bytes) {
  ConsumedMessage m;
  m.topic = "sluice.release.v1";
  m.partition = 1;
  m.offset = 7;
  m.key = "dep-1";
  m.value = std::string(value_bytes, 'v');
  m.headers = {{"ce_id", "e1"}, {"ce_type", "sluice.v1.ReleaseCreated"}};
  return m;
}

TEST(DeadLetterMessageTest, OversizedValueIsCutToTheBudgetWithSizeAndDigest) {
  ConsumerOptions options;
  options.group_id = "rollout-planner";
  const auto m = Big(1'040'000);
  const auto out = DeadLetterMessage(m, options, 1, "too big to handle");
  EXPECT_LE(RecordSize(out), kDefaultDeadLetterMaxBytes);
  EXPECT_GT(out.value.size(), kDefaultDeadLetterMaxBytes - 1024);  // a prefix, not nothing
  EXPECT_EQ(out.value, m.value.substr(0, out.value.size()));
  EXPECT_EQ(out.key, "dep-1");
  ConsumedMessage got;
  got.headers = out.headers;
  EXPECT_EQ(got.HeaderValue("ce_id"), "e1");
  EXPECT_EQ(got.HeaderValue("ce_type"), "sluice.v1.ReleaseCreated");
  EXPECT_EQ(got.HeaderValue(kDlqReason), "too big to handle");
  EXPECT_EQ(got.HeaderValue(kDlqOriginalOffset), "7");
  EXPECT_EQ(got.HeaderValue(kDlqValueSize), "1040000");
  // sha256 of 1,040,000 'v' bytes (python3 -c "import
  // hashlib;print(hashlib.sha256(b'v'*1040000).hexdigest())")
  EXPECT_EQ(got.HeaderValue(kDlqValueSha256),
            "85fda744e093a71dd148928364f64b7d49a8381c25ce13389e0f7f45aa5923ae");
  EXPECT_EQ(got.HeaderValue(kDlqValueTruncated), "true");
  EXPECT_EQ(got.HeaderValue(kDlqHeadersTruncated), std::nullopt);
}

TEST(DeadLetterMessageTest, RecordWithinTheBudgetIsCopiedWhole) {
  ConsumerOptions options;
  options.dead_letter_max_bytes = 2000;
  const auto out = DeadLetterMessage(Big(1000), options, 1, "r");
  EXPECT_EQ(out.value.size(), 1000u);
  ConsumedMessage got;
  got.headers = out.headers;
  EXPECT_EQ(got.HeaderValue(kDlqValueTruncated), std::nullopt);
  EXPECT_EQ(got.HeaderValue(kDlqValueSize), std::nullopt);
}

TEST(DeadLetterMessageTest, HugeHeadersReasonAndKeyAreBounded) {
  ConsumerOptions options;
  options.dead_letter_max_bytes = 64 * 1024;
  auto m = Big(10);
  m.key = std::string(100'000, 'k');
  for (int i = 0; i < 200; ++i)
    m.headers.push_back({"h" + std::to_string(i), std::string(5000, 'x')});
  const auto out = DeadLetterMessage(m, options, 3, std::string(1'000'000, 'r'));
  EXPECT_LE(RecordSize(out), options.dead_letter_max_bytes);
  EXPECT_EQ(out.key.size(), kDlqMaxKeyBytes);
  ConsumedMessage got;
  got.headers = out.headers;
  EXPECT_EQ(got.HeaderValue(kDlqReason)->size(), kDlqMaxReasonBytes);
  EXPECT_EQ(got.HeaderValue("ce_id"), "e1");
  EXPECT_EQ(got.HeaderValue("h0")->size(), kDlqMaxHeaderValueBytes);
  EXPECT_EQ(got.HeaderValue("h199"), std::nullopt);  // dropped: no room left
  EXPECT_EQ(got.HeaderValue(kDlqHeadersTruncated), "200");
  EXPECT_EQ(out.value, m.value);  // the small value fits in what the headers leave
  EXPECT_EQ(got.HeaderValue(kDlqValueTruncated), std::nullopt);
  EXPECT_EQ(got.HeaderValue(kDlqAttempts), "3");
}

TEST(DeadLetterMessageTest, MinimalCopyKeepsCoordinatesReasonAndDigestOnly) {
  ConsumerOptions options;
  options.group_id = "g";
  const auto out = DeadLetterMessage(Big(1'040'000), options, 1, "refused", 0);
  EXPECT_TRUE(out.value.empty());
  EXPECT_LT(RecordSize(out), 1024u);
  ConsumedMessage got;
  got.headers = out.headers;
  EXPECT_EQ(got.HeaderValue("ce_id"), std::nullopt);
  EXPECT_EQ(got.HeaderValue(kDlqHeadersTruncated), "2");
  EXPECT_EQ(got.HeaderValue(kDlqOriginalTopic), "sluice.release.v1");
  EXPECT_EQ(got.HeaderValue(kDlqOriginalPartition), "1");
  EXPECT_EQ(got.HeaderValue(kDlqConsumerGroup), "g");
  EXPECT_EQ(got.HeaderValue(kDlqValueSize), "1040000");
  EXPECT_EQ(got.HeaderValue(kDlqValueTruncated), "true");
}

TEST(ConsumerNotReadyReasonTest, NotReadyUntilAssignedAndWhenStuckOnOneMessage) {
  const ConsumerStatus::TimePoint now{std::chrono::seconds(1'000'000)};
  ConsumerStatus s;
  s.running = true;
  EXPECT_THAT(ConsumerNotReadyReason(s, now, 120s).value_or(""),
              ::testing::HasSubstr("no partition assignment"));
  s.assigned = true;
  EXPECT_EQ(ConsumerNotReadyReason(s, now, 120s), std::nullopt);
  s.in_hand_since = now - 120s;
  EXPECT_EQ(ConsumerNotReadyReason(s, now, 120s), std::nullopt);
  s.in_hand_since = now - 121s;
  EXPECT_THAT(ConsumerNotReadyReason(s, now, 120s).value_or(""),
              ::testing::HasSubstr("one message for 121 s"));
  s.running = false;
  EXPECT_THAT(ConsumerNotReadyReason(s, now, 120s).value_or(""), ::testing::HasSubstr("stopped"));
}

TEST(ApplyInstanceIdTest, ConfiguredIdElseHostAndHttpPortElseDynamic) {
  KafkaConfig config;
  ApplyInstanceId(config, "executor-0", "0.0.0.0:8084");
  EXPECT_EQ(config.instance_id, "executor-0");
  ApplyInstanceId(config, "", "0.0.0.0:8084");
  EXPECT_THAT(config.instance_id, ::testing::EndsWith(":8084"));
  EXPECT_GT(config.instance_id.size(), std::string(":8084").size());
  ApplyInstanceId(config, "", "127.0.0.1:0");
  EXPECT_EQ(config.instance_id, "");
  ApplyInstanceId(config, "executor-0", "127.0.0.1:8084");
  ApplyInstanceId(config, "none", "127.0.0.1:8084");
  EXPECT_EQ(config.instance_id, "");
  EXPECT_THROW(ApplyInstanceId(config, std::string(201, 'x'), "127.0.0.1:1"), core::ConfigError);
  EXPECT_THROW(ApplyInstanceId(config, "a\nb", "127.0.0.1:1"), core::ConfigError);
}

TEST(ErrorTest, RetryabilityFollowsTheErrorCode) {
  EXPECT_TRUE(internal::IsRetryableCode(RdKafka::ERR__TRANSPORT));
  EXPECT_TRUE(internal::IsRetryableCode(RdKafka::ERR__MSG_TIMED_OUT));
  EXPECT_TRUE(internal::IsRetryableCode(RdKafka::ERR_NOT_LEADER_FOR_PARTITION));
  EXPECT_TRUE(internal::IsRetryableCode(RdKafka::ERR_NOT_ENOUGH_REPLICAS));
  EXPECT_FALSE(internal::IsRetryableCode(RdKafka::ERR_MSG_SIZE_TOO_LARGE));
  EXPECT_FALSE(internal::IsRetryableCode(RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED));
  EXPECT_FALSE(internal::IsRetryableCode(RdKafka::ERR__FATAL));
  EXPECT_FALSE(internal::IsRetryableCode(RdKafka::ERR__INVALID_ARG));
  EXPECT_TRUE(internal::ErrorFor("x", RdKafka::ERR__ALL_BROKERS_DOWN).IsRetryable());
  EXPECT_FALSE(internal::ErrorFor("x", RdKafka::ERR_INVALID_MSG).IsRetryable());
}

TEST(ConfigTest, UnknownPropertyIsANonRetryableError) {
  KafkaConfig config;
  config.extra["no.such.property"] = "1";
  try {
    Producer producer(config);
    FAIL() << "expected KafkaError";
  } catch (const KafkaError& e) {
    EXPECT_FALSE(e.IsRetryable());
    EXPECT_THAT(e.what(), ::testing::HasSubstr("no.such.property"));
  }
}

TEST(ConsumerTest, RejectsBadOptions) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";
  config.close_timeout = 100ms;
  Producer dlq(config);
  const Handler noop = [](const ConsumedMessage&) {};
  EXPECT_THROW(Consumer(config, ConsumerOptions{.group_id = "", .topics = {"t"}}, noop, dlq),
               std::invalid_argument);
  EXPECT_THROW(Consumer(config, ConsumerOptions{.group_id = "g", .topics = {}}, noop, dlq),
               std::invalid_argument);
  EXPECT_THROW(
      Consumer(config, ConsumerOptions{.group_id = "g", .topics = {"t"}, .max_attempts = 0}, noop,
               dlq),
      std::invalid_argument);
}

// --- against the mock cluster --------------------------------------------------------------

// Waits (bounded) for an asynchronous outcome of the consumer thread.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// The offset committed for `group` on partition 0 of `topic` (negative when none).
int64_t Committed(const KafkaConfig& config, const std::string& group, const std::string& topic) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config.brokers, err);
  conf->set("group.id", group, err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  EXPECT_TRUE(c) << err;
  std::vector<RdKafka::TopicPartition*> parts{RdKafka::TopicPartition::create(topic, 0)};
  EXPECT_EQ(c->committed(parts, 5000), RdKafka::ERR_NO_ERROR);
  const int64_t offset = parts[0]->offset();
  RdKafka::TopicPartition::destroy(parts);
  c->close();
  return offset;
}

// Reads `n` records of partition 0 of `topic` from the beginning, without joining a group.
std::vector<ConsumedMessage> ReadTopic(const KafkaConfig& config, const std::string& topic,
                                       size_t n) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config.brokers, err);
  conf->set("group.id", "reader", err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  std::vector<RdKafka::TopicPartition*> parts{
      RdKafka::TopicPartition::create(topic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
  c->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  std::vector<ConsumedMessage> out;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(c->consume(100));
    if (msg->err() != RdKafka::ERR_NO_ERROR) continue;
    ConsumedMessage m;
    m.topic = msg->topic_name();
    m.offset = msg->offset();
    m.key.assign(static_cast<const char*>(msg->key_pointer()), msg->key_len());
    m.value.assign(static_cast<const char*>(msg->payload()), msg->len());
    if (msg->headers() != nullptr) {
      for (const auto& h : msg->headers()->get_all()) {
        m.headers.push_back(
            {h.key(), std::string(static_cast<const char*>(h.value()), h.value_size())});
      }
    }
    out.push_back(std::move(m));
  }
  c->close();
  return out;
}

class MockClusterTest : public ::testing::Test {
 protected:
  MockClusterTest() {
    config_ = cluster_.Config();
    config_.close_timeout = 2s;
    cluster_.CreateTopic(kTopic);
    cluster_.CreateTopic(kDeadLetters);
  }

  ConsumerOptions Options(int max_attempts) const {
    ConsumerOptions o;
    o.group_id = "test-group";
    o.topics = {kTopic};
    o.max_attempts = max_attempts;
    o.retry_backoff = 1ms;
    o.dead_letter_topic = kDeadLetters;
    o.poll_timeout = 20ms;
    return o;
  }

  void Produce(const std::vector<std::string>& values) {
    std::vector<OutgoingMessage> out;
    for (const auto& v : values) out.push_back({kTopic, "k", v, {{"ce_id", "id-" + v}}});
    producer_.ProduceSync(out, 5s);
  }

  static constexpr const char* kTopic = "sluice.test.v1";
  static constexpr const char* kDeadLetters = "sluice.deadletter.v1";
  testing::MockCluster cluster_;
  KafkaConfig config_;
  Producer producer_{cluster_.Config()};
};

TEST_F(MockClusterTest, TransientFailuresAreRetriedThenProcessedOnce) {
  Produce({"a", "b"});
  std::mutex mu;
  std::map<std::string, int> calls;
  Consumer consumer(
      config_, Options(5),
      [&](const ConsumedMessage& m) {
        std::lock_guard lock(mu);
        if (++calls[m.value] <= 2 && m.value == "a") throw std::runtime_error("db busy");
      },
      producer_);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() == 2; }));
  consumer.Stop();
  EXPECT_FALSE(consumer.Running());
  EXPECT_EQ(calls["a"], 3);
  EXPECT_EQ(calls["b"], 1);
  EXPECT_EQ(consumer.Retries(), 2u);
  EXPECT_EQ(consumer.DeadLettered(), 0u);
  EXPECT_EQ(Committed(config_, "test-group", kTopic), 2);
}

TEST_F(MockClusterTest, AlwaysFailingMessageIsDeadLetteredAndTheNextOneProcessed) {
  Produce({"poison", "good"});
  std::mutex mu;
  std::map<std::string, int> calls;
  Consumer consumer(
      config_, Options(3),
      [&](const ConsumedMessage& m) {
        std::lock_guard lock(mu);
        ++calls[m.value];
        if (m.value == "poison") throw std::runtime_error("cannot parse");
      },
      producer_);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() == 1; }));
  consumer.Stop();
  EXPECT_EQ(calls["poison"], 3);
  EXPECT_EQ(calls["good"], 1);
  EXPECT_EQ(consumer.Retries(), 2u);
  EXPECT_EQ(consumer.DeadLettered(), 1u);
  EXPECT_EQ(Committed(config_, "test-group", kTopic), 2);

  const auto dlq = ReadTopic(config_, kDeadLetters, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "k");
  EXPECT_EQ(dlq[0].value, "poison");
  EXPECT_EQ(dlq[0].HeaderValue("ce_id"), "id-poison");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_reason"), "cannot parse");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_original_topic"), kTopic);
  EXPECT_EQ(dlq[0].HeaderValue("dlq_original_partition"), "0");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_original_offset"), "0");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_consumer_group"), "test-group");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_attempts"), "3");
}

TEST_F(MockClusterTest, PermanentErrorIsDeadLetteredWithoutRetry) {
  Produce({"bad", "fine"});
  std::atomic<int> bad_calls{0};
  Consumer consumer(
      config_, Options(5),
      [&](const ConsumedMessage& m) {
        if (m.value == "bad") {
          ++bad_calls;
          throw PermanentError("unknown schema version 9");
        }
      },
      producer_);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() == 1; }));
  consumer.Stop();
  EXPECT_EQ(bad_calls.load(), 1);
  EXPECT_EQ(consumer.Retries(), 0u);
  EXPECT_EQ(consumer.DeadLettered(), 1u);
  const auto dlq = ReadTopic(config_, kDeadLetters, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].HeaderValue("dlq_reason"), "unknown schema version 9");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_attempts"), "1");
}

TEST_F(MockClusterTest, RefusedDeadLetterFallsBackToTheMinimalCopy) {
  Produce({"bad", "fine"});
  Consumer consumer(
      config_, Options(1),
      [&](const ConsumedMessage& m) {
        if (m.value == "bad") throw PermanentError("bad record");
      },
      producer_);
  cluster_.FailNextProduceRequests({RdKafka::ERR_MSG_SIZE_TOO_LARGE});
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() == 1; }));
  consumer.Stop();
  EXPECT_EQ(consumer.DeadLettered(), 1u);
  EXPECT_EQ(consumer.DeadLetterDropped(), 0u);
  const auto dlq = ReadTopic(config_, kDeadLetters, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].value, "");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqValueSize), "3");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqReason), "bad record");
  EXPECT_EQ(Committed(config_, "test-group", kTopic), 2);
}

TEST_F(MockClusterTest, DeadLetterRefusedTwiceIsPassedOverNotRetriedForever) {
  Produce({"bad", "fine"});
  Consumer consumer(
      config_, Options(1),
      [&](const ConsumedMessage& m) {
        if (m.value == "bad") throw PermanentError("bad record");
      },
      producer_);
  cluster_.FailNextProduceRequests(
      {RdKafka::ERR_MSG_SIZE_TOO_LARGE, RdKafka::ERR_MSG_SIZE_TOO_LARGE});
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() == 1; }));
  consumer.Stop();
  EXPECT_EQ(consumer.DeadLettered(), 0u);
  EXPECT_EQ(consumer.DeadLetterDropped(), 1u);
  EXPECT_EQ(Committed(config_, "test-group", kTopic), 2);
}

// Produces `value` to `partition` of `topic` (the Producer picks partitions by key).
void ProduceTo(const KafkaConfig& config, const std::string& topic, int partition,
               const std::string& value) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config.brokers, err);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  ASSERT_TRUE(p) << err;
  ASSERT_EQ(p->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY,
                       const_cast<char*>(value.data()), value.size(), nullptr, 0, 0, nullptr),
            RdKafka::ERR_NO_ERROR);
  ASSERT_EQ(p->flush(5000), RdKafka::ERR_NO_ERROR);
}

TEST_F(MockClusterTest, OtherPartitionsGoOnWhileAFailingMessageWaitsForItsRetry) {
  const std::string topic = "sluice.test-two.v1";
  cluster_.CreateTopic(topic, 2);
  auto options = Options(3);
  options.topics = {topic};
  options.retry_backoff = 1500ms;  // in-line retries would hold every partition 1.5 s + 3 s
  std::mutex mu;
  std::vector<std::string> order;
  std::map<std::string, int> poison_calls_when;  // value -> poison attempts made when handled
  std::atomic<int> poison_calls{0};
  std::atomic<uint64_t> dead_lettered_when_after{99};
  Consumer* self = nullptr;
  Consumer consumer(
      config_, options,
      [&](const ConsumedMessage& m) {
        if (m.value == "poison") {
          ++poison_calls;
          throw std::runtime_error("dependency down");
        }
        std::lock_guard lock(mu);
        order.push_back(m.value);
        poison_calls_when[m.value] = poison_calls.load();
        if (m.value == "p0-after") dead_lettered_when_after = self->DeadLettered();
      },
      producer_);
  self = &consumer;
  ProduceTo(config_, topic, 0, "poison");
  ProduceTo(config_, topic, 0, "p0-after");
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return poison_calls.load() >= 1; }));
  ProduceTo(config_, topic, 1, "p1-good");
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() == 2; }));
  consumer.Stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<std::string>{"p1-good", "p0-after"}));
  EXPECT_LT(poison_calls_when["p1-good"], 3) << "partition 1 waited for partition 0's poison";
  EXPECT_EQ(dead_lettered_when_after.load(), 1u) << "partition 0 kept its order";
  EXPECT_EQ(poison_calls.load(), 3);
  EXPECT_EQ(consumer.Retries(), 2u);
  EXPECT_EQ(consumer.DeadLettered(), 1u);
}

TEST_F(MockClusterTest, StatusSaysAssignedOnlyOnceTheGroupAssignedPartitions) {
  Consumer consumer(
      config_, Options(1), [](const ConsumedMessage&) {}, producer_);
  EXPECT_FALSE(consumer.Status().assigned);
  EXPECT_FALSE(consumer.Status().running);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Status().assigned; }));
  EXPECT_EQ(consumer.Status().partitions, 1);
  EXPECT_TRUE(consumer.Status().running);
  EXPECT_FALSE(consumer.Status().in_hand_since.has_value());
  consumer.Stop();
}

TEST_F(MockClusterTest, ProduceSyncDeliversHeadersAndKey) {
  producer_.ProduceSync({{kTopic, "dep-7", "v1", {{"ce_type", "x"}, {"ce_type", "y"}}}}, 5s);
  const auto got = ReadTopic(config_, kTopic, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].key, "dep-7");
  EXPECT_EQ(got[0].value, "v1");
  EXPECT_THAT(got[0].headers, ElementsAre(Header{"ce_type", "x"}, Header{"ce_type", "y"}));
}

// One record Kafka will never take (over message.max.bytes) is reported on its own: the
// messages around it are delivered.
TEST_F(MockClusterTest, ProduceEachRejectsAnOversizedRecordAndDeliversTheOthers) {
  const auto results = producer_.ProduceEach({{kTopic, "k", "a", {}},
                                              {kTopic, "k", std::string(1'100'000, 'x'), {}},
                                              {kTopic, "other", "b", {}}},
                                             5s);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status, Delivery::Status::kDelivered) << results[0].error;
  EXPECT_EQ(results[1].status, Delivery::Status::kRejected);
  EXPECT_NE(results[1].error.find("too large"), std::string::npos) << results[1].error;
  EXPECT_NE(results[1].error.find(kTopic), std::string::npos) << results[1].error;
  EXPECT_EQ(results[2].status, Delivery::Status::kDelivered) << results[2].error;
  const auto got = ReadTopic(config_, kTopic, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].value, "a");
  EXPECT_EQ(got[1].value, "b");
}

TEST(ProducerTest, ProduceEachToAnUnreachableBrokerFailsEachRetryablyWithinTheTimeout) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";
  config.close_timeout = 100ms;
  Producer producer(config);
  const auto start = std::chrono::steady_clock::now();
  const auto results = producer.ProduceEach(
      {{"sluice.test.v1", "k", "v", {}}, {"sluice.test.v1", "j", "w", {}}}, 300ms);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status, Delivery::Status::kFailed);
    EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(ProducerTest, UnreachableBrokerThrowsRetryableWithinTheTimeout) {
  KafkaConfig config;
  config.brokers = "127.0.0.1:1";
  config.close_timeout = 100ms;
  Producer producer(config);
  const auto start = std::chrono::steady_clock::now();
  try {
    producer.ProduceSync({{"sluice.test.v1", "k", "v", {}}}, 500ms);
    FAIL() << "expected KafkaError";
  } catch (const KafkaError& e) {
    EXPECT_TRUE(e.IsRetryable()) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

}  // namespace
}  // namespace sluice::kafka
