#pragma once

// The skeleton every Sluice service runs in. main() is one call:
//
//   int main() { return service::Main("executor", &ParseExecutorConfig, &Register); }
//
// Main blocks the termination signals, parses the configuration (a bad or unknown SLUICE_* key
// is one line on stderr naming it, exit 2), starts logging and hands an App to the service's
// Register, which asks it for the standard parts it needs and adds its own:
//
//   auto& db = app.Database(generated::ExecutorMigrations());  // opened and migrated
//   app.EnsureTopics({...});                                   // best effort
//   auto& redis = app.Redis("Redis unavailable: hosts wait");  // and on /readyz
//   auto& pool = app.Start<WorkerPool>(deps, options);         // owned, started in order
//   app.ConsumeEvents(handle);                                 // the settings' group and topics
//   MountExecutorApi(app.Http(), db);
//
// Then Main runs it: the parts with a start and a stop are started in the order they were made
// (the outbox relay first, the readiness probe and the HTTP server last) and, on SIGTERM or
// SIGINT, stopped in reverse; everything the App made is destroyed in reverse order of making
// (as Redpanda's application.h does with its deferred stops), so a part that calls into another
// is always made after it. A service with a database also runs its housekeeping (Retain) every
// SLUICE_HOUSEKEEPING_INTERVAL. A failure while starting is logged ("<name> cannot start: ...",
// exit 1) after the parts already started are stopped.

#include <chrono>
#include <functional>
#include <memory>
#include <sluice/core/clock.hpp>
#include <sluice/core/config.hpp>
#include <sluice/core/health.hpp>
#include <sluice/core/lifecycle.hpp>
#include <sluice/core/logging.hpp>
#include <sluice/core/periodic_task.hpp>
#include <sluice/eventbus/eventbus.hpp>
#include <sluice/eventbus/outbox_metrics.hpp>
#include <sluice/http/server.hpp>
#include <sluice/kafka/producer.hpp>
#include <sluice/lock/redis_client.hpp>
#include <sluice/pg/database.hpp>
#include <sluice/pg/migrations.hpp>
#include <sluice/pg/retention.hpp>
#include <sluice/service/settings.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace sluice::service {

class App {
 public:
  explicit App(Settings settings, const core::Clock& clock = core::SystemClock::Instance());
  // Stops what was started, then destroys what the App made, newest first.
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  const Settings& Config() const { return settings_; }
  const core::Clock& Clock() const { return clock_; }

  // PostgreSQL at settings.pg, with `migrations` applied (waiting for the server up to
  // settings.startup_timeout). The first call opens and migrates; later calls return it.
  pg::Database& Database(const std::vector<pg::Migration>& migrations);
  pg::Database& Database();  // after Database(migrations)
  // Creates the settings' topics plus `extra` (idempotent). Best effort: without Kafka it logs a
  // warning ending in `consequence`, and consuming and publishing start when Kafka answers.
  void EnsureTopics(const std::vector<std::string>& extra,
                    std::string_view consequence = "consuming starts when Kafka answers");
  // A client of settings.redis_url; /readyz reports its state without making the service
  // unready (`unavailable` says what is missing while Redis does not answer).
  lock::RedisClient& Redis(std::string unavailable);
  ::prometheus::Registry& Registry() { return *registry_; }
  core::Health& Health() { return health_; }
  kafka::Producer& Producer();
  // The outbox relay, started first; its state is on /metrics (eventbus::OutboxMetrics).
  eventbus::OutboxRelayComponent& Relay();
  // The consumer of settings.topics in settings.group_id, started in the order it is made;
  // /readyz reports PostgreSQL and its partition assignment (eventbus::ReportConsumerHealth).
  eventbus::ConsumerComponent& Consume(kafka::Handler handler);
  // Consume with eventbus::TransactionalHandler: `handle` runs inside the event's transaction
  // (the inbox has recorded the event id in it); `wanted` passes over the other events.
  eventbus::ConsumerComponent& ConsumeEvents(eventbus::EnvelopeHandler handle,
                                             eventbus::EnvelopeFilter wanted = {});
  // ConsumeEvents for a handler that says whether it left work for a worker: `wake` runs once
  // the event's transaction committed, so the worker starts now rather than at its next poll.
  using WakingHandler = std::function<bool(pqxx::work&, const events::v1::Envelope&)>;
  eventbus::ConsumerComponent& ConsumeAndWake(WakingHandler handle, std::function<void()> wake);
  // The HTTP server at settings.http_addr, started last: /healthz, /readyz, /metrics and, for an
  // internal API (settings.internal_api), every other path behind the service token except
  // `open_paths` (call Http() with them first).
  http::Server& Http(std::vector<std::string> open_paths = {});
  // Sets the server's options before its first Http() call (addr is the settings').
  void SetHttpOptions(http::ServerOptions options) { http_options_ = std::move(options); }

