#include "command.hpp"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <set>

namespace sluice::executor {
namespace {

using json = nlohmann::json;

std::chrono::milliseconds Millis(const google::protobuf::Duration& d) {
  return std::chrono::milliseconds(google::protobuf::util::TimeUtil::DurationToMilliseconds(d));
}

std::chrono::milliseconds OrDefault(const google::protobuf::Duration& d,
                                    std::chrono::milliseconds fallback) {
  const auto ms = Millis(d);
  return ms.count() > 0 ? ms : fallback;
}

std::string RolloutName(events::v1::KubernetesRollout r) {
  switch (r) {
    case events::v1::KUBERNETES_ROLLOUT_REPLICA_CANARY:
      return std::string(kRolloutReplicaCanary);
    case events::v1::KUBERNETES_ROLLOUT_PARTITION:
      return std::string(kRolloutPartition);
    case events::v1::KUBERNETES_ROLLOUT_ROLLING:
      return std::string(kRolloutRolling);
    case events::v1::KUBERNETES_ROLLOUT_BLUE_GREEN:
      return std::string(kRolloutBlueGreen);
    default:
      return "";
  }
}

std::string ArtifactKindName(events::v1::ArtifactKind k) {
  switch (k) {
    case events::v1::ARTIFACT_KIND_TARBALL:
      return "tarball";
    case events::v1::ARTIFACT_KIND_IMAGE:
      return std::string(kArtifactImage);
    case events::v1::ARTIFACT_KIND_MODEL:
      return "model";
    default:
      return "";
  }
}

HostTarget TargetFromProto(const events::v1::Target& t, std::uint32_t weight_percent) {
  HostTarget h;
  h.host = t.host();
  h.address = t.address();
  h.agent_endpoint = t.agent_endpoint();
  for (const auto& [k, v] : t.labels()) h.labels.emplace(k, v);
  h.driver = t.driver().empty() ? std::string(kDriverAgent) : t.driver();
  if (h.driver == kDriverKubernetes || t.has_kubernetes()) {
    const auto& w = t.kubernetes();
    KubernetesTarget k;
    k.cluster = w.cluster();
    k.ns = w.namespace_();
    if (!w.kind().empty()) k.kind = w.kind();
    k.name = w.name();
    k.container = w.container();
    k.rollout = RolloutName(w.rollout());
    k.surge = w.surge();
    k.route = w.traffic().route();
    k.stable_service = w.traffic().stable_service();
    k.canary_service = w.traffic().canary_service();
    k.service = w.service();
    k.weight_percent = weight_percent;
    h.kubernetes = std::move(k);
  }
  return h;
}

std::string StringOr(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> StringsOr(const json& j, const char* key) {
  std::vector<std::string> out;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::int64_t IntOr(const json& j, const char* key, std::int64_t fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : fallback;
}

}  // namespace

std::optional<AgentServiceSpec> ServiceFromProto(const events::v1::ServiceConfig& s,
                                                 const CommandDefaults& defaults) {
  if (s.restart_command().empty()) return std::nullopt;
  AgentServiceSpec out;
  out.restart_command.assign(s.restart_command().begin(), s.restart_command().end());
  out.restart_timeout = OrDefault(s.restart_timeout(), defaults.restart_timeout);
  out.health.http_url = s.health_http_url();
  out.health.command.assign(s.health_command().begin(), s.health_command().end());
  out.health.timeout = OrDefault(s.health_timeout(), defaults.health_timeout);
  return out;
}

Command CommandFromBatchRequested(const events::v1::BatchRequested& e, std::string event_id,
                                  const CommandDefaults& defaults) {
  Command c;
  c.deployment_id = core::DeploymentId(e.deployment_id());
  c.batch_index = core::BatchIndex(e.batch_index());
  c.generation = core::Generation(e.generation());
  c.operation = BatchOperation::kDeploy;
  c.event_id = std::move(event_id);
  c.app = e.app();
  c.env = e.env();
  c.artifact = {e.artifact().version(), e.artifact().url(),
                e.artifact().sha256(),  ArtifactKindName(e.artifact().kind()),
                e.artifact().image(),   e.artifact().image_digest()};
  for (const auto& t : e.targets()) c.targets.push_back(TargetFromProto(t, e.weight_percent()));
  if (e.has_service()) c.service = ServiceFromProto(e.service(), defaults);
  c.policy.max_parallel = e.max_parallel() > 0 ? e.max_parallel() : defaults.max_parallel;
  c.policy.failure_tolerance = e.failure_tolerance();
  c.policy.host_timeout = OrDefault(e.host_timeout(), defaults.host_timeout);
  return c;
}

Command CommandFromRevertRequested(const events::v1::RevertRequested& e, std::string event_id,
                                   const std::vector<Command>& earlier,
                                   const CommandDefaults& defaults) {
  Command c;
  c.deployment_id = core::DeploymentId(e.deployment_id());
  c.generation = core::Generation(e.generation());
  c.operation = BatchOperation::kRevert;
  c.rollback_id = e.rollback_id();
  c.event_id = std::move(event_id);
  c.artifact.version = e.target_version();
  c.policy.max_parallel = defaults.revert_max_parallel;
  c.policy.host_timeout = defaults.host_timeout;
  // A revert is a recovery: every host is tried, whatever fails on the others.
  c.policy.failure_tolerance =
      static_cast<std::uint32_t>(e.hosts_size() + e.kubernetes_targets_size());
  std::set<std::string> seen;
  // Kubernetes workloads come with their target (and the share to fall back to); the batch each
  // was last driven in is the one of its record.
  for (const auto& t : e.kubernetes_targets()) {
    if (!seen.insert(t.host()).second) continue;
    HostTarget target = TargetFromProto(t, e.weight_percent());
    target.driver = std::string(kDriverKubernetes);
    std::uint32_t batch = 0;
    for (auto it = earlier.rbegin(); it != earlier.rend(); ++it) {
      if (it->deployment_id != c.deployment_id) continue;
      const bool named = std::any_of(it->targets.begin(), it->targets.end(),
                                     [&](const HostTarget& h) { return h.host == t.host(); });
      if (!named) continue;
      const auto b = it->host_batches.find(t.host());
      batch = b != it->host_batches.end() ? b->second : it->batch_index.Value();
      break;
    }
    c.targets.push_back(std::move(target));
    c.host_batches[t.host()] = batch;
  }
  for (const auto& host : e.hosts()) {
    if (!seen.insert(host).second) continue;
    if (e.target_version().empty()) {
      c.unresolved.push_back(
          {host, std::string(kReasonNoTargetVersion), "the revert names no version to go back to"});
      continue;
    }
    const HostTarget* found = nullptr;
    std::uint32_t batch = 0;
    for (auto it = earlier.rbegin(); it != earlier.rend() && found == nullptr; ++it) {
      if (it->deployment_id != c.deployment_id) continue;
      for (const auto& t : it->targets) {
        if (t.host != host) continue;
        found = &t;
        const auto b = it->host_batches.find(host);
        batch = b != it->host_batches.end() ? b->second : it->batch_index.Value();
        break;
      }
    }
    if (found == nullptr) {
      c.unresolved.push_back({host, std::string(kReasonUnknownHost),
                              "host " + host + " was never part of deployment " +
                                  e.deployment_id() + ": its address is unknown"});
      continue;
    }
    c.targets.push_back(*found);
    c.host_batches[host] = batch;
  }
  if (c.app.empty() || c.env.empty()) {
    for (auto it = earlier.rbegin(); it != earlier.rend(); ++it) {
      if (it->deployment_id == c.deployment_id && !it->app.empty()) {
        c.app = it->app;
        c.env = it->env;
        break;
      }
    }
  }
  return c;
}

FenceDecision Fence(std::optional<std::uint64_t> highest, std::uint64_t generation) {
  if (highest && generation < *highest) return FenceDecision::kRefuseStale;
  return FenceDecision::kAccept;
}

std::optional<AgentServiceSpec> ServiceFor(const Command& command,
                                           const std::optional<AgentServiceSpec>& fallback) {
  if (command.service) return command.service;
  if (fallback && !fallback->restart_command.empty()) return fallback;
  return std::nullopt;
}

BatchCommand ToBatchCommand(const Command& command, const RetryPolicy& retry) {
  BatchCommand b;
  b.deployment_id = command.deployment_id;
  b.batch_index = command.batch_index;
  b.generation = command.generation;
  b.operation = command.operation;
  b.artifact = command.artifact;
  b.hosts = command.targets;
  b.policy = command.policy;
  b.policy.retry = retry;
  return b;
}

json ArtifactToJson(const ArtifactRef& a) {
  json j = {{"version", a.version}, {"url", a.url}, {"sha256", a.sha256}};
  if (!a.kind.empty()) j["kind"] = a.kind;
  if (!a.image.empty()) {
    j["image"] = a.image;
    j["image_digest"] = a.image_digest;
  }
  return j;
}

ArtifactRef ArtifactFromJson(const json& j) {
  return {StringOr(j, "version"), StringOr(j, "url"),   StringOr(j, "sha256"),
          StringOr(j, "kind"),    StringOr(j, "image"), StringOr(j, "image_digest")};
}

json KubernetesToJson(const KubernetesTarget& k) {
  json j = {{"cluster", k.cluster},     {"namespace", k.ns},
            {"kind", k.kind},           {"name", k.name},
            {"container", k.container}, {"rollout", k.rollout},
            {"surge", k.surge},         {"weight_percent", k.weight_percent}};
  if (!k.route.empty()) {
    j["traffic"] = {{"route", k.route},
                    {"stable_service", k.stable_service},
                    {"canary_service", k.canary_service}};
  }
  if (!k.service.empty()) j["service"] = k.service;
  return j;
}

KubernetesTarget KubernetesFromJson(const json& j) {
  KubernetesTarget k;
  k.cluster = StringOr(j, "cluster");
  k.ns = StringOr(j, "namespace");
  k.kind = StringOr(j, "kind");
  if (k.kind.empty()) k.kind = "Deployment";
  k.name = StringOr(j, "name");
  k.container = StringOr(j, "container");
  k.rollout = StringOr(j, "rollout");
  const auto surge = j.find("surge");
  k.surge = surge != j.end() && surge->is_boolean() && surge->get<bool>();
  k.weight_percent =
      static_cast<std::uint32_t>(std::clamp<std::int64_t>(IntOr(j, "weight_percent", 0), 0, 100));
  if (const auto t = j.find("traffic"); t != j.end() && t->is_object()) {
    k.route = StringOr(*t, "route");
    k.stable_service = StringOr(*t, "stable_service");
    k.canary_service = StringOr(*t, "canary_service");
  }
  k.service = StringOr(j, "service");
  return k;
}

json TargetsToJson(const std::vector<HostTarget>& targets,
                   const std::map<std::string, std::uint32_t>& host_batches) {
  json out = json::array();
  for (const auto& t : targets) {
    json j = {{"host", t.host},
              {"address", t.address},
              {"agent_endpoint", t.agent_endpoint},
              {"labels", t.labels},
              {"driver", t.driver}};
    if (t.kubernetes) j["kubernetes"] = KubernetesToJson(*t.kubernetes);
    if (const auto it = host_batches.find(t.host); it != host_batches.end()) {
      j["batch_index"] = it->second;
    }
    out.push_back(std::move(j));
  }
  return out;
}

void TargetsFromJson(const json& j, std::vector<HostTarget>& targets,
                     std::map<std::string, std::uint32_t>& host_batches) {
  if (!j.is_array()) return;
  for (const auto& v : j) {
    HostTarget t;
    t.host = StringOr(v, "host");
    t.address = StringOr(v, "address");
    t.agent_endpoint = StringOr(v, "agent_endpoint");
    if (const auto it = v.find("labels"); it != v.end() && it->is_object()) {
      for (const auto& [k, val] : it->items()) {
        if (val.is_string()) t.labels.emplace(k, val.get<std::string>());
      }
    }
    t.driver = StringOr(v, "driver");
    if (t.driver.empty()) t.driver = std::string(kDriverAgent);
    if (const auto k = v.find("kubernetes"); k != v.end() && k->is_object()) {
      t.kubernetes = KubernetesFromJson(*k);
    }
    if (const auto b = IntOr(v, "batch_index", -1); b >= 0) {
      host_batches[t.host] = static_cast<std::uint32_t>(b);
    }
    targets.push_back(std::move(t));
  }
}

json UnresolvedToJson(const std::vector<UnresolvedHost>& hosts) {
  json out = json::array();
  for (const auto& h : hosts) {
    out.push_back({{"host", h.host}, {"reason", h.reason}, {"message", h.message}});
  }
  return out;
}

std::vector<UnresolvedHost> UnresolvedFromJson(const json& j) {
  std::vector<UnresolvedHost> out;
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    out.push_back({StringOr(v, "host"), StringOr(v, "reason"), StringOr(v, "message")});
  }
  return out;
}

json ServiceToJson(const std::optional<AgentServiceSpec>& s) {
  if (!s) return nullptr;
  json health = {{"timeout_ms", s->health.timeout.count()}};
  if (!s->health.http_url.empty()) health["http_url"] = s->health.http_url;
  if (!s->health.command.empty()) health["command"] = s->health.command;
  return {{"restart_command", s->restart_command},
          {"restart_timeout_ms", s->restart_timeout.count()},
          {"health", health}};
}

std::optional<AgentServiceSpec> ServiceFromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  AgentServiceSpec s;
  s.restart_command = StringsOr(j, "restart_command");
  s.restart_timeout = std::chrono::milliseconds(IntOr(j, "restart_timeout_ms", 60'000));
  if (const auto it = j.find("health"); it != j.end() && it->is_object()) {
    s.health.http_url = StringOr(*it, "http_url");
    s.health.command = StringsOr(*it, "command");
    s.health.timeout = std::chrono::milliseconds(IntOr(*it, "timeout_ms", 30'000));
  }
  return s;
}

json PolicyToJson(const BatchPolicy& p) {
  return {{"max_parallel", p.max_parallel},
          {"failure_tolerance", p.failure_tolerance},
          {"host_timeout_ms", p.host_timeout.count()}};
}

BatchPolicy PolicyFromJson(const json& j) {
  BatchPolicy p;
  p.max_parallel =
      static_cast<std::uint32_t>(std::max<std::int64_t>(IntOr(j, "max_parallel", 1), 1));
  p.failure_tolerance =
      static_cast<std::uint32_t>(std::max<std::int64_t>(IntOr(j, "failure_tolerance", 0), 0));
  p.host_timeout = std::chrono::milliseconds(IntOr(j, "host_timeout_ms", 300'000));
  return p;
}

}  // namespace sluice::executor
