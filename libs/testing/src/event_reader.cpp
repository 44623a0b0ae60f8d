#include <librdkafka/rdkafkacpp.h>

#include <set>
#include <sluice/testing/event_reader.hpp>
#include <sluice/testing/process.hpp>
#include <stdexcept>

namespace sluice::testing {

namespace v1 = events::v1;

EventReader::EventReader(const std::string& brokers, const std::string& topic,
                         const std::string& group_prefix) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  const std::map<std::string, std::string> settings = {
      {"bootstrap.servers", brokers},
      {"group.id", group_prefix + RandomSuffix()},
      {"auto.offset.reset", "earliest"},
      {"enable.auto.commit", "false"},
  };
  for (const auto& [name, value] : settings) {
    if (conf->set(name, value, err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error("event reader: " + name + ": " + err);
    }
  }
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer_) throw std::runtime_error("event reader: consumer: " + err);
  if (const auto code = consumer_->subscribe({topic}); code != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("event reader: subscribe to " + topic + ": " + RdKafka::err2str(code));
  }
  thread_ = std::thread([this] {
    while (!stop_) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      if (m->err() != RdKafka::ERR_NO_ERROR) continue;
      std::string error;
      auto e =
          events::Parse(std::string_view(static_cast<const char*>(m->payload()), m->len()), &error);
      if (!e) continue;
      SeenEvent s;
      s.envelope = std::move(*e);
      s.key = m->key() != nullptr ? *m->key() : "";
      if (const auto* headers = m->headers()) {
        for (const auto& h : headers->get_all()) {
          s.headers[h.key()] = std::string(static_cast<const char*>(h.value()), h.value_size());
        }
      }
      s.at = std::chrono::steady_clock::now();
      std::lock_guard lock(mu_);
      seen_.push_back(std::move(s));
    }
  });
}

EventReader::~EventReader() {
  stop_ = true;
  thread_.join();
  consumer_->close();
}

std::vector<SeenEvent> EventReader::Seen(
    const std::function<bool(const v1::Envelope&)>& match) const {
  std::lock_guard lock(mu_);
  std::vector<SeenEvent> out;
  for (const auto& s : seen_) {
    if (match(s.envelope)) out.push_back(s);
  }
  return out;
}

std::vector<v1::Envelope> EventReader::For(const std::string& deployment_id) const {
  std::vector<v1::Envelope> out;
  for (auto& s : Seen([&](const v1::Envelope& e) { return e.deployment_id() == deployment_id; })) {
    out.push_back(std::move(s.envelope));
  }
  return out;
}

std::optional<v1::Envelope> EventReader::First(const std::string& deployment_id,
                                               v1::Envelope::PayloadCase kind) const {
  std::lock_guard lock(mu_);
  for (const auto& s : seen_) {
    if (s.envelope.deployment_id() == deployment_id && s.envelope.payload_case() == kind) {
      return s.envelope;
    }
  }
  return std::nullopt;
}

int EventReader::Count(const std::string& deployment_id, v1::Envelope::PayloadCase kind) const {
  std::set<std::string> ids;
  std::lock_guard lock(mu_);
  for (const auto& s : seen_) {
    if (s.envelope.deployment_id() == deployment_id && s.envelope.payload_case() == kind) {
      ids.insert(s.envelope.event_id());
    }
  }
  return static_cast<int>(ids.size());
}

}  // namespace sluice::testing
