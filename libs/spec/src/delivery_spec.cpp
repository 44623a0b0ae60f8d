#include "sluice/spec/delivery_spec.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "sluice/spec/yaml_reader.hpp"

namespace sluice::spec {
namespace {

SpecError ErrorAt(std::string_view origin, SpecIssue issue) {
  SpecError e;
  e.origin = origin;
  e.line = issue.line;
  e.column = issue.column;
  e.path = std::move(issue.path);
  e.message = std::move(issue.message);
  return e;
}

// Walks the YAML events (aliases are not expanded, so this is linear in the text) for what
// YAML::Load would silently drop: a second document, and tags ("!!binary", "!custom"), which
// this format gives no meaning.
class ShapeCheck : public YAML::EventHandler {
 public:
  std::optional<SpecIssue> issue;

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string&) override {
    Tag(mark, tag);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Tag(mark, tag);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Tag(mark, tag);
  }
  void OnMapEnd() override {}

 private:
  // "?" is an untagged plain node, "!" an untagged quoted scalar; anything else was written.
  void Tag(const YAML::Mark& mark, const std::string& tag) {
    if (issue || tag == "?" || tag == "!" || tag.empty()) return;
    issue = SpecIssue{
        mark.line + 1, mark.column + 1, "",
        "YAML tags are not supported (found '" + tag.substr(0, 64) + "'); write the plain value"};
  }
};

std::optional<SpecIssue> CheckShape(std::string_view yaml) {
  std::istringstream in{std::string(yaml)};
  YAML::Parser parser(in);
  ShapeCheck check;
  for (int documents = 0; parser.HandleNextDocument(check);) {
    if (check.issue) return check.issue;
    if (++documents > 1) {
      return SpecIssue{0, 0, "",
                       "a delivery spec is one YAML document; remove the second "
                       "document (after '---') or apply it as a spec of its own"};
    }
  }
  return check.issue;
}

bool IsName(std::string_view s) {  // ^[a-z][a-z0-9-]{0,62}$
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsHostName(std::string_view s) {  // letters, digits, '.', '-', '_'; starts alphanumeric
  if (s.empty() || s.size() > 253 || !std::isalnum(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

bool IsLabelKey(std::string_view s) {  // Kubernetes-like: [A-Za-z0-9._/-], 1..63
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == '/';
  });
}

bool IsDnsLabel(std::string_view s) {  // RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsDnsSubdomain(std::string_view s) {  // RFC 1123 labels joined by '.', <= 253
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    const auto dot = s.find('.', start);
    if (!IsDnsLabel(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// As release-intake's enrolment (agent_enrollment.hpp): a label key
// ^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$, a value
// ^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$.
constexpr std::size_t kMaxSelectorLabels = 32;

bool IsAgentLabelKey(std::string_view s) {
  const auto edge = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 63 || !edge(s.front()) || !edge(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return edge(c) || c == '.' || c == '_' || c == '/' || c == '-';
  });
}

bool IsAgentLabelValue(std::string_view s) {
  const auto edge = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (s.empty()) return true;
  if (s.size() > 63 || !edge(s.front()) || !edge(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return edge(c) || c == '.' || c == '_' || c == '-'; });
}

bool HasSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

bool IsHttpUrl(std::string_view s) {
  const bool scheme = s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
  if (!scheme || HasSpace(s)) return false;
  const auto host_start = s.find("//") + 2;
  return host_start < s.size() && s[host_start] != '/';
}

class Parser : public YamlReader {
 public:
  Parser() : YamlReader(Options{.duration_example = "30s", .max_integer_digits = 12}) {}

  int Percent(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) Fail(n, path, "must be a percentage from 1% to 100%");
    const auto p = ParsePercent(n.Scalar());
    if (!p) Fail(n, path, "must be 1%..100%, got " + n.Scalar());
    return *p;
  }

  Quantity ParseQuantity(const YAML::Node& n, const std::string& path) const {
    if (n.IsScalar() && !n.Scalar().empty() && n.Scalar().back() == '%') {
      return Quantity{Percent(n, path), true};
    }
    if (!n.IsScalar()) Fail(n, path, "must be a host count like 3 or a share like 25%");
    return Quantity{Integer(n, path, 1, 1000000), false};
  }

  DeliverySpec Spec(const YAML::Node& root) {
    if (!root.IsDefined() || root.IsNull()) Fail(root, "", "the spec is empty");
    CheckKeys(root, "", {"app", "environments"});
    DeliverySpec spec;
    const auto app = Required(root, "", "app");
    spec.app = Scalar(app, "app");
    if (!IsName(spec.app)) {
      Fail(app, "app", "must match [a-z][a-z0-9-]{0,62}, got '" + spec.app + "'");
    }
    const auto envs = Required(root, "", "environments");
    RequireMap(envs, "environments");
    if (envs.size() == 0) Fail(envs, "environments", "must name at least one environment");
    std::set<std::string> seen;
    for (const auto& kv : envs) {
      const auto name = KeyOf(kv.first, "environments");
      const auto path = Child("environments", name);
      if (!IsName(name)) Fail(kv.first, path, "environment names must match [a-z][a-z0-9-]{0,62}");
      if (!seen.insert(name).second) Fail(kv.first, path, "duplicate environment");
      spec.environments.push_back(Env(kv.second, path, name));
    }
    CheckPromotions(spec);
    return spec;
  }

 private:
  struct HostNode {
    YAML::Node node;
    std::string path;
  };

  Environment Env(const YAML::Node& node, const std::string& path, const std::string& name) {
    CheckKeys(node, path,
              {"targets", "kubernetes", "strategy", "policy", "service", "analysis", "rollback",
               "promotion", "windows"});
    Environment env;
    env.name = name;
    host_nodes_.clear();
    if (!Has(node, "targets") && !Has(node, "kubernetes")) {
      Fail(node, Child(path, "targets"),
           "is required (VM host groups), unless kubernetes names workloads; both may be given");
    }
    if (Has(node, "targets")) env.targets = Targets(node["targets"], Child(path, "targets"));
    if (Has(node, "kubernetes")) {
      env.kubernetes = Kubernetes(node["kubernetes"], Child(path, "kubernetes"), env.AllHosts());
    }
    // Before the strategy: its weight steps name analysis templates.
    if (const auto a = node["analysis"]; a.IsDefined() && !a.IsNull()) {
      auto parsed = ParseAnalysisSpec(a, Child(path, "analysis"));
      if (const auto* issue = std::get_if<SpecIssue>(&parsed)) throw Failure{*issue};
      env.analysis = std::get<analysis::AnalysisSpec>(std::move(parsed));
    }
    if (const auto r = node["rollback"]; r.IsDefined() && !r.IsNull()) {
      const auto rpath = Child(path, "rollback");
      CheckKeys(r, rpath, {"onCanaryFailure"});
      if (const auto o = r["onCanaryFailure"]; o.IsDefined()) {
        const auto opath = Child(rpath, "onCanaryFailure");
        const auto v = Scalar(o, opath);
        const auto parsed = analysis::ParseOnCanaryFailure(v);
        if (!parsed) Fail(o, opath, "must be revert-batch or revert-all, got " + v);
        env.on_canary_failure = *parsed;
      }
    }
    env.strategy = ParseStrategy(Required(node, path, "strategy"), Child(path, "strategy"), env);
    if (const auto p = node["policy"]; p.IsDefined() && !p.IsNull()) {
      env.policy = ParsePolicy(p, Child(path, "policy"));
    }
    if (const auto s = node["service"]; s.IsDefined() && !s.IsNull()) {
      env.service = ParseService(s, Child(path, "service"));
    }
    CheckInventoryPolicy(node, path, env);
    ParsePromotion(node, path, env);
    ParseWindows(node, path, env);
    return env;
  }

  // --- Inventories and failure tolerance (issue 19) -----------------------------------------

  // `inventory: {file | url, group, tokenFile, agentEndpoint}` in place of `hosts:`.
  InventorySource Inventory(const YAML::Node& group, const std::string& gpath) const {
    if (Has(group, "hosts")) {
      Fail(group["hosts"], Child(gpath, "hosts"),
           "a host group lists its hosts or names an inventory, not both");
    }
    const auto node = group["inventory"];
    const auto path = Child(gpath, "inventory");
    RequireMap(node, path);
    CheckKeys(node, path, {"file", "url", "group", "tokenFile", "agentEndpoint"});
    InventorySource inv;
    if (Has(node, "file") == Has(node, "url")) {
      Fail(node, path, "needs exactly one of file (a path) or url (http:// or https://)");
    }
    if (Has(node, "file")) {
      inv.file = Scalar(node["file"], Child(path, "file"));
      if (inv.file.empty() || inv.file.front() != '/' || inv.file.size() > 4096 ||
          inv.file.find('\0') != std::string::npos) {
        Fail(node["file"], Child(path, "file"), "must be an absolute path");
      }
      if (Has(node, "tokenFile")) {
        Fail(node["tokenFile"], Child(path, "tokenFile"), "only an inventory url sends a token");
      }
    } else {
      inv.url = Scalar(node["url"], Child(path, "url"));
      if (!IsHttpUrl(inv.url) || inv.url.size() > 2048) {
        Fail(node["url"], Child(path, "url"), "must be an http:// or https:// URL");
      }
      if (Has(node, "tokenFile")) {
        inv.token_file = Scalar(node["tokenFile"], Child(path, "tokenFile"));
        if (inv.token_file.empty() || inv.token_file.front() != '/') {
          Fail(node["tokenFile"], Child(path, "tokenFile"), "must be an absolute path");
        }
      }
    }
    const auto g = Required(node, path, "group");
    inv.group = Scalar(g, Child(path, "group"));
    if (inv.group.empty() || inv.group.size() > 255 || HasSpace(inv.group)) {
      Fail(g, Child(path, "group"), "must name a group of the inventory");
    }
    const auto ae = Required(node, path, "agentEndpoint");
    inv.agent_endpoint = Scalar(ae, Child(path, "agentEndpoint"));
    if (!IsHttpUrl(inv.agent_endpoint) && inv.agent_endpoint.rfind("http://{address}", 0) != 0 &&
        inv.agent_endpoint.rfind("https://{address}", 0) != 0) {
      Fail(ae, Child(path, "agentEndpoint"),
           "must be an http:// or https:// URL, e.g. http://{address}:7070");
    }
    return inv;
  }

  // `selector: {label: value, ...}` and `agentEndpoint:` in place of `hosts:`: the enrolled,
  // non-revoked agents with every one of the labels. Keys and values follow the enrolment rules
  // (POST /v1/agents/enroll), so a selector that no agent could ever match is refused here.
  InventorySource Selector(const YAML::Node& group, const std::string& gpath) const {
    for (const char* other : {"hosts", "inventory"}) {
      if (Has(group, other)) {
        Fail(group[other], Child(gpath, other),
             "a host group lists its hosts, names an inventory or selects enrolled agents: "
             "one of the three");
      }
    }
    const auto node = group["selector"];
    const auto path = Child(gpath, "selector");
    if (!node.IsMap() || node.size() == 0) {
      Fail(node, path, "must map at least one agent label to its value, e.g. {role: web}");
    }
    if (node.size() > kMaxSelectorLabels) {
      Fail(node, path, "has more than " + std::to_string(kMaxSelectorLabels) + " labels");
    }
    InventorySource inv;
    for (const auto& kv : node) {
      const auto key = KeyOf(kv.first, path);
      const auto kpath = Child(path, key);
      if (!IsAgentLabelKey(key)) {
        Fail(kv.first, kpath,
             "a label key is 1-63 lowercase letters, digits, '.', '_', '/' or '-', starting and "
             "ending with a letter or digit");
      }
      if (!kv.second.IsScalar()) Fail(kv.second, kpath, "must be a label value");
      const auto value = kv.second.Scalar();
      if (!IsAgentLabelValue(value)) {
        Fail(kv.second, kpath,
             "a label value is at most 63 letters, digits, '.', '_' or '-', starting and ending "
             "with a letter or digit");
      }
      if (!inv.selector.emplace(key, value).second) Fail(kv.first, kpath, "duplicate label");
    }
    const auto ae = Required(group, gpath, "agentEndpoint");
    const auto apath = Child(gpath, "agentEndpoint");
    inv.agent_endpoint = Scalar(ae, apath);
    if (inv.agent_endpoint.find("{port}") != std::string::npos) {
      Fail(ae, apath, "an enrolled agent has no port: write it, e.g. http://{address}:7070");
    }
    if (!IsHttpUrl(inv.agent_endpoint) || inv.agent_endpoint.size() > 2048) {
      Fail(ae, apath, "must be an http:// or https:// URL, e.g. http://{address}:7070");
    }
    return inv;
  }

  // A count ("3") or Ansible's max_fail_percentage ("20%", 0%..100%).
  void FailureTolerance(const YAML::Node& n, const std::string& path, Strategy& s) const {
    if (n.IsScalar() && !n.Scalar().empty() && n.Scalar().back() == '%') {
      const std::string& v = n.Scalar();
      const auto p = v == "0%" ? std::optional<int>(0) : ParsePercent(v);
      if (!p) Fail(n, path, "must be a host count like 2 or a share from 0% to 100%, got " + v);
      s.failure_tolerance_percent = *p;
      return;
    }
    s.failure_tolerance = Integer(n, path, 0, 1000000);
  }

  // autoDeploy starts a deployment in the planner, which reads no inventory: refused together.
  void CheckInventoryPolicy(const YAML::Node& node, const std::string& path,
                            const Environment& env) const {
    if (env.policy.auto_deploy && HasInventory(env)) {
      Fail(node["policy"]["autoDeploy"], Child(Child(path, "policy"), "autoDeploy"),
           "an environment with an inventory or selector host group cannot auto-deploy: its hosts "
           "are read when a deployment is requested (POST /v1/deployments)");
    }
  }

  std::vector<HostGroup> Targets(const YAML::Node& node, const std::string& path) {
    RequireMap(node, path);
    if (node.size() == 0) Fail(node, path, "must name at least one host group");
    std::vector<HostGroup> groups;
    std::set<std::string> group_names;
    std::set<std::string> host_names;
    for (const auto& kv : node) {
      HostGroup group;
      group.name = KeyOf(kv.first, path);
      const auto gpath = Child(path, group.name);
      if (!IsName(group.name)) Fail(kv.first, gpath, "group names must match [a-z][a-z0-9-]{0,62}");
      if (!group_names.insert(group.name).second) Fail(kv.first, gpath, "duplicate host group");
      CheckKeys(kv.second, gpath, {"hosts", "inventory", "selector", "agentEndpoint"});
      if (Has(kv.second, "selector")) {
        group.inventory = Selector(kv.second, gpath);
        groups.push_back(std::move(group));
        continue;
      }
      if (Has(kv.second, "agentEndpoint")) {
        Fail(kv.second["agentEndpoint"], Child(gpath, "agentEndpoint"),
             "goes with selector (a host lists its own agentEndpoint, an inventory in its block)");
      }
      if (Has(kv.second, "inventory")) {
        group.inventory = Inventory(kv.second, gpath);
        groups.push_back(std::move(group));
        continue;
      }
      const auto hosts = Required(kv.second, gpath, "hosts");
      const auto hpath = Child(gpath, "hosts");
      if (!hosts.IsSequence() || hosts.size() == 0) {
        Fail(hosts, hpath, "must be a non-empty list of hosts");
      }
      for (std::size_t i = 0; i < hosts.size(); ++i) {
        const auto item_path = Index(hpath, i);
        Host h = ParseHost(hosts[i], item_path);
        h.group = group.name;
        if (!host_names.insert(h.name).second) {
          Fail(hosts[i]["name"], Child(item_path, "name"),
               "host '" + h.name + "' is listed twice in this environment");
        }
        host_nodes_.push_back({hosts[i], item_path});
        group.hosts.push_back(std::move(h));
      }
      groups.push_back(std::move(group));
    }
    return groups;
  }

  // `kubernetes:` a non-empty list of workloads; names unique and distinct from the VM hosts'.
  std::vector<KubernetesTarget> Kubernetes(const YAML::Node& node, const std::string& path,
                                           const std::vector<Host>& hosts) const {
    if (!node.IsSequence() || node.size() == 0) {
      Fail(node, path, "must be a non-empty list of Kubernetes workloads");
    }
    std::set<std::string> names;
    for (const auto& h : hosts) names.insert(h.name);
    std::vector<KubernetesTarget> out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const auto ipath = Index(path, i);
      auto t = ParseKubernetesTarget(node[i], ipath);
      if (!names.insert(t.name).second) {
        Fail(node[i]["name"], Child(ipath, "name"),
             "'" + t.name + "' names another target or host of this environment");
      }
      out.push_back(std::move(t));
    }
    return out;
  }

  std::string DnsName(const YAML::Node& map, const std::string& path, const std::string& key,
                      bool subdomain) const {
    const auto n = Required(map, path, key);
    const auto kpath = Child(path, key);
    auto v = Scalar(n, kpath);
    if (subdomain ? !IsDnsSubdomain(v) : !IsDnsLabel(v)) {
      Fail(n, kpath,
           std::string("must be a Kubernetes name (") +
               (subdomain ? "lower-case DNS subdomain" : "lower-case DNS label, at most 63") +
               "), got '" + v + "'");
    }
    return v;
  }

  KubernetesTarget ParseKubernetesTarget(const YAML::Node& node, const std::string& path) const {
    CheckKeys(node, path,
              {"name", "cluster", "namespace", "kind", "workload", "container", "rollout", "surge",
               "traffic", "service"});
    KubernetesTarget t;
    t.name = DnsName(node, path, "name", false);
    const auto cluster = Required(node, path, "cluster");
    t.cluster = Scalar(cluster, Child(path, "cluster"));
    if (t.cluster.empty() || HasSpace(t.cluster)) {
      Fail(cluster, Child(path, "cluster"),
           "must name a cluster credential (a kubeconfig context or in-cluster)");
    }
    t.ns = DnsName(node, path, "namespace", false);
    t.kind = OneOf<KubernetesKind>(Required(node, path, "kind"), Child(path, "kind"),
                                   {{"Deployment", KubernetesKind::kDeployment},
                                    {"StatefulSet", KubernetesKind::kStatefulSet}});
    t.workload = DnsName(node, path, "workload", true);
    t.container = DnsName(node, path, "container", false);
    const bool deployment = t.kind == KubernetesKind::kDeployment;
    t.rollout = deployment ? KubernetesRollout::kReplicaCanary : KubernetesRollout::kPartition;
    const auto rpath = Child(path, "rollout");
    if (const auto r = node["rollout"]; r.IsDefined() && !r.IsNull()) {
      t.rollout = OneOf<KubernetesRollout>(r, rpath,
                                           {{"replica-canary", KubernetesRollout::kReplicaCanary},
                                            {"partition", KubernetesRollout::kPartition},
                                            {"rolling", KubernetesRollout::kRolling},
                                            {"blue-green", KubernetesRollout::kBlueGreen}});
      const bool needs_deployment = t.rollout == KubernetesRollout::kReplicaCanary ||
                                    t.rollout == KubernetesRollout::kBlueGreen;
      if (needs_deployment && !deployment) {
        Fail(r, rpath, std::string(ToString(t.rollout)) + " needs kind Deployment");
      }
      if (t.rollout == KubernetesRollout::kPartition && deployment) {
        Fail(r, rpath, "partition needs kind StatefulSet");
      }
    }
    const bool canary = t.rollout == KubernetesRollout::kReplicaCanary;
    if (const auto s = node["surge"]; s.IsDefined() && !s.IsNull()) {
      t.surge = Bool(s, Child(path, "surge"));
      if (t.surge && !canary) Fail(s, Child(path, "surge"), "only a replica-canary surges");
    }
    if (const auto tr = node["traffic"]; tr.IsDefined() && !tr.IsNull()) {
      const auto tpath = Child(path, "traffic");
      if (!canary) Fail(tr, tpath, "only a replica-canary splits traffic");
      CheckKeys(tr, tpath, {"httpRoute", "stableService", "canaryService"});
      HttpRouteTraffic traffic;
      traffic.http_route = DnsName(tr, tpath, "httpRoute", true);
      traffic.stable_service = DnsName(tr, tpath, "stableService", false);
      traffic.canary_service = DnsName(tr, tpath, "canaryService", false);
      if (traffic.stable_service == traffic.canary_service) {
        Fail(tr["canaryService"], Child(tpath, "canaryService"), "must differ from stableService");
      }
      t.traffic = std::move(traffic);
    }
    if (t.rollout == KubernetesRollout::kBlueGreen) {
      t.service = DnsName(node, path, "service", false);
    } else if (const auto s = node["service"]; s.IsDefined()) {
      Fail(s, Child(path, "service"), "only a blue-green rollout switches a Service");
    }
    return t;
  }

  // A host's `ssh:` block ({user, port}, both optional): an agentless host, no agentEndpoint.
  std::optional<SshAccess> ParseSshAccess(const YAML::Node& host, const std::string& path) const {
    const auto node = host["ssh"];
    if (!node.IsDefined()) return std::nullopt;
    const auto spath = Child(path, "ssh");
    if (const auto e = host["agentEndpoint"]; e.IsDefined()) {
      Fail(e, Child(path, "agentEndpoint"), "an ssh host has no agent: give ssh or agentEndpoint");
    }
    SshAccess a;
    if (node.IsNull()) return a;
    RequireMap(node, spath);
    CheckKeys(node, spath, {"user", "port"});
    if (const auto u = node["user"]; u.IsDefined()) {
      a.user = Scalar(u, Child(spath, "user"));
      const bool ok = !a.user.empty() && a.user.size() <= 32 &&
                      (std::islower(static_cast<unsigned char>(a.user[0])) || a.user[0] == '_') &&
                      std::all_of(a.user.begin(), a.user.end(), [](char c) {
                        return std::islower(static_cast<unsigned char>(c)) ||
                               std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
                               c == '.' || c == '-';
                      });
      if (!ok) {
        Fail(
            u, Child(spath, "user"),
            "must be a user name (lowercase letters, digits, '_', '.', '-'), got '" + a.user + "'");
      }
    }
    if (const auto p = node["port"]; p.IsDefined()) {
      a.port = static_cast<int>(Integer(p, Child(spath, "port"), 1, 65535));
    }
    return a;
  }

  Host ParseHost(const YAML::Node& node, const std::string& path) const {
    CheckKeys(node, path, {"name", "address", "agentEndpoint", "labels", "ssh"});
    Host h;
    const auto name = Required(node, path, "name");
    h.name = Scalar(name, Child(path, "name"));
    if (!IsHostName(h.name)) {
      Fail(name, Child(path, "name"), "must be a host name (letters, digits, '.', '-', '_')");
    }
    const auto address = Required(node, path, "address");
    h.address = Scalar(address, Child(path, "address"));
    if (h.address.empty() || HasSpace(h.address) || h.address.find('/') != std::string::npos) {
      Fail(address, Child(path, "address"), "must be an IP address or DNS name");
    }
    h.ssh = ParseSshAccess(node, path);
    if (!h.ssh) {
      const auto endpoint = Required(node, path, "agentEndpoint");
      h.agent_endpoint = Scalar(endpoint, Child(path, "agentEndpoint"));
      if (!IsHttpUrl(h.agent_endpoint)) {
        Fail(endpoint, Child(path, "agentEndpoint"),
             "must be an http:// or https:// URL, got '" + h.agent_endpoint + "'");
      }
    }
    if (const auto labels = node["labels"]; labels.IsDefined() && !labels.IsNull()) {
      const auto lpath = Child(path, "labels");
      RequireMap(labels, lpath);
      for (const auto& kv : labels) {
        const auto key = KeyOf(kv.first, lpath);
        if (!IsLabelKey(key)) Fail(kv.first, Child(lpath, key), "invalid label name");
        if (h.labels.count(key) != 0) Fail(kv.first, Child(lpath, key), "duplicate label");
        h.labels[key] = Scalar(kv.second, Child(lpath, key));
      }
    }
    return h;
  }

  Strategy ParseStrategy(const YAML::Node& node, const std::string& path,
                         const Environment& env) const {
    RequireMap(node, path);
    const auto type_node = Required(node, path, "type");
    const auto type_text = Scalar(type_node, Child(path, "type"));
    const auto type = ParseStrategyType(type_text);
    if (!type) {
      Fail(type_node, Child(path, "type"),
           "must be canary, rolling, all-at-once or blue-green, got '" + type_text + "'");
    }
    std::vector<std::string> known = {"type", "maxParallel", "maxUnavailable", "hostTimeout",
                                      "failureTolerance"};
    switch (*type) {
      case StrategyType::kCanary:
        known.insert(known.end(), {"steps", "spreadBy"});
        break;
      case StrategyType::kRolling:
        known.insert(known.end(), {"batchSize", "spreadBy"});
        break;
      case StrategyType::kAllAtOnce:
        break;
      case StrategyType::kBlueGreen:
        known.insert(known.end(), {"groups", "trafficSwitch"});
        break;
    }
    CheckKeys(node, path, known);

    Strategy s;
    s.type = *type;
    if (const auto n = node["maxParallel"]; n.IsDefined()) {
      s.max_parallel = Integer(n, Child(path, "maxParallel"), 1, 1000000);
    }
    if (const auto n = node["maxUnavailable"]; n.IsDefined()) {
      s.max_unavailable = ParseQuantity(n, Child(path, "maxUnavailable"));
    }
    if (const auto n = node["hostTimeout"]; n.IsDefined()) {
      s.host_timeout = Duration(n, Child(path, "hostTimeout"));
    }
    if (const auto n = node["failureTolerance"]; n.IsDefined()) {
      FailureTolerance(n, Child(path, "failureTolerance"), s);
    }
    if (const auto n = node["spreadBy"]; n.IsDefined()) {
      const auto spath = Child(path, "spreadBy");
      s.spread_by = Scalar(n, spath);
      if (!IsLabelKey(*s.spread_by)) Fail(n, spath, "must be a label name");
      for (const auto& hn : host_nodes_) {
        const YAML::Node labels = hn.node["labels"];
        if (!labels.IsDefined() || !labels.IsMap() || !labels[*s.spread_by].IsDefined()) {
          Fail(hn.node, Child(hn.path, "labels"),
               "lacks label '" + *s.spread_by + "' named by " + spath);
        }
      }
    }
    switch (s.type) {
      case StrategyType::kCanary:
        s.steps = Steps(Required(node, path, "steps"), Child(path, "steps"), env);
        break;
      case StrategyType::kRolling:
        s.batch_size = ParseQuantity(Required(node, path, "batchSize"), Child(path, "batchSize"));
        break;
      case StrategyType::kAllAtOnce:
        break;
      case StrategyType::kBlueGreen:
        BlueGreen(node, path, env, s);
        break;
    }
    return s;
  }

  std::vector<CanaryStep> Steps(const YAML::Node& node, const std::string& path,
                                const Environment& env) const {
    if (!node.IsSequence() || node.size() == 0) Fail(node, path, "must be a non-empty list");
    std::vector<CanaryStep> steps;
    int last_weight = 0;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const auto step = node[i];
      const auto spath = Index(path, i);
      RequireMap(step, spath);
      if (last_weight == 100) {
        Fail(step, spath, "no step may follow the {weight: 100%} step");
      }
      if (step["weight"].IsDefined()) {
        CheckKeys(step, spath, {"weight", "analysis"});
        WeightStep w;
        w.percent = Percent(step["weight"], Child(spath, "weight"));
        if (w.percent <= last_weight) {
          Fail(step["weight"], Child(spath, "weight"),
               "weights must increase: " + std::to_string(w.percent) + "% follows " +
                   std::to_string(last_weight) + "%");
        }
        last_weight = w.percent;
        if (const auto a = step["analysis"]; a.IsDefined()) {
          const auto apath = Child(spath, "analysis");
          const auto v = Scalar(a, apath);
          if (v.empty()) Fail(a, apath, "must name an analysis template, or none");
          if (v != "none") {
            const auto* templates = env.analysis ? &env.analysis->templates : nullptr;
            if (templates == nullptr || templates->count(v) == 0) {
              std::string defined;
              if (templates != nullptr) {
                for (const auto& [name, t] : *templates) {
                  defined += (defined.empty() ? "" : ", ") + name;
                }
              }
              Fail(a, apath,
                   "step uses analysis template '" + v + "' but environments." + env.name +
                       ".analysis.templates does not define it" +
                       (defined.empty() ? std::string(" (there is no analysis section)")
                                        : " (defined: " + defined + ")"));
            }
            w.analysis = true;
            w.analysis_template = v;
          }
        }
        steps.emplace_back(w);
      } else if (step["pause"].IsDefined()) {
        CheckKeys(step, spath, {"pause"});
        const auto p = step["pause"];
        const auto ppath = Child(spath, "pause");
        PauseStep ps;
        if (p.IsMap()) {
          if (p.size() != 0) Fail(p, ppath, "must be a duration like 2m, or {} to wait for resume");
        } else {
          ps.duration = Duration(p, ppath);
        }
        steps.emplace_back(ps);
      } else if (step["approval"].IsDefined()) {
        CheckKeys(step, spath, {"approval"});
        const auto a = step["approval"];
        if (!a.IsScalar() || a.Scalar() != "required") {
          Fail(a, Child(spath, "approval"), "must be required");
        }
        steps.emplace_back(ApprovalStep{});
      } else {
        CheckKeys(step, spath, {"weight", "analysis", "pause", "approval"});
        Fail(step, spath, "a step needs one of weight, pause or approval");
      }
    }
    if (last_weight != 100) {
      Fail(node, path,
           "the last step must be {weight: 100%}" +
               (last_weight == 0 ? std::string(" (no weight step found)")
                                 : ", the highest weight is " + std::to_string(last_weight) + "%"));
    }
    return steps;
  }

  void BlueGreen(const YAML::Node& node, const std::string& path, const Environment& env,
                 Strategy& s) const {
    const auto gpath = Child(path, "groups");
    const auto groups = Required(node, path, "groups");
    if (!groups.IsSequence() || groups.size() != 2) {
      Fail(groups, gpath, "must list exactly two host groups");
    }
    for (std::size_t i = 0; i < 2; ++i) {
      const auto g = Scalar(groups[i], Index(gpath, i));
      const bool exists = std::any_of(env.targets.begin(), env.targets.end(),
                                      [&](const HostGroup& hg) { return hg.name == g; });
      if (!exists) Fail(groups[i], Index(gpath, i), "no host group named '" + g + "' in targets");
      if (i == 1 && g == s.groups[0])
        Fail(groups[i], Index(gpath, i), "the two groups must differ");
      s.groups.push_back(g);
    }
    const auto tpath = Child(path, "trafficSwitch");
    const auto ts = Required(node, path, "trafficSwitch");
    CheckKeys(ts, tpath, {"url"});
    const auto url = Required(ts, tpath, "url");
    TrafficSwitch t;
    t.url = Scalar(url, Child(tpath, "url"));
    if (!IsHttpUrl(t.url)) Fail(url, Child(tpath, "url"), "must be an http:// or https:// URL");
    s.traffic_switch = t;
  }

  // A non-empty list of non-empty strings (a command's argv).
  std::vector<std::string> Argv(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence() || node.size() == 0) {
      Fail(node, path, "must be a non-empty list of strings (the command and its arguments)");
    }
    std::vector<std::string> argv;
    for (std::size_t i = 0; i < node.size(); ++i) {
      auto arg = Scalar(node[i], Index(path, i));
      if (i == 0 && arg.empty()) Fail(node[i], Index(path, i), "the command must not be empty");
      argv.push_back(std::move(arg));
    }
    return argv;
  }

  ServiceSpec ParseService(const YAML::Node& node, const std::string& path) const {
    CheckKeys(node, path, {"restartCommand", "restartTimeout", "health"});
    ServiceSpec s;
    s.restart_command = Argv(Required(node, path, "restartCommand"), Child(path, "restartCommand"));
    if (const auto n = node["restartTimeout"]; n.IsDefined()) {
      s.restart_timeout = Duration(n, Child(path, "restartTimeout"));
    }
    if (const auto h = node["health"]; h.IsDefined() && !h.IsNull()) {
      const auto hpath = Child(path, "health");
      CheckKeys(h, hpath, {"httpUrl", "command", "timeout"});
      const auto url = h["httpUrl"];
      const auto command = h["command"];
      if (url.IsDefined() == command.IsDefined()) {
        Fail(h, hpath, "needs exactly one of httpUrl or command");
      }
      if (url.IsDefined()) {
        s.health_http_url = Scalar(url, Child(hpath, "httpUrl"));
        if (!IsHttpUrl(s.health_http_url)) {
          Fail(url, Child(hpath, "httpUrl"),
               "must be an http:// or https:// URL, got '" + s.health_http_url + "'");
        }
      } else {
        s.health_command = Argv(command, Child(hpath, "command"));
      }
      if (const auto n = h["timeout"]; n.IsDefined()) {
        s.health_timeout = Duration(n, Child(hpath, "timeout"));
      }
    }
    return s;
  }

  Policy ParsePolicy(const YAML::Node& node, const std::string& path) const {
    CheckKeys(node, path, {"autoDeploy", "approval", "allowSelfApproval", "concurrency"});
    Policy p;
    if (const auto n = node["autoDeploy"]; n.IsDefined()) {
      p.auto_deploy = Bool(n, Child(path, "autoDeploy"));
    }
    if (const auto n = node["approval"]; n.IsDefined()) {
      p.approval = OneOf<ApprovalPolicy>(
          n, Child(path, "approval"),
          {{"required", ApprovalPolicy::kRequired}, {"none", ApprovalPolicy::kNone}});
    }
    if (const auto n = node["allowSelfApproval"]; n.IsDefined()) {
      p.allow_self_approval = Bool(n, Child(path, "allowSelfApproval"));
    }
    if (const auto n = node["concurrency"]; n.IsDefined()) {
      p.concurrency = OneOf<ConcurrencyPolicy>(
          n, Child(path, "concurrency"),
          {{"queue", ConcurrencyPolicy::kQueue}, {"reject", ConcurrencyPolicy::kReject}});
    }
    return p;
  }

  // --- Promotion chain (`promotion:`) ---------------------------------------------------------

  // `promotion: manual|auto` (from the environment before it in the file) or
  // `promotion: {from: <env>, mode: manual|auto}`. Checked against the other environments by
  // CheckPromotions once all are read.
  void ParsePromotion(const YAML::Node& env_node, const std::string& env_path, Environment& env) {
    const auto node = env_node["promotion"];
    if (!node.IsDefined() || node.IsNull()) return;
    const auto path = Child(env_path, "promotion");
    const std::vector<std::pair<std::string, PromotionMode>> modes = {
        {"manual", PromotionMode::kManual}, {"auto", PromotionMode::kAuto}};
    Promotion p;
    if (node.IsScalar()) {
      p.mode = OneOf<PromotionMode>(node, path, modes);
    } else {
      CheckKeys(node, path, {"from", "mode"});
      if (const auto f = node["from"]; f.IsDefined() && !f.IsNull()) {
        p.from = Scalar(f, Child(path, "from"));
      }
      if (const auto m = node["mode"]; m.IsDefined()) p.mode = OneOf(m, Child(path, "mode"), modes);
    }
    if (env.policy.auto_deploy) {
      Fail(node, path,
           "cannot be combined with policy.autoDeploy: true, which deploys every new release at "
           "once and so skips the promotion gate; use promotion: auto");
    }
    promotion_nodes_.emplace_back(env.name, HostNode{node, path});
    env.promotion = std::move(p);
  }

  // Fills a missing `from` with the environment before it in the file; every `from` names
  // another environment of the spec and the chain has no loop.
  void CheckPromotions(DeliverySpec& spec) const {
    for (const auto& [env_name, where] : promotion_nodes_) {
      const std::string& name = env_name;  // a lambda may not capture a structured binding
      auto it = std::find_if(spec.environments.begin(), spec.environments.end(),
                             [&name](const Environment& e) { return e.name == name; });
      auto& p = *it->promotion;
      const auto from_path = Child(where.path, "from");
      if (p.from.empty()) {
        if (it == spec.environments.begin()) {
          Fail(where.node, where.path,
               "the first environment has none before it to be promoted from; name one with "
               "from: <environment>, or remove promotion");
        }
        p.from = std::prev(it)->name;
      }
      const auto node =
          where.node.IsMap() && where.node["from"].IsDefined() ? where.node["from"] : where.node;
      if (p.from == name) Fail(node, from_path, "an environment cannot be promoted from itself");
      if (spec.FindEnvironment(p.from) == nullptr) {
        std::vector<std::string> names;
        for (const auto& e : spec.environments) names.push_back(e.name);
        Fail(node, from_path,
             "names no environment of this spec ('" + p.from + "'); known: " + Join(names));
      }
    }
    for (const auto& [name, where] : promotion_nodes_) {
      std::vector<std::string> chain = {name};
      const Environment* e = spec.FindEnvironment(name);
      while (e != nullptr && e->promotion) {
        const std::string next = e->promotion->from;
        const bool loops = std::find(chain.begin(), chain.end(), next) != chain.end();
        chain.push_back(next);
        if (loops) {
          std::string text;
          for (const auto& c : chain) text += (text.empty() ? "" : " <- ") + c;
          Fail(where.node, Child(where.path, "from"), "the promotion chain loops: " + text);
        }
        e = spec.FindEnvironment(next);
      }
    }
  }

  // --- Deployment windows (`windows:`) ----------------------------------------------------------

  // "HH:MM", 00:00..23:59, as minutes after midnight.
  int ClockTime(const YAML::Node& n, const std::string& path) const {
    const auto v = Scalar(n, path);
    const bool shape = v.size() == 5 && v[2] == ':' &&
                       std::isdigit(static_cast<unsigned char>(v[0])) &&
                       std::isdigit(static_cast<unsigned char>(v[1])) &&
                       std::isdigit(static_cast<unsigned char>(v[3])) &&
                       std::isdigit(static_cast<unsigned char>(v[4]));
    const int h = shape ? (v[0] - '0') * 10 + (v[1] - '0') : 99;
    const int m = shape ? (v[3] - '0') * 10 + (v[4] - '0') : 99;
    if (h > 23 || m > 59)
      Fail(n, path, "must be a time of day HH:MM (00:00-23:59), got '" + v + "'");
    return h * 60 + m;
  }

  // `days: [mon, tue]`, or a range `[mon-fri]`; each day once.
  std::vector<int> Days(const YAML::Node& n, const std::string& path) const {
    static const std::vector<std::string> kNames = {"sun", "mon", "tue", "wed",
                                                    "thu", "fri", "sat"};
    auto index = [&](const YAML::Node& item, const std::string& ipath, const std::string& name) {
      const auto it = std::find(kNames.begin(), kNames.end(), name);
      if (it == kNames.end()) {
        Fail(item, ipath,
             "must be a day (" + Join(kNames) + ") or a range like mon-fri, got '" + name + "'");
      }
      return static_cast<int>(it - kNames.begin());
    };
    if (!n.IsSequence() || n.size() == 0) {
      Fail(n, path, "must be a non-empty list of days, e.g. [mon-fri] or [sat, sun]");
    }
    std::set<int> days;
    for (std::size_t i = 0; i < n.size(); ++i) {
      const auto ipath = Index(path, i);
      const auto v = Scalar(n[i], ipath);
      const auto dash = v.find('-');
      std::vector<int> these;
      if (dash == std::string::npos) {
        these.push_back(index(n[i], ipath, v));
      } else {
        const int a = index(n[i], ipath, v.substr(0, dash));
        const int b = index(n[i], ipath, v.substr(dash + 1));
        for (int d = a;; d = (d + 1) % 7) {
          these.push_back(d);
          if (d == b) break;
        }
      }
      for (int d : these) {
        if (!days.insert(d).second) Fail(n[i], ipath, "names " + kNames[d] + " twice");
      }
    }
    return {days.begin(), days.end()};
  }

  void ParseWindows(const YAML::Node& env_node, const std::string& env_path,
                    Environment& env) const {
    const auto node = env_node["windows"];
    if (!node.IsDefined() || node.IsNull()) return;
    const auto path = Child(env_path, "windows");
    if (!node.IsSequence() || node.size() == 0) {
      Fail(node, path, "must be a non-empty list of windows ({days, start, end, timeZone})");
    }
    if (node.size() > 32) Fail(node, path, "at most 32 windows");
    for (std::size_t i = 0; i < node.size(); ++i) {
      const auto wpath = Index(path, i);
      CheckKeys(node[i], wpath, {"days", "start", "end", "timeZone"});
      DeploymentWindow w;
      w.days = Days(Required(node[i], wpath, "days"), Child(wpath, "days"));
      w.start_minute = ClockTime(Required(node[i], wpath, "start"), Child(wpath, "start"));
      w.end_minute = ClockTime(Required(node[i], wpath, "end"), Child(wpath, "end"));
      if (w.start_minute == w.end_minute) {
        Fail(node[i]["end"], Child(wpath, "end"), "must differ from start (a window of no time)");
      }
      if (const auto tz = node[i]["timeZone"]; tz.IsDefined()) {
        const auto tpath = Child(wpath, "timeZone");
        w.time_zone = Scalar(tz, tpath);
        if (!IsZoneName(w.time_zone)) {
          Fail(
              tz, tpath,
              "must be a tz database name such as Europe/Berlin or UTC, got '" + w.time_zone + "'");
        }
      }
      env.windows.push_back(std::move(w));
    }
  }

  // The shape of a tz database name ("Area/Location", "UTC", "Etc/GMT+5"): no "..", no leading
  // "/", letters, digits and _ + - only (release-intake loads the zone when the spec is applied).
  static bool IsZoneName(const std::string& s) {
    if (s.empty() || s.size() > 64 || s.front() == '/' || s.back() == '/') return false;
    if (s.find("..") != std::string::npos || s.find("//") != std::string::npos) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '+' ||
             c == '-';
    });
  }

  std::vector<HostNode> host_nodes_;  // of the environment being parsed, for spreadBy checks
  std::vector<std::pair<std::string, HostNode>> promotion_nodes_;  // env name, its `promotion`
};

}  // namespace

