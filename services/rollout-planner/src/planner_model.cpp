#include "planner_model.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <openssl/sha.h>

#include <array>
#include <cstdio>
#include <set>
#include <sluice/spec/convert.hpp>
#include <stdexcept>

namespace sluice::rollout_planner {
namespace {

using nlohmann::json;
using TimeUtil = google::protobuf::util::TimeUtil;

template <typename E, std::size_t N>
std::optional<E> FromName(std::string_view s, const std::array<E, N>& all) {
  for (E e : all) {
    if (ToString(e) == s) return e;
  }
  return std::nullopt;
}

template <typename E>
E Required(std::optional<E> v, std::string_view what, std::string_view text) {
  if (!v)
    throw std::invalid_argument("stored deployment: unknown " + std::string(what) + " '" +
                                std::string(text) + "'");
  return *v;
}

json OptionalMillis(const std::optional<std::chrono::milliseconds>& d) {
  return d ? json(d->count()) : json(nullptr);
}
std::optional<std::chrono::milliseconds> MillisFrom(const json& j) {
  if (j.is_null()) return std::nullopt;
  return std::chrono::milliseconds(j.get<std::int64_t>());
}
json OptionalTime(const std::optional<core::SystemTime>& t) {
  return t ? json(core::ToUnixMillis(*t)) : json(nullptr);
}
std::optional<core::SystemTime> TimeFrom(const json& j) {
  if (j.is_null()) return std::nullopt;
  return core::FromUnixMillis(j.get<std::int64_t>());
}

json HostToJson(const Host& h) {
  json j = {{"name", h.name},
            {"address", h.address},
            {"agent_endpoint", h.agent_endpoint},
            {"labels", h.labels},
            {"group", h.group}};
  if (h.ssh) j["ssh"] = {{"user", h.ssh->user}, {"port", h.ssh->port}};
  return j;
}
Host HostFromJson(const json& j) {
  Host h;
  h.name = j.at("name").get<std::string>();
  h.address = j.at("address").get<std::string>();
  h.agent_endpoint = j.at("agent_endpoint").get<std::string>();
  h.labels = j.at("labels").get<std::map<std::string, std::string>>();
  h.group = j.at("group").get<std::string>();
  if (const auto it = j.find("ssh"); it != j.end()) {  // absent in rows written before
    h.ssh = spec::SshAccess{it->value("user", ""), it->value("port", 0)};
  }
  return h;
}

// A Kubernetes target as the JSON mapping of its sluice.v1 form.
json KubernetesToJson(const spec::KubernetesTarget& t) {
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(spec::ToProtoTarget(t), &text).ok()) {
    throw std::invalid_argument("Kubernetes target '" + t.name + "' does not map to JSON");
  }
  return json::parse(text);
}
spec::KubernetesTarget KubernetesFromJson(const json& j) {
  events::v1::DeliverySpec::KubernetesTarget p;
  if (!google::protobuf::util::JsonStringToMessage(j.dump(), &p).ok()) {
    throw std::invalid_argument("stored deployment: unreadable Kubernetes target");
  }
  return spec::FromProto(p);
}

json GateToJson(const Gate& g) {
  return {{"kind", g.kind == Gate::Kind::kApproval ? "approval" : "pause"},
          {"duration_ms", OptionalMillis(g.duration)}};
}
Gate GateFromJson(const json& j) {
  Gate g;
  const auto kind = j.at("kind").get<std::string>();
  if (kind != "approval" && kind != "pause") {
    throw std::invalid_argument("stored deployment: unknown gate kind '" + kind + "'");
  }
  g.kind = kind == "approval" ? Gate::Kind::kApproval : Gate::Kind::kPause;
  g.duration = MillisFrom(j.at("duration_ms"));
  return g;
}

json BatchToJson(const Batch& b) {
  json hosts = json::array();
  for (const auto& h : b.hosts) hosts.push_back(HostToJson(h));
  json gates = json::array();
  for (const auto& g : b.gates_before) gates.push_back(GateToJson(g));
  json kubernetes = json::array();
  for (const auto& k : b.kubernetes) kubernetes.push_back(KubernetesToJson(k));
  return {
      {"index", b.index},
      {"kubernetes", kubernetes},
      {"weight_percent", b.weight_percent},
      {"hosts", hosts},
      {"cumulative_hosts", b.cumulative_hosts},
      {"gates_before", gates},
      {"analysis_template", b.analysis_template},
      {"max_parallel", b.max_parallel},
      {"failure_tolerance", b.failure_tolerance},
      {"host_timeout_ms", b.host_timeout.count()},
      {"traffic_switch_url", b.traffic_switch_url ? json(*b.traffic_switch_url) : json(nullptr)}};
}
Batch BatchFromJson(const json& j) {
  Batch b;
  b.index = j.at("index").get<std::uint32_t>();
  b.weight_percent = j.at("weight_percent").get<int>();
  for (const auto& h : j.at("hosts")) b.hosts.push_back(HostFromJson(h));
  if (j.contains("kubernetes")) {  // absent in deployments stored before Kubernetes targets
    for (const auto& k : j.at("kubernetes")) b.kubernetes.push_back(KubernetesFromJson(k));
  }
  b.cumulative_hosts = j.at("cumulative_hosts").get<std::uint32_t>();
  for (const auto& g : j.at("gates_before")) b.gates_before.push_back(GateFromJson(g));
  if (j.contains("analysis_template")) {
    b.analysis_template = j.at("analysis_template").get<std::string>();
  } else {
    // Written before steps named their template: `analysis` was a flag for "default".
    b.analysis_template = j.at("analysis").get<bool>() ? "default" : "";
  }
  b.max_parallel = j.at("max_parallel").get<std::uint32_t>();
  b.failure_tolerance = j.at("failure_tolerance").get<std::uint32_t>();
  b.host_timeout = std::chrono::milliseconds(j.at("host_timeout_ms").get<std::int64_t>());
  if (!j.at("traffic_switch_url").is_null()) {
    b.traffic_switch_url = j.at("traffic_switch_url").get<std::string>();
  }
  return b;
}

google::protobuf::Duration ProtoDuration(std::chrono::milliseconds d) {
  return TimeUtil::MillisecondsToDuration(d.count());
}

events::v1::Envelope NewEvent(const DeploymentContext& ctx, const core::Clock& clock) {
  auto e = events::NewEnvelope(kServiceName, clock);
  e.set_deployment_id(ctx.deployment_id);
  e.set_release_id(ctx.release_id);
  return e;
}

// The fields every AnalysisRequested of the deployment shares.
events::v1::AnalysisRequested* NewAnalysisRequest(const DeploymentContext& ctx, std::uint32_t batch,
                                                  core::Generation generation,
                                                  events::v1::Envelope& e) {
  auto* p = e.mutable_analysis_requested();
  p->set_analysis_id(core::NewUuid());
  p->set_deployment_id(ctx.deployment_id);
  p->set_batch_index(batch);
  p->set_generation(generation.Value());
  p->set_app(ctx.app);
  p->set_env(ctx.env);
  p->set_version(ctx.version);
  p->set_baseline_version(ctx.stable_version);
  p->set_release_id(ctx.release_id);
  p->set_spec_version(ctx.spec_version);
  p->set_spec_yaml(ctx.spec_yaml);  // deprecated: for one release
  return p;
}

void SetTemplate(const DeploymentContext& ctx, const std::string& name,
                 events::v1::AnalysisRequested& p) {
  if (const auto* t = ResolvedTemplate(ctx, name.empty() ? "default" : name)) {
    *p.mutable_resolved_template() = *t;
  }
}

std::string_view FailureDetail(FailureReason r) {
  switch (r) {
    case FailureReason::kBatchFailed:
      return "a batch failed on more hosts than its failure tolerance";
    case FailureReason::kAnalysisFailed:
      return "the analysis of a batch failed";
    case FailureReason::kTrafficSwitchFailed:
      return "the traffic switch hook failed";
    case FailureReason::kAborted:
      return "aborted by an operator";
    case FailureReason::kNoTargets:
      return "the environment has no hosts";
    case FailureReason::kRolledBack:
      return "rolled back";
    case FailureReason::kRollbackFailed:
      return "the rollback failed";
  }
  return "";
}

}  // namespace

