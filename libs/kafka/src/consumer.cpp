#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
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

void ApplyInstanceId(KafkaConfig& config, const std::string& configured,
                     const std::string& http_addr) {
  if (configured == "none") {
    config.instance_id.clear();
    return;
  }
  if (!configured.empty()) {
    const bool printable = std::all_of(configured.begin(), configured.end(), [](char c) {
      return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    });
    if (configured.size() > 200 || !printable) {
      throw core::ConfigError(
          "SLUICE_INSTANCE_ID: use at most 200 printable characters (a stable name per replica, "
          "e.g. the pod name)");
    }
    config.instance_id = configured;
    return;
  }
  const auto hp = core::ParseHostPort(http_addr);
  if (!hp || hp->port == 0) {
    config.instance_id.clear();
    return;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    config.instance_id.clear();
    return;
  }
  config.instance_id = std::string(host) + ":" + std::to_string(hp->port);
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

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

namespace {

// What one header costs in a record beside its key and value (lengths as varints, generous).
constexpr std::size_t kHeaderOverhead = 8;
// Room kept for the dlq_value_* and dlq_headers_truncated headers added after the cut
// (20 digits for a size or count, 64 hex digits for the digest, "true").
constexpr std::size_t kDigestHeadersSize = 4 * kHeaderOverhead + kDlqValueSize.size() + 20 +
                                           kDlqValueSha256.size() + 64 + kDlqValueTruncated.size() +
                                           4 + kDlqHeadersTruncated.size() + 20;

std::size_t HeaderSize(const Header& h) { return h.key.size() + h.value.size() + kHeaderOverhead; }

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::size_t{2} * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string Cut(std::string_view s, std::size_t max) { return std::string(s.substr(0, max)); }

}  // namespace

std::size_t RecordSize(const OutgoingMessage& message) {
  std::size_t size = message.key.size() + message.value.size();
  for (const auto& h : message.headers) size += HeaderSize(h);
  return size;
}

namespace {

// A record's headers with the value of every credential header (kRedactedHeaders) replaced:
// a dead-letter copy is read by operators, not by whoever may use the producer's token.
std::vector<Header> Redacted(const std::vector<Header>& headers) {
  std::vector<Header> out = headers;
  for (auto& h : out) {
    for (const auto name : kRedactedHeaders) {
      const bool same = h.key.size() == name.size() &&
                        std::equal(h.key.begin(), h.key.end(), name.begin(), [](char a, char b) {
                          return std::tolower(static_cast<unsigned char>(a)) == b;
                        });
      if (same) h.value = "[redacted]";
    }
  }
  return out;
}

}  // namespace

OutgoingMessage DeadLetterMessage(const ConsumedMessage& message, const ConsumerOptions& options,
                                  int attempts, std::string_view reason) {
  return DeadLetterMessage(message, options, attempts, reason, options.dead_letter_max_bytes);
}

OutgoingMessage DeadLetterMessage(const ConsumedMessage& message, const ConsumerOptions& options,
                                  int attempts, std::string_view reason, std::size_t max_bytes) {
  const std::vector<Header> headers = Redacted(message.headers);
  std::vector<Header> dlq{{std::string(kDlqReason), Cut(reason, kDlqMaxReasonBytes)},
                          {std::string(kDlqOriginalTopic), message.topic},
                          {std::string(kDlqOriginalPartition), std::to_string(message.partition)},
                          {std::string(kDlqOriginalOffset), std::to_string(message.offset)},
                          {std::string(kDlqConsumerGroup), options.group_id},
                          {std::string(kDlqAttempts), std::to_string(attempts)}};
  OutgoingMessage out{options.dead_letter_topic, Cut(message.key, kDlqMaxKeyBytes), message.value,
                      headers};
  out.headers.insert(out.headers.end(), dlq.begin(), dlq.end());
  if (out.key.size() == message.key.size() && RecordSize(out) <= max_bytes) return out;

  // Too big (or a key to cut): the value goes first, then the original headers if need be.
  out.value.clear();
  std::size_t fixed = out.key.size() + kDigestHeadersSize;
  for (const auto& h : dlq) fixed += HeaderSize(h);
  const std::size_t budget = max_bytes > fixed ? max_bytes - fixed : 0;
  std::size_t originals = 0;
  for (const auto& h : headers) originals += HeaderSize(h);
  out.headers.clear();
  std::size_t headers_cut = 0;
  if (originals <= budget) {
    out.headers = headers;
  } else {
    std::size_t used = 0;
    for (const auto& h : headers) {
      Header kept{Cut(h.key, kDlqMaxHeaderValueBytes), Cut(h.value, kDlqMaxHeaderValueBytes)};
      if (used + HeaderSize(kept) > budget) {
        ++headers_cut;
        continue;
      }
      if (kept.key.size() != h.key.size() || kept.value.size() != h.value.size()) ++headers_cut;
      used += HeaderSize(kept);
      out.headers.push_back(std::move(kept));
    }
    originals = used;
  }
  out.headers.insert(out.headers.end(), dlq.begin(), dlq.end());
  const std::size_t room = budget - originals;
  out.value = Cut(message.value, room);
  const bool value_cut = out.value.size() < message.value.size();
  if (value_cut) {
    out.headers.push_back({std::string(kDlqValueSize), std::to_string(message.value.size())});
    out.headers.push_back({std::string(kDlqValueSha256), Sha256Hex(message.value)});
    out.headers.push_back({std::string(kDlqValueTruncated), "true"});
  }
  if (headers_cut > 0) {
    out.headers.push_back({std::string(kDlqHeadersTruncated), std::to_string(headers_cut)});
  }
  return out;
}

std::optional<std::string> ConsumerNotReadyReason(const ConsumerStatus& status,
                                                  ConsumerStatus::TimePoint now,
                                                  std::chrono::milliseconds stalled_after) {
  using std::chrono::duration_cast;
  using std::chrono::seconds;
  if (!status.running) return "the Kafka consumer stopped";
  if (!status.assigned) return "the Kafka consumer has no partition assignment yet";
  if (status.in_hand_since && now - *status.in_hand_since > stalled_after) {
    return "the Kafka consumer has been on one message for " +
           std::to_string(duration_cast<seconds>(now - *status.in_hand_since).count()) +
           " s: every partition it owns waits";
  }
  return std::nullopt;
}

// Commits the stored offsets of partitions that are taken away, so the next owner starts
// where this member stopped rather than at the last auto-commit.
class Consumer::Rebalance : public RdKafka::RebalanceCb {
 public:
  Rebalance(std::string group, Consumer& owner) : group_(std::move(group)), owner_(owner) {}

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      Log()->info("consumer group {} assigned {}", group_, Describe(partitions));
      if (owner_.config_.consumer_start == "latest") PinLatest(*consumer, partitions);
      if (cooperative) {
        Check(consumer->incremental_assign(partitions), "incremental_assign");
      } else {
        Check(consumer->assign(partitions), "assign");
      }
      CountAssigned(*consumer);
      owner_.assigned_ = true;
      return;
    }
    if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
      Log()->info("consumer group {} revoked {}", group_, Describe(partitions));
      owner_.DropDeferred(partitions);
      if (owner_.closed_.load()) {
        // Called from close(): CloseConsumer committed synchronously just before. No commit and
        // no assignment() query from inside close()'s rebalance callback: librdkafka can block
        // on a group request there (a shutdown seen hanging past SIGTERM's grace period).
        if (cooperative) {
          Check(consumer->incremental_unassign(partitions), "incremental_unassign");
        } else {
          Check(consumer->unassign(), "unassign");
        }
        owner_.partitions_ = 0;
        return;
      }
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
      CountAssigned(*consumer);
      return;
    }
    Log()->error("consumer group {} rebalance error: {}", group_, RdKafka::err2str(err));
    std::vector<RdKafka::TopicPartition*> assigned;
    if (consumer->assignment(assigned) == RdKafka::ERR_NO_ERROR) owner_.DropDeferred(assigned);
    RdKafka::TopicPartition::destroy(assigned);
    consumer->unassign();
    CountAssigned(*consumer);
  }

 private:
  // "latest" means where the group first started, not wherever the end is at each assignment: a
  // partition that has no committed offset yet gets its current end committed before it is
  // read, so the next owner (after a kill -9, a session timeout or a rebalance, before this one
  // committed anything) starts there too instead of passing over what was produced in between.
  void PinLatest(RdKafka::KafkaConsumer& consumer,
                 const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::vector<RdKafka::TopicPartition*> asked;
    for (const auto* p : partitions) {
      asked.push_back(RdKafka::TopicPartition::create(p->topic(), p->partition()));
    }
    std::vector<RdKafka::TopicPartition*> pin;
    if (consumer.committed(asked, kPinTimeoutMs) == RdKafka::ERR_NO_ERROR) {
      for (auto* p : asked) {
        if (p->err() != RdKafka::ERR_NO_ERROR || p->offset() >= 0) continue;
        int64_t low = 0, high = 0;
        if (consumer.query_watermark_offsets(p->topic(), p->partition(), &low, &high,
                                             kPinTimeoutMs) == RdKafka::ERR_NO_ERROR) {
          pin.push_back(RdKafka::TopicPartition::create(p->topic(), p->partition(), high));
        }
      }
    }
    if (!pin.empty()) {
      const auto cerr = consumer.commitSync(pin);
      if (cerr == RdKafka::ERR_NO_ERROR) {
        Log()->info("consumer group {} starts at the end of {} (pinned: latest)", group_,
                    Describe(pin));
      } else {
        Log()->warn("consumer group {} could not pin its start on {}: {}", group_, Describe(pin),
                    RdKafka::err2str(cerr));
      }
    }
    RdKafka::TopicPartition::destroy(asked);
    RdKafka::TopicPartition::destroy(pin);
  }

  static constexpr int kPinTimeoutMs = 5000;

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

  void CountAssigned(RdKafka::KafkaConsumer& consumer) {
    std::vector<RdKafka::TopicPartition*> now;
    if (consumer.assignment(now) == RdKafka::ERR_NO_ERROR) {
      owner_.partitions_ = static_cast<int>(now.size());
    }
    RdKafka::TopicPartition::destroy(now);
  }

  std::string group_;
  Consumer& owner_;
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
      rebalance_(std::make_unique<Rebalance>(options_.group_id, *this)),
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
  consumer_ = Create();
}

