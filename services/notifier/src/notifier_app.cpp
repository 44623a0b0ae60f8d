// The notifier on the service skeleton: events recorded as pending deliveries from the consumer,
// sent by the sender through the configured channels; the deliveries API.
#include <sluice/core/logging.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/service/app.hpp>
#include <string>

#include "channels.hpp"
#include "notifier_component.hpp"
#include "notifier_config.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& NotifierMigrations();
}

namespace sluice::notifier {

void Register(service::App& app, const NotifierConfig& config) {
  if (config.routing.routes.empty()) {
    core::Logger("main")->warn(
        "no routes configured (SLUICE_NOTIFIER_CONFIG): events are recorded, nothing is sent");
  }
  auto& db = app.Database(generated::NotifierMigrations());
  app.EnsureTopics({std::string(events::kTopicNotifications)});
  // Redis only delays rate-limited channels: reported, never fatal for readiness.
  auto& redis = app.Redis("Redis unavailable: rate-limited channels wait");
  std::map<std::string, std::unique_ptr<Channel>> channels;
  for (const auto& [name, spec] : config.routing.channels) {
    channels.emplace(name, MakeChannel(spec, config.secrets.at(name), config.templates));
  }
  SenderOptions options;
  options.poll = config.poll;
  options.max_attempts = config.routing.max_attempts;
  options.backoff_base = config.routing.backoff_base;
  options.backoff_max = config.routing.backoff_max;
  auto& sender = app.Start<Sender>(SenderDeps{db, &redis, app.Clock(), &app.Registry()}, options,
                                   std::move(channels));
  // A delivery recorded from an event is sent as soon as the event's transaction committed.
  app.ConsumeAndWake(
      [&app, &config](pqxx::work& tx, const events::v1::Envelope& e) {
        return RecordEvent(tx, e, config.routing, config.build, app.Clock().Now()) > 0;
      },
      [&sender] { sender.Wake(); });
  MountDeliveriesApi(app.Http(), db);
  app.Describe(std::to_string(config.routing.channels.size()) + " channel(s), " +
               std::to_string(config.routing.routes.size()) + " route(s)");
}

}  // namespace sluice::notifier