// --- the environment's analysis and rollback policy ------------------------------------------

std::optional<BakeWatchPlan> BakeWatchOf(const Environment& env) {
  if (!env.analysis || !env.analysis->bake_watch) return std::nullopt;
  return BakeWatchPlan{env.analysis->bake_watch->template_name, env.analysis->bake_watch->duration};
}

std::optional<std::chrono::milliseconds> AwaitRollbackFor(const DeploymentContext& ctx,
                                                          std::chrono::milliseconds wait) {
  if (ctx.stable_version.empty() || ctx.stable_version == ctx.version) return std::nullopt;
  return wait;
}

std::string OnCanaryFailureOf(const Environment& env) {
  return std::string(events::Name(analysis::ToProto(env.on_canary_failure)));
}

// --- the stored state ------------------------------------------------------------------------

json DeploymentToJson(const Deployment& d) {
  json batches = json::array();
  for (const auto& b : d.batches) batches.push_back(BatchToJson(b));
  return {
      {"id", d.id.Value()},
      {"status", ToString(d.status)},
      {"phase", ToString(d.phase)},
      {"generation", d.generation.Value()},
      {"batches", batches},
      {"current_batch", d.current_batch},
      {"gate_index", d.gate_index},
      {"operator_hold", d.operator_hold},
      {"timer_key", d.timer_key ? json(*d.timer_key) : json(nullptr)},
      {"timer_due_at_ms", OptionalTime(d.timer_due_at)},
      {"pause_reason", d.pause_reason ? json(ToString(*d.pause_reason)) : json(nullptr)},
      {"failure_reason", d.failure_reason ? json(ToString(*d.failure_reason)) : json(nullptr)},
      {"rollback_started", d.rollback_started},
      {"await_rollback_ms", d.await_rollback ? json(d.await_rollback->count()) : json(nullptr)},
      {"started_at_ms", OptionalTime(d.started_at)},
      {"finished_at_ms", OptionalTime(d.finished_at)},
      {"bake_watch", d.bake_watch ? json{{"template", d.bake_watch->template_name},
                                         {"duration_ms", d.bake_watch->duration.count()}}
                                  : json(nullptr)},
  };
}

