#pragma once

// The executor's configuration from SLUICE_* environment variables (strict: a bad value or an
// unknown key is a core::ConfigError naming the key).

#include <chrono>
#include <sluice/core/config.hpp>
#include <sluice/service/settings.hpp>
#include <string>
#include <vector>

#include "adapters/kubernetes_driver.hpp"
#include "command.hpp"
#include "executor_handler.hpp"
#include "executor_worker.hpp"

namespace sluice::service {
class App;
}

namespace sluice::executor {

struct ExecutorConfig {
  service::Settings shared;  // SLUICE_HTTP_ADDR, SLUICE_PG_*, SLUICE_KAFKA_*, SLUICE_REDIS_URL, ...
  CommandDefaults defaults;
  WorkerPoolOptions workers;                     // owner is filled at start-up
  std::vector<KubeClusterConfig> kube_clusters;  // as configured (their credentials: workers)
};

// An argv from one variable: a JSON array of strings (["bin/restart.sh", "--fast"]), or words
// separated by blanks. Throws core::ConfigError naming `key` when it is malformed.
std::vector<std::string> ParseArgv(std::string_view key, const std::string& value);

// The Kubernetes clusters targets may name, from SLUICE_EXECUTOR_KUBE_CLUSTERS: a JSON object
// from name to "in-cluster" or {"kubeconfig": path, "context": name (optional)}, e.g.
// {"local": {"kubeconfig": "var/local/kubeconfig-executor"}, "prod": "in-cluster"}. Throws
// core::ConfigError naming `key` and the cluster when it is malformed. Pure: no file is read.
std::vector<KubeClusterConfig> ParseKubeClusters(std::string_view key, const std::string& value);

// Reads every setting; throws core::ConfigError (one line naming the key) when one is bad,
// missing, or unknown.
ExecutorConfig ParseExecutorConfig(core::EnvConfig& env);

// The executor's parts on top of the standard ones: the command intake on the consumer, the
// worker pool, the API (executor_app.cpp).
void Register(service::App& app, const ExecutorConfig& config);

}  // namespace sluice::executor
