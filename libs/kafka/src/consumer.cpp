#include <sluice/core/config.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/kafka/config.hpp>
#include <sluice/kafka/consumer.hpp>
#include <stdexcept>

#include "rd_util.hpp"

namespace sluice::kafka {

void ApplyStartOffset(KafkaConfig& config, const std::string& value) {
  if (value != "earliest" && value != "latest") {
    throw core::ConfigError("SLUICE_KAFKA_START_OFFSET=" + value +
                            ": use earliest or latest (where a new consumer group starts reading)");
  }
  config.consumer_start = value;
}

namespace {

const std::shared_ptr<spdlog::logger>& Log() {
  static const auto log = core::Logger("kafka");
  return log;
}

ConsumedMessage Convert(const RdKafka::Message& raw) {
  ConsumedMessage m;
  m.topic = raw.topic_name();
  m.partition = raw.partition();
  m.offset = raw.offset();
  if (raw.key_pointer() != nullptr) {
    m.key.assign(static_cast<const char*>(raw.key_pointer()), raw.key_len());
  }
  if (raw.payload() != nullptr) m.value.assign(static_cast<const char*>(raw.payload()), raw.len());
  m.timestamp_ms = raw.timestamp().timestamp;
  // headers() is a const member in practice but not declared so.
  if (RdKafka::Headers* headers = const_cast<RdKafka::Message&>(raw).headers()) {
    for (const auto& h : headers->get_all()) {
      std::string value;
      if (h.value() != nullptr) value.assign(static_cast<const char*>(h.value()), h.value_size());
      m.headers.push_back({h.key(), std::move(value)});
    }
  }
  return m;
}

// The trace id of a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"), or empty.
std::string TraceIdOf(const ConsumedMessage& m) {
  const auto tp = m.HeaderValue("traceparent");
  if (!tp || tp->size() < 55 || (*tp)[2] != '-' || (*tp)[35] != '-') return {};
  return tp->substr(3, 32);
}

std::string Coordinates(const ConsumedMessage& m) {
  return m.topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset);
}

std::string Describe(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::string out;
  for (const auto* p : parts) {
    if (!out.empty()) out += ",";
    out += p->topic() + "[" + std::to_string(p->partition()) + "]";
  }
  return out;
}

}  // namespace

std::chrono::milliseconds RetryBackoff(const ConsumerOptions& options, int attempt) {
  auto wait = std::max(options.retry_backoff, std::chrono::milliseconds(0));
  for (int i = 1; i < attempt && wait < kMaxRetryBackoff; ++i) wait *= 2;
  return std::min(wait, kMaxRetryBackoff);
}

OutgoingMessage DeadLetterMessage(const ConsumedMessage& message, const ConsumerOptions& options,
                                  int attempts, std::string_view reason) {
  OutgoingMessage out{options.dead_letter_topic, message.key, message.value, message.headers};
  out.headers.push_back({std::string(kDlqReason), std::string(reason)});
  out.headers.push_back({std::string(kDlqOriginalTopic), message.topic});
  out.headers.push_back({std::string(kDlqOriginalPartition), std::to_string(message.partition)});
  out.headers.push_back({std::string(kDlqOriginalOffset), std::to_string(message.offset)});
  out.headers.push_back({std::string(kDlqConsumerGroup), options.group_id});
  out.headers.push_back({std::string(kDlqAttempts), std::to_string(attempts)});
  return out;
}

