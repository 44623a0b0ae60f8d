#include "sluice/spec/convert.hpp"

#include <google/protobuf/util/time_util.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "sluice/spec/analysis_spec.hpp"

namespace sluice::spec {
namespace {

namespace v1 = ::sluice::v1;
using TimeUtil = google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;
using Tmpl = v1::AnalysisTemplate;
using Spec = v1::DeliverySpec;

[[noreturn]] void Malformed(const std::string& what) {
  throw std::invalid_argument("malformed resolved spec: " + what);
}

google::protobuf::Duration Proto(milliseconds d) {
  return TimeUtil::MillisecondsToDuration(d.count());
}
milliseconds Millis(const google::protobuf::Duration& d) {
  return milliseconds(TimeUtil::DurationToMilliseconds(d));
}

// --- analysis templates ------------------------------------------------------------------------

Tmpl::Severity Proto(analysis::Severity s) {
  switch (s) {
    case analysis::Severity::kInfo:
      return Tmpl::SEVERITY_INFO;
    case analysis::Severity::kWarning:
      return Tmpl::SEVERITY_WARNING;
    case analysis::Severity::kCritical:
      return Tmpl::SEVERITY_CRITICAL;
  }
  return Tmpl::SEVERITY_UNSPECIFIED;
}
analysis::Severity Typed(Tmpl::Severity s) {
  switch (s) {
    case Tmpl::SEVERITY_INFO:
      return analysis::Severity::kInfo;
    case Tmpl::SEVERITY_WARNING:
      return analysis::Severity::kWarning;
    case Tmpl::SEVERITY_CRITICAL:
      return analysis::Severity::kCritical;
    default:
      Malformed("severity " + std::to_string(s));
  }
}

Tmpl::NoData Proto(analysis::NoData n) {
  switch (n) {
    case analysis::NoData::kInconclusive:
      return Tmpl::NO_DATA_INCONCLUSIVE;
    case analysis::NoData::kPass:
      return Tmpl::NO_DATA_PASS;
    case analysis::NoData::kFail:
      return Tmpl::NO_DATA_FAIL;
  }
  return Tmpl::NO_DATA_UNSPECIFIED;
}
analysis::NoData Typed(Tmpl::NoData n) {
  switch (n) {
    case Tmpl::NO_DATA_INCONCLUSIVE:
      return analysis::NoData::kInconclusive;
    case Tmpl::NO_DATA_PASS:
      return analysis::NoData::kPass;
    case Tmpl::NO_DATA_FAIL:
      return analysis::NoData::kFail;
    default:
      Malformed("noData " + std::to_string(n));
  }
}

Tmpl::Direction Proto(analysis::Direction d) {
  switch (d) {
    case analysis::Direction::kIncrease:
      return Tmpl::DIRECTION_INCREASE;
    case analysis::Direction::kDecrease:
      return Tmpl::DIRECTION_DECREASE;
    case analysis::Direction::kEither:
      return Tmpl::DIRECTION_EITHER;
  }
  return Tmpl::DIRECTION_UNSPECIFIED;
}
analysis::Direction Typed(Tmpl::Direction d) {
  switch (d) {
    case Tmpl::DIRECTION_INCREASE:
      return analysis::Direction::kIncrease;
    case Tmpl::DIRECTION_DECREASE:
      return analysis::Direction::kDecrease;
    case Tmpl::DIRECTION_EITHER:
      return analysis::Direction::kEither;
    default:
      Malformed("direction " + std::to_string(d));
  }
}

Tmpl::JudgeKind Proto(analysis::JudgeKind k) {
  switch (k) {
    case analysis::JudgeKind::kQuery:
      return Tmpl::JUDGE_KIND_QUERY;
    case analysis::JudgeKind::kGauge:
      return Tmpl::JUDGE_KIND_GAUGE;
    case analysis::JudgeKind::kRatio:
      return Tmpl::JUDGE_KIND_RATIO;
    case analysis::JudgeKind::kHistogram:
      return Tmpl::JUDGE_KIND_HISTOGRAM;
    case analysis::JudgeKind::kMean:
      return Tmpl::JUDGE_KIND_MEAN;
  }
  return Tmpl::JUDGE_KIND_UNSPECIFIED;
}
analysis::JudgeKind Typed(Tmpl::JudgeKind k) {
  switch (k) {
    case Tmpl::JUDGE_KIND_QUERY:
      return analysis::JudgeKind::kQuery;
    case Tmpl::JUDGE_KIND_GAUGE:
      return analysis::JudgeKind::kGauge;
    case Tmpl::JUDGE_KIND_RATIO:
      return analysis::JudgeKind::kRatio;
    case Tmpl::JUDGE_KIND_HISTOGRAM:
      return analysis::JudgeKind::kHistogram;
    case Tmpl::JUDGE_KIND_MEAN:
      return analysis::JudgeKind::kMean;
    default:
      Malformed("judge kind " + std::to_string(k));
  }
}

Tmpl::Limits Proto(const analysis::Limits& l) {
  Tmpl::Limits p;
  *p.mutable_interval() = Proto(l.interval);
  p.set_count(l.count);
  p.set_failure_limit(l.failure_limit);
  p.set_consecutive_success_limit(l.consecutive_success_limit);
  p.set_inconclusive_limit(l.inconclusive_limit);
  p.set_dry_run(l.dry_run);
  return p;
}
analysis::Limits Typed(const Tmpl::Limits& p) {
  analysis::Limits l;
  l.interval = Millis(p.interval());
  l.count = p.count();
  l.failure_limit = p.failure_limit();
  l.consecutive_success_limit = p.consecutive_success_limit();
  l.inconclusive_limit = p.inconclusive_limit();
  l.dry_run = p.dry_run();
  return l;
}

// Condition trees are as deep as the failWhen text nests parentheses (bounded by the YAML
// limits at intake); a message deeper than this was not written by ToProto.
constexpr int kMaxConditionDepth = 64;

void Proto(const analysis::Condition& c, Tmpl::Condition& p) {
  switch (c.kind) {
    case analysis::Condition::Kind::kComparison: {
      p.set_kind(Tmpl::Condition::KIND_COMPARISON);
      auto* cmp = p.mutable_comparison();
      cmp->set_metric(c.comparison.metric);
      cmp->set_op(c.comparison.op);
      cmp->set_threshold(c.comparison.threshold);
      cmp->set_as_written(c.comparison.as_written);
      return;
    }
    case analysis::Condition::Kind::kAnd:
      p.set_kind(Tmpl::Condition::KIND_AND);
      break;
    case analysis::Condition::Kind::kOr:
      p.set_kind(Tmpl::Condition::KIND_OR);
      break;
  }
  for (const auto& child : c.children) Proto(child, *p.add_children());
}
analysis::Condition Typed(const Tmpl::Condition& p, int depth) {
  if (depth > kMaxConditionDepth) Malformed("condition nested too deeply");
  analysis::Condition c;
  switch (p.kind()) {
    case Tmpl::Condition::KIND_COMPARISON:
      c.kind = analysis::Condition::Kind::kComparison;
      c.comparison.metric = p.comparison().metric();
      c.comparison.op = p.comparison().op();
      c.comparison.threshold = p.comparison().threshold();
      c.comparison.as_written = p.comparison().as_written();
      if (c.comparison.metric.empty()) Malformed("comparison without a metric");
      return c;
    case Tmpl::Condition::KIND_AND:
      c.kind = analysis::Condition::Kind::kAnd;
      break;
    case Tmpl::Condition::KIND_OR:
      c.kind = analysis::Condition::Kind::kOr;
      break;
    default:
      Malformed("condition kind " + std::to_string(p.kind()));
  }
  if (p.children_size() < 2) Malformed("AND / OR with fewer than two children");
  for (const auto& child : p.children()) c.children.push_back(Typed(child, depth + 1));
  return c;
}

}  // namespace

Tmpl ToProto(const analysis::Template& t) {
  Tmpl p;
  p.set_name(t.name);
  for (const auto& m : t.metrics) {
    auto* pm = p.add_metrics();
    pm->set_name(m.name);
    pm->set_query(m.query);
  }
  for (const auto& r : t.rules) {
    auto* pr = p.add_rules();
    pr->set_name(r.name);
    pr->set_fail_when(r.fail_when);
    Proto(r.condition, *pr->mutable_condition());
    pr->set_severity(Proto(r.severity));
    *pr->mutable_limits() = Proto(r.limits);
    pr->set_min_samples(r.min_samples);
    if (r.min_requests_metric) pr->set_min_requests_metric(*r.min_requests_metric);
    pr->set_min_requests(r.min_requests);
    pr->set_no_data(Proto(r.no_data));
  }
  if (t.judge) {
    const auto& j = *t.judge;
    auto* pj = p.mutable_judge();
    pj->set_confidence(j.confidence);
    pj->set_pass_score(j.pass_score);
    pj->set_marginal_score(j.marginal_score);
    *pj->mutable_lookback() = Proto(j.lookback);
    *pj->mutable_step() = Proto(j.step);
    *pj->mutable_limits() = Proto(j.limits);
    for (const auto& m : j.metrics) {
      auto* pm = pj->add_metrics();
      pm->set_name(m.name);
      pm->set_kind(Proto(m.kind));
      pm->set_query(m.query);
      pm->set_baseline_query(m.baseline_query);
      pm->set_numerator(m.numerator);
      pm->set_denominator(m.denominator);
      pm->set_baseline_numerator(m.baseline_numerator);
      pm->set_baseline_denominator(m.baseline_denominator);
      pm->set_direction(Proto(m.direction));
      pm->set_tolerance(m.tolerance);
      pm->set_weight(m.weight);
      pm->set_critical(m.critical);
      pm->set_remove_outliers(m.remove_outliers);
    }
  }
  return p;
}

analysis::Template FromProto(const Tmpl& p) {
  analysis::Template t;
  t.name = p.name();
  for (const auto& m : p.metrics()) t.metrics.push_back({m.name(), m.query()});
  for (const auto& pr : p.rules()) {
    analysis::ThresholdRule r;
    r.name = pr.name();
    r.fail_when = pr.fail_when();
    r.condition = Typed(pr.condition(), 0);
    r.severity = Typed(pr.severity());
    r.limits = Typed(pr.limits());
    r.min_samples = pr.min_samples();
    if (!pr.min_requests_metric().empty()) r.min_requests_metric = pr.min_requests_metric();
    r.min_requests = pr.min_requests();
    r.no_data = Typed(pr.no_data());
    t.rules.push_back(std::move(r));
  }
  if (p.has_judge()) {
    const auto& pj = p.judge();
    analysis::JudgeSpec j;
    j.confidence = pj.confidence();
    j.pass_score = pj.pass_score();
    j.marginal_score = pj.marginal_score();
    j.lookback = Millis(pj.lookback());
    j.step = Millis(pj.step());
    j.limits = Typed(pj.limits());
    for (const auto& pm : pj.metrics()) {
      analysis::JudgeMetric m;
      m.name = pm.name();
      m.kind = Typed(pm.kind());
      m.query = pm.query();
      m.baseline_query = pm.baseline_query();
      m.numerator = pm.numerator();
      m.denominator = pm.denominator();
      m.baseline_numerator = pm.baseline_numerator();
      m.baseline_denominator = pm.baseline_denominator();
      m.direction = Typed(pm.direction());
      m.tolerance = pm.tolerance();
      m.weight = pm.weight();
      m.critical = pm.critical();
      m.remove_outliers = pm.remove_outliers();
      j.metrics.push_back(std::move(m));
    }
    t.judge = std::move(j);
  }
  return t;
}

// --- Kubernetes targets ------------------------------------------------------------------------

v1::KubernetesWorkload ToProto(const KubernetesTarget& t) {
  v1::KubernetesWorkload p;
  p.set_cluster(t.cluster);
  p.set_namespace_(t.ns);
  p.set_kind(std::string(ToString(t.kind)));
  p.set_name(t.workload);
  p.set_container(t.container);
  switch (t.rollout) {
    case KubernetesRollout::kReplicaCanary:
      p.set_rollout(v1::KUBERNETES_ROLLOUT_REPLICA_CANARY);
      break;
    case KubernetesRollout::kPartition:
      p.set_rollout(v1::KUBERNETES_ROLLOUT_PARTITION);
      break;
    case KubernetesRollout::kRolling:
      p.set_rollout(v1::KUBERNETES_ROLLOUT_ROLLING);
      break;
    case KubernetesRollout::kBlueGreen:
      p.set_rollout(v1::KUBERNETES_ROLLOUT_BLUE_GREEN);
      break;
  }
  p.set_surge(t.surge);
  if (t.traffic) {
    auto* tr = p.mutable_traffic();
    tr->set_route(t.traffic->http_route);
    tr->set_stable_service(t.traffic->stable_service);
    tr->set_canary_service(t.traffic->canary_service);
  }
  p.set_service(t.service);
  return p;
}

Spec::KubernetesTarget ToProtoTarget(const KubernetesTarget& t) {
  Spec::KubernetesTarget p;
  p.set_name(t.name);
  *p.mutable_workload() = ToProto(t);
  return p;
}

KubernetesTarget FromProto(const Spec::KubernetesTarget& p) {
  KubernetesTarget t;
  const auto& w = p.workload();
  t.name = p.name();
  t.cluster = w.cluster();
  t.ns = w.namespace_();
  if (w.kind() == "Deployment") {
    t.kind = KubernetesKind::kDeployment;
  } else if (w.kind() == "StatefulSet") {
    t.kind = KubernetesKind::kStatefulSet;
  } else {
    Malformed("Kubernetes kind '" + w.kind() + "'");
  }
  t.workload = w.name();
  t.container = w.container();
  switch (w.rollout()) {
    case v1::KUBERNETES_ROLLOUT_REPLICA_CANARY:
      t.rollout = KubernetesRollout::kReplicaCanary;
      break;
    case v1::KUBERNETES_ROLLOUT_PARTITION:
      t.rollout = KubernetesRollout::kPartition;
      break;
    case v1::KUBERNETES_ROLLOUT_ROLLING:
      t.rollout = KubernetesRollout::kRolling;
      break;
    case v1::KUBERNETES_ROLLOUT_BLUE_GREEN:
      t.rollout = KubernetesRollout::kBlueGreen;
      break;
    default:
      Malformed("Kubernetes rollout " + std::to_string(w.rollout()));
  }
  t.surge = w.surge();
  if (w.has_traffic()) {
    t.traffic = HttpRouteTraffic{w.traffic().route(), w.traffic().stable_service(),
                                 w.traffic().canary_service()};
  }
  t.service = w.service();
  return t;
}

namespace {

Spec::Quantity Proto(const Quantity& q) {
  Spec::Quantity p;
  p.set_value(q.value);
  p.set_percent(q.percent);
  return p;
}
Quantity Typed(const Spec::Quantity& p) { return Quantity{p.value(), p.percent()}; }

v1::Strategy Proto(StrategyType t) {
  switch (t) {
    case StrategyType::kCanary:
      return v1::STRATEGY_CANARY;
    case StrategyType::kRolling:
      return v1::STRATEGY_ROLLING;
    case StrategyType::kAllAtOnce:
      return v1::STRATEGY_ALL_AT_ONCE;
    case StrategyType::kBlueGreen:
      return v1::STRATEGY_BLUE_GREEN;
  }
  return v1::STRATEGY_UNSPECIFIED;
}
StrategyType Typed(v1::Strategy t) {
  switch (t) {
    case v1::STRATEGY_CANARY:
      return StrategyType::kCanary;
    case v1::STRATEGY_ROLLING:
      return StrategyType::kRolling;
    case v1::STRATEGY_ALL_AT_ONCE:
      return StrategyType::kAllAtOnce;
    case v1::STRATEGY_BLUE_GREEN:
      return StrategyType::kBlueGreen;
    default:
      Malformed("strategy " + std::to_string(t));
  }
}

Spec::StrategySpec Proto(const Strategy& s) {
  Spec::StrategySpec p;
  p.set_type(Proto(s.type));
  for (const auto& step : s.steps) {
    auto* ps = p.add_steps();
    if (const auto* w = std::get_if<WeightStep>(&step)) {
      auto* pw = ps->mutable_weight();
      pw->set_percent(w->percent);
      pw->set_analysis(w->analysis);
      pw->set_analysis_template(w->analysis_template);
    } else if (const auto* pause = std::get_if<PauseStep>(&step)) {
      auto* pp = ps->mutable_pause();
      if (pause->duration) *pp->mutable_duration() = Proto(*pause->duration);
    } else {
      ps->mutable_approval();
    }
  }
  if (s.batch_size) *p.mutable_batch_size() = Proto(*s.batch_size);
  for (const auto& g : s.groups) p.add_groups(g);
  if (s.traffic_switch) p.mutable_traffic_switch()->set_url(s.traffic_switch->url);
  p.set_has_max_parallel(s.max_parallel.has_value());
  p.set_max_parallel(s.max_parallel.value_or(0));
  if (s.max_unavailable) *p.mutable_max_unavailable() = Proto(*s.max_unavailable);
  *p.mutable_host_timeout() = Proto(s.host_timeout);
  p.set_failure_tolerance(s.failure_tolerance);
  p.set_has_spread_by(s.spread_by.has_value());
  p.set_spread_by(s.spread_by.value_or(""));
  if (s.failure_tolerance_percent) p.set_failure_tolerance_percent(*s.failure_tolerance_percent);
  return p;
}
Strategy Typed(const Spec::StrategySpec& p) {
  Strategy s;
  s.type = Typed(p.type());
  for (const auto& ps : p.steps()) {
    switch (ps.step_case()) {
      case Spec::CanaryStep::kWeight:
        s.steps.emplace_back(WeightStep{ps.weight().percent(), ps.weight().analysis(),
                                        ps.weight().analysis_template()});
        break;
      case Spec::CanaryStep::kPause: {
        PauseStep pause;
        if (ps.pause().has_duration()) pause.duration = Millis(ps.pause().duration());
        s.steps.emplace_back(pause);
        break;
      }
      case Spec::CanaryStep::kApproval:
        s.steps.emplace_back(ApprovalStep{});
        break;
      default:
        Malformed("canary step without a kind");
    }
  }
  if (p.has_batch_size()) s.batch_size = Typed(p.batch_size());
  s.groups.assign(p.groups().begin(), p.groups().end());
  if (p.has_traffic_switch()) s.traffic_switch = TrafficSwitch{p.traffic_switch().url()};
  if (p.has_max_parallel()) s.max_parallel = p.max_parallel();
  if (p.has_max_unavailable()) s.max_unavailable = Typed(p.max_unavailable());
  s.host_timeout = Millis(p.host_timeout());
  s.failure_tolerance = p.failure_tolerance();
  if (p.has_spread_by()) s.spread_by = p.spread_by();
  if (p.has_failure_tolerance_percent()) {
    s.failure_tolerance_percent = p.failure_tolerance_percent();
  }
  return s;
}

v1::ServiceConfig Proto(const ServiceSpec& s) {
  v1::ServiceConfig p;
  for (const auto& a : s.restart_command) p.add_restart_command(a);
  if (s.restart_timeout) *p.mutable_restart_timeout() = Proto(*s.restart_timeout);
  p.set_health_http_url(s.health_http_url);
  for (const auto& a : s.health_command) p.add_health_command(a);
  if (s.health_timeout) *p.mutable_health_timeout() = Proto(*s.health_timeout);
  return p;
}
ServiceSpec Typed(const v1::ServiceConfig& p) {
  ServiceSpec s;
  s.restart_command.assign(p.restart_command().begin(), p.restart_command().end());
  if (p.has_restart_timeout()) s.restart_timeout = Millis(p.restart_timeout());
  s.health_http_url = p.health_http_url();
  s.health_command.assign(p.health_command().begin(), p.health_command().end());
  if (p.has_health_timeout()) s.health_timeout = Millis(p.health_timeout());
  return s;
}

Spec::InventorySource ProtoInventory(const InventorySource& i) {
  Spec::InventorySource p;
  p.set_file(i.file);
  p.set_url(i.url);
  p.set_group(i.group);
  p.set_token_file(i.token_file);
  p.set_agent_endpoint(i.agent_endpoint);
  p.set_sha256(i.sha256);
  for (const auto& h : i.removed_hosts) p.add_removed_hosts(h);
  for (const auto& h : i.added_hosts) p.add_added_hosts(h);
  for (const auto& [k, v] : i.selector) (*p.mutable_selector())[k] = v;
  return p;
}
InventorySource TypedInventory(const Spec::InventorySource& p) {
  InventorySource i;
  i.file = p.file();
  i.url = p.url();
  i.group = p.group();
  i.token_file = p.token_file();
  i.agent_endpoint = p.agent_endpoint();
  i.sha256 = p.sha256();
  i.removed_hosts.assign(p.removed_hosts().begin(), p.removed_hosts().end());
  i.added_hosts.assign(p.added_hosts().begin(), p.added_hosts().end());
  i.selector.insert(p.selector().begin(), p.selector().end());
  return i;
}

}  // namespace

Spec::Environment ToProto(const Environment& env) {
  Spec::Environment p;
  p.set_name(env.name);
  for (const auto& g : env.targets) {
    auto* pg = p.add_targets();
    pg->set_name(g.name);
    for (const auto& h : g.hosts) {
      auto* ph = pg->add_hosts();
      ph->set_name(h.name);
      ph->set_address(h.address);
      ph->set_agent_endpoint(h.agent_endpoint);
      ph->mutable_labels()->insert(h.labels.begin(), h.labels.end());
      ph->set_port(static_cast<std::uint32_t>(h.port));
      if (h.ssh) {
        ph->mutable_ssh()->set_user(h.ssh->user);
        ph->mutable_ssh()->set_port(h.ssh->port);
      }
    }
    if (g.inventory) *pg->mutable_inventory() = ProtoInventory(*g.inventory);
  }
  for (const auto& k : env.kubernetes) *p.add_kubernetes() = ToProtoTarget(k);
  *p.mutable_strategy() = Proto(env.strategy);
  auto* policy = p.mutable_policy();
  policy->set_auto_deploy(env.policy.auto_deploy);
  policy->set_approval_required(env.policy.approval == ApprovalPolicy::kRequired);
  policy->set_allow_self_approval(env.policy.allow_self_approval);
  policy->set_concurrency(env.policy.concurrency == ConcurrencyPolicy::kReject
                              ? Spec::Policy::CONCURRENCY_REJECT
                              : Spec::Policy::CONCURRENCY_QUEUE);
  if (env.service) *p.mutable_service() = Proto(*env.service);
  if (env.analysis) {
    auto* pa = p.mutable_analysis();
    for (const auto& [name, t] : env.analysis->templates) *pa->add_templates() = ToProto(t);
    if (env.analysis->bake_watch) {
      pa->mutable_bake_watch()->set_template_name(env.analysis->bake_watch->template_name);
      *pa->mutable_bake_watch()->mutable_duration() = Proto(env.analysis->bake_watch->duration);
    }
  }
  p.set_on_canary_failure(env.on_canary_failure == analysis::OnCanaryFailure::kRevertAll
                              ? Spec::ON_CANARY_FAILURE_REVERT_ALL
                              : Spec::ON_CANARY_FAILURE_REVERT_BATCH);
  return p;
}

Environment FromProto(const Spec::Environment& p) {
  Environment env;
  env.name = p.name();
  for (const auto& pg : p.targets()) {
    HostGroup g;
    g.name = pg.name();
    for (const auto& ph : pg.hosts()) {
      Host h;
      h.name = ph.name();
      h.address = ph.address();
      h.agent_endpoint = ph.agent_endpoint();
      h.labels.insert(ph.labels().begin(), ph.labels().end());
      if (ph.has_ssh()) h.ssh = SshAccess{ph.ssh().user(), ph.ssh().port()};
      h.group = g.name;
      h.port = static_cast<int>(ph.port());
      g.hosts.push_back(std::move(h));
    }
    if (pg.has_inventory()) g.inventory = TypedInventory(pg.inventory());
    env.targets.push_back(std::move(g));
  }
  for (const auto& pk : p.kubernetes()) env.kubernetes.push_back(FromProto(pk));
  env.strategy = Typed(p.strategy());
  env.policy.auto_deploy = p.policy().auto_deploy();
  env.policy.approval =
      p.policy().approval_required() ? ApprovalPolicy::kRequired : ApprovalPolicy::kNone;
  env.policy.allow_self_approval = p.policy().allow_self_approval();
  switch (p.policy().concurrency()) {
    case Spec::Policy::CONCURRENCY_QUEUE:
      env.policy.concurrency = ConcurrencyPolicy::kQueue;
      break;
    case Spec::Policy::CONCURRENCY_REJECT:
      env.policy.concurrency = ConcurrencyPolicy::kReject;
      break;
    default:
      Malformed("concurrency " + std::to_string(p.policy().concurrency()));
  }
  if (p.has_service()) env.service = Typed(p.service());
  if (p.has_analysis()) {
    analysis::AnalysisSpec a;
    for (const auto& pt : p.analysis().templates()) {
      auto t = FromProto(pt);
      const auto name = t.name;
      a.templates.emplace(name, std::move(t));
    }
    if (p.analysis().has_bake_watch()) {
      a.bake_watch = analysis::BakeWatch{p.analysis().bake_watch().template_name(),
                                         Millis(p.analysis().bake_watch().duration())};
    }
    env.analysis = std::move(a);
  }
  switch (p.on_canary_failure()) {
    case Spec::ON_CANARY_FAILURE_REVERT_BATCH:
      env.on_canary_failure = analysis::OnCanaryFailure::kRevertBatch;
      break;
    case Spec::ON_CANARY_FAILURE_REVERT_ALL:
      env.on_canary_failure = analysis::OnCanaryFailure::kRevertAll;
      break;
    default:
      Malformed("onCanaryFailure " + std::to_string(p.on_canary_failure()));
  }
  return env;
}

std::optional<Tmpl> ResolvedTemplateOf(std::string_view yaml, std::string_view env,
                                       std::string_view name) {
  auto parsed = ParseAnalysisFromDeliverySpec(yaml, env);
  const auto* spec = std::get_if<analysis::AnalysisSpec>(&parsed);
  if (spec == nullptr) return std::nullopt;
  const auto* t = spec->FindTemplate(name);
  if (t == nullptr) return std::nullopt;
  return ToProto(*t);
}

Spec ToProto(const DeliverySpec& spec) {
  Spec p;
  p.set_app(spec.app);
  for (const auto& env : spec.environments) *p.add_environments() = ToProto(env);
  return p;
}

DeliverySpec FromProto(const Spec& p) {
  DeliverySpec spec;
  spec.app = p.app();
  for (const auto& env : p.environments()) spec.environments.push_back(FromProto(env));
  return spec;
}

}  // namespace sluice::spec
