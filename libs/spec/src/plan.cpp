#include "sluice/spec/plan.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace sluice::spec {
namespace {

std::uint32_t CeilPercent(int percent, std::size_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(percent) * n + 99) / 100);
}

int ShareOf(std::size_t done, std::size_t n) {
  return done == n ? 100 : static_cast<int>(done * 100 / n);
}

// Fills the per-batch execution limits shared by every strategy.
void ApplyLimits(const Strategy& s, std::size_t total_hosts, Batch& b) {
  std::size_t mp = b.hosts.size();
  if (s.max_parallel) mp = std::min<std::size_t>(mp, static_cast<std::size_t>(*s.max_parallel));
  if (s.max_unavailable) {
    std::size_t u = static_cast<std::size_t>(s.max_unavailable->value);
    if (s.max_unavailable->percent) {
      u = std::max<std::size_t>(
          1, static_cast<std::size_t>(s.max_unavailable->value) * total_hosts / 100);
    }
    mp = std::min(mp, u);
  }
  b.max_parallel = static_cast<std::uint32_t>(std::max<std::size_t>(1, mp));
  // A percentage is of this batch's targets (its VM hosts and the Kubernetes targets every
  // batch carries), as Ansible's max_fail_percentage is of each serial batch.
  b.failure_tolerance = FailureToleranceOf(s, b.hosts.size() + b.kubernetes.size());
  b.host_timeout = s.host_timeout;
}

Gate GateOf(const CanaryStep& step) {
  if (const auto* p = std::get_if<PauseStep>(&step)) return Gate{Gate::Kind::kPause, p->duration};
  return Gate{Gate::Kind::kApproval, std::nullopt};
}

// The analysis template a weight step names ("" = none).
std::string StepTemplate(const WeightStep& w) {
  if (!w.analysis_template.empty()) return w.analysis_template;
  return w.analysis ? "default" : "";
}

std::vector<Batch> Canary(const Strategy& s, const std::vector<Host>& ordered,
                          bool has_kubernetes) {
  const std::size_t n = ordered.size();
  std::vector<Batch> batches;
  std::vector<Gate> pending_gates;
  std::uint32_t done = 0;
  for (const auto& step : s.steps) {
    const auto* w = std::get_if<WeightStep>(&step);
    if (w == nullptr) {
      pending_gates.push_back(GateOf(step));
      continue;
    }
    if (done == n && !has_kubernetes) {
      // Every host is already covered: the step adds nobody. Its analysis still judges the
      // hosts deployed last (the later step's template wins: it speaks for the share reached);
      // its gates wait for a batch that will not come.
      if (!batches.empty() && !StepTemplate(*w).empty()) {
        batches.back().analysis_template = StepTemplate(*w);
      }
      continue;
    }
    // With Kubernetes targets a step past the last VM host still moves the workloads' share.
    std::uint32_t target = done == n ? done : std::max(CeilPercent(w->percent, n), done + 1);
    target = std::min<std::uint32_t>(target, static_cast<std::uint32_t>(n));
    Batch b;
    b.index = static_cast<std::uint32_t>(batches.size());
    b.weight_percent = w->percent;
    b.hosts.assign(ordered.begin() + done, ordered.begin() + target);
    b.cumulative_hosts = target;
    b.gates_before = std::move(pending_gates);
    pending_gates.clear();
    b.analysis_template = StepTemplate(*w);
    done = target;
    batches.push_back(std::move(b));
  }
  return batches;  // gates still pending here come after the last batch: nothing to wait for
}

std::vector<Batch> FixedSize(std::size_t size, const std::vector<Host>& ordered) {
  const std::size_t n = ordered.size();
  size = std::max<std::size_t>(1, size);
  std::vector<Batch> batches;
  for (std::size_t done = 0; done < n;) {
    const std::size_t end = std::min(n, done + size);
    Batch b;
    b.index = static_cast<std::uint32_t>(batches.size());
    b.hosts.assign(ordered.begin() + done, ordered.begin() + end);
    b.cumulative_hosts = static_cast<std::uint32_t>(end);
    b.weight_percent = ShareOf(end, n);
    done = end;
    batches.push_back(std::move(b));
  }
  return batches;
}

// Kubernetes targets only: one batch per `percent` step of the share (100 when percent is 0).
std::vector<Batch> SharesOnly(int percent) {
  std::vector<Batch> batches;
  for (int share = percent <= 0 ? 100 : std::min(100, percent);;
       share = std::min(100, share + percent)) {
    Batch b;
    b.index = static_cast<std::uint32_t>(batches.size());
    b.weight_percent = share;
    batches.push_back(std::move(b));
    if (share == 100) break;
  }
  return batches;
}

