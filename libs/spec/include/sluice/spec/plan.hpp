#pragma once

// How the hosts of an environment are cut into batches. Deterministic: the same spec and the
// same hosts give the same batches, whatever order the hosts arrive in.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/spec/delivery_spec.hpp"

namespace sluice::spec {

// A wait before a batch starts: a pause (timed, or until resumed) or an operator approval.
struct Gate {
  enum class Kind { kPause, kApproval };
  Kind kind = Kind::kPause;
  std::optional<std::chrono::milliseconds> duration;  // kPause: nullopt = until resumed

  bool operator==(const Gate&) const = default;
};

struct Batch {
  std::uint32_t index = 0;
  // The cumulative share of every target once this batch is done (BatchRequested.weight_percent).
  // Canary: the weight of the spec step this batch carries out. Other strategies: the share of
  // all VM hosts done once this batch is done (rounded down; 100 for the last batch); with
  // Kubernetes targets only, rolling's batchSize percentage steps (100 for a count).
  int weight_percent = 0;
  std::vector<Host> hosts;  // only the VM hosts new in this batch
  // Every Kubernetes target of the environment: each is in every batch and moves to
  // weight_percent of its replicas (or partition) with it.
  std::vector<KubernetesTarget> kubernetes;
  std::uint32_t cumulative_hosts = 0;  // hosts on the new version once this batch is done
  std::vector<Gate> gates_before;      // waited for, in order, before the batch is requested
  std::string analysis_template;       // judge the batch with this template first; "" = none
  std::uint32_t max_parallel = 1;      // hosts deployed at once (>= 1, <= hosts.size())
  std::uint32_t failure_tolerance = 0;
  std::chrono::milliseconds host_timeout{0};
  std::optional<std::string> traffic_switch_url;  // blue-green: switch traffic after the batch

  bool operator==(const Batch&) const = default;
};

struct PlanOptions {
  // Blue-green: the group serving traffic now; the other group is deployed. When unknown
  // (first deployment), the first of `strategy.groups` is taken as live.
  std::optional<std::string> live_group;
};

class PlanError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Cuts `hosts` into batches following `env.strategy` and `env.policy`:
// - hosts are sorted by name (stable), then, with spreadBy, interleaved across the label's values
//   in proportion to their sizes (plain round-robin when the values have as many hosts each);
// - canary: each weight step's cumulative host count is ceil(weight% x hosts), raised to at least
//   one more host than the batch before; a step that adds no host is dropped and its gates move
//   to the next batch; gates after the last batch are dropped;
// - rolling: batches of batchSize (a percentage is of all hosts, rounded up); all-at-once: one
//   batch; blue-green: one batch of the idle group's hosts, with the traffic-switch hook;
// - policy approval: an approval gate before the first batch;
// - Kubernetes targets (env.kubernetes) are in every batch, at the batch's weight; with them a
//   canary step that adds no VM host is still a batch (it moves the workloads' share), and an
//   environment with no VM host at all has one batch per weight step (rolling: per batchSize
//   percentage; all-at-once, blue-green: one).
// Throws PlanError for duplicate host names or a blue-green group with no hosts.
// Returns no batch when neither `hosts` nor env.kubernetes has anything.
std::vector<Batch> PlanRollout(const Environment& env, std::vector<Host> hosts,
                               const PlanOptions& options = {});

// The order hosts are deployed in: sorted by name, then interleaved across `spread_by` values.
std::vector<Host> OrderHosts(std::vector<Host> hosts, const std::optional<std::string>& spread_by);

}  // namespace sluice::spec