Deployment DeploymentFromJson(const json& j) {
  Deployment d;
  d.id = core::DeploymentId(j.at("id").get<std::string>());
  const auto status = j.at("status").get<std::string>();
  d.status = Required(ParseStatus(status), "status", status);
  const auto phase = j.at("phase").get<std::string>();
  d.phase = Required(ParsePhase(phase), "phase", phase);
  d.generation = core::Generation(j.at("generation").get<std::uint64_t>());
  for (const auto& b : j.at("batches")) d.batches.push_back(BatchFromJson(b));
  d.current_batch = j.at("current_batch").get<std::uint32_t>();
  d.gate_index = j.at("gate_index").get<std::uint32_t>();
  d.operator_hold = j.at("operator_hold").get<bool>();
  if (!j.at("timer_key").is_null()) d.timer_key = j.at("timer_key").get<std::string>();
  d.timer_due_at = TimeFrom(j.at("timer_due_at_ms"));
  if (!j.at("pause_reason").is_null()) {
    const auto r = j.at("pause_reason").get<std::string>();
    d.pause_reason = Required(ParsePauseReason(r), "pause reason", r);
  }
  if (!j.at("failure_reason").is_null()) {
    const auto r = j.at("failure_reason").get<std::string>();
    d.failure_reason = Required(ParseFailureReason(r), "failure reason", r);
  }
  d.rollback_started = j.at("rollback_started").get<bool>();
  // Absent in the rows written before the wait for a rollback existed: an analysis failure of
  // those is final at once, as it was.
  if (j.contains("await_rollback_ms") && !j.at("await_rollback_ms").is_null()) {
    d.await_rollback = std::chrono::milliseconds(j.at("await_rollback_ms").get<std::int64_t>());
  }
  d.started_at = TimeFrom(j.at("started_at_ms"));
  d.finished_at = TimeFrom(j.at("finished_at_ms"));
  if (j.contains("bake_watch") && !j.at("bake_watch").is_null()) {
    const auto& b = j.at("bake_watch");
    d.bake_watch =
        BakeWatchPlan{b.at("template").get<std::string>(),
                      std::chrono::milliseconds(b.at("duration_ms").get<std::int64_t>())};
  }
  return d;
}

json ServiceToJson(const ServiceSpec& s) {
  return {{"restart_command", s.restart_command},
          {"restart_timeout_ms", OptionalMillis(s.restart_timeout)},
          {"health_http_url", s.health_http_url},
          {"health_command", s.health_command},
          {"health_timeout_ms", OptionalMillis(s.health_timeout)}};
}