// The batches of the VM hosts (at least one) by the strategy.
std::vector<Batch> HostBatches(const Strategy& s, std::vector<Host> hosts,
                               const PlanOptions& options, bool has_kubernetes) {
  switch (s.type) {
    case StrategyType::kCanary:
      return Canary(s, OrderHosts(std::move(hosts), s.spread_by), has_kubernetes);
    case StrategyType::kRolling: {
      const auto ordered = OrderHosts(std::move(hosts), s.spread_by);
      std::size_t size = 1;
      if (s.batch_size) {
        size = s.batch_size->percent ? CeilPercent(s.batch_size->value, ordered.size())
                                     : static_cast<std::size_t>(s.batch_size->value);
      }
      return FixedSize(size, ordered);
    }
    case StrategyType::kAllAtOnce: {
      const auto ordered = OrderHosts(std::move(hosts), std::nullopt);
      return FixedSize(ordered.size(), ordered);
    }
    case StrategyType::kBlueGreen: {
      if (s.groups.size() != 2) throw PlanError("blue-green needs exactly two groups");
      const std::string live = options.live_group.value_or(s.groups[0]);
      if (live != s.groups[0] && live != s.groups[1]) {
        throw PlanError("live group '" + live + "' is not one of the blue-green groups");
      }
      const std::string idle = live == s.groups[0] ? s.groups[1] : s.groups[0];
      std::vector<Host> idle_hosts;
      for (auto& h : hosts) {
        if (h.group == idle) idle_hosts.push_back(std::move(h));
      }
      if (idle_hosts.empty()) throw PlanError("blue-green group '" + idle + "' has no hosts");
      const auto ordered = OrderHosts(std::move(idle_hosts), std::nullopt);
      auto batches = FixedSize(ordered.size(), ordered);
      if (s.traffic_switch) batches.front().traffic_switch_url = s.traffic_switch->url;
      return batches;
    }
  }
  return {};
}

}  // namespace

std::vector<Host> OrderHosts(std::vector<Host> hosts, const std::optional<std::string>& spread_by) {
  std::stable_sort(hosts.begin(), hosts.end(),
                   [](const Host& a, const Host& b) { return a.name < b.name; });
  if (!spread_by || hosts.empty()) return hosts;

  // Buckets by label value (hosts lacking the label share the "" bucket), each in name order.
  std::map<std::string, std::vector<Host>> buckets;
  for (auto& h : hosts) {
    const auto it = h.labels.find(*spread_by);
    buckets[it == h.labels.end() ? std::string() : it->second].push_back(std::move(h));
  }
  struct Cursor {
    std::vector<Host>* hosts;
    std::size_t taken = 0;
  };
  std::vector<Cursor> cursors;
  for (auto& [value, list] : buckets) cursors.push_back({&list, 0});

  // Each next host comes from the bucket furthest behind its fair share: the one whose next
  // host's ideal position (taken + 1/2) / size is earliest; ties go to the smaller value.
  std::vector<Host> out;
  out.reserve(hosts.size());
  for (std::size_t k = 0; k < hosts.size(); ++k) {
    Cursor* best = nullptr;
    for (auto& c : cursors) {
      if (c.taken == c.hosts->size()) continue;
      if (best == nullptr ||
          (2 * c.taken + 1) * best->hosts->size() < (2 * best->taken + 1) * c.hosts->size()) {
        best = &c;
      }
    }
    out.push_back(std::move((*best->hosts)[best->taken++]));
  }
  return out;
}

std::vector<Batch> PlanRollout(const Environment& env, std::vector<Host> hosts,
                               const PlanOptions& options) {
  std::set<std::string> names;
  for (const auto& h : hosts) {
    if (!names.insert(h.name).second) throw PlanError("host '" + h.name + "' is listed twice");
  }
  const bool has_kubernetes = !env.kubernetes.empty();
  if (hosts.empty() && !has_kubernetes) return {};
  const Strategy& s = env.strategy;

  std::vector<Batch> batches;
  if (!hosts.empty()) {
    batches = HostBatches(s, std::move(hosts), options, has_kubernetes);
  } else if (s.type == StrategyType::kCanary) {
    batches = Canary(s, {}, true);
  } else {  // Kubernetes targets only
    const bool by_share = s.type == StrategyType::kRolling && s.batch_size && s.batch_size->percent;
    batches = SharesOnly(by_share ? s.batch_size->value : 0);
  }

  const std::size_t total = batches.empty() ? 0 : batches.back().cumulative_hosts;
  for (auto& b : batches) {
    b.kubernetes = env.kubernetes;
    ApplyLimits(s, total, b);
  }
  if (env.policy.approval == ApprovalPolicy::kRequired && !batches.empty()) {
    auto& gates = batches.front().gates_before;
    gates.insert(gates.begin(), Gate{Gate::Kind::kApproval, std::nullopt});
  }
  return batches;
}

}  // namespace sluice::spec
