// Integration tests against the real broker at SLUICE_KAFKA_BROKERS (default 127.0.0.1:19092).
// Every test works on topics and groups of its own (random suffix), so runs never interfere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sluice/core/ids.hpp>
#include <sluice/kafka/kafka.hpp>
#include <sluice/testing/process.hpp>
#include <thread>

namespace sluice::kafka {
namespace {

using namespace std::chrono_literals;

KafkaConfig StackConfig() {
  KafkaConfig config;
  if (const char* brokers = std::getenv("SLUICE_KAFKA_BROKERS"); brokers && *brokers) {
    config.brokers = brokers;
  }
  config.client_id = "sluice-itest";
  return config;
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Records what a handler saw, thread-safely.
struct Seen {
  std::mutex mu;
  std::vector<ConsumedMessage> messages;
  void Add(const ConsumedMessage& m) {
    std::lock_guard lock(mu);
    messages.push_back(m);
  }
  std::vector<ConsumedMessage> Get() {
    std::lock_guard lock(mu);
    return messages;
  }
  std::vector<std::string> Values() {
    std::vector<std::string> out;
    for (const auto& m : Get()) out.push_back(m.value);
    return out;
  }
};

// Reads `n` records of a one-partition topic from the beginning, without joining a group.
std::vector<ConsumedMessage> ReadTopic(const KafkaConfig& config, const std::string& topic,
                                       size_t n, std::chrono::milliseconds timeout = 20s) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config.brokers, err);
  conf->set("group.id", "sluice-itest-reader-" + core::NewUuid(), err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  std::vector<RdKafka::TopicPartition*> parts{
      RdKafka::TopicPartition::create(topic, 0, RdKafka::Topic::OFFSET_BEGINNING)};
  c->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  std::vector<ConsumedMessage> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(c->consume(100));
    if (msg->err() != RdKafka::ERR_NO_ERROR) continue;
    ConsumedMessage m;
    m.topic = msg->topic_name();
    m.partition = msg->partition();
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

int PartitionCount(const KafkaConfig& config, const std::string& topic) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config.brokers, err);
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  RdKafka::Metadata* raw = nullptr;
  if (p->metadata(true, nullptr, &raw, 10000) != RdKafka::ERR_NO_ERROR) return -1;
  std::unique_ptr<RdKafka::Metadata> md(raw);
  for (const auto* t : *md->topics()) {
    if (t->topic() == topic) return static_cast<int>(t->partitions()->size());
  }
  return -1;
}

class KafkaIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = StackConfig();
    suffix_ = core::NewUuid().substr(0, 8);
    topic_ = "sluice.itest." + suffix_ + ".v1";
    dead_letters_ = "sluice.itest-deadletter." + suffix_ + ".v1";
    group_ = "sluice-itest-" + suffix_;
    try {
      EnsureTopics(config_, {topic_, dead_letters_}, 1, 1, 20s);
    } catch (const KafkaError& e) {
      FAIL() << "Kafka at " << config_.brokers
             << " is not usable (start the stack: bash scripts/stack.sh up): " << e.what();
    }
    producer_ = std::make_unique<Producer>(config_);
  }

  ConsumerOptions Options(int max_attempts = 3) const {
    ConsumerOptions o;
    o.group_id = group_;
    o.topics = {topic_};
    o.max_attempts = max_attempts;
    o.retry_backoff = 10ms;
    o.dead_letter_topic = dead_letters_;
    return o;
  }

  void ProduceValues(const std::vector<std::string>& values) {
    std::vector<OutgoingMessage> out;
    for (const auto& v : values) out.push_back({topic_, "dep-1", v, {{"ce_id", "id-" + v}}});
    producer_->ProduceSync(out, 20s);
  }

  KafkaConfig config_;
  std::string suffix_, topic_, dead_letters_, group_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(KafkaIntegrationTest, EnsureTopicsCreatesMissingTopicsAndIsIdempotent) {
  const std::string a = "sluice.itest-ensure-a." + suffix_ + ".v1";
  const std::string b = "sluice.itest-ensure-b." + suffix_ + ".v1";
  EnsureTopics(config_, {a}, 3, 1);
  EnsureTopics(config_, {a, b}, 2, 1);  // a exists: left as it is
  EnsureTopics(config_, {a, b}, 3, 1);
  EXPECT_EQ(PartitionCount(config_, a), 3);
  EXPECT_EQ(PartitionCount(config_, b), 2);
}