ServiceSpec ServiceFromJson(const json& j) {
  ServiceSpec s;
  s.restart_command = j.at("restart_command").get<std::vector<std::string>>();
  s.restart_timeout = MillisFrom(j.at("restart_timeout_ms"));
  s.health_http_url = j.at("health_http_url").get<std::string>();
  s.health_command = j.at("health_command").get<std::vector<std::string>>();
  s.health_timeout = MillisFrom(j.at("health_timeout_ms"));
  return s;
}

std::optional<Status> ParseStatus(std::string_view s) {
  return FromName(
      s, std::array{Status::kPending, Status::kRunning, Status::kPaused, Status::kSucceeded,
                    Status::kFailed, Status::kRollingBack, Status::kRolledBack, Status::kAborted});
}
std::optional<Phase> ParsePhase(std::string_view s) {
  return FromName(
      s, std::array{Phase::kNotStarted, Phase::kAtGate, Phase::kHeld, Phase::kBatchInFlight,
                    Phase::kAnalysing, Phase::kSwitchingTraffic, Phase::kDone});
}
std::optional<PauseReason> ParsePauseReason(std::string_view s) {
  return FromName(s, std::array{PauseReason::kPauseStep, PauseReason::kApprovalRequired,
                                PauseReason::kOperator});
}
std::optional<FailureReason> ParseFailureReason(std::string_view s) {
  return FromName(s, std::array{FailureReason::kBatchFailed, FailureReason::kAnalysisFailed,
                                FailureReason::kTrafficSwitchFailed, FailureReason::kAborted,
                                FailureReason::kNoTargets, FailureReason::kRolledBack,
                                FailureReason::kRollbackFailed});
}

events::v1::DeploymentStatus ToProto(Status s) {
  switch (s) {
    case Status::kPending:
      return events::v1::DEPLOYMENT_STATUS_PENDING;
    case Status::kRunning:
      return events::v1::DEPLOYMENT_STATUS_RUNNING;
    case Status::kPaused:
      return events::v1::DEPLOYMENT_STATUS_PAUSED;
    case Status::kSucceeded:
      return events::v1::DEPLOYMENT_STATUS_SUCCEEDED;
    case Status::kFailed:
      return events::v1::DEPLOYMENT_STATUS_FAILED;
    case Status::kRollingBack:
      return events::v1::DEPLOYMENT_STATUS_ROLLING_BACK;
    case Status::kRolledBack:
      return events::v1::DEPLOYMENT_STATUS_ROLLED_BACK;
    case Status::kAborted:
      return events::v1::DEPLOYMENT_STATUS_ABORTED;
  }
  return events::v1::DEPLOYMENT_STATUS_UNSPECIFIED;
}

events::v1::Strategy ToProto(StrategyType t) {
  switch (t) {
    case StrategyType::kCanary:
      return events::v1::STRATEGY_CANARY;
    case StrategyType::kRolling:
      return events::v1::STRATEGY_ROLLING;
    case StrategyType::kAllAtOnce:
      return events::v1::STRATEGY_ALL_AT_ONCE;
    case StrategyType::kBlueGreen:
      return events::v1::STRATEGY_BLUE_GREEN;
  }
  return events::v1::STRATEGY_UNSPECIFIED;
}

// --- the read API ----------------------------------------------------------------------------

std::string_view BatchStatus(const Deployment& d, std::uint32_t index) {
  if (d.status == Status::kPending || d.phase == Phase::kNotStarted) return "pending";
  if (index < d.current_batch) return "succeeded";
  if (index > d.current_batch) return "pending";
  switch (d.phase) {
    case Phase::kNotStarted:
      return "pending";
    case Phase::kAtGate:
    case Phase::kHeld:
      return "waiting";
    case Phase::kBatchInFlight:
    case Phase::kSwitchingTraffic:
      return "running";
    case Phase::kAnalysing:
      return "analysing";
    case Phase::kDone:
      break;
  }
  if (d.status == Status::kSucceeded) return "succeeded";
  // Failed, aborted or rolled back: the batch in hand did not complete.
  return "failed";
}

