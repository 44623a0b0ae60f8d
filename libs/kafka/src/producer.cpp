#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <sluice/core/logging.hpp>
#include <sluice/kafka/producer.hpp>
#include <thread>

#include "rd_util.hpp"

namespace sluice::kafka {

namespace {

// The delivery state of one ProduceSync call, shared with the delivery reports of its messages
// (which may arrive after the call gave up waiting).
struct Batch {
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;
  std::optional<RdKafka::ErrorCode> error;
  std::string error_where;
  // ProduceEach only: each message's delivery report, by index (empty for ProduceSync).
  std::vector<std::optional<RdKafka::ErrorCode>> each;
};

// Travels with each message as its opaque; freed by its delivery report.
struct Opaque {
  std::shared_ptr<Batch> batch;
  size_t index = 0;
};

std::string Where(const std::string& topic, int32_t partition, int64_t offset) {
  std::string out = "topic " + topic;
  if (partition >= 0) out += " partition " + std::to_string(partition);
  if (offset >= 0) out += " offset " + std::to_string(offset);
  return out;
}

}  // namespace

class Producer::DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    std::unique_ptr<Opaque> opaque(static_cast<Opaque*>(message.msg_opaque()));
    if (!opaque) return;
    Batch& batch = *opaque->batch;
    std::lock_guard lock(batch.mu);
    if (message.err() != RdKafka::ERR_NO_ERROR && !batch.error) {
      batch.error = message.err();
      batch.error_where = Where(message.topic_name(), message.partition(), -1);
    }
    if (opaque->index < batch.each.size()) batch.each[opaque->index] = message.err();
    --batch.pending;
    batch.cv.notify_all();
  }
};

// Serves the delivery reports and errors on a thread of its own, so ProduceSync callers only
// wait on their batch.
class Producer::Events : public internal::LogEvents {
 public:
  Events() : LogEvents("producer") {}
  std::atomic<bool> closing{false};
  std::thread poller;
};