TEST_F(KafkaIntegrationTest, EnsureTopicsRejectsAnImpossibleTopic) {
  try {
    EnsureTopics(config_, {"sluice.itest-bad." + suffix_}, 1, 7, 10s);
    FAIL() << "expected KafkaError for replication factor 7 on a one-broker cluster";
  } catch (const KafkaError& e) {
    EXPECT_FALSE(e.IsRetryable()) << e.what();
  }
}

TEST_F(KafkaIntegrationTest, ProducedHeadersComeBackAndAKeyKeepsItsPartition) {
  const std::string topic = "sluice.itest-keys." + suffix_ + ".v1";
  EnsureTopics(config_, {topic}, 3, 1);
  std::vector<OutgoingMessage> out;
  for (int i = 0; i < 12; ++i) {
    const std::string key = "dep-" + std::to_string(i % 4);
    out.push_back({topic,
                   key,
                   "value-" + std::to_string(i),
                   {{"ce_id", "id-" + std::to_string(i)},
                    {"ce_type", "sluice.v1.BatchRequested"},
                    {"dup", "first"},
                    {"dup", "last"},
                    {"binary", std::string("a\0b", 3)}}});
  }
  producer_->ProduceSync(out, 20s);

  Seen seen;
  auto options = Options();
  options.topics = {topic};
  Consumer consumer(
      config_, options, [&](const ConsumedMessage& m) { seen.Add(m); }, *producer_);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() >= 12; }))
      << "processed " << consumer.Processed();
  consumer.Stop();

  const auto got = seen.Get();
  ASSERT_EQ(got.size(), 12u);
  std::map<std::string, std::set<int32_t>> partitions_by_key;
  std::map<std::string, std::vector<std::string>> order_by_key;
  for (const auto& m : got) {
    partitions_by_key[m.key].insert(m.partition);
    order_by_key[m.key].push_back(m.value);
    const std::string i = m.value.substr(6);
    EXPECT_EQ(m.HeaderValue("ce_id"), "id-" + i);
    EXPECT_EQ(m.HeaderValue("ce_type"), "sluice.v1.BatchRequested");
    EXPECT_EQ(m.HeaderValue("dup"), "last");
    EXPECT_EQ(m.HeaderValue("binary"), std::string("a\0b", 3));
    EXPECT_EQ(m.headers.size(), 5u);
    EXPECT_GT(m.timestamp_ms, 0);
  }
  ASSERT_EQ(partitions_by_key.size(), 4u);
  for (const auto& [key, parts] : partitions_by_key) EXPECT_EQ(parts.size(), 1u) << key;
  for (int k = 0; k < 4; ++k) {
    const auto key = "dep-" + std::to_string(k);
    EXPECT_EQ(order_by_key[key], (std::vector<std::string>{"value-" + std::to_string(k),
                                                           "value-" + std::to_string(k + 4),
                                                           "value-" + std::to_string(k + 8)}))
        << "in order within the key";
  }
}

TEST_F(KafkaIntegrationTest, PoisonMessageIsDeadLetteredAndTheNextOneProcessed) {
  ProduceValues({"ok-1", "poison", "ok-2"});
  Seen seen;
  std::atomic<int> poison_calls{0};
  Consumer consumer(
      config_, Options(3),
      [&](const ConsumedMessage& m) {
        if (m.value == "poison") {
          ++poison_calls;
          throw std::runtime_error("payload does not parse");
        }
        seen.Add(m);
      },
      *producer_);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() >= 2; }));
  consumer.Stop();
  EXPECT_EQ(seen.Values(), (std::vector<std::string>{"ok-1", "ok-2"}));
  EXPECT_EQ(poison_calls.load(), 3);
  EXPECT_EQ(consumer.DeadLettered(), 1u);
  EXPECT_EQ(consumer.Retries(), 2u);

  const auto dlq = ReadTopic(config_, dead_letters_, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "dep-1");
  EXPECT_EQ(dlq[0].value, "poison");
  EXPECT_EQ(dlq[0].HeaderValue("ce_id"), "id-poison");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_reason"), "payload does not parse");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_original_topic"), topic_);
  EXPECT_EQ(dlq[0].HeaderValue("dlq_original_partition"), "0");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_original_offset"), "1");
  EXPECT_EQ(dlq[0].HeaderValue("dlq_consumer_group"), group_);
  EXPECT_EQ(dlq[0].HeaderValue("dlq_attempts"), "3");
}

