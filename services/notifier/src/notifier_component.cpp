#include "notifier_component.hpp"

#include <sluice/core/ids.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/http/errors.hpp>
#include <sluice/service/poll_loop.hpp>

#include "notifier_repository.hpp"

namespace sluice::notifier {
namespace {

using Kind = Outcome::Kind;

void PublishResult(pqxx::work& tx, const core::Clock& clock, const DeliveryRow& row, bool delivered,
                   int attempts, const std::string& last_error) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(row.deployment_id);
  e.set_release_id(row.notification.value("release_id", ""));
  if (delivered) {
    auto* p = e.mutable_notification_delivered();
    p->set_notification_id(row.notification_id);
    p->set_channel(row.channel_type);
    p->set_route(row.route);
    p->set_subject_event_id(row.event_id);
    p->set_attempts(static_cast<std::uint32_t>(attempts));
  } else {
    auto* p = e.mutable_notification_failed();
    p->set_notification_id(row.notification_id);
    p->set_channel(row.channel_type);
    p->set_route(row.route);
    p->set_subject_event_id(row.event_id);
    p->set_attempts(static_cast<std::uint32_t>(attempts));
    p->set_last_error(last_error);
  }
  eventbus::Publish(tx, std::move(e));
}

// The event's time (the receipt's when it carries none), for the projection.
std::int64_t OccurredMs(const events::v1::Envelope& e, core::SystemTime now) {
  if (!e.has_occurred_at()) return core::ToUnixMillis(now);
  return e.occurred_at().seconds() * 1000 + e.occurred_at().nanos() / 1000000;
}

}  // namespace

int RecordEvent(pqxx::work& tx, const events::v1::Envelope& envelope, const RoutingConfig& routing,
                const BuildOptions& build, core::SystemTime now) {
  const std::string& deployment_id = envelope.deployment_id();
  auto deployment = LoadDeployment(tx, deployment_id);
  const DeploymentContext context = ContextOf(deployment);
  const auto before = projection::ToJson(deployment);
  if (!deployment_id.empty() &&
      projection::Apply(deployment, envelope, OccurredMs(envelope, now)) &&
      projection::ToJson(deployment) != before) {
    SaveDeployment(tx, deployment_id, deployment, now);
  }
  const auto notification = BuildNotification(envelope, context, build);
  if (!notification) return 0;
  int pending = 0;
  for (const auto& target : RouteNotification(routing, *notification)) {
    const auto& spec = routing.channels.at(target.channel);
    std::string_view status = kStatusPending;
    if (!notification->incident_key.empty() &&
        RecentIncidentDelivery(tx, notification->incident_key, target.channel, target.route,
                               now - routing.dedupe_window)) {
      status = kStatusSuppressed;
    }
    const bool inserted =
        InsertDelivery(tx, {.notification_id = core::NewUuid(),
                            .notification = &*notification,
                            .route = target.route,
                            .channel = target.channel,
                            .channel_type = std::string(ChannelTypeName(spec.type)),
                            .status = status,
                            .now = now});
    if (inserted && status == kStatusPending) ++pending;
  }
  return pending;
}

Sender::Sender(SenderDeps deps, SenderOptions options,
               std::map<std::string, std::unique_ptr<Channel>> channels)
    : deps_(deps),
      options_(std::move(options)),
      channels_(std::move(channels)),
      random_(std::random_device{}()) {
  if (deps_.registry != nullptr) {
    counter_ = &prometheus::BuildCounter()
                    .Name("sluice_notifier_attempts_total")
                    .Help("Delivery attempts by channel and outcome")
                    .Register(*deps_.registry);
  }
}

Sender::~Sender() { Stop(); }

