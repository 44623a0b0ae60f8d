#pragma once

// The narrow interface between the executor and a kind of target (sluice-agent over HTTP now;
// SSH and Kubernetes later). A driver is shared by the worker threads of a batch, so every
// implementation is thread-safe.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sluice/core/clock.hpp>
#include <sluice/core/ids.hpp>
#include <sluice/events/vocabulary.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::executor {

// A driver call must have returned by then (read on the injected clock's monotonic time).
using Deadline = core::MonotonicTime;

// Driver types, as they appear in Target.driver.
inline constexpr std::string_view kDriverAgent = "agent";
inline constexpr std::string_view kDriverSsh = "ssh";
inline constexpr std::string_view kDriverKubernetes = "kubernetes";

// How a Kubernetes workload takes a release (sluice.v1.KubernetesRollout), as stored.
inline constexpr std::string_view kRolloutReplicaCanary = "replica_canary";
inline constexpr std::string_view kRolloutPartition = "partition";
inline constexpr std::string_view kRolloutRolling = "rolling";
inline constexpr std::string_view kRolloutBlueGreen = "blue_green";

// A Kubernetes workload a command drives (sluice.v1.KubernetesWorkload) and the share of it the
// command moves the release to.
struct KubernetesTarget {
  std::string cluster;  // a cluster the executor's configuration names
  std::string ns;
  std::string kind = "Deployment";  // or "StatefulSet"
  std::string name;
  std::string container;
  std::string rollout;  // kRollout*; empty: replica canary for a Deployment, partition for a
                        // StatefulSet
  bool surge = false;
  // Gateway API traffic split (all three or none): the HTTPRoute's backend weights follow the
  // share.
  std::string route;
  std::string stable_service;
  std::string canary_service;
  std::string service;  // blue-green: the Service whose selector is switched
  // Deploy: the release's cumulative share after this batch (BatchRequested.weight_percent).
  // Revert: the share the release falls back to (RevertRequested.weight_percent); 0 = none of
  // it (the canary gone and, once promoted, the stable back on the previous image).
  std::uint32_t weight_percent = 0;

  bool operator==(const KubernetesTarget&) const = default;
};

// One host of a batch (sluice.v1.Target); for a Kubernetes target, `host` is the target's name.
struct HostTarget {
  std::string host;
  std::string address;         // IP or DNS name
  std::string agent_endpoint;  // base URL of sluice-agent, e.g. http://10.0.0.5:7070
  std::map<std::string, std::string> labels;
  std::string driver = std::string(kDriverAgent);
  std::optional<KubernetesTarget> kubernetes{};  // set when driver is "kubernetes"
};

// The artifact a host is asked to run (sluice.v1.Artifact).
struct ArtifactRef {
  std::string version;
  std::string url;     // an image reference for kind "image"
  std::string sha256;  // an image's digest for kind "image"
  std::string kind{};  // "tarball", "image", "model"; empty when the event left it unspecified
  // A tarball release that Kubernetes targets take too: their image and its digest.
  std::string image{};
  std::string image_digest{};
};
inline constexpr std::string_view kArtifactImage = "image";

enum class HostHealth { kUnknown, kHealthy, kUnhealthy };
std::string_view ToString(HostHealth h);
// "healthy", "unhealthy"; anything else is kUnknown.
HostHealth ParseHostHealth(std::string_view s);

// How one driver call ended. A closed set: the runner and the records key on it.
enum class OutcomeKind {
  kSucceeded,    // the host runs the version and is healthy
  kFailed,       // the target refused or could not do it (see reason)
  kUnhealthy,    // the version was switched to but its health check failed
  kStale,        // the target has seen a newer generation: this command is superseded
  kUnreachable,  // no answer (connection refused, reset, name resolution)
  kTimedOut,     // no answer before the deadline
};
std::string_view ToString(OutcomeKind k);

// A pod a Kubernetes rollout waited for in vain (BatchFailed.pods_not_ready).
struct PodNotReady {
  std::string name;
  std::string phase;   // Pending, Running, ...
  std::string reason;  // one word: ImagePullBackOff, Unschedulable, ...
  std::string detail;  // the API's words