std::unique_ptr<RdKafka::KafkaConsumer> Consumer::Create() {
  std::map<std::string, std::string> defaults{
      {"auto.offset.reset", config_.consumer_start},
      {"session.timeout.ms", std::to_string(config_.session_timeout.count())},
      // librdkafka wants heartbeats well inside the session: a third of it, at most 3 s.
      {"heartbeat.interval.ms",
       std::to_string(std::min<int64_t>(3000, config_.session_timeout.count() / 3))}};
  std::map<std::string, std::string> fixed{{"group.id", options_.group_id},
                                           {"enable.auto.commit", "true"},
                                           {"enable.auto.offset.store", "false"}};
  if (!config_.instance_id.empty()) fixed["group.instance.id"] = config_.instance_id;
  auto conf = internal::MakeConf(config_, defaults, fixed);
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(rebalance_.get()), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(events_.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    throw KafkaError("kafka consumer callbacks: " + err, false);
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw KafkaError("kafka consumer: " + err, false);
  return consumer;
}

Consumer::~Consumer() { Stop(); }

void Consumer::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || closed_) throw std::logic_error("kafka consumer: started twice");
  const auto err = consumer_->subscribe(options_.topics);
  if (err != RdKafka::ERR_NO_ERROR) throw internal::ErrorFor("kafka subscribe", err);
  running_ = true;
  last_progress_ms_ = NowMs();
  Log()->info("consumer group {} started ({})", options_.group_id,
              config_.instance_id.empty() ? std::string("dynamic membership")
                                          : "static member " + config_.instance_id);
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
    RetryDue();
    if (stopping_.load()) break;
    std::unique_ptr<RdKafka::Message> msg(
        consumer_->consume(static_cast<int>(NextPollTimeout().count())));
    last_progress_ms_ = NowMs();
    if (!msg) continue;
    switch (msg->err()) {
      case RdKafka::ERR_NO_ERROR:
        in_hand_since_ms_ = last_progress_ms_.load();
        Handle(*msg);
        in_hand_since_ms_ = 0;
        last_progress_ms_ = NowMs();
        break;
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        break;
      case RdKafka::ERR__FATAL: {
        std::string reason;
        const auto code = consumer_->fatal_error(reason);
        if (code == RdKafka::ERR_FENCED_INSTANCE_ID && Rejoin(reason)) break;
        Log()->critical("consumer group {} fatal error, stopping: {}", options_.group_id, reason);
        stopping_ = true;
        break;
      }
      default:
        Log()->warn("consumer group {} consume error: {}", options_.group_id, msg->errstr());
        break;
    }
  }
  for (const auto& [key, d] : deferred_) {
    Log()->info(
        "consumer group {} {}: stopping while the message waits for attempt {}, offset "
        "not stored",
        options_.group_id, Coordinates(d.message), d.attempts + 1);
  }
  deferred_.clear();  // before close(): its revoke has nothing left to forget
  CloseConsumer();
  running_ = false;
}