// Commits the stored offsets of partitions that are taken away, so the next owner starts
// where this member stopped rather than at the last auto-commit.
class Consumer::Rebalance : public RdKafka::RebalanceCb {
 public:
  explicit Rebalance(std::string group) : group_(std::move(group)) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      Log()->info("consumer group {} assigned {}", group_, Describe(partitions));
      if (cooperative) {
        Check(consumer->incremental_assign(partitions), "incremental_assign");
      } else {
        Check(consumer->assign(partitions), "assign");
      }
      return;
    }
    if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
      Log()->info("consumer group {} revoked {}", group_, Describe(partitions));
      if (!consumer->assignment_lost()) {
        const auto cerr = consumer->commitSync();
        if (cerr != RdKafka::ERR_NO_ERROR && cerr != RdKafka::ERR__NO_OFFSET) {
          Log()->warn("consumer group {} commit on revoke failed: {}", group_,
                      RdKafka::err2str(cerr));
        }
      } else {
        Log()->warn("consumer group {} lost its assignment; stored offsets not committed", group_);
      }
      if (cooperative) {
        Check(consumer->incremental_unassign(partitions), "incremental_unassign");
      } else {
        Check(consumer->unassign(), "unassign");
      }
      return;
    }
    Log()->error("consumer group {} rebalance error: {}", group_, RdKafka::err2str(err));
    consumer->unassign();
  }

 private:
  void Check(RdKafka::Error* error, const char* what) {
    if (error == nullptr) return;
    Log()->error("consumer group {} {} failed: {}", group_, what, error->str());
    delete error;
  }
  void Check(RdKafka::ErrorCode err, const char* what) {
    if (err != RdKafka::ERR_NO_ERROR) {
      Log()->error("consumer group {} {} failed: {}", group_, what, RdKafka::err2str(err));
    }
  }

  std::string group_;
};

class Consumer::Events : public internal::LogEvents {
 public:
  Events() : LogEvents("consumer") {}
};

Consumer::Consumer(KafkaConfig config, ConsumerOptions options, Handler handler,
                   Producer& dead_letters)
    : config_(std::move(config)),
      options_(std::move(options)),
      handler_(std::move(handler)),
      dead_letters_(dead_letters),
      rebalance_(std::make_unique<Rebalance>(options_.group_id)),
      events_(std::make_unique<Events>()) {
  if (options_.group_id.empty()) throw std::invalid_argument("kafka consumer: group_id is empty");
  if (options_.topics.empty()) throw std::invalid_argument("kafka consumer: no topics");
  if (options_.max_attempts < 1) {
    throw std::invalid_argument("kafka consumer: max_attempts must be at least 1");
  }
  if (options_.dead_letter_topic.empty()) {
    throw std::invalid_argument("kafka consumer: dead_letter_topic is empty");
  }
  if (!handler_) throw std::invalid_argument("kafka consumer: no handler");

  auto conf = internal::MakeConf(config_, {{"auto.offset.reset", config_.consumer_start}},
                                 {{"group.id", options_.group_id},
                                  {"enable.auto.commit", "true"},
                                  {"enable.auto.offset.store", "false"}});
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(rebalance_.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(events_.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    throw KafkaError("kafka consumer callbacks: " + err, false);
  }
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer_) throw KafkaError("kafka consumer: " + err, false);
}

Consumer::~Consumer() { Stop(); }

void Consumer::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || closed_) throw std::logic_error("kafka consumer: started twice");
  const auto err = consumer_->subscribe(options_.topics);
  if (err != RdKafka::ERR_NO_ERROR) throw internal::ErrorFor("kafka subscribe", err);
  running_ = true;
  Log()->info("consumer group {} started", options_.group_id);
  thread_ = std::thread([this] { Run(); });
}

void Consumer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    CloseConsumer();
  }
}

void Consumer::Run() {
  while (!stopping_.load()) {
    std::unique_ptr<RdKafka::Message> msg(
        consumer_->consume(static_cast<int>(options_.poll_timeout.count())));
    if (!msg) continue;
    switch (msg->err()) {
      case RdKafka::ERR_NO_ERROR:
        Handle(*msg);
        break;
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        break;
      case RdKafka::ERR__FATAL: {
        std::string reason;
        consumer_->fatal_error(reason);
        Log()->critical("consumer group {} fatal error, stopping: {}", options_.group_id, reason);
        stopping_ = true;
        break;
      }
      default:
        Log()->warn("consumer group {} consume error: {}", options_.group_id, msg->errstr());
        break;
    }
  }
  CloseConsumer();
  running_ = false;
}

