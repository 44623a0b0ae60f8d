#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <set>
#include <sluice/core/logging.hpp>
#include <sluice/kafka/admin.hpp>
#include <thread>

#include "rd_util.hpp"

namespace sluice::kafka {

namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(left, 1));
}

// Per topic: true when it exists and every partition has a leader.
std::map<std::string, bool> TopicStates(RdKafka::Producer& client, Clock::time_point deadline) {
  RdKafka::Metadata* raw = nullptr;
  const auto err = client.metadata(true, nullptr, &raw, RemainingMs(deadline));
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) throw internal::ErrorFor("kafka metadata", err);
  std::map<std::string, bool> states;
  for (const auto* topic : *metadata->topics()) {
    if (topic->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) continue;
    bool ready = topic->err() == RdKafka::ERR_NO_ERROR && !topic->partitions()->empty();
    for (const auto* p : *topic->partitions()) ready = ready && p->leader() >= 0;
    states[topic->topic()] = ready;
  }
  return states;
}

struct AdminDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};

void CreateTopics(RdKafka::Producer& client, const std::vector<std::string>& topics, int partitions,
                  int replication_factor, Clock::time_point deadline) {
  rd_kafka_t* rk = client.c_ptr();
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  char errstr[512];
  for (const auto& name : topics) {
    rd_kafka_NewTopic_t* t =
        rd_kafka_NewTopic_new(name.c_str(), partitions, replication_factor, errstr, sizeof errstr);
    if (t == nullptr) {
      rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());
      throw KafkaError("kafka topic " + name + ": " + errstr, false);
    }
    new_topics.push_back(t);
  }
  std::unique_ptr<rd_kafka_AdminOptions_t, AdminDeleter> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), RemainingMs(deadline), errstr,
                                            sizeof errstr);
  rd_kafka_AdminOptions_set_operation_timeout(options.get(), RemainingMs(deadline), errstr,
                                              sizeof errstr);
  std::unique_ptr<rd_kafka_queue_t, AdminDeleter> queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, new_topics.data(), new_topics.size(), options.get(), queue.get());
  rd_kafka_NewTopic_destroy_array(new_topics.data(), new_topics.size());

  std::unique_ptr<rd_kafka_event_t, AdminDeleter> event(
      rd_kafka_queue_poll(queue.get(), RemainingMs(deadline) + 1000));
  if (!event) throw KafkaError("kafka create topics: no answer before the deadline", true);
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw internal::ErrorFor(
        std::string("kafka create topics: ") + rd_kafka_event_error_string(event.get()),
        static_cast<RdKafka::ErrorCode>(rd_kafka_event_error(event.get())));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const auto err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      continue;
    }
    const char* why = rd_kafka_topic_result_error_string(results[i]);
    throw internal::ErrorFor(std::string("kafka create topic ") +
                                 rd_kafka_topic_result_name(results[i]) + ": " +
                                 (why != nullptr ? why : ""),
                             static_cast<RdKafka::ErrorCode>(err));
  }
}

}  // namespace

void EnsureTopics(const KafkaConfig& config, const std::vector<std::string>& topics, int partitions,
                  int replication_factor, std::chrono::milliseconds timeout) {
  if (topics.empty()) return;
  const auto deadline = Clock::now() + timeout;
  internal::LogEvents events("admin");
  auto conf = internal::MakeConf(config, {}, {});
  std::string err;
  conf->set("event_cb", static_cast<RdKafka::EventCb*>(&events), err);
  std::unique_ptr<RdKafka::Producer> client(RdKafka::Producer::create(conf.get(), err));
  if (!client) throw KafkaError("kafka admin client: " + err, false);

  auto states = TopicStates(*client, deadline);
  std::vector<std::string> missing;
  for (const auto& t : std::set<std::string>(topics.begin(), topics.end())) {
    if (!states.contains(t)) missing.push_back(t);
  }
  if (!missing.empty()) {
    core::Logger("kafka")->info("creating {} topic(s), first {}", missing.size(), missing.front());
    CreateTopics(*client, missing, partitions, replication_factor, deadline);
  }
  // A created topic takes a moment to show up everywhere with its leaders.
  while (true) {
    std::string not_ready;
    for (const auto& t : topics) {
      const auto it = states.find(t);
      if (it == states.end() || !it->second) {
        not_ready = t;
        break;
      }
    }
    if (not_ready.empty()) return;
    if (Clock::now() >= deadline) {
      throw KafkaError("kafka topic " + not_ready + " not ready after " +
                           std::to_string(timeout.count()) + " ms",
                       true);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    states = TopicStates(*client, deadline);
  }
}

}  // namespace sluice::kafka
