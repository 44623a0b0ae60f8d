// The executor on the service skeleton: commands recorded from the consumer, run by the worker
// pool; the read API.
#include <fmt/format.h>

#include <sluice/events/envelope.hpp>
#include <sluice/service/app.hpp>

#include "executor_api.hpp"
#include "executor_config.hpp"
#include "executor_handler.hpp"
#include "executor_metrics.hpp"
#include "executor_migrations.hpp"

namespace sluice::executor {

void Register(service::App& app, const ExecutorConfig& config) {
  auto& db = app.Database(generated::ExecutorMigrations());
  app.EnsureTopics({std::string(events::kTopicExecutions)});
  // Without Redis no host lease can be taken: commands wait, nothing breaks.
  auto& redis = app.Redis("Redis unavailable: hosts wait for their lease");
  auto& metrics = app.Make<ExecutorMetrics>(app.Registry());
  auto options = config.workers;
  options.owner = service::OwnerId(kServiceName);
  app.Start<WorkerPool>(WorkerPoolDeps{db, redis, app.Clock(), &metrics}, options);
  // The handler only records the command: the consumer never waits for a batch to run.
  app.ConsumeEvents(
      [&metrics, defaults = config.defaults](pqxx::work& tx, const events::v1::Envelope& e) {
        AcceptCommand(tx, e, defaults, &metrics);
      },
      &IsCommand);
  MountExecutorApi(app.Http(), db);
  // The S3 endpoint and how long presigned URLs live; never the key.
  const std::string s3 =
      config.workers.s3
          ? fmt::format("s3 artifacts presigned at {} ({}, URLs live {}s)",
                        config.workers.s3->endpoint_url,
                        config.workers.s3->signer.path_style ? "path-style" : "virtual-hosted",
                        config.workers.s3->url_ttl.count())
          : std::string("s3 artifacts refused (no SLUICE_EXECUTOR_S3_ENDPOINT)");
  app.Describe(fmt::format("{} worker(s), owner {}, topics {}; {}", options.workers, options.owner,
                           fmt::join(config.shared.topics, ","), s3));
}

}  // namespace sluice::executor