json BatchesView(const Deployment& d) {
  json out = json::array();
  for (const auto& b : d.batches) {
    json hosts = json::array();
    for (const auto& h : b.hosts) hosts.push_back(h.name);
    json gates = json::array();
    for (std::size_t g = 0; g < b.gates_before.size(); ++g) {
      const auto& gate = b.gates_before[g];
      const bool passed = b.index < d.current_batch ||
                          (b.index == d.current_batch && d.phase != Phase::kNotStarted &&
                           (d.phase != Phase::kAtGate || g < d.gate_index) &&
                           (d.phase != Phase::kHeld || g < d.gate_index));
      json item = {{"kind", gate.kind == Gate::Kind::kApproval ? "approval" : "pause"},
                   {"passed", passed}};
      if (gate.duration) item["duration_ms"] = gate.duration->count();
      gates.push_back(std::move(item));
    }
    out.push_back({{"index", b.index},
                   {"weight_percent", b.weight_percent},
                   {"hosts", hosts},
                   {"status", BatchStatus(d, b.index)},
                   {"analysis", !b.analysis_template.empty()},
                   {"analysis_template", b.analysis_template},
                   {"gates", gates}});
  }
  return out;
}

// --- ids -------------------------------------------------------------------------------------

std::string AutoDeployDeploymentId(std::string_view release_id, std::string_view env) {
  // RFC 4122 section 4.3: SHA-1 over namespace + name. The namespace is this service's own
  // (a fixed random UUID), so the ids cannot collide with other name-based ones.
  static constexpr std::array<unsigned char, 16> kNamespace = {0x5b, 0x1e, 0x7c, 0x3a, 0x9d, 0x42,
                                                               0x4f, 0x61, 0x8a, 0x0c, 0x2e, 0x97,
                                                               0x6d, 0x13, 0xb4, 0x58};
  std::string data(kNamespace.begin(), kNamespace.end());
  data.append(release_id);
  data.push_back('/');
  data.append(env);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string out;
  char buf[3];
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    std::snprintf(buf, sizeof(buf), "%02x", digest[i]);
    out.append(buf);
  }
  return out;
}

std::string TimerRowKey(std::string_view deployment_id, std::string_view state_key) {
  return "deployment/" + std::string(deployment_id) + "/" + std::string(state_key);
}

// --- events ----------------------------------------------------------------------------------

events::v1::Target ToTarget(const Host& h) {
  events::v1::Target t;
  t.set_host(h.name);
  t.set_address(h.address);
  t.set_agent_endpoint(h.agent_endpoint);
  for (const auto& [k, v] : h.labels) (*t.mutable_labels())[k] = v;
  t.set_driver("agent");
  if (h.ssh) {
    // The executor's ssh driver reads the host's user and port from these labels.
    t.set_driver("ssh");
    if (!h.ssh->user.empty()) (*t.mutable_labels())["sluice.io/ssh-user"] = h.ssh->user;
    if (h.ssh->port != 0) (*t.mutable_labels())["sluice.io/ssh-port"] = std::to_string(h.ssh->port);
  }
  return t;
}

events::v1::Target ToTarget(const spec::KubernetesTarget& k) {
  events::v1::Target t;
  t.set_host(k.name);
  t.set_driver("kubernetes");
  *t.mutable_kubernetes() = spec::ToProto(k);
  return t;
}

std::vector<std::string> AnalysisInstances(const Deployment& d, std::uint32_t index,
                                           const std::vector<std::string>& reported) {
  std::vector<std::string> out;
  std::set<std::string> known;  // VM hosts and Kubernetes target names of the deployment
  for (const auto& b : d.batches) {
    for (const auto& h : b.hosts) known.insert(h.name);
    for (const auto& k : b.kubernetes) known.insert(k.name);
  }
  std::set<std::string> seen;
  if (index < d.batches.size()) {
    for (const auto& h : d.batches[index].hosts) {
      if (seen.insert(h.name).second) out.push_back(h.name);
    }
  }
  for (const auto& h : reported) {
    if (known.count(h) == 0 && seen.insert(h).second) out.push_back(h);
  }
  return out;
}

