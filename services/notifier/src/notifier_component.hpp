#pragma once

// The notifier's plumbing: the event handler that turns a domain event into durable delivery
// rows, the sender that works them off, and the deliveries API.

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sluice/core/clock.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/http/server.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <thread>

#include "channels.hpp"
#include "notifier_repository.hpp"
#include "routing.hpp"

namespace sluice::notifier {

// Inside the consumer's transaction (the inbox already recorded the event id): remembers the
// deployment's context and inserts one pending delivery per routed (route, channel), or a
// suppressed one when the same incident was already told on that route and channel within the
// dedupe window. Returns the number of pending deliveries inserted.
int RecordEvent(pqxx::work& tx, const events::v1::Envelope& envelope, const RoutingConfig& routing,
                const BuildOptions& build, core::SystemTime now);

struct SenderDeps {
  pg::Database& db;
  lock::RedisClient* redis;  // null: no rate limits
  const core::Clock& clock;
  prometheus::Registry* registry;  // null: no metrics
};

struct SenderOptions {
  std::chrono::milliseconds poll{500};
  int batch_size = 20;
  std::string redis_prefix = "sluice:notifier:";
  std::chrono::milliseconds redis_retry{5000};  // delay when Redis cannot be asked
  int max_attempts = 6;
  std::chrono::milliseconds backoff_base{2000};
  std::chrono::milliseconds backoff_max{300000};
};

// Claims due deliveries (FOR UPDATE SKIP LOCKED), sends them through their channel, records
// the attempt, schedules retries with backoff and jitter, and after the last attempt marks the
// delivery failed and publishes NotificationFailed (NotificationDelivered on success) through
// the outbox, all in the claiming transaction.
class Sender final : public core::Component {
 public:
  Sender(SenderDeps deps, SenderOptions options,
         std::map<std::string, std::unique_ptr<Channel>> channels);
  ~Sender() override;
  std::string_view Name() const override { return "sender"; }
  void Start() override;
  void Stop() override;
  // One pass; returns the number of deliveries handled (sent, retried, failed or postponed).
  int SendOnce();
  // Ends the current idle wait at once: called after a transaction that inserted pending
  // deliveries committed, so a fresh notice does not wait for the next poll.
  void Wake();

 private:
  void Run();
  void Handle(pqxx::work& tx, const DeliveryRow& row, core::SystemTime now);
  // True when the channel may send now; otherwise postpones the row.
  bool TakeRateToken(pqxx::work& tx, const DeliveryRow& row, const Channel& channel,
                     core::SystemTime now);
  void Count(const std::string& channel, std::string_view outcome);

  SenderDeps deps_;
  SenderOptions options_;
  std::map<std::string, std::unique_ptr<Channel>> channels_;
  std::mt19937_64 random_;
  prometheus::Family<prometheus::Counter>* counter_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;  // last: stopped first
};

// GET /v1/deliveries?event_id=…&status=…&limit=… (newest first, limit 1..500, default 100).
void MountDeliveriesApi(http::Server& server, pg::Database& db);

}  // namespace sluice::notifier