TEST_F(KafkaIntegrationTest, OversizedRecordIsDeadLetteredCutWithItsDigestAndTheNextOneProcessed) {
  // A record close to the broker's 1 MB limit (written by a producer allowed bigger messages):
  // its whole copy plus the dlq_* headers would be refused by the dead-letter producer.
  KafkaConfig big = config_;
  big.extra["message.max.bytes"] = "2000000";
  Producer big_producer(big);
  const std::string huge(1'040'000, 'x');
  big_producer.ProduceSync({{topic_, "dep-1", huge, {{"ce_id", "id-huge"}}}}, 20s);
  ProduceValues({"ok-after"});

  Seen seen;
  Consumer consumer(
      config_, Options(3),
      [&](const ConsumedMessage& m) {
        if (m.value.size() > 1000) throw PermanentError("record too large to handle");
        seen.Add(m);
      },
      *producer_);
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() >= 1; }, 30s))
      << "the consumer is wedged behind the oversized record";
  consumer.Stop();
  EXPECT_EQ(seen.Values(), (std::vector<std::string>{"ok-after"}));
  EXPECT_EQ(consumer.DeadLettered(), 1u);
  EXPECT_EQ(consumer.DeadLetterDropped(), 0u);

  const auto dlq = ReadTopic(config_, dead_letters_, 1);
  ASSERT_EQ(dlq.size(), 1u);
  EXPECT_EQ(dlq[0].key, "dep-1");
  EXPECT_GT(dlq[0].value.size(), 0u);
  EXPECT_LE(dlq[0].value.size(), kDefaultDeadLetterMaxBytes);
  EXPECT_EQ(dlq[0].value, huge.substr(0, dlq[0].value.size()));
  EXPECT_EQ(dlq[0].HeaderValue("ce_id"), "id-huge");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqReason), "record too large to handle");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqOriginalOffset), "0");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqValueSize), "1040000");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqValueSha256),
            "8fa63d2cd688e4eebbb053ca4be2c42de54dc029898b8179dde38877e5c2a3ee");
  EXPECT_EQ(dlq[0].HeaderValue(kDlqValueTruncated), "true");
}

TEST_F(KafkaIntegrationTest, ConsumerIsNotReadyUntilItsGroupAssignedItsPartitions) {
  Consumer consumer(
      config_, Options(), [](const ConsumedMessage&) {}, *producer_);
  const auto now = [] { return std::chrono::system_clock::now(); };
  EXPECT_THAT(ConsumerNotReadyReason(consumer.Status(), now(), 120s).value_or(""),
              ::testing::HasSubstr("stopped"));
  consumer.Start();
  // Joining takes a coordinator lookup and a JoinGroup / SyncGroup round: not done yet.
  EXPECT_THAT(ConsumerNotReadyReason(consumer.Status(), now(), 120s).value_or(""),
              ::testing::HasSubstr("no partition assignment"));
  ASSERT_TRUE(Eventually([&] { return consumer.Status().assigned; }, 30s));
  EXPECT_EQ(consumer.Status().partitions, 1);
  EXPECT_EQ(ConsumerNotReadyReason(consumer.Status(), now(), 120s), std::nullopt);
  consumer.Stop();
}