const events::v1::AnalysisTemplate* ResolvedTemplate(const DeploymentContext& ctx,
                                                     std::string_view name) {
  for (const auto& t : ctx.env_spec.analysis().templates()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

events::v1::ServiceConfig ToServiceConfig(const ServiceSpec& s) {
  events::v1::ServiceConfig c;
  for (const auto& a : s.restart_command) c.add_restart_command(a);
  if (s.restart_timeout) *c.mutable_restart_timeout() = ProtoDuration(*s.restart_timeout);
  c.set_health_http_url(s.health_http_url);
  for (const auto& a : s.health_command) c.add_health_command(a);
  if (s.health_timeout) *c.mutable_health_timeout() = ProtoDuration(*s.health_timeout);
  return c;
}

namespace {

// The event of each command the state machine gives (EventFor).

events::v1::Envelope BatchRequestedFor(const RequestBatch& c, const DeploymentContext& ctx,
                                       const Deployment& next, const core::Clock& clock) {
  auto e = NewEvent(ctx, clock);
  auto* p = e.mutable_batch_requested();
  p->set_deployment_id(ctx.deployment_id);
  p->set_batch_index(c.index);
  p->set_generation(c.generation.Value());
  *p->mutable_artifact() = ctx.artifact;
  for (const auto& h : c.hosts) *p->add_targets() = ToTarget(h);
  if (c.index < next.batches.size()) {
    const auto& batch = next.batches[c.index];
    for (const auto& k : batch.kubernetes) *p->add_targets() = ToTarget(k);
    p->set_weight_percent(static_cast<std::uint32_t>(batch.weight_percent));
  }
  p->set_max_parallel(c.max_parallel);
  p->set_failure_tolerance(c.failure_tolerance);
  *p->mutable_host_timeout() = ProtoDuration(c.host_timeout);
  p->set_app(ctx.app);
  p->set_env(ctx.env);
  if (ctx.service) *p->mutable_service() = ToServiceConfig(*ctx.service);
  return e;
}

events::v1::Envelope AnalysisRequestedFor(const RequestAnalysis& c, const DeploymentContext& ctx,
                                          const Deployment& next, const core::Clock& clock) {
  auto e = NewEvent(ctx, clock);
  auto* p = NewAnalysisRequest(ctx, c.index, c.generation, e);
  if (c.index < next.batches.size()) {
    p->set_template_name(next.batches[c.index].analysis_template);
    SetTemplate(ctx, p->template_name(), *p);
  }
  for (auto& i : AnalysisInstances(next, c.index, c.reported_hosts)) {
    p->add_instances(std::move(i));
  }
  for (std::size_t i = c.index + 1; i < next.batches.size(); ++i) {
    for (const auto& h : next.batches[i].hosts) p->add_baseline_instances(h.name);
  }
  // The stable pods beside a Kubernetes target's canary, as the executor reported them.
  for (const auto& pod : c.reported_baseline) p->add_baseline_instances(pod);
  // The analysis reads no data from before the batch's last host switched.
  if (c.switched_at) {
    *p->mutable_switched_at() =
        TimeUtil::MillisecondsToTimestamp(core::ToUnixMillis(*c.switched_at));
  }
  return e;
}

events::v1::Envelope BakeWatchRequestedFor(const RequestBakeWatch& c, const DeploymentContext& ctx,
                                           const Deployment& next, const core::Clock& clock) {
  auto e = NewEvent(ctx, clock);
  auto* p = NewAnalysisRequest(ctx, c.last_batch, c.generation, e);
  p->set_template_name(c.plan.template_name);
  SetTemplate(ctx, p->template_name(), *p);
  p->set_bake_watch(true);
  *p->mutable_duration() = ProtoDuration(c.plan.duration);
  for (const auto& b : next.batches) {
    for (const auto& h : b.hosts) p->add_instances(h.name);
  }
  return e;
}

void FillDeploymentPlanned(const DeploymentContext& ctx, const Deployment& next,
                           events::v1::DeploymentPlanned& p) {
  p.set_deployment_id(ctx.deployment_id);
  p.set_release_id(ctx.release_id);
  p.set_app(ctx.app);
  p.set_env(ctx.env);
  p.set_strategy(ToProto(ctx.strategy));
  for (const auto& b : next.batches) {
    auto* pb = p.add_batches();
    pb->set_index(b.index);
    pb->set_weight_percent(static_cast<std::uint32_t>(b.weight_percent));
    for (const auto& h : b.hosts) *pb->add_targets() = ToTarget(h);
    for (const auto& k : b.kubernetes) *pb->add_targets() = ToTarget(k);
  }
  p.set_stable_release_id(ctx.stable_release_id);
  p.set_stable_version(ctx.stable_version);
  p.set_version(ctx.version);
  events::SetPolicy(p, events::ParseCanaryFailurePolicy(ctx.on_canary_failure));
  p.set_generation(next.generation.Value());
}

void FillDeploymentFailed(const Emit& emit, const DeploymentContext& ctx, const Deployment& next,
                          events::v1::DeploymentFailed& p) {
  const auto reason = emit.failure_reason.value_or(FailureReason::kBatchFailed);
  p.set_deployment_id(ctx.deployment_id);
  p.set_app(ctx.app);
  p.set_env(ctx.env);
  p.set_version(ctx.version);
  events::SetReason(p, ToProto(reason));
  p.set_detail(std::string(FailureDetail(reason)) + " (batch " + std::to_string(emit.batch) + ")");
  p.set_status(ToProto(next.status));
}

events::v1::Envelope EmittedEvent(const Emit& emit, const DeploymentContext& ctx,
                                  const Deployment& next, const core::Clock& clock) {
  auto e = NewEvent(ctx, clock);
  switch (emit.kind) {
    case EventKind::kDeploymentPlanned:
      FillDeploymentPlanned(ctx, next, *e.mutable_deployment_planned());
      break;
    case EventKind::kDeploymentPaused: {
      auto* p = e.mutable_deployment_paused();
      p->set_deployment_id(ctx.deployment_id);
      p->set_batch_index(emit.batch);
      events::SetReason(*p, ToProto(emit.pause_reason.value_or(PauseReason::kOperator)));
      if (emit.pause_duration) *p->mutable_duration() = ProtoDuration(*emit.pause_duration);
      break;
    }
    case EventKind::kDeploymentResumed: {
      auto* p = e.mutable_deployment_resumed();
      p->set_deployment_id(ctx.deployment_id);
      p->set_batch_index(emit.batch);
      p->set_actor(emit.actor.empty() ? std::string(kServiceName) : emit.actor);
      break;
    }
    case EventKind::kDeploymentSucceeded: {
      auto* p = e.mutable_deployment_succeeded();
      p->set_deployment_id(ctx.deployment_id);
      p->set_app(ctx.app);
      p->set_env(ctx.env);
      p->set_version(ctx.version);
      p->set_previous_stable_version(ctx.stable_version);
      break;
    }
    case EventKind::kDeploymentFailed:
      FillDeploymentFailed(emit, ctx, next, *e.mutable_deployment_failed());
      break;
  }
  return e;
}

}  // namespace

std::optional<events::v1::Envelope> EventFor(const Command& command, const DeploymentContext& ctx,
                                             const Deployment& next, const core::Clock& clock) {
  if (const auto* c = std::get_if<RequestBatch>(&command)) {
    return BatchRequestedFor(*c, ctx, next, clock);
  }
  if (const auto* c = std::get_if<RequestAnalysis>(&command)) {
    return AnalysisRequestedFor(*c, ctx, next, clock);
  }
  if (const auto* c = std::get_if<RequestBakeWatch>(&command)) {
    return BakeWatchRequestedFor(*c, ctx, next, clock);
  }
  if (const auto* emit = std::get_if<Emit>(&command)) return EmittedEvent(*emit, ctx, next, clock);
  return std::nullopt;
}

events::v1::Envelope NeverStartedFailure(const DeploymentContext& ctx, std::string_view reason,
                                         std::string_view detail, const core::Clock& clock) {
  auto e = NewEvent(ctx, clock);
  auto* p = e.mutable_deployment_failed();
  p->set_deployment_id(ctx.deployment_id);
  p->set_app(ctx.app);
  p->set_env(ctx.env);
  p->set_version(ctx.version);
  events::SetReason(*p, events::ParseReason(reason));
  p->set_detail(std::string(detail));
  p->set_status(events::v1::DEPLOYMENT_STATUS_FAILED);
  return e;
}

std::optional<MappedInput> InputFor(const events::v1::Envelope& e, core::Generation current,
                                    std::string* ignore_reason) {
  using PC = events::v1::Envelope::PayloadCase;
  switch (e.payload_case()) {
    case PC::kBatchSucceeded: {
      const auto& p = e.batch_succeeded();
      std::optional<core::SystemTime> switched;
      if (p.has_switched_at()) {
        switched = core::FromUnixMillis(TimeUtil::TimestampToMilliseconds(p.switched_at()));
      }
      return MappedInput{BatchSucceeded{p.batch_index(),
                                        core::Generation(p.generation()),
                                        {p.hosts().begin(), p.hosts().end()},
                                        {p.baseline_hosts().begin(), p.baseline_hosts().end()},
                                        switched},
                         std::string(e.source())};
    }
    case PC::kBatchFailed: {
      const auto& p = e.batch_failed();
      return MappedInput{BatchFailed{p.batch_index(), core::Generation(p.generation())},
                         std::string(e.source())};
    }
    case PC::kAnalysisPassed: {
      const auto& p = e.analysis_passed();
      return MappedInput{AnalysisPassed{p.batch_index(), core::Generation(p.generation())},
                         std::string(e.source())};
    }
    case PC::kAnalysisFailed: {
      const auto& p = e.analysis_failed();
      if (p.bake_watch()) {
        // A bake-period breach after 100% is the rollback-agent's to act on.
        if (ignore_reason) *ignore_reason = "bake_watch";
        return std::nullopt;
      }
      return MappedInput{AnalysisFailed{p.batch_index(), core::Generation(p.generation())},
                         std::string(e.source())};
    }
    case PC::kRollbackStarted: {
      const auto& p = e.rollback_started();
      return MappedInput{RollbackStarted{core::Generation(p.generation())},
                         std::string(e.source())};
    }
    case PC::kRollbackCompleted: {
      const auto& p = e.rollback_completed();
      return MappedInput{
          RollbackCompleted{current, p.success(),
                            p.final_status() == events::v1::DEPLOYMENT_STATUS_FAILED},
          std::string(e.source())};
    }
    case PC::kOperatorCommand: {
      const auto& p = e.operator_command();
      const OperatorAction action = p.verb();
      switch (action) {
        case events::v1::OperatorCommand::VERB_PROMOTE:
        case events::v1::OperatorCommand::VERB_PAUSE:
        case events::v1::OperatorCommand::VERB_RESUME:
        case events::v1::OperatorCommand::VERB_ABORT:
        case events::v1::OperatorCommand::VERB_APPROVE:
          break;
        case events::v1::OperatorCommand::VERB_ROLLBACK:
          if (ignore_reason) *ignore_reason = std::string(kIgnoredRollbackVerb);
          return std::nullopt;
        default:
          if (ignore_reason) *ignore_reason = std::string(kIgnoredUnknownVerb);
          return std::nullopt;
      }
      if (p.generation() != 0 && p.generation() != current.Value()) {
        if (ignore_reason) *ignore_reason = std::string(ToString(IgnoreReason::kStaleGeneration));
        return std::nullopt;
      }
      return MappedInput{Operator{action, p.actor()}, p.actor()};
    }
    default:
      return std::nullopt;
  }
}

std::string InputKind(const Input& in) {
  struct Visitor {
    std::string operator()(const Start&) const { return "start"; }
    std::string operator()(const BatchSucceeded&) const { return "batch_succeeded"; }
    std::string operator()(const BatchFailed&) const { return "batch_failed"; }
    std::string operator()(const TimerFired&) const { return "timer_fired"; }
    std::string operator()(const AnalysisPassed&) const { return "analysis_passed"; }
    std::string operator()(const AnalysisFailed&) const { return "analysis_failed"; }
    std::string operator()(const TrafficSwitched&) const { return "traffic_switched"; }
    std::string operator()(const Operator& o) const {
      return "operator_" + std::string(events::Name(o.action));
    }
    std::string operator()(const RollbackStarted&) const { return "rollback_started"; }
    std::string operator()(const RollbackCompleted&) const { return "rollback_completed"; }
  };
  return std::visit(Visitor{}, in);
}

std::string InputDetail(const Input& in) {
  struct Visitor {
    static std::string Of(std::uint32_t batch, core::Generation g) {
      return "batch " + std::to_string(batch) + ", generation " + std::to_string(g.Value());
    }
    std::string operator()(const Start&) const { return ""; }
    std::string operator()(const BatchSucceeded& i) const { return Of(i.batch, i.generation); }
    std::string operator()(const BatchFailed& i) const { return Of(i.batch, i.generation); }
    std::string operator()(const TimerFired& i) const { return "timer " + i.key; }
    std::string operator()(const AnalysisPassed& i) const { return Of(i.batch, i.generation); }
    std::string operator()(const AnalysisFailed& i) const { return Of(i.batch, i.generation); }
    std::string operator()(const TrafficSwitched& i) const {
      return std::string(i.success ? "switched" : "switch failed") + ", generation " +
             std::to_string(i.generation.Value());
    }
    std::string operator()(const Operator&) const { return ""; }
    std::string operator()(const RollbackStarted& i) const {
      return "generation " + std::to_string(i.generation.Value());
    }
    std::string operator()(const RollbackCompleted& i) const {
      if (!i.success) return "failed";
      return i.deployment_failed ? "succeeded, deployment failed" : "succeeded";
    }
  };
  return std::visit(Visitor{}, in);
}

}  // namespace sluice::rollout_planner