void Consumer::Handle(const RdKafka::Message& raw) {
  if (deferred_.contains({raw.topic_name(), raw.partition()})) {
    // Fetched before its partition was paused: the partition is sought back to the message
    // after the deferred one when that one is done, so this one comes again, in order.
    return;
  }
  Attempt(Convert(raw), 1);
}

void Consumer::Attempt(const ConsumedMessage& message, int attempt) {
  core::TraceScope trace(TraceIdOf(message));
  std::string reason;
  bool permanent = false;
  try {
    handler_(message);
    StoreOffset(message);
    ++processed_;
    return;
  } catch (const PermanentError& e) {
    reason = e.what();
    Log()->error("consumer group {} {}: permanent failure, dead-lettering: {}", options_.group_id,
                 Coordinates(message), reason);
    permanent = true;
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
    reason = "unknown exception";
  }
  if (!permanent && attempt < options_.max_attempts) {
    const auto wait = RetryBackoff(options_, attempt);
    Log()->warn("consumer group {} {}: attempt {}/{} failed, retrying in {} ms: {}",
                options_.group_id, Coordinates(message), attempt, options_.max_attempts,
                wait.count(), reason);
    ++retries_;
    Defer(message, attempt, std::chrono::steady_clock::now() + wait);
    return;
  }
  if (!permanent) {
    Log()->error("consumer group {} {}: attempt {}/{} failed, dead-lettering: {}",
                 options_.group_id, Coordinates(message), attempt, options_.max_attempts, reason);
  }
  switch (DeadLetter(message, attempt, reason)) {
    case DeadLetterOutcome::kDelivered:
      StoreOffset(message);
      ++dead_lettered_;
      break;
    case DeadLetterOutcome::kDropped:
      StoreOffset(message);
      ++dead_letter_dropped_;
      break;
    case DeadLetterOutcome::kStopping:
      break;
  }
}

