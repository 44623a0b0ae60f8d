#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::kube {

// A resource type as the API addresses it: group ("" for the core group), version, and the
// plural resource name, e.g. {"apps", "v1", "deployments"}.
struct Resource {
  std::string_view group;
  std::string_view version;
  std::string_view resource;
  bool namespaced = true;

  // "deployments.apps", or "pods" for the core group: how RBAC messages name it.
  std::string QualifiedName() const;
  // /apis/apps/v1/namespaces/<ns>/deployments[/<name>] (/api/v1/... for the core group);
  // `ns` is ignored for cluster-scoped resources; `name` empty = the collection.
  std::string Path(std::string_view ns, std::string_view name = "") const;
};

inline constexpr Resource kDeployments{"apps", "v1", "deployments"};
inline constexpr Resource kStatefulSets{"apps", "v1", "statefulsets"};
inline constexpr Resource kReplicaSets{"apps", "v1", "replicasets"};
inline constexpr Resource kPods{"", "v1", "pods"};
inline constexpr Resource kServices{"", "v1", "services"};
inline constexpr Resource kEvents{"", "v1", "events"};
inline constexpr Resource kNamespaces{"", "v1", "namespaces", false};
inline constexpr Resource kHttpRoutes{"gateway.networking.k8s.io", "v1", "httproutes"};

// The RBAC verbs, as bits so one rule lists several.
enum Verb : std::uint32_t {
  kGet = 1U << 0,
  kList = 1U << 1,
  kWatch = 1U << 2,
  kCreate = 1U << 3,
  kUpdate = 1U << 4,
  kPatch = 1U << 5,
  kDelete = 1U << 6,
};
inline constexpr std::array<std::pair<Verb, std::string_view>, 7> kVerbNames{{
    {kGet, "get"},
    {kList, "list"},
    {kWatch, "watch"},
    {kCreate, "create"},
    {kUpdate, "update"},
    {kPatch, "patch"},
    {kDelete, "delete"},
}};
std::string_view VerbName(Verb v);
// "[get, list, patch]" in the table's order.
std::string VerbList(std::uint32_t verbs);

// One line of a Role: the verbs allowed on a resource of a group.
struct RbacRule {
  std::string_view group;
  std::string_view resource;
  std::uint32_t verbs;
};

// Everything the Kubernetes target driver may do, in ONE place: the executor's chart RBAC is
// checked against this table, and a verb not listed here is a verb the driver must not use.
//   Deployments: the stable and <name>-canary Deployments (replica canary, rolling,
//     blue-green), created, patched (image, replicas, fencing annotations) and deleted.
//   StatefulSets: the partition lowered batch by batch, the image patched.
//   ReplicaSets, pods, events: read only, to name the pods that are not ready and why.
//   Services: blue-green's selector switch, traffic canary's stable/canary Services.
//   HTTPRoutes: traffic-weighted canary's backend weights.
inline constexpr std::array<RbacRule, 7> kDriverRbacRules{{
    {"apps", "deployments", kGet | kList | kWatch | kCreate | kUpdate | kPatch | kDelete},
    {"apps", "statefulsets", kGet | kList | kWatch | kUpdate | kPatch},
    {"apps", "replicasets", kGet | kList | kWatch},
    {"", "pods", kGet | kList | kWatch},
    {"", "events", kGet | kList | kWatch},
    {"", "services", kGet | kList | kWatch | kCreate | kUpdate | kPatch | kDelete},
    {"gateway.networking.k8s.io", "httproutes", kGet | kList | kWatch | kCreate | kUpdate | kPatch},
}};

// Whether the table allows `verb` on `resource` of `group`.
constexpr bool DriverMay(std::string_view group, std::string_view resource, Verb verb) {
  for (const auto& rule : kDriverRbacRules) {
    if (rule.group == group && rule.resource == resource) return (rule.verbs & verb) != 0;
  }
  return false;
}

// "{apiGroups: [apps], resources: [deployments], verbs: [patch]}" (apiGroups: [""] for core).
std::string FormatRbacRule(std::string_view group, std::string_view resource, std::uint32_t verbs);

}  // namespace sluice::kube