void Consumer::Handle(const RdKafka::Message& raw) {
  const ConsumedMessage message = Convert(raw);
  core::TraceScope trace(TraceIdOf(message));
  std::string reason;
  int attempt = 0;
  while (true) {
    ++attempt;
    try {
      handler_(message);
      StoreOffset(message);
      ++processed_;
      return;
    } catch (const PermanentError& e) {
      reason = e.what();
      Log()->error("consumer group {} {}: permanent failure, dead-lettering: {}", options_.group_id,
                   Coordinates(message), reason);
      break;
    } catch (const std::exception& e) {
      reason = e.what();
    } catch (...) {
      reason = "unknown exception";
    }
    if (attempt >= options_.max_attempts) {
      Log()->error("consumer group {} {}: attempt {}/{} failed, dead-lettering: {}",
                   options_.group_id, Coordinates(message), attempt, options_.max_attempts, reason);
      break;
    }
    const auto wait = RetryBackoff(options_, attempt);
    Log()->warn("consumer group {} {}: attempt {}/{} failed, retrying in {} ms: {}",
                options_.group_id, Coordinates(message), attempt, options_.max_attempts,
                wait.count(), reason);
    ++retries_;
    if (!WaitUnlessStopping(wait)) {
      Log()->info("consumer group {} {}: stopping during retry, offset not stored",
                  options_.group_id, Coordinates(message));
      return;
    }
  }
  if (DeadLetter(message, attempt, reason)) {
    StoreOffset(message);
    ++dead_lettered_;
  }
}

bool Consumer::DeadLetter(const ConsumedMessage& message, int attempts, const std::string& reason) {
  const OutgoingMessage out = DeadLetterMessage(message, options_, attempts, reason);
  for (int failures = 1;; ++failures) {
    try {
      dead_letters_.ProduceSync({out}, options_.dead_letter_timeout);
      Log()->warn("consumer group {} {}: dead-lettered to {} after {} attempt(s)",
                  options_.group_id, Coordinates(message), out.topic, attempts);
      return true;
    } catch (const std::exception& e) {
      Log()->error("consumer group {} {}: dead-letter produce to {} failed (try {}): {}",
                   options_.group_id, Coordinates(message), out.topic, failures, e.what());
    }
    if (!WaitUnlessStopping(RetryBackoff(options_, failures))) {
      Log()->info("consumer group {} {}: stopping before dead-lettering, offset not stored",
                  options_.group_id, Coordinates(message));
      return false;
    }
  }
}

void Consumer::StoreOffset(const ConsumedMessage& message) {
  std::unique_ptr<RdKafka::TopicPartition> tp(
      RdKafka::TopicPartition::create(message.topic, message.partition, message.offset + 1));
  std::vector<RdKafka::TopicPartition*> offsets{tp.get()};
  auto err = consumer_->offsets_store(offsets);
  if (err == RdKafka::ERR_NO_ERROR) err = tp->err();
  if (err != RdKafka::ERR_NO_ERROR) {
    // Typically the partition was revoked meanwhile: its next owner sees the message again.
    Log()->warn("consumer group {} {}: offset store failed: {}", options_.group_id,
                Coordinates(message), RdKafka::err2str(err));
  }
}

bool Consumer::WaitUnlessStopping(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Consumer::CloseConsumer() {
  if (closed_.exchange(true)) return;
  const auto err = consumer_->commitSync();
  if (err != RdKafka::ERR_NO_ERROR && err != RdKafka::ERR__NO_OFFSET) {
    Log()->warn("consumer group {} final commit failed: {}", options_.group_id,
                RdKafka::err2str(err));
  }
  consumer_->close();
  Log()->info("consumer group {} closed", options_.group_id);
}

}  // namespace sluice::kafka
