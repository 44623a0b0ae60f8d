#pragma once

// The delivery spec of one application: a YAML file naming its environments, the hosts of each
// and how a release is rolled out to them. Parsing is pure (text in, value or error out); every
// error names the file, line, column and the path of the offending key. The format is
// described in services/rollout-planner/README.md. The planner, release-intake and the CLI read
// it through this library; events carry its typed form (sluice/spec/convert.hpp).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/analysis/spec.hpp"
#include "sluice/analysis/types.hpp"

namespace sluice::spec {

enum class StrategyType { kCanary, kRolling, kAllAtOnce, kBlueGreen };
std::string_view ToString(StrategyType type);  // "canary", "rolling", "all-at-once", "blue-green"
std::optional<StrategyType> ParseStrategyType(std::string_view s);

// An agentless host reached over SSH (the executor's ssh driver); empty / 0: the executor's
// configured user and port.
struct SshAccess {
  std::string user;
  int port = 0;

  bool operator==(const SshAccess&) const = default;
};

// One host the release goes to. `group` is the host group (key under `targets`) it belongs to.
struct Host {
  std::string name;
  std::string address;
  std::string agent_endpoint;  // empty for an ssh host
  std::map<std::string, std::string> labels;
  std::string group;
  int port = 0;                    // an inventory host's ansible_port; 0 = not given
  std::optional<SshAccess> ssh{};  // set: no agent, the host is driven over SSH

  bool operator==(const Host&) const = default;
};

// Where a host group's hosts come from when the spec does not list them: an Ansible JSON
// inventory (`inventory:`, a file or a URL), or the enrolled agents whose labels match
// (`selector:`), read by release-intake at each deployment request.
struct InventorySource {
  std::string file;  // an absolute path on release-intake's host; or
  std::string url;   // an http:// or https:// URL (exactly one of the two); or
  // `selector: {label: value, ...}`: the enrolled, non-revoked agents that have every one of
  // these labels (file, url, group and token_file empty).
  std::map<std::string, std::string> selector;
  std::string group;       // the inventory group whose hosts (children included) are taken
  std::string token_file;  // url only: a file whose text is sent as "Authorization: Bearer"
  // The agent's URL of each host: "{address}" (and "{port}") replaced by the host's
  // ansible_host (ansible_port); a host's `sluice_agent_endpoint` hostvar takes precedence.
  std::string agent_endpoint;
  // Set by release-intake when it reads the inventory for a deployment request (empty in a
  // parsed spec): the document's sha256, and the hosts gone from / new in the group since the
  // previous request of the same app and environment.
  std::string sha256;
  std::vector<std::string> removed_hosts;
  std::vector<std::string> added_hosts;

  bool operator==(const InventorySource&) const = default;
};

struct HostGroup {
  std::string name;
  std::vector<Host> hosts;  // an inventory group: empty in the spec, filled at request time
  std::optional<InventorySource> inventory;

  bool operator==(const HostGroup&) const = default;
};

// One Kubernetes workload of an environment (`kubernetes:`, beside the VM host groups).
enum class KubernetesKind { kDeployment, kStatefulSet };
std::string_view ToString(KubernetesKind kind);  // "Deployment", "StatefulSet"

// How the workload takes a release, batch by batch (sluice.v1.KubernetesRollout).
enum class KubernetesRollout {
  kReplicaCanary,  // Deployment: a <workload>-canary Deployment takes the batch's share
  kPartition,      // StatefulSet: rollingUpdate.partition lowered batch by batch
  kRolling,        // the workload's own rolling update, at the first batch
  kBlueGreen,      // Deployment: a second Deployment; `service`'s selector switched when ready
};
// "replica-canary", "partition", "rolling", "blue-green".
std::string_view ToString(KubernetesRollout rollout);

// Gateway API: the HTTPRoute's backend weights between the two Services follow the share.
struct HttpRouteTraffic {
  std::string http_route;
  std::string stable_service;
  std::string canary_service;