Producer::Producer(KafkaConfig config)
    : config_(std::move(config)),
      delivery_reports_(std::make_unique<DeliveryReports>()),
      events_(std::make_unique<Events>()) {
  auto conf = internal::MakeConf(config_, {{"linger.ms", "5"}},
                                 {{"enable.idempotence", "true"}, {"acks", "all"}});
  std::string err;
  if (conf->set("dr_cb", delivery_reports_.get(), err) != RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(events_.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    throw KafkaError("kafka producer callbacks: " + err, false);
  }
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw KafkaError("kafka producer: " + err, false);
  events_->poller = std::thread([this] {
    while (!events_->closing.load()) producer_->poll(100);
  });
}

Producer::~Producer() {
  events_->closing = true;
  events_->poller.join();
  const auto err = producer_->flush(static_cast<int>(config_.close_timeout.count()));
  if (err != RdKafka::ERR_NO_ERROR) {
    core::Logger("kafka")->warn("producer closing with {} undelivered message(s): {}",
                                producer_->outq_len(), RdKafka::err2str(err));
    // Fails what is left, so every delivery report (and its opaque) is served.
    producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    producer_->poll(0);
  }
}

void Producer::ProduceSync(const std::vector<OutgoingMessage>& messages,
                           std::chrono::milliseconds timeout) {
  if (messages.empty()) return;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto batch = std::make_shared<Batch>();
  for (const auto& m : messages) {
    std::unique_ptr<RdKafka::Headers> headers(RdKafka::Headers::create());
    for (const auto& h : m.headers) headers->add(h.key, h.value);
    auto opaque = std::make_unique<Opaque>(Opaque{batch});
    {
      std::lock_guard lock(batch->mu);
      ++batch->pending;
    }
    while (true) {
      // An empty key is sent as a null key (the partitioner then spreads the messages).
      const auto err = producer_->produce(
          m.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(m.value.data()), m.value.size(), m.key.empty() ? nullptr : m.key.data(),
          m.key.size(), 0, headers.get(), opaque.get());
      if (err == RdKafka::ERR_NO_ERROR) {
        static_cast<void>(headers.release());  // owned by librdkafka now
        static_cast<void>(opaque.release());   // freed by the delivery report
        break;
      }
      if (err == RdKafka::ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      {
        std::lock_guard lock(batch->mu);
        --batch->pending;
      }
      throw internal::ErrorFor("kafka produce to " + Where(m.topic, -1, -1), err);
    }
  }

  std::unique_lock lock(batch->mu);
  const bool done = batch->cv.wait_until(lock, deadline, [&] { return batch->pending == 0; });
  if (batch->error) {
    if (*batch->error == RdKafka::ERR__FATAL) {
      std::string reason;
      const auto fatal = producer_->fatal_error(reason);
      throw KafkaError("kafka delivery to " + batch->error_where +
                           " failed: producer fatal error " + RdKafka::err2str(fatal) + ": " +
                           reason,
                       false);
    }
    throw internal::ErrorFor("kafka delivery to " + batch->error_where + " failed", *batch->error);
  }
  if (!done) {
    throw KafkaError("kafka delivery timed out after " + std::to_string(timeout.count()) + " ms: " +
                         std::to_string(batch->pending) + " of " + std::to_string(messages.size()) +
                         " message(s) to " + Where(messages.front().topic, -1, -1) + " unconfirmed",
                     true);
  }
}

std::vector<Delivery> Producer::ProduceEach(const std::vector<OutgoingMessage>& messages,
                                            std::chrono::milliseconds timeout) {
  std::vector<Delivery> out(messages.size());
  if (messages.empty()) return out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto batch = std::make_shared<Batch>();
  batch->each.resize(messages.size());
  auto fail = [&](size_t i, const std::string& what, RdKafka::ErrorCode code) {
    out[i].status =
        internal::IsRecordRejection(code) ? Delivery::Status::kRejected : Delivery::Status::kFailed;
    out[i].error = internal::ErrorFor(what, code).what();
  };
  std::vector<bool> queued(messages.size(), false);
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    std::unique_ptr<RdKafka::Headers> headers(RdKafka::Headers::create());
    for (const auto& h : m.headers) headers->add(h.key, h.value);
    auto opaque = std::make_unique<Opaque>(Opaque{batch, i});
    {
      std::lock_guard lock(batch->mu);
      ++batch->pending;
    }
    while (true) {
      const auto err = producer_->produce(
          m.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(m.value.data()), m.value.size(), m.key.empty() ? nullptr : m.key.data(),
          m.key.size(), 0, headers.get(), opaque.get());
      if (err == RdKafka::ERR_NO_ERROR) {
        static_cast<void>(headers.release());  // as above
        static_cast<void>(opaque.release());
        queued[i] = true;
        break;
      }
      if (err == RdKafka::ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      {
        std::lock_guard lock(batch->mu);
        --batch->pending;
      }
      fail(i, "kafka produce to " + Where(m.topic, -1, -1), err);
      break;
    }
  }

  std::unique_lock lock(batch->mu);
  batch->cv.wait_until(lock, deadline, [&] { return batch->pending == 0; });
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!queued[i]) continue;
    const auto& report = batch->each[i];
    if (!report) {
      out[i].status = Delivery::Status::kFailed;
      out[i].error = "kafka delivery to " + Where(messages[i].topic, -1, -1) + " timed out after " +
                     std::to_string(timeout.count()) + " ms (it may still be delivered)";
    } else if (*report == RdKafka::ERR__FATAL) {
      std::string reason;
      const auto fatal = producer_->fatal_error(reason);
      out[i].status = Delivery::Status::kFailed;
      out[i].error = "kafka delivery to " + Where(messages[i].topic, -1, -1) +
                     " failed: producer fatal error " + RdKafka::err2str(fatal) + ": " + reason;
    } else if (*report != RdKafka::ERR_NO_ERROR) {
      fail(i, "kafka delivery to " + Where(messages[i].topic, -1, -1) + " failed", *report);
    }
  }
  return out;
}

void Producer::Flush(std::chrono::milliseconds timeout) {
  const auto err = producer_->flush(static_cast<int>(timeout.count()));
  if (err != RdKafka::ERR_NO_ERROR) {
    throw internal::ErrorFor(
        "kafka flush (" + std::to_string(producer_->outq_len()) + " message(s) still queued)", err);
  }
}

}  // namespace sluice::kafka
