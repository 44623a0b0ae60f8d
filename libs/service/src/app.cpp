#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <iostream>
#include <sluice/http/service_auth.hpp>
#include <sluice/kafka/admin.hpp>
#include <sluice/service/app.hpp>

namespace sluice::service {

using namespace std::chrono_literals;

App::App(Settings settings, const core::Clock& clock)
    : settings_(std::move(settings)),
      clock_(clock),
      registry_(std::make_shared<::prometheus::Registry>()) {
  http_options_.addr = settings_.http_addr;
}

App::~App() {
  StopAll();
  lifecycle_.reset();
  while (!owned_.empty()) owned_.pop_back();
}

pg::Database& App::Database(const std::vector<pg::Migration>& migrations) {
  if (db_ == nullptr) {
    auto& db = Make<pg::Database>(settings_.pg);
    pg::ApplyMigrationsWithin(db, migrations, settings_.startup_timeout);
    db_ = &db;
    health_.Set("postgres", true);
  }
  return *db_;
}

pg::Database& App::Database() {
  if (db_ == nullptr) throw std::logic_error("App::Database() before Database(migrations)");
  return *db_;
}

void App::EnsureTopics(const std::vector<std::string>& extra, std::string_view consequence) {
  auto topics = settings_.topics;
  for (const auto& t : extra) {
    if (std::find(topics.begin(), topics.end(), t) == topics.end()) topics.push_back(t);
  }
  try {
    kafka::EnsureTopics(settings_.kafka, topics);
  } catch (const std::exception& e) {
    core::Logger("main")->warn("could not ensure Kafka topics ({}); {}", e.what(), consequence);
  }
}

lock::RedisClient& App::Redis(std::string unavailable) {
  if (redis_ == nullptr) {
    lock::RedisConfig config;
    config.url = settings_.redis_url;
    redis_ = &Make<lock::RedisClient>(config);
  }
  redis_unavailable_ = std::move(unavailable);
  return *redis_;
}

kafka::Producer& App::Producer() {
  if (producer_ == nullptr) producer_ = &Make<kafka::Producer>(settings_.kafka);
  return *producer_;
}

eventbus::OutboxRelayComponent& App::Relay() {
  if (relay_ == nullptr) {
    relay_ = &Make<eventbus::OutboxRelayComponent>(Database(), Producer());
    outbox_metrics_ = &Make<eventbus::OutboxMetrics>(*registry_, settings_.name);
  }
  return *relay_;
}

eventbus::ConsumerComponent& App::Consume(kafka::Handler handler) {
  if (consumer_ != nullptr) throw std::logic_error("App::Consume called twice");
  kafka::ConsumerOptions options;
  options.group_id = settings_.group_id;
  options.topics = settings_.topics;
  Relay();  // made (and so destroyed) before the consumer, which may publish through it
  consumer_ = &Start<eventbus::ConsumerComponent>("consumer", settings_.kafka, options,
                                                  std::move(handler), Producer(), registry_.get());
  return *consumer_;
}

eventbus::ConsumerComponent& App::ConsumeEvents(eventbus::EnvelopeHandler handle,
                                                eventbus::EnvelopeFilter wanted) {
  return Consume(eventbus::TransactionalHandler(Database(), settings_.name, std::move(handle),
                                                std::move(wanted)));
}

eventbus::ConsumerComponent& App::ConsumeAndWake(WakingHandler handle, std::function<void()> wake) {
  // Set inside the event's transaction; read after it committed (both on the consumer's thread).
  auto woken = std::make_shared<bool>(false);
  auto record = eventbus::TransactionalHandler(
      Database(), settings_.name,
      [handle = std::move(handle), woken](pqxx::work& tx, const events::v1::Envelope& e) {
        *woken = handle(tx, e);
      });
  return Consume(
      [record = std::move(record), woken, wake = std::move(wake)](const kafka::ConsumedMessage& m) {
        *woken = false;
        record(m);
        if (*woken) wake();
      });
}

http::Server& App::Http(std::vector<std::string> open_paths) {
  if (server_ == nullptr) {
    http_options_.addr = settings_.http_addr;
    server_ = &Make<http::Server>(settings_.name, http_options_);
    server_->MountOps(health_, *registry_);
    if (settings_.internal_api) {
      http::RequireServiceToken(*server_, settings_.service_token, std::move(open_paths));
    }
  }
  return *server_;
}

core::PeriodicTask& App::Every(std::string name, std::chrono::milliseconds interval,
                               std::function<void()> task) {
  return Start<core::PeriodicTask>(std::move(name), interval, std::move(task));
}

void App::Retain(std::string table, std::chrono::milliseconds keep, pg::PurgeFn purge) {
  retained_.push_back({std::move(table), keep, std::move(purge)});
}

std::vector<std::pair<std::string, int64_t>> App::Housekeep() {
  auto tables = pg::LibraryRetention(settings_.retention);
  tables.insert(tables.end(), retained_.begin(), retained_.end());
  const auto counts = pg::PurgeExpired(Database(), clock_.Now(), tables, settings_.retention.batch);
  std::vector<std::pair<std::string, int64_t>> out;
  for (size_t i = 0; i < tables.size(); ++i) out.emplace_back(tables[i].name, counts[i]);
  return out;
}

void App::Probe() {
  if (consumer_ != nullptr) {
    eventbus::ReportConsumerHealth(*db_, *consumer_, health_);
  } else if (db_ != nullptr) {
    const bool ok = db_->Ping();
    health_.Set("postgres", ok, ok ? "" : "PostgreSQL does not answer at the configured DSN");
  }
  if (redis_ != nullptr) {
    const bool ok = redis_->Ping();
    health_.Set("redis", true, ok ? "" : redis_unavailable_);
  }
  if (outbox_metrics_ != nullptr) outbox_metrics_->Update(relay_->Relay());
  for (const auto& check : probes_) check();
}

// Every settings.housekeeping_interval: Housekeep(), the rows deleted counted per table and
// said in one log line; a failure is logged and retried at the next round.
core::PeriodicTask& App::MakeHousekeeping() {
  auto& deleted = ::prometheus::BuildCounter()
                      .Name("sluice_housekeeping_deleted_rows_total")
                      .Help("Rows the housekeeping deleted past their retention, per table")
                      .Register(*registry_);
  return Make<core::PeriodicTask>(
      "housekeeping", settings_.housekeeping_interval, [this, &deleted] {
        const auto log = core::Logger("housekeeping");
        try {
          std::string said;
          for (const auto& [table, n] : Housekeep()) {
            if (n == 0) continue;
            deleted.Add({{"table", table}}).Increment(static_cast<double>(n));
            said += fmt::format("{}{} {}", said.empty() ? "" : ", ", n, table);
          }
          if (!said.empty()) log->info("deleted rows past their retention: {}", said);
        } catch (const std::exception& e) {
          log->warn("housekeeping failed ({}); the rows stay until the next round in {} s",
                    e.what(), settings_.housekeeping_interval.count() / 1000);
        }
      });
}

void App::Assemble() {
  if (lifecycle_) return;
  if (db_ != nullptr) Relay();
  Http();
  auto& probe = Make<core::PeriodicTask>("probe", 2s, [this] { Probe(); });
  auto* housekeeping = db_ != nullptr ? &MakeHousekeeping() : nullptr;
  lifecycle_ = std::make_unique<core::Lifecycle>();
  if (relay_ != nullptr) lifecycle_->Add(*relay_);
  for (auto* part : parts_) lifecycle_->Add(*part);
  lifecycle_->Add(probe);
  if (housekeeping != nullptr) lifecycle_->Add(*housekeeping);
  lifecycle_->Add(*server_);
}

void App::StartAll() {
  Assemble();
  lifecycle_->StartAll();
}

void App::StopAll() {
  if (lifecycle_) lifecycle_->StopAll();
}

int App::RunUntilSignal() {
  Assemble();
  return lifecycle_->RunUntilSignal();
}

int App::Port() const { return server_ != nullptr ? server_->Port() : 0; }

void ParseOrExit(std::string_view name, const std::function<void(core::EnvConfig&)>& parse) {
  try {
    core::EnvConfig env;
    parse(env);
  } catch (const std::exception& e) {
    core::ExitOnConfigError(name, e);
  }
}

int Run(const Settings& settings, const std::function<void(App&)>& wire) {
  core::InitLogging(settings.name, settings.log_level);
  const auto log = core::Logger("main");
  try {
    App app(settings);
    wire(app);
    log->info("{} listening on http://{}{}", settings.name, settings.http_addr,
              app.Details().empty() ? std::string() : " (" + app.Details() + ")");
    const int sig = app.RunUntilSignal();
    log->info("stopped on signal {}", sig);
    return 0;
  } catch (const std::exception& e) {
    log->critical("{} cannot start: {}", settings.name, e.what());
    std::cerr << settings.name << ": cannot start: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sluice::service
