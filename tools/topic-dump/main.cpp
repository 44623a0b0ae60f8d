// sluice-topic-dump: the records of Kafka topics from a time on, up to their end when it
// started, one JSON line each: topic, partition, offset, timestamp_ms, key, headers and, when
// the value is an event envelope, its type, event_id and deployment_id. For the end-to-end
// scripts (what did the services publish, what was dead-lettered). Tests only.
//
//   sluice-topic-dump --brokers HOST:PORT --topic T [--topic T2 ...] [--since-ms MS]
//                     [--timeout-s 30]
//
// Exit status: 0 once every partition is read to the end it had at start; 1 on a Kafka error
// or when the timeout passed first; CLI11's usage status (non-zero) on bad arguments.
#include <librdkafka/rdkafkacpp.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sluice/events/envelope.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nlohmann::json;

[[noreturn]] void Fail(std::string_view what, std::string_view why) {
  std::string message(what);
  message.append(": ").append(why);
  throw std::runtime_error(message);
}

std::unique_ptr<RdKafka::KafkaConsumer> MakeConsumer(const std::string& brokers) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  const std::map<std::string, std::string> settings = {
      {"bootstrap.servers", brokers},
      {"group.id", "sluice-topic-dump"},  // never joined: partitions are assigned by hand
      {"enable.auto.commit", "false"},
      {"enable.partition.eof", "true"},
  };
  for (const auto& [name, value] : settings) {
    if (conf->set(name, value, err) != RdKafka::Conf::CONF_OK) {
      Fail(name, err);
    }
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) Fail("consumer", err);
  return consumer;
}

json Line(const RdKafka::Message& m) {
  json out = {{"topic", m.topic_name()},
              {"partition", m.partition()},
              {"offset", m.offset()},
              {"timestamp_ms", m.timestamp().timestamp},
              {"key", m.key() != nullptr ? *m.key() : ""}};
  json headers = json::object();
  // headers() is const in practice but not declared so.
  if (auto* h = const_cast<RdKafka::Message&>(m).headers()) {
    for (const auto& header : h->get_all()) {
      headers[header.key()] =
          std::string(static_cast<const char*>(header.value()), header.value_size());
    }
  }
  out["headers"] = std::move(headers);
  std::string error;
  if (auto e = sluice::events::Parse(
          std::string_view(static_cast<const char*>(m.payload()), m.len()), &error)) {
    out["type"] = sluice::events::TypeName(*e);
    out["event_id"] = e->event_id();
    out["deployment_id"] = e->deployment_id();
  }
  return out;
}

int Run(const std::string& brokers, const std::vector<std::string>& topics, std::int64_t since_ms,
        std::chrono::milliseconds timeout) {
  auto consumer = MakeConsumer(brokers);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<RdKafka::TopicPartition*> parts;
  std::map<std::pair<std::string, int>, std::int64_t> end;  // high watermark at start
  for (const auto& topic : topics) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(consumer.get(), topic, nullptr, err));
    if (!t) Fail("topic " + topic, err);
    RdKafka::Metadata* raw = nullptr;
    if (const auto code = consumer->metadata(false, t.get(), &raw, 10000);
        code != RdKafka::ERR_NO_ERROR) {
      Fail("metadata of " + topic, RdKafka::err2str(code));
    }
    std::unique_ptr<RdKafka::Metadata> md(raw);
    for (const auto* tm : *md->topics()) {
      if (tm->err() != RdKafka::ERR_NO_ERROR) {
        Fail("topic " + topic, RdKafka::err2str(tm->err()));
      }
      for (const auto* pm : *tm->partitions()) {
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (const auto code =
                consumer->query_watermark_offsets(topic, pm->id(), &low, &high, 10000);
            code != RdKafka::ERR_NO_ERROR) {
          Fail("watermarks of " + topic, RdKafka::err2str(code));
        }
        if (high > low) end[{topic, pm->id()}] = high;
        parts.push_back(RdKafka::TopicPartition::create(topic, pm->id(), since_ms));
      }
    }
  }
  // The first offset at or after since_ms (the end when there is none).
  if (const auto code = consumer->offsetsForTimes(parts, 10000); code != RdKafka::ERR_NO_ERROR) {
    Fail("offsets for times", RdKafka::err2str(code));
  }
  for (auto* p : parts) {
    const auto key = std::make_pair(p->topic(), p->partition());
    if (p->offset() < 0 || (end.contains(key) && p->offset() >= end[key])) end.erase(key);
  }
  std::vector<RdKafka::TopicPartition*> assigned;
  for (auto* p : parts) {
    if (end.contains({p->topic(), p->partition()})) assigned.push_back(p);
  }
  if (!assigned.empty()) {
    if (const auto code = consumer->assign(assigned); code != RdKafka::ERR_NO_ERROR) {
      Fail("assign", RdKafka::err2str(code));
    }
  }
  RdKafka::TopicPartition::destroy(parts);
  int status = 0;
  while (!end.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << "sluice-topic-dump: timed out with " << end.size() << " partition(s) unread\n";
      status = 1;
      break;
    }
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    if (m->err() == RdKafka::ERR__TIMED_OUT) continue;
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      const auto key = std::make_pair(m->topic_name(), m->partition());
      if (end.contains(key) && m->offset() >= end[key]) end.erase(key);
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      std::cerr << "sluice-topic-dump: " << m->errstr() << "\n";
      status = 1;
      break;
    }
    const auto key = std::make_pair(m->topic_name(), m->partition());
    if (!end.contains(key) || m->offset() >= end[key]) continue;
    std::cout << Line(*m).dump() << "\n";
    if (m->offset() + 1 >= end[key]) end.erase(key);
  }
  std::cout.flush();
  consumer->close();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice-topic-dump: the records of Kafka topics since a time, as JSON lines"};
  std::string brokers;
  std::vector<std::string> topics;
  std::int64_t since_ms = 0;
  int timeout_s = 30;
  app.add_option("--brokers", brokers, "bootstrap servers")->required();
  app.add_option("--topic", topics, "a topic to read (repeatable)")->required();
  app.add_option("--since-ms", since_ms, "first record time, Unix ms (default: the beginning)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout-s", timeout_s, "give up after this many seconds")
      ->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);
  try {
    return Run(brokers, topics, since_ms, std::chrono::seconds(timeout_s));
  } catch (const std::exception& e) {
    std::cerr << "sluice-topic-dump: " << e.what() << "\n";
    return 1;
  }
}