  bool operator==(const HttpRouteTraffic&) const = default;
};

struct KubernetesTarget {
  std::string name;     // the target's name in the spec: unique in the environment, and
                        // distinct from its VM host names (BatchRequested names it as a host)
  std::string cluster;  // a credential the executor knows (kubeconfig context or "in-cluster")
  std::string ns;       // `namespace`
  KubernetesKind kind = KubernetesKind::kDeployment;
  std::string workload;   // the Deployment's or StatefulSet's name
  std::string container;  // the container whose image a release sets
  // Default: replica-canary for a Deployment, partition for a StatefulSet.
  KubernetesRollout rollout = KubernetesRollout::kReplicaCanary;
  bool surge = false;                       // replica-canary: the stable keeps all its replicas
  std::optional<HttpRouteTraffic> traffic;  // replica-canary only
  std::string service;                      // blue-green only (required there)

  bool operator==(const KubernetesTarget&) const = default;
};

// A count of hosts, either absolute ("3") or a share of the hosts ("25%").
struct Quantity {
  int value = 0;
  bool percent = false;

  bool operator==(const Quantity&) const = default;
};

// Canary steps. A weight step grows the share of hosts on the new version to `percent`;
// a pause step waits (for `duration`, or until resumed when absent); an approval step waits
// for an operator's approve (or promote).
struct WeightStep {
  int percent = 0;
  bool analysis = false;               // `analysis: <template>`: judge the batch before going on
  std::string analysis_template = {};  // the template's name; "" for none

  bool operator==(const WeightStep&) const = default;
};
struct PauseStep {
  std::optional<std::chrono::milliseconds> duration;  // nullopt = until resumed

  bool operator==(const PauseStep&) const = default;
};
struct ApprovalStep {
  bool operator==(const ApprovalStep&) const = default;
};
using CanaryStep = std::variant<WeightStep, PauseStep, ApprovalStep>;

struct TrafficSwitch {
  std::string url;  // called after the idle group is healthy, to move traffic onto it

  bool operator==(const TrafficSwitch&) const = default;
};

struct Strategy {
  StrategyType type = StrategyType::kCanary;
  std::vector<CanaryStep> steps;                // canary only
  std::optional<Quantity> batch_size;           // rolling only (required there)
  std::vector<std::string> groups;              // blue-green only: exactly two host groups
  std::optional<TrafficSwitch> traffic_switch;  // blue-green only (required there)
  std::optional<int> max_parallel;              // hosts deployed at once within a batch
  std::optional<Quantity> max_unavailable;      // hosts down at once (percent of all hosts)
  std::chrono::milliseconds host_timeout = std::chrono::minutes(5);
  int failure_tolerance = 0;             // host failures a batch survives; one more fails it
  std::optional<std::string> spread_by;  // label whose values each batch mixes
  // `failureTolerance: 20%` (0%..100%), Ansible's max_fail_percentage: a batch fails when its
  // failed targets exceed this share of its targets. Resolved per batch by PlanRollout
  // (FailureToleranceOf); set, it replaces `failure_tolerance` (which stays 0).
  std::optional<int> failure_tolerance_percent;

  bool operator==(const Strategy&) const = default;
};

enum class ApprovalPolicy { kNone, kRequired };

// What a deployment of an app+env does while another one of the same app+env is active.
enum class ConcurrencyPolicy {
  kQueue,   // waits, and starts when the active one finishes (first requested, first started)
  kReject,  // fails at once with reason "concurrent_deployment"
};
std::string_view ToString(ConcurrencyPolicy c);  // "queue", "reject"

struct Policy {
  bool auto_deploy = false;  // deploy on ReleaseCreated without a DeploymentRequested
  ApprovalPolicy approval = ApprovalPolicy::kNone;  // kRequired: approve before the first batch
  // `allowSelfApproval`: whether whoever requested a deployment may also approve it (approval
  // policy and approval steps alike). Off by default: two people, separation of duties.
  bool allow_self_approval = false;
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::kQueue;

  bool operator==(const Policy&) const = default;
};

// How the agent restarts and health-checks the service once a release is unpacked
// (BatchRequested.service). Relative paths in the commands resolve in the release directory.
struct ServiceSpec {
  std::vector<std::string> restart_command;                  // argv, at least one element
  std::optional<std::chrono::milliseconds> restart_timeout;  // nullopt: the agent's default
  std::string health_http_url;                               // at most one of these two
  std::vector<std::string> health_command;
  std::optional<std::chrono::milliseconds> health_timeout;  // nullopt: the agent's default