// A group that starts at "latest" starts there once: a member that got the partition and went
// away before committing anything (a kill -9, a session timeout) leaves the next owner where
// the first one started, not at the end as it is by then (found by the chaos suite: a
// RevertRequested produced in between was never handled).
TEST_F(KafkaIntegrationTest, ALatestGroupDoesNotSkipWhatCameBetweenTwoOwners) {
  KafkaConfig latest = config_;
  latest.consumer_start = "latest";
  Seen first_seen;
  {
    Consumer first(
        latest, Options(), [&](const ConsumedMessage& m) { first_seen.Add(m); }, *producer_);
    first.Start();
    ASSERT_TRUE(Eventually([&] { return first.Status().assigned; }, 30s));
    first.Stop();  // nothing handled, so nothing of its own to commit
  }
  producer_->ProduceSync({{topic_, "k", "between the owners", {}}}, 10s);
  Seen second_seen;
  Consumer second(
      latest, Options(), [&](const ConsumedMessage& m) { second_seen.Add(m); }, *producer_);
  second.Start();
  EXPECT_TRUE(Eventually([&] { return !second_seen.Get().empty(); }, 30s))
      << "the record produced between the two owners was skipped";
  second.Stop();
  EXPECT_EQ(second_seen.Values(), std::vector<std::string>{"between the owners"});
  EXPECT_TRUE(first_seen.Get().empty());
}

TEST_F(KafkaIntegrationTest, AFailingMessageHoldsOnlyItsOwnPartition) {
  const std::string topic = "sluice.itest-two." + suffix_ + ".v1";
  EnsureTopics(config_, {topic}, 2, 1);
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config_.brokers, err);
  std::unique_ptr<RdKafka::Producer> raw(RdKafka::Producer::create(conf.get(), err));
  const auto produce_to = [&](int partition, std::string value) {
    ASSERT_EQ(raw->produce(topic, partition, RdKafka::Producer::RK_MSG_COPY, value.data(),
                           value.size(), nullptr, 0, 0, nullptr),
              RdKafka::ERR_NO_ERROR);
    ASSERT_EQ(raw->flush(10000), RdKafka::ERR_NO_ERROR);
  };
  auto options = Options(3);
  options.topics = {topic};
  options.retry_backoff = 2s;  // retried in line, this would hold partition 1 for 2 s + 4 s
  std::atomic<int> poison_calls{0};
  std::mutex mu;
  std::vector<std::pair<std::string, int>> order;  // value, poison attempts made by then
  Consumer consumer(
      config_, options,
      [&](const ConsumedMessage& m) {
        if (m.value == "poison") {
          ++poison_calls;
          throw std::runtime_error("dependency down");
        }
        std::lock_guard lock(mu);
        order.emplace_back(m.value, poison_calls.load());
      },
      *producer_);
  produce_to(0, "poison");
  produce_to(0, "p0-after");
  consumer.Start();
  ASSERT_TRUE(Eventually([&] { return poison_calls.load() >= 1; }, 30s));
  produce_to(1, "p1-good");
  ASSERT_TRUE(Eventually([&] { return consumer.Processed() >= 2; }, 30s));
  consumer.Stop();
  std::lock_guard lock(mu);
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0].first, "p1-good");
  EXPECT_LT(order[0].second, 3) << "partition 1 waited for partition 0's failing message";
  EXPECT_EQ(order[1], (std::pair<std::string, int>{"p0-after", 3}))
      << "partition 0 keeps its order: after the poison's last attempt";
  EXPECT_EQ(consumer.DeadLettered(), 1u);
}

// Whether kafka-consumer-child wrote a line for a record with this value.
bool FileHasRecord(const std::string& path, const std::string& value) {
  std::ifstream in(path);
  std::string line;
  const std::string tail = " " + value;
  while (std::getline(in, line)) {
    if (line.size() >= tail.size() &&
        line.compare(line.size() - tail.size(), tail.size(), tail) == 0) {
      return true;
    }
  }
  return false;
}