std::string_view ToString(StrategyType type) {
  switch (type) {
    case StrategyType::kCanary:
      return "canary";
    case StrategyType::kRolling:
      return "rolling";
    case StrategyType::kAllAtOnce:
      return "all-at-once";
    case StrategyType::kBlueGreen:
      return "blue-green";
  }
  return "unknown";
}

std::string_view ToString(ConcurrencyPolicy c) {
  return c == ConcurrencyPolicy::kReject ? "reject" : "queue";
}

std::string_view ToString(KubernetesKind kind) {
  return kind == KubernetesKind::kStatefulSet ? "StatefulSet" : "Deployment";
}

std::string_view ToString(KubernetesRollout rollout) {
  switch (rollout) {
    case KubernetesRollout::kReplicaCanary:
      return "replica-canary";
    case KubernetesRollout::kPartition:
      return "partition";
    case KubernetesRollout::kRolling:
      return "rolling";
    case KubernetesRollout::kBlueGreen:
      return "blue-green";
  }
  return "replica-canary";
}

std::optional<StrategyType> ParseStrategyType(std::string_view s) {
  for (auto t : {StrategyType::kCanary, StrategyType::kRolling, StrategyType::kAllAtOnce,
                 StrategyType::kBlueGreen}) {
    if (ToString(t) == s) return t;
  }
  return std::nullopt;
}