namespace {

std::unique_ptr<RdKafka::TopicPartition> PartitionOf(const ConsumedMessage& m, int64_t offset) {
  return std::unique_ptr<RdKafka::TopicPartition>(
      RdKafka::TopicPartition::create(m.topic, m.partition, offset));
}

}  // namespace

void Consumer::Defer(const ConsumedMessage& message, int attempts,
                     std::chrono::steady_clock::time_point due) {
  auto tp = PartitionOf(message, message.offset);
  std::vector<RdKafka::TopicPartition*> parts{tp.get()};
  auto err = consumer_->pause(parts);
  if (err == RdKafka::ERR_NO_ERROR) err = tp->err();
  if (err != RdKafka::ERR_NO_ERROR) {
    // Typically revoked meanwhile: its next owner starts from the committed offset.
    Log()->warn(
        "consumer group {} {}: cannot pause the partition for the retry ({}); its later "
        "messages are passed over (and fetched again) until the retry is done",
        options_.group_id, Coordinates(message), RdKafka::err2str(err));
  }
  deferred_[{message.topic, message.partition}] = Deferred{message, attempts, due};
}

void Consumer::RetryDue() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = deferred_.begin(); it != deferred_.end() && !stopping_.load();) {
    if (it->second.due > now) {
      ++it;
      continue;
    }
    const auto key = it->first;
    Deferred d = std::move(it->second);
    deferred_.erase(it);
    in_hand_since_ms_ = NowMs();
    Attempt(d.message, d.attempts + 1);
    in_hand_since_ms_ = 0;
    last_progress_ms_ = NowMs();
    if (!deferred_.contains(key) && !stopping_.load()) Resume(d.message);
    it = deferred_.upper_bound(key);
  }
}

