// The rollback-agent on the service skeleton: the agent on the consumer, its worker pass over
// due reverts and pending incidents, the read API.
#include <fmt/format.h>

#include <sluice/eventbus/eventbus.hpp>
#include <sluice/events/envelope.hpp>
#include <sluice/lock/lease_lock.hpp>
#include <sluice/service/app.hpp>

#include "rollback_api.hpp"
#include "rollback_config.hpp"
#include "rollback_handler.hpp"
#include "rollback_metrics.hpp"
#include "rollback_worker.hpp"

namespace sluice::generated {
const std::vector<sluice::pg::Migration>& RollbackMigrations();
}

namespace sluice::rollback {

void Register(service::App& app, const RollbackConfig& config) {
  auto& db = app.Database(generated::RollbackMigrations());
  app.EnsureTopics({std::string(events::kTopicRollbacks)});
  // Without Redis the duplicate-work guard is gone; the unique rollback row still decides.
  auto& redis = app.Redis("Redis unavailable: rollbacks go ahead unleased");
  auto& locks = app.Make<lock::LeaseLock>(redis, app.Clock(), config.lock_prefix);
  auto& history =
      *app.Make<std::unique_ptr<MetricHistory>>(MakePrometheusHistory(config.prometheus));
  auto& metrics = app.Make<AgentMetrics>(app.Registry());
  auto options = config.agent;
  options.owner = service::OwnerId(kServiceName);
  const AgentDeps deps{db, app.Clock(), &locks, history, &metrics};
  auto& handler = app.Make<RollbackHandler>(deps, options);
  auto& worker = app.Make<RollbackWorker>(deps, options);
  // The deployment's lease is waited for with no transaction open (Prepare); the step it returns
  // runs in the event's transaction and releases the lease after the commit.
  app.Consume(eventbus::PreparedTransactionalHandler(
      db, std::string(kServiceName),
      [&handler](const events::v1::Envelope& e) { return handler.Prepare(e); }));
  MountRollbackApi(app.Http(), db);
  // Revert retries and timeouts live in rollback rows (due times), incidents in pending rows:
  // a restarted agent picks them up on its first pass.
  app.Every("worker", config.poll, [&worker] {
    worker.RunDue();
    worker.WriteIncidents();
  });
  app.Describe(fmt::format("owner {}, topics {}, prometheus {}", options.owner,
                           fmt::join(config.shared.topics, ","), config.prometheus.base_url));
}

}  // namespace sluice::rollback