std::vector<Host> Environment::AllHosts() const {
  std::vector<Host> out;
  for (const auto& g : targets) out.insert(out.end(), g.hosts.begin(), g.hosts.end());
  return out;
}

const Environment* DeliverySpec::FindEnvironment(std::string_view name) const {
  for (const auto& e : environments) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::vector<const Environment*> DeliverySpec::PromotionsFrom(std::string_view name) const {
  std::vector<const Environment*> out;
  for (const auto& e : environments) {
    if (e.promotion && e.promotion->from == name) out.push_back(&e);
  }
  return out;
}

std::string_view ToString(PromotionMode mode) {
  return mode == PromotionMode::kAuto ? "auto" : "manual";
}

std::string SpecError::ToString() const {
  std::string out = origin;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

std::variant<DeliverySpec, SpecError> ParseDeliverySpec(std::string_view yaml,
                                                        std::string_view origin) {
  if (auto issue = CheckYamlText(yaml)) return ErrorAt(origin, *issue);
  YAML::Node root;
  try {
    if (auto issue = CheckShape(yaml)) return ErrorAt(origin, std::move(*issue));
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return ErrorAt(origin, IssueFromYamlException(e, "", "invalid YAML: "));
  }
  if (auto issue = CheckYamlTree(root)) return ErrorAt(origin, *issue);
  try {
    return Parser().Spec(root);
  } catch (const YamlReader::Failure& f) {
    return ErrorAt(origin, f.issue);
  } catch (const YAML::Exception& e) {  // e.g. an alias the accessors cannot follow
    return ErrorAt(origin, IssueFromYamlException(e, ""));
  }
}

std::uint32_t FailureToleranceOf(const Strategy& s, std::size_t targets) {
  if (!s.failure_tolerance_percent) return static_cast<std::uint32_t>(s.failure_tolerance);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(*s.failure_tolerance_percent) *
                                    targets / 100);
}

bool HasInventory(const Environment& env) {
  return std::any_of(env.targets.begin(), env.targets.end(),
                     [](const HostGroup& g) { return g.inventory.has_value(); });
}

std::optional<int> ParsePercent(std::string_view s) {
  if (s.size() < 2 || s.size() > 4 || s.back() != '%') return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  if (v < 1 || v > 100) return std::nullopt;
  return v;
}

}  // namespace sluice::spec