  bool operator==(const PodNotReady&) const = default;
};

struct HostOutcome {
  OutcomeKind kind = OutcomeKind::kFailed;
  bool retryable = false;  // trying the same command again may help
  std::string reason;      // a short code, e.g. the agent's "checksum_mismatch"; empty on success
  std::string message;     // for people: logs and InstanceDeploymentRecord.error_message
  std::string version;     // what the host reports as current, when known
  HostHealth health = HostHealth::kUnknown;
  // The instances the release runs on after the call, when they are not the host itself: a
  // Kubernetes target's pods of the release (BatchSucceeded.hosts lists them after the target,
  // for the metric-watcher's {{instances}}).
  std::vector<std::string> instances;
  // The pods still on the release before, beside those (a replica canary's stable pods):
  // BatchSucceeded.baseline_hosts, the analysis's {{baseline_instances}}.
  std::vector<std::string> baseline_instances;
  // A failed Kubernetes rollout: the target's pods that did not become Ready.
  std::vector<PodNotReady> pods_not_ready;

  bool Succeeded() const { return kind == OutcomeKind::kSucceeded; }

  static HostOutcome Success(std::string version, HostHealth health = HostHealth::kHealthy);
  static HostOutcome Failure(OutcomeKind kind, bool retryable, std::string reason,
                             std::string message);
};

// What a host reports about itself (the agent's GET /v1/status).
struct HostState {
  bool reachable = false;  // false: the other fields are unknown, `error` says why
  std::string current;
  std::string previous;
  std::vector<std::string> installed;
  HostHealth health = HostHealth::kUnknown;
  std::uint64_t highest_generation = 0;
  std::string error;
};

// What fences a command on a host: generations count per deployment, so a host remembers the
// highest generation of each deployment it has seen and refuses an older one of the same
// deployment (a forward batch after that deployment's rollback started).
struct CommandFence {
  std::string deployment_id;
  core::Generation generation{0};
};

class TargetDriver {
 public:
  virtual ~TargetDriver() = default;
  // Makes the host run `artifact` (idempotent: the version already current and healthy is a
  // success without work). `fence` fences the command.
  virtual HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact,
                             const CommandFence& fence, Deadline deadline) = 0;
  // Switches the host back to an installed `version`.
  virtual HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                             Deadline deadline) = 0;
  virtual HostState Status(const HostTarget& host, Deadline deadline) = 0;
};

// Makes drivers by type ("agent" now; "ssh" and "kubernetes" register themselves later).
class DriverRegistry {
 public:
  using Factory = std::function<std::unique_ptr<TargetDriver>()>;

  // Throws std::invalid_argument when the type is empty or already registered.
  void Register(std::string type, Factory factory);
  bool Has(std::string_view type) const;
  std::vector<std::string> Types() const;  // sorted
  // Throws std::invalid_argument naming the known types when `type` is unknown.
  std::unique_ptr<TargetDriver> Create(std::string_view type) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Factory, std::less<>> factories_;
};

// A TargetDriver that sends each host to the driver of its type, creating each driver once
// from the registry on first use. A host whose type is unknown fails, not retryable.
class RoutingDriver final : public TargetDriver {
 public:
  explicit RoutingDriver(const DriverRegistry& registry) : registry_(registry) {}

  HostOutcome Deploy(const HostTarget& host, const ArtifactRef& artifact, const CommandFence& fence,
                     Deadline deadline) override;
  HostOutcome Revert(const HostTarget& host, std::string version, const CommandFence& fence,
                     Deadline deadline) override;
  HostState Status(const HostTarget& host, Deadline deadline) override;

 private:
  // nullptr when the type is unknown.
  TargetDriver* DriverFor(const std::string& type);

  const DriverRegistry& registry_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<TargetDriver>> drivers_;  // guarded by mu_
};

// The reason of a host whose driver type is not registered.
inline constexpr std::string_view kReasonUnknownDriver =
    events::Name(events::v1::REASON_UNKNOWN_DRIVER);

}  // namespace sluice::executor