void Consumer::Resume(const ConsumedMessage& done) {
  // Fetching goes on after the message just finished: messages of the partition fetched
  // while it waited were dropped by the pause (and are refused by Handle meanwhile).
  auto tp = PartitionOf(done, done.offset + 1);
  const auto serr = consumer_->seek(*tp, 5000);
  if (serr != RdKafka::ERR_NO_ERROR) {
    Log()->warn("consumer group {} {}: seek after the retry failed: {}", options_.group_id,
                Coordinates(done), RdKafka::err2str(serr));
  }
  std::vector<RdKafka::TopicPartition*> parts{tp.get()};
  const auto err = consumer_->resume(parts);
  if (err != RdKafka::ERR_NO_ERROR) {
    Log()->warn("consumer group {} {}: resume failed: {}", options_.group_id, Coordinates(done),
                RdKafka::err2str(err));
  }
}

void Consumer::DropDeferred(const std::vector<RdKafka::TopicPartition*>& partitions) {
  for (auto* tp : partitions) {
    const auto it = deferred_.find({tp->topic(), tp->partition()});
    if (it == deferred_.end()) continue;
    Log()->info(
        "consumer group {} {}: partition taken away while the message waits for attempt "
        "{}; its next owner starts from the committed offset",
        options_.group_id, Coordinates(it->second.message), it->second.attempts + 1);
    // A paused partition stays paused in librdkafka across unassign / assign.
    std::vector<RdKafka::TopicPartition*> one{tp};
    consumer_->resume(one);
    deferred_.erase(it);
  }
}

std::chrono::milliseconds Consumer::NextPollTimeout() const {
  auto timeout = options_.poll_timeout;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [key, d] : deferred_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d.due - now);
    timeout = std::min(timeout, std::max(left, std::chrono::milliseconds(0)));
  }
  return timeout;
}