  // An object the App owns: destroyed after the ones made later.
  template <class T, class... Args>
  T& Make(Args&&... args) {
    auto p = std::make_shared<T>(std::forward<Args>(args)...);
    T& ref = *p;
    owned_.push_back(std::move(p));
    return ref;
  }
  // A part with a start and a stop, owned, and started after the ones added before it.
  template <class T, class... Args>
  T& Start(Args&&... args) {
    static_assert(std::is_base_of_v<core::Component, T>);
    T& part = Make<T>(std::forward<Args>(args)...);
    parts_.push_back(&part);
    return part;
  }
  // Runs `task` every `interval` on a thread of its own, started in the order it is added.
  core::PeriodicTask& Every(std::string name, std::chrono::milliseconds interval,
                            std::function<void()> task);
  // A table of the service's own that housekeeping purges with the library's (outbox, inbox)
  // every settings.housekeeping_interval: rows older than `keep`, in batches (pg/retention.hpp).
  void Retain(std::string table, std::chrono::milliseconds keep, pg::PurgeFn purge);
  // One round of housekeeping now (the periodic task runs this): {table, rows deleted}.
  std::vector<std::pair<std::string, int64_t>> Housekeep();
  // More for the readiness probe to do (every 2 s, after the standard checks).
  void OnProbe(std::function<void()> check) { probes_.push_back(std::move(check)); }
  // Said in the start-up log line after "<name> listening on http://<addr>".
  void Describe(std::string details) { details_ = std::move(details); }
  const std::string& Details() const { return details_; }

  // Starts every part in order (probe and HTTP server last); on a failure stops the started
  // ones and rethrows.
  void StartAll();
  void StopAll();  // reverse order; idempotent
  // StartAll, wait for SIGTERM or SIGINT, StopAll; the signal number.
  int RunUntilSignal();
  int Port() const;  // of the HTTP server, once started

 private:
  void Probe();
  core::PeriodicTask& MakeHousekeeping();
  void Assemble();

  Settings settings_;
  const core::Clock& clock_;
  std::shared_ptr<::prometheus::Registry> registry_;
  core::Health health_;
  std::vector<std::shared_ptr<void>> owned_;  // destroyed newest first
  std::vector<core::Component*> parts_;       // in start order
  pg::Database* db_ = nullptr;
  lock::RedisClient* redis_ = nullptr;
  std::string redis_unavailable_;
  kafka::Producer* producer_ = nullptr;
  eventbus::OutboxRelayComponent* relay_ = nullptr;
  eventbus::OutboxMetrics* outbox_metrics_ = nullptr;
  eventbus::ConsumerComponent* consumer_ = nullptr;
  http::ServerOptions http_options_;
  http::Server* server_ = nullptr;
  std::vector<std::function<void()>> probes_;
  std::vector<pg::RetainedTable> retained_;
  std::string details_;
  std::unique_ptr<core::Lifecycle> lifecycle_;
};

// The whole main(): signals blocked, `parse` (a core::ConfigError, or any exception, is one line
// "<name>: configuration error: ..." and exit 2), logging at config.shared.log_level, an App
// given to `wire`, run until a signal. The configuration outlives the App, so `wire` may keep
// references into it. Returns the process's exit status (0, or 1 when it cannot start).
template <class Config>
int Main(std::string_view name, Config (*parse)(core::EnvConfig&),
         void (*wire)(App&, const Config&));

// The non-template part of Main: runs `wire` and the App with start-up errors logged.
int Run(const Settings& settings, const std::function<void(App&)>& wire);
// Main's parse step: core::EnvConfig from the process environment, `parse`, exit 2 on an error.
void ParseOrExit(std::string_view name, const std::function<void(core::EnvConfig&)>& parse);

template <class Config>
int Main(std::string_view name, Config (*parse)(core::EnvConfig&),
         void (*wire)(App&, const Config&)) {
  core::Lifecycle::BlockTerminationSignals();
  Config config;
  ParseOrExit(name, [&](core::EnvConfig& env) { config = parse(env); });
  return Run(config.shared, [&](App& app) { wire(app, config); });
}

}  // namespace sluice::service