TEST_F(KafkaIntegrationTest, StaticMemberKilledAndRestartedHandlesTheNextEventWithinFiveSeconds) {
  const std::string out = "/tmp/sluice-kafka-itest-" + suffix_ + ".out";
  const std::string id = "itest-replica-" + suffix_;
  const auto start = [&] {
    return std::make_unique<sluice::testing::ChildProcess>(
        std::vector<std::string>{SLUICE_KAFKA_CONSUMER_CHILD, config_.brokers, topic_, group_, id,
                                 out},
        std::map<std::string, std::string>{}, out + ".log");
  };
  auto child = start();
  ProduceValues({"before-crash"});
  ASSERT_TRUE(Eventually([&] { return FileHasRecord(out, "before-crash"); }, 60s))
      << child->LogTail();
  child->Kill();  // SIGKILL: no commit, no LeaveGroup; the member stays in the group
  const auto killed = std::chrono::steady_clock::now();
  child = start();
  ProduceValues({"after-crash"});
  ASSERT_TRUE(Eventually([&] { return FileHasRecord(out, "after-crash"); }, 60s))
      << child->LogTail();
  const auto took = std::chrono::steady_clock::now() - killed;
  EXPECT_LT(took, 5s) << "kill -9 to the first event handled by the restarted replica took "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  EXPECT_EQ(child->Terminate(), 0) << child->LogTail();
  std::remove(out.c_str());
  std::remove((out + ".log").c_str());
}

// Takes static member `instance_id`'s place in `group` with a plain client, as a second process
// with the same id (or the member's own session expiring while the broker was away) would: the
// group fences the member it had. Returns once this client holds the assignment.
void TakeStaticMembersPlace(const KafkaConfig& config, const std::string& group,
                            const std::string& topic, const std::string& instance_id) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", config.brokers, err);
  conf->set("group.id", group, err);
  conf->set("group.instance.id", instance_id, err);
  conf->set("enable.auto.commit", "false", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  ASSERT_TRUE(c) << err;
  ASSERT_EQ(c->subscribe({topic}), RdKafka::ERR_NO_ERROR);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::vector<RdKafka::TopicPartition*> held;
  while (held.empty() && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(c->consume(200));
    RdKafka::TopicPartition::destroy(held);
    c->assignment(held);
  }
  EXPECT_FALSE(held.empty()) << "the second client never got the partition";
  RdKafka::TopicPartition::destroy(held);
  // Destroyed without close(): a static member leaves no LeaveGroup behind, like a kill -9.
}

// Found by the chaos suite: a broker away for longer than the session made the group fence every
// static member, librdkafka reports that as fatal, and each service's consumer stopped for good.
// A member fenced once takes its place again with a new client and goes on.
TEST_F(KafkaIntegrationTest, AStaticMemberFencedOnceRejoinsAndGoesOnConsuming) {
  KafkaConfig config = config_;
  config.instance_id = "itest-fenced-" + suffix_;
  Seen seen;
  Consumer consumer(
      config, Options(), [&](const ConsumedMessage& m) { seen.Add(m); }, *producer_);
  consumer.Start();
  ProduceValues({"before"});
  ASSERT_TRUE(Eventually([&] { return seen.Values().size() == 1; }, 30s));
  TakeStaticMembersPlace(config_, group_, topic_, config.instance_id);
  ASSERT_TRUE(Eventually([&] { return consumer.Rejoins() == 1; }, 30s))
      << "the member was not fenced, or did not rejoin";
  ProduceValues({"after"});
  EXPECT_TRUE(Eventually(
      [&] {
        const auto v = seen.Values();
        return std::find(v.begin(), v.end(), "after") != v.end();
      },
      60s))
      << "the fenced member stopped consuming";
  EXPECT_TRUE(consumer.Running());
  consumer.Stop();
}