Consumer::DeadLetterOutcome Consumer::DeadLetter(const ConsumedMessage& message, int attempts,
                                                 const std::string& reason) {
  OutgoingMessage out = DeadLetterMessage(message, options_, attempts, reason);
  bool minimal = false;
  for (int failures = 1;; ++failures) {
    try {
      dead_letters_.ProduceSync({out}, options_.dead_letter_timeout);
      Log()->warn("consumer group {} {}: dead-lettered to {} after {} attempt(s){}",
                  options_.group_id, Coordinates(message), out.topic, attempts,
                  minimal ? " (minimal copy: no value, no original headers)" : "");
      return DeadLetterOutcome::kDelivered;
    } catch (const KafkaError& e) {
      if (!e.IsRetryable()) {
        // Retrying cannot help (too large, not authorized, bad topic): send the smallest copy
        // once, and if even that is refused pass the message over rather than wedge every
        // partition of this consumer behind it.
        if (!minimal) {
          Log()->error(
              "consumer group {} {}: dead-letter produce to {} refused ({}); sending the minimal "
              "copy",
              options_.group_id, Coordinates(message), out.topic, e.what());
          out = DeadLetterMessage(message, options_, attempts, reason, 0);
          minimal = true;
          --failures;
          continue;
        }
        Log()->error(
            "consumer group {} {}: dead-letter produce to {} refused again ({}); message passed "
            "over WITHOUT a dead-letter copy (key {} bytes, value {} bytes, sha256 {}): {}",
            options_.group_id, Coordinates(message), out.topic, e.what(), message.key.size(),
            message.value.size(), Sha256Hex(message.value), Cut(reason, kDlqMaxReasonBytes));
        return DeadLetterOutcome::kDropped;
      }
      Log()->error("consumer group {} {}: dead-letter produce to {} failed (try {}): {}",
                   options_.group_id, Coordinates(message), out.topic, failures, e.what());
    } catch (const std::exception& e) {
      Log()->error("consumer group {} {}: dead-letter produce to {} failed (try {}): {}",
                   options_.group_id, Coordinates(message), out.topic, failures, e.what());
    }
    if (!WaitUnlessStopping(RetryBackoff(options_, failures))) {
      Log()->info("consumer group {} {}: stopping before dead-lettering, offset not stored",
                  options_.group_id, Coordinates(message));
      return DeadLetterOutcome::kStopping;
    }
  }
}

ConsumerStatus Consumer::Status() const {
  const auto at = [](int64_t ms) {
    return ConsumerStatus::TimePoint(std::chrono::milliseconds(ms));
  };
  ConsumerStatus s;
  s.running = running_.load();
  s.assigned = assigned_.load();
  s.partitions = partitions_.load();
  if (const int64_t since = in_hand_since_ms_.load(); since != 0) s.in_hand_since = at(since);
  s.last_progress = at(last_progress_ms_.load());
  return s;
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

bool Consumer::Rejoin(const std::string& reason) {
  const int64_t now = NowMs();
  if (rejoined_at_ms_ != 0 && now - rejoined_at_ms_ < kFencedAgainWithinMs) {
    Log()->critical(
        "consumer group {}: static member {} fenced again {} ms after rejoining ({}): another "
        "live consumer uses the same group.instance.id; this one stops consuming. Give each "
        "replica its own SLUICE_INSTANCE_ID (e.g. the pod name) and restart it",
        options_.group_id, config_.instance_id, now - rejoined_at_ms_, reason);
    return false;
  }
  // Most often the broker (or the network to it) was away for longer than the session: the group
  // gave this member's id up, and librdkafka reports the next commit or heartbeat as fatal. A
  // new client with the same instance id takes the member's place, as a restarted process would;
  // what was consumed and not yet stored comes again (handlers are idempotent).
  Log()->warn(
      "consumer group {}: static member {} fenced ({}), most likely its session expired while "
      "the broker was unreachable; rejoining with a new client (messages not stored yet are "
      "consumed again)",
      options_.group_id, config_.instance_id, reason);
  deferred_.clear();  // their partitions are re-assigned from the committed offsets
  closed_ = true;     // the revoke in close() neither commits nor asks the group anything
  consumer_->close();
  closed_ = false;
  assigned_ = false;
  partitions_ = 0;
  try {
    consumer_ = Create();
  } catch (const std::exception& e) {
    Log()->critical("consumer group {}: could not rejoin: {}", options_.group_id, e.what());
    return false;
  }
  const auto err = consumer_->subscribe(options_.topics);
  if (err != RdKafka::ERR_NO_ERROR) {
    Log()->critical("consumer group {}: could not subscribe again: {}", options_.group_id,
                    RdKafka::err2str(err));
    return false;
  }
  rejoined_at_ms_ = now;
  ++rejoins_;
  return true;
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