void Sender::Start() {
  std::lock_guard lock(mu_);
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Sender::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Sender::Run() {
  service::RunPollLoop("sender", {mu_, cv_, stop_, wake_}, options_.poll, options_.batch_size,
                       [this] { return SendOnce(); });
}

void Sender::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

int Sender::SendOnce() {
  return deps_.db.WithTransaction([&](pqxx::work& tx) {
    const auto now = deps_.clock.Now();
    const auto rows = ClaimDueDeliveries(tx, now, options_.batch_size);
    for (const auto& row : rows) Handle(tx, row, now);
    return static_cast<int>(rows.size());
  });
}

bool Sender::TakeRateToken(pqxx::work& tx, const DeliveryRow& row, const Channel& channel,
                           core::SystemTime now) {
  const int limit = channel.Spec().rate_limit_per_minute;
  if (limit <= 0 || deps_.redis == nullptr) return true;
  const auto window = CurrentRateWindow(now, std::chrono::minutes(1));
  const auto key = RateLimitKey(options_.redis_prefix, row.channel, window);
  try {
    const auto count = deps_.redis->Command({"INCR", key});
    if (count.IsError()) throw lock::RedisUnavailable("INCR: " + count.str);
    if (count.integer == 1) {
      deps_.redis->Command({"PEXPIRE", key, std::to_string(window.remaining.count() + 1000)});
    }
    if (WithinRateLimit(count.integer, limit)) return true;
    Postpone(tx, row.id, now + window.remaining, "rate limited: waiting for the next minute", now);
    Count(row.channel, "rate_limited");
    return false;
  } catch (const lock::RedisUnavailable& e) {
    // Losing Redis only delays work: without the counter the limit cannot be kept.
    core::Logger("sender")->warn("rate limit of channel {} unknown (Redis: {}); delaying",
                                 row.channel, e.what());
    Postpone(tx, row.id, now + options_.redis_retry, "rate limit unknown: Redis unavailable", now);
    return false;
  }
}

void Sender::Handle(pqxx::work& tx, const DeliveryRow& row, core::SystemTime now) {
  const auto log = core::Logger("sender");
  const int attempts = row.attempts + 1;
  const auto it = channels_.find(row.channel);
  if (it == channels_.end()) {
    const std::string why = "channel '" + row.channel + "' is no longer configured";
    RecordAttempt(tx, row.id, kStatusFailed, attempts, now, 0, why, now);
    PublishResult(tx, deps_.clock, row, false, attempts, why);
    Count(row.channel, "failed");
    return;
  }
  Channel& channel = *it->second;
  if (!TakeRateToken(tx, row, channel, now)) return;
  Notification n;
  try {
    n = NotificationFromJson(row.notification);
  } catch (const std::exception& e) {
    const std::string why = std::string("stored notice unreadable: ") + e.what();
    RecordAttempt(tx, row.id, kStatusFailed, attempts, now, 0, why, now);
    PublishResult(tx, deps_.clock, row, false, attempts, why);
    return;
  }
  const Attempt a = channel.Deliver(n, now);
  const std::string response = a.outcome.detail;
  if (a.outcome.kind == Kind::kDelivered) {
    RecordAttempt(tx, row.id, kStatusDelivered, attempts, now, a.status_code, response, now);
    PublishResult(tx, deps_.clock, row, true, attempts, "");
    Count(row.channel, "delivered");
    log->info("delivered {} notice for event {} via {} (route {}, attempt {})", row.event_kind,
              row.event_id, row.channel, row.route, attempts);
    return;
  }
  if (a.outcome.kind == Kind::kRetry && attempts < options_.max_attempts) {
    std::uniform_real_distribution<double> dist(0.0, 1.0);
    const auto due = NextAttemptAt(now, attempts, a.outcome, options_.backoff_base,
                                   options_.backoff_max, dist(random_));
    RecordAttempt(tx, row.id, kStatusPending, attempts, due, a.status_code, response, now);
    Count(row.channel, "retry");
    log->warn("notice for event {} via {} not delivered ({}); attempt {} of {}, next in {} ms",
              row.event_id, row.channel, response, attempts, options_.max_attempts,
              std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count());
    return;
  }
  RecordAttempt(tx, row.id, kStatusFailed, attempts, now, a.status_code, response, now);
  PublishResult(tx, deps_.clock, row, false, attempts, response);
  Count(row.channel, "failed");
  log->error("notice for event {} via {} (route {}) failed after {} attempt(s): {}", row.event_id,
             row.channel, row.route, attempts, response);
}

void Sender::Count(const std::string& channel, std::string_view outcome) {
  if (counter_ != nullptr) {
    counter_->Add({{"channel", channel}, {"outcome", std::string(outcome)}}).Increment();
  }
}

void MountDeliveriesApi(http::Server& server, pg::Database& db) {
  server.Get("/v1/deliveries", [&db](const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> event_id;
    std::optional<std::string> status;
    if (req.has_param("event_id")) event_id = req.get_param_value("event_id");
    if (req.has_param("status")) {
      status = req.get_param_value("status");
      if (*status != kStatusPending && *status != kStatusDelivered && *status != kStatusFailed &&
          *status != kStatusSuppressed) {
        throw http::BadRequest("status", "status must be pending, delivered, failed or suppressed");
      }
    }
    const int limit = http::LimitParam(req, 100);
    const auto rows = db.WithTransaction(
        [&](pqxx::work& tx) { return ListDeliveries(tx, event_id, status, limit); });
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : rows) items.push_back(ToJson(r));
    http::WriteJson(res, 200, {{"deliveries", items}});
  });
}

}  // namespace sluice::notifier