  bool operator==(const ServiceSpec&) const = default;
};

// `promotion:` of an environment: a release goes into it only after it succeeded in `from`
// (and passed `from`'s bake watch, when `from` has one). Absent: the environment takes any
// release (no gate). `promotion: manual` / `promotion: auto` name the environment before it in
// the file; `promotion: {from: staging, mode: auto}` names another one.
enum class PromotionMode {
  kManual,  // a person requests the deployment (POST /v1/deployments, `sluice deploy`)
  kAuto,    // release-intake requests it itself once the release passed `from`
};
std::string_view ToString(PromotionMode mode);  // "manual", "auto"

struct Promotion {
  std::string from;  // the environment the release must pass first
  PromotionMode mode = PromotionMode::kManual;

  bool operator==(const Promotion&) const = default;
};

// `windows:` of an environment: when deployments into it may start. Each window is a time range
// on some days of the week in a time zone of the system tz database (`timeZone`, default UTC);
// `end` before `start` runs past midnight (into the next day). Empty: any time.
struct DeploymentWindow {
  std::vector<int> days;  // 0 = Sunday ... 6 = Saturday, ascending, at least one
  int start_minute = 0;   // minutes after local midnight, 0..1439 ("09:00" = 540)
  int end_minute = 0;     // 0..1439; not equal to start_minute
  std::string time_zone = "UTC";

  bool operator==(const DeploymentWindow&) const = default;
};

struct Environment {
  std::string name;
  std::vector<HostGroup> targets;            // VM host groups (`targets:`), in file order
  std::vector<KubernetesTarget> kubernetes;  // `kubernetes:`, in file order
  Strategy strategy;
  Policy policy;
  std::optional<ServiceSpec> service;              // nullopt: the executor's configured default
  std::optional<analysis::AnalysisSpec> analysis;  // `analysis:`: templates and bake watch
  // `rollback.onCanaryFailure`: what a failed analysis of a canary batch reverts.
  analysis::OnCanaryFailure on_canary_failure = analysis::OnCanaryFailure::kRevertBatch;
  std::optional<Promotion> promotion;     // `promotion:`; nullopt: no promotion gate
  std::vector<DeploymentWindow> windows;  // `windows:`; empty: deployments start any time

  // Every host of every group, in file order.
  std::vector<Host> AllHosts() const;
  bool operator==(const Environment&) const = default;
};

struct DeliverySpec {
  std::string app;
  std::vector<Environment> environments;  // in file order

  const Environment* FindEnvironment(std::string_view name) const;
  // The environments whose `promotion.from` is `name`, in file order.
  std::vector<const Environment*> PromotionsFrom(std::string_view name) const;
  bool operator==(const DeliverySpec&) const = default;
};

// What is wrong with a spec and where. ToString() gives
// "spec.yaml:12:7: environments.production.strategy.steps[2].weight: must be 1%..100%, got 150%".
struct SpecError {
  std::string origin;
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
  std::string path;  // e.g. environments.production.strategy.steps[2].weight; empty for syntax
  std::string message;

  std::string ToString() const;
};

// Parses and validates a spec. `origin` names the text in errors (usually the file name).
std::variant<DeliverySpec, SpecError> ParseDeliverySpec(std::string_view yaml,
                                                        std::string_view origin);

// "2m", "30s", "1h30m", "500ms": a positive sum of <integer><unit> with units h, m, s, ms
// (the grammar the analysis section shares).
using analysis::ParseDuration;
// "25%" -> 25 (1..100 only).
std::optional<int> ParsePercent(std::string_view s);

// The host failures a batch of `targets` targets survives: the count, or for a percentage
// floor(percent x targets / 100) — Ansible's max_fail_percentage, where the play stops only
// when the failures exceed the percentage (50% of 4 tolerates 2 failures; 49% tolerates 1).
std::uint32_t FailureToleranceOf(const Strategy& s, std::size_t targets);

// Whether any host group of `env` reads its hosts from an inventory (or an agent selector).
bool HasInventory(const Environment& env);

}  // namespace sluice::spec