// Two live consumers with one instance id would fence each other for ever: the second fence
// within the quiet period stops one of them (saying why), and the other goes on.
TEST_F(KafkaIntegrationTest, TwoLiveConsumersWithOneInstanceIdLeaveOneConsuming) {
  KafkaConfig config = config_;
  config.instance_id = "itest-twin-" + suffix_;
  Seen seen_a, seen_b;
  Consumer a(
      config, Options(), [&](const ConsumedMessage& m) { seen_a.Add(m); }, *producer_);
  a.Start();
  ASSERT_TRUE(Eventually([&] { return a.Status().assigned; }, 30s));
  Consumer b(
      config, Options(), [&](const ConsumedMessage& m) { seen_b.Add(m); }, *producer_);
  b.Start();
  ASSERT_TRUE(Eventually([&] { return !a.Running() || !b.Running(); }, 90s))
      << "the twins are still fencing each other: rejoins " << a.Rejoins() << " and "
      << b.Rejoins();
  Consumer& left = a.Running() ? a : b;
  Seen& left_seen = a.Running() ? seen_a : seen_b;
  ProduceValues({"to the one left"});
  EXPECT_TRUE(Eventually(
      [&] {
        const auto v = left_seen.Values();
        return std::find(v.begin(), v.end(), "to the one left") != v.end();
      },
      60s));
  EXPECT_TRUE(left.Running());
  a.Stop();
  b.Stop();
}

std::vector<std::string> Range(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back("m" + std::to_string(i));
  return out;
}

// Stops consumer 1 while message `n` is in the handler and starts consumer 2 in the same group.
// `finish_in_flight` decides whether the in-hand message returns normally (its offset stored) or
// keeps failing (it is retried, the stop interrupts the backoff, its offset is not stored).
// Returns what consumer 2 saw.
class RestartTest : public KafkaIntegrationTest {
 protected:
  std::vector<std::string> RunAndRestart(int n, int m, bool finish_in_flight,
                                         std::vector<std::string>* first_run) {
    ProduceValues(Range(0, m));
    const std::string stop_at = "m" + std::to_string(n);
    Seen seen1;
    std::mutex mu;
    std::condition_variable cv;
    bool in_flight = false;
    bool release = false;
    auto options = Options(5);
    options.retry_backoff = 30s;  // a failing in-hand message waits here until Stop()
    {
      Consumer consumer(
          config_, options,
          [&](const ConsumedMessage& msg) {
            seen1.Add(msg);
            if (msg.value != stop_at) return;
            std::unique_lock lock(mu);
            in_flight = true;
            cv.notify_all();
            cv.wait(lock, [&] { return release; });
            if (!finish_in_flight) throw std::runtime_error("dependency down");
          },
          *producer_);
      consumer.Start();
      {
        std::unique_lock lock(mu);
        EXPECT_TRUE(cv.wait_for(lock, 60s, [&] { return in_flight; }));
      }
      std::thread stopper([&] { consumer.Stop(); });
      std::this_thread::sleep_for(300ms);  // Stop() is now waiting for the message in hand
      EXPECT_TRUE(consumer.Running()) << "Stop() must wait for the handler";
      {
        std::lock_guard lock(mu);
        release = true;
      }
      cv.notify_all();
      stopper.join();
      EXPECT_FALSE(consumer.Running());
      EXPECT_EQ(consumer.DeadLettered(), 0u);
    }
    *first_run = seen1.Values();

    Seen seen2;
    Consumer consumer(
        config_, Options(5), [&](const ConsumedMessage& msg) { seen2.Add(msg); }, *producer_);
    consumer.Start();
    const std::string last = "m" + std::to_string(m - 1);
    EXPECT_TRUE(Eventually([&] {
      const auto v = seen2.Values();
      return !v.empty() && v.back() == last;
    })) << "consumer 2 never reached the last message";
    consumer.Stop();
    return seen2.Values();
  }
};

TEST_F(RestartTest, ResumesAfterTheLastMessageWhoseHandlerReturned) {
  std::vector<std::string> first;
  const auto second = RunAndRestart(4, 10, /*finish_in_flight=*/true, &first);
  EXPECT_EQ(first, Range(0, 5));
  EXPECT_EQ(second, Range(5, 10)) << "nothing skipped, nothing processed twice";
}

TEST_F(RestartTest, AnInterruptedInFlightMessageIsRedeliveredAndNothingSkipped) {
  std::vector<std::string> first;
  const auto second = RunAndRestart(4, 10, /*finish_in_flight=*/false, &first);
  EXPECT_EQ(first, Range(0, 5));
  EXPECT_EQ(second, Range(4, 10)) << "only the in-flight message is seen again";
}

}  // namespace
}  // namespace sluice::kafka
