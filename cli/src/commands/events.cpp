// sluice events tail: Sluice events read straight from Kafka.
#include <google/protobuf/util/json_util.h>
#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sluice/events/envelope.hpp>

#include "../commands.hpp"

namespace sluice::cli {
namespace {

using nlohmann::json;

struct TailOptions {
  std::string brokers = Env("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092");
  std::string topic = "sluice.releases.v1";
  std::string timeout = "10s";
  std::string match;
  int max = 0;
};

std::unique_ptr<RdKafka::KafkaConsumer> Consumer(const std::string& brokers) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  auto set = [&](const std::string& k, const std::string& v) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(k + ": " + err);
  };
  set("bootstrap.servers", brokers);
  set("group.id",
      "sluice-cli-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  set("enable.auto.commit", "false");
  set("auto.offset.reset", "earliest");
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw std::runtime_error("cannot create Kafka consumer: " + err);
  return consumer;
}

// {"topic","partition","offset","key","headers":{…},"event":{…envelope…}}
json EventJson(RdKafka::Message& msg) {
  json out = {{"topic", msg.topic_name()},
              {"partition", msg.partition()},
              {"offset", msg.offset()},
              {"key", msg.key() != nullptr ? *msg.key() : ""}};
  json headers = json::object();
  if (auto* h = msg.headers()) {
    for (const auto& header : h->get_all()) {
      headers[header.key()] =
          std::string(static_cast<const char*>(header.value()), header.value_size());
    }
  }
  out["headers"] = headers;
  std::string error;
  auto envelope = sluice::events::Parse(
      std::string_view(static_cast<const char*>(msg.payload()), msg.len()), &error);
  if (envelope) {
    std::string js;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(*envelope, &js, opts);
    out["event"] = json::parse(js);
  } else {
    out["event_error"] = error;
  }
  return out;
}

// Reads events from the start of a topic with a throwaway consumer group and prints each as
// JSON (EventJson).
int TailEvents(const std::string& brokers, const std::string& topic, int max,
               std::chrono::milliseconds timeout, const std::string& match) {
  auto consumer = Consumer(brokers);
  consumer->subscribe({topic});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int printed = 0;
  while ((max <= 0 || printed < max) && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> msg(consumer->consume(200));
    if (msg->err() == RdKafka::ERR__TIMED_OUT || msg->err() == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      std::cerr << "kafka: " << msg->errstr() << "\n";
      continue;
    }
    const std::string line = EventJson(*msg).dump();
    if (!match.empty() && line.find(match) == std::string::npos) continue;
    std::cout << line << std::endl;
    ++printed;
  }
  consumer->close();
  if (max > 0 && printed < max) {
    std::cerr << "events tail: " << printed << " of " << max << " event(s) seen on " << topic
              << " within the timeout\n";
    return 1;
  }
  return 0;
}

}  // namespace

void AddEventsCommands(Commands& commands) {
  auto* events = commands.root().add_subcommand("events", "read Sluice events from Kafka");
  events->require_subcommand(1);
  auto o = std::make_shared<TailOptions>();
  auto* tail = events->add_subcommand("tail", "print events of a topic from its beginning");
  tail->add_option("--brokers", o->brokers, "Kafka bootstrap servers (SLUICE_KAFKA_BROKERS)");
  tail->add_option("--topic", o->topic, "topic");
  tail->add_option("--max", o->max, "stop after this many events (0: until the timeout)");
  tail->add_option("--timeout", o->timeout, "give up after this long, e.g. 10s or 1h");
  tail->add_option("--match", o->match, "only events whose JSON contains this text");
  commands.On(tail, [o](Invocation&) {
    return TailEvents(o->brokers, o->topic, o->max, Duration(o->timeout, "--timeout"), o->match);
  });
}

}  // namespace sluice::cli
