#include "inventory.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "delivery.hpp"

namespace sluice::release_intake {
namespace {

using nlohmann::json;

InventoryError Error(InventoryProblem p, const spec::InventorySource& source, std::string what) {
  return InventoryError{p, "inventory " + DescribeSource(source) + ": " + std::move(what)};
}

// Thrown by the parse callback: the document nests deeper than the limit. Checked while
// parsing, so a deep document is refused before it is built.
struct TooDeep {};

bool IsHostName(std::string_view s) {  // as libs/spec: letters, digits, '.', '-', '_'
  if (s.empty() || s.size() > 253 || !std::isalnum(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

bool IsAddress(std::string_view s) {  // a DNS name, IPv4 or IPv6 address: no space, no '/'
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == ':';
  });
}

bool IsLabelKey(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
           c == '/';
  });
}

bool IsPrintable(std::string_view s) {
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

bool IsHttpUrl(std::string_view s) {
  const bool scheme = s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
  if (!scheme || s.size() > 2048 || !IsPrintable(s) || s.find(' ') != std::string_view::npos) {
    return false;
  }
  const auto host_start = s.find("//") + 2;
  return host_start < s.size() && s[host_start] != '/';
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

// The merged vars of a host: group vars from the selected group down, then its hostvars.
using Vars = std::map<std::string, json>;

class Reader {
 public:
  Reader(const json& doc, const spec::InventorySource& source, const InventoryLimits& limits)
      : doc_(doc), source_(source), limits_(limits) {}

  std::variant<InventoryHosts, InventoryError> Hosts() {
    if (!doc_.is_object()) return Bad("the document is not a JSON object of groups");
    if (source_.group == "_meta" || !doc_.contains(source_.group)) {
      return Error(InventoryProblem::kGroupMissing, source_,
                   "has no group '" + source_.group + "'" + KnownGroups());
    }
    if (auto e = MetaShape()) return *e;
    if (auto e = Walk(source_.group, 0, {})) return *e;
    if (order_.empty()) {
      return Error(InventoryProblem::kEmptyGroup, source_,
                   "group '" + source_.group + "' has no hosts (children included)");
    }
    InventoryHosts out;
    for (const auto& name : order_) {
      auto host = MakeHost(name, vars_.at(name));
      if (auto* e = std::get_if<InventoryError>(&host)) return std::move(*e);
      out.hosts.push_back(std::get<spec::Host>(std::move(host)));
    }
    return out;
  }

 private:
  InventoryError Bad(std::string what) const {
    return Error(InventoryProblem::kBadJson, source_, std::move(what));
  }

  std::string KnownGroups() const {
    std::string names;
    int n = 0;
    for (const auto& [k, v] : doc_.items()) {
      if (k == "_meta") continue;
      if (++n > 10) {
        names += ", ...";
        break;
      }
      names += (names.empty() ? "" : ", ") + k.substr(0, 64);
    }
    return names.empty() ? " (it has none)" : " (groups: " + names + ")";
  }

  std::optional<InventoryError> MetaShape() const {
    const auto meta = doc_.find("_meta");
    if (meta == doc_.end()) return std::nullopt;
    if (!meta->is_object()) return Bad("_meta must be an object");
    const auto hv = meta->find("hostvars");
    if (hv != meta->end() && !hv->is_object()) return Bad("_meta.hostvars must be an object");
    return std::nullopt;
  }

  const json* HostVars(const std::string& host) const {
    const auto meta = doc_.find("_meta");
    if (meta == doc_.end()) return nullptr;
    const auto hv = meta->find("hostvars");
    if (hv == meta->end()) return nullptr;
    const auto h = hv->find(host);
    return h == hv->end() ? nullptr : &*h;
  }

  // Collects the group's own hosts, then its children's, depth first; `inherited` are the vars
  // of the groups above it. A group seen before is not walked again (cycles end there).
  std::optional<InventoryError> Walk(const std::string& name, int depth, Vars inherited) {
    if (depth > limits_.max_depth) {
      return Bad("group '" + source_.group + "' nests children deeper than " +
                 std::to_string(limits_.max_depth) + " levels");
    }
    if (!walked_.insert(name).second) return std::nullopt;
    const auto it = doc_.find(name);
    if (it == doc_.end()) {
      return Error(InventoryProblem::kGroupMissing, source_,
                   "group '" + name.substr(0, 64) + "' (a child of '" + source_.group +
                       "') is not in the inventory");
    }
    const json& g = *it;
    const json* hosts = nullptr;
    const json* children = nullptr;
    if (g.is_array()) {
      hosts = &g;
    } else if (g.is_object()) {
      if (const auto h = g.find("hosts"); h != g.end()) hosts = &*h;
      if (const auto c = g.find("children"); c != g.end()) children = &*c;
      if (const auto v = g.find("vars"); v != g.end()) {
        if (!v->is_object())
          return Bad("group '" + name.substr(0, 64) + "': vars must be an object");
        for (const auto& [k, val] : v->items()) inherited[k] = val;
      }
    } else if (!g.is_null()) {
      return Bad("group '" + name.substr(0, 64) + "' must be an object or a list of hosts");
    }
    if (hosts != nullptr) {
      if (!hosts->is_array())
        return Bad("group '" + name.substr(0, 64) + "': hosts must be a list");
      for (const auto& h : *hosts) {
        if (!h.is_string()) {
          return Bad("group '" + name.substr(0, 64) + "': every host must be a string");
        }
        if (auto e = AddHost(h.get<std::string>(), inherited)) return e;
      }
    }
    if (children != nullptr) {
      if (!children->is_array()) {
        return Bad("group '" + name.substr(0, 64) + "': children must be a list");
      }
      for (const auto& c : *children) {
        if (!c.is_string()) {
          return Bad("group '" + name.substr(0, 64) + "': every child must be a group name");
        }
        if (auto e = Walk(c.get<std::string>(), depth + 1, inherited)) return e;
      }
    }
    return std::nullopt;
  }

  std::optional<InventoryError> AddHost(const std::string& host, const Vars& inherited) {
    if (vars_.count(host) != 0) return std::nullopt;  // listed by another group already
    if (order_.size() >= limits_.max_hosts) {
      return Error(InventoryProblem::kTooManyHosts, source_,
                   "group '" + source_.group + "' has more than " +
                       std::to_string(limits_.max_hosts) + " hosts");
    }
    if (!IsHostName(host)) {
      return Error(InventoryProblem::kBadHost, source_,
                   "host '" + host.substr(0, 64) +
                       "' is not a host name (letters, digits, '.', '-', '_'); name it and put "
                       "its address in ansible_host");
    }
    Vars vars = inherited;
    if (const json* hv = HostVars(host)) {
      if (!hv->is_object()) return Bad("_meta.hostvars." + host + " must be an object");
      for (const auto& [k, v] : hv->items()) vars[k] = v;
    }
    order_.push_back(host);
    vars_.emplace(host, std::move(vars));
    return std::nullopt;
  }

  std::variant<spec::Host, InventoryError> MakeHost(const std::string& name, const Vars& vars) {
    const auto bad = [&](std::string what) {
      return Error(InventoryProblem::kBadHost, source_, "host '" + name + "': " + std::move(what));
    };
    spec::Host h;
    h.name = name;
    h.address = name;
    if (const auto a = vars.find("ansible_host"); a != vars.end()) {
      if (!a->second.is_string() || !IsAddress(a->second.get<std::string>())) {
        return bad("ansible_host must be an IP address or DNS name");
      }
      h.address = a->second.get<std::string>();
    }
    if (const auto p = vars.find("ansible_port"); p != vars.end()) {
      std::int64_t port = -1;
      if (p->second.is_number_integer()) {
        port = p->second.get<std::int64_t>();
      } else if (p->second.is_string()) {
        const auto s = p->second.get<std::string>();
        if (!s.empty() && s.size() <= 5 &&
            std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          port = std::stoll(s);
        }
      }
      if (port < 1 || port > 65535) return bad("ansible_port must be a port from 1 to 65535");
      h.port = static_cast<int>(port);
    }
    if (const auto e = vars.find("sluice_agent_endpoint"); e != vars.end()) {
      if (!e->second.is_string() || !IsHttpUrl(e->second.get<std::string>())) {
        return bad("sluice_agent_endpoint must be an http:// or https:// URL");
      }
      h.agent_endpoint = e->second.get<std::string>();
    } else {
      std::string url = source_.agent_endpoint;
      if (url.find("{port}") != std::string::npos && h.port == 0) {
        return bad("has no ansible_port, which agentEndpoint '" + source_.agent_endpoint +
                   "' uses");
      }
      const bool v6 = h.address.find(':') != std::string::npos;
      ReplaceAll(url, "{address}", v6 ? "[" + h.address + "]" : h.address);
      ReplaceAll(url, "{port}", std::to_string(h.port));
      if (!IsHttpUrl(url)) return bad("its agent endpoint '" + url + "' is not a URL");
      h.agent_endpoint = std::move(url);
    }
    for (const auto& [k, v] : vars) {
      if (!v.is_string() || k.rfind("ansible_", 0) == 0 || k.rfind("sluice_", 0) == 0 ||
          !IsLabelKey(k)) {
        continue;
      }
      const auto value = v.get<std::string>();
      if (value.size() > limits_.max_label_value || !IsPrintable(value)) continue;
      h.labels[k] = value;
    }
    return h;
  }

  const json& doc_;
  const spec::InventorySource& source_;
  const InventoryLimits& limits_;
  std::set<std::string> walked_;
  std::vector<std::string> order_;
  std::map<std::string, Vars> vars_;
};

std::vector<std::string> Minus(const std::vector<std::string>& a,
                               const std::vector<std::string>& b) {
  const std::set<std::string> in_b(b.begin(), b.end());
  std::vector<std::string> out;
  for (const auto& x : a) {
    if (in_b.count(x) == 0) out.push_back(x);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string_view ToString(InventoryProblem p) {
  switch (p) {
    case InventoryProblem::kUnreachable:
      return "unreachable";
    case InventoryProblem::kTooLarge:
      return "too_large";
    case InventoryProblem::kBadJson:
      return "bad_json";
    case InventoryProblem::kGroupMissing:
      return "group_missing";
    case InventoryProblem::kEmptyGroup:
      return "empty_group";
    case InventoryProblem::kTooManyHosts:
      return "too_many_hosts";
    case InventoryProblem::kBadHost:
      return "bad_host";
    case InventoryProblem::kNotAllowed:
      return "not_allowed";
  }
  return "bad_json";
}

bool InventoryUrlAllowed(std::string_view url, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) {
    return !p.empty() && p.back() == '/' && url.substr(0, p.size()) == p;
  });
}

std::string DescribeSource(const spec::InventorySource& source) {
  if (!source.selector.empty()) return "selector " + DescribeSelector(source.selector);
  if (!source.file.empty()) return "file " + source.file;
  std::string url = source.url;
  if (const auto q = url.find_first_of("?#"); q != std::string::npos) url.resize(q);
  if (const auto at = url.find('@'); at != std::string::npos) {
    const auto scheme_end = url.find("//");
    const auto path = url.find('/', scheme_end + 2);
    if (path == std::string::npos || at < path) url.erase(scheme_end + 2, at - scheme_end - 1);
  }
  return "url " + url;
}

std::variant<InventoryHosts, InventoryError> ParseAnsibleInventory(
    std::string_view text, const spec::InventorySource& source, const InventoryLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Error(InventoryProblem::kTooLarge, source,
                 "is over " + std::to_string(limits.max_bytes) + " bytes");
  }
  json doc;
  try {
    const int max_depth = limits.max_depth;
    doc = json::parse(text, [max_depth](int depth, json::parse_event_t, json&) {
      if (depth > max_depth) throw TooDeep{};
      return true;
    });
  } catch (const TooDeep&) {
    return Error(InventoryProblem::kBadJson, source,
                 "nests deeper than " + std::to_string(limits.max_depth) + " levels");
  } catch (const json::parse_error& e) {
    // Not e.what(): it quotes the text read, which need not be an inventory at all.
    return Error(InventoryProblem::kBadJson, source,
                 "is not JSON (syntax error at byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception&) {
    return Error(InventoryProblem::kBadJson, source, "is not JSON");
  }
  return Reader(doc, source, limits).Hosts();
}

namespace {

// Host or workload name -> where it comes from, for the names the spec lists itself: a group
// read from an inventory or a selector may not take one of them.
std::map<std::string, std::string> SpecOwners(const spec::Environment& env) {
  std::map<std::string, std::string> owner;
  for (const auto& g : env.targets) {
    for (const auto& h : g.hosts) owner.emplace(h.name, "host group '" + g.name + "'");
  }
  for (const auto& k : env.kubernetes) owner.emplace(k.name, "the Kubernetes target");
  return owner;
}

}  // namespace

std::variant<spec::Environment, InventoryGroupError> ResolveInventories(
    const spec::Environment& env, const InventoryTextReader& read, const InventoryLimits& limits,
    const PreviousInventoryHosts& previous) {
  spec::Environment out = env;
  auto owner = SpecOwners(env);
  for (auto& g : out.targets) {
    if (!g.inventory || !g.inventory->selector.empty()) continue;  // selectors: ResolveSelectors
    auto& source = *g.inventory;
    auto text = read(source, limits);
    if (auto* e = std::get_if<InventoryError>(&text)) return InventoryGroupError{g.name, *e};
    auto parsed = ParseAnsibleInventory(std::get<std::string>(text), source, limits);
    if (auto* e = std::get_if<InventoryError>(&parsed)) return InventoryGroupError{g.name, *e};
    g.hosts = std::get<InventoryHosts>(std::move(parsed)).hosts;
    std::vector<std::string> names;
    for (auto& h : g.hosts) {
      h.group = g.name;
      const auto [it, fresh] = owner.emplace(h.name, "host group '" + g.name + "'");
      if (!fresh) {
        return InventoryGroupError{g.name, Error(InventoryProblem::kBadHost, source,
                                                 "host '" + h.name + "' is also named by " +
                                                     it->second + " of this environment")};
      }
      names.push_back(h.name);
    }
    source.sha256 = Sha256Hex(std::get<std::string>(text));
    const auto before = previous.find(g.name);
    if (before != previous.end()) {
      source.removed_hosts = Minus(before->second, names);
      source.added_hosts = Minus(names, before->second);
    }
  }
  return out;
}

bool SelectorMatches(const std::map<std::string, std::string>& selector,
                     const EnrolledAgent& agent) {
  if (agent.revoked || selector.empty()) return false;
  return std::all_of(selector.begin(), selector.end(), [&](const auto& kv) {
    const auto it = agent.labels.find(kv.first);
    return it != agent.labels.end() && it->second == kv.second;
  });
}

std::string DescribeSelector(const std::map<std::string, std::string>& selector) {
  std::string out;
  for (const auto& [k, v] : selector) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

bool HasSelector(const spec::Environment& env) {
  return std::any_of(env.targets.begin(), env.targets.end(), [](const spec::HostGroup& g) {
    return g.inventory && !g.inventory->selector.empty();
  });
}

std::variant<spec::Environment, InventoryGroupError> ResolveSelectors(
    const spec::Environment& env, const std::vector<EnrolledAgent>& agents,
    const InventoryLimits& limits, const PreviousInventoryHosts& previous) {
  spec::Environment out = env;
  auto owner = SpecOwners(env);
  for (auto& g : out.targets) {
    if (!g.inventory || g.inventory->selector.empty()) continue;
    auto& source = *g.inventory;
    const auto fail = [&](InventoryProblem p, std::string what) {
      return InventoryGroupError{g.name, {p, DescribeSource(source) + std::move(what)}};
    };
    std::vector<const EnrolledAgent*> matched;
    for (const auto& a : agents) {
      if (SelectorMatches(source.selector, a)) matched.push_back(&a);
    }
    std::sort(matched.begin(), matched.end(),
              [](const EnrolledAgent* a, const EnrolledAgent* b) { return a->name < b->name; });
    if (matched.empty()) {
      return fail(InventoryProblem::kEmptyGroup,
                  " matches no enrolled agent (revoked ones left out); enrol one with these "
                  "labels or change the selector");
    }
    if (matched.size() > limits.max_hosts) {
      return fail(InventoryProblem::kTooManyHosts,
                  " matches more than " + std::to_string(limits.max_hosts) + " agents");
    }
    g.hosts.clear();
    json listing = json::array();
    std::vector<std::string> names;
    for (const auto* a : matched) {
      spec::Host h;
      h.name = a->name;
      h.address = a->address;
      h.labels = a->labels;
      h.group = g.name;
      std::string url = source.agent_endpoint;
      const bool v6 = a->address.find(':') != std::string::npos;
      ReplaceAll(url, "{address}", v6 ? "[" + a->address + "]" : a->address);
      if (!IsHostName(a->name) || !IsAddress(a->address) || !IsHttpUrl(url)) {
        return fail(InventoryProblem::kBadHost,
                    ": agent '" + a->name + "': its agent endpoint '" + url + "' is not a URL");
      }
      h.agent_endpoint = std::move(url);
      const auto [it, fresh] = owner.emplace(h.name, "host group '" + g.name + "'");
      if (!fresh) {
        return fail(InventoryProblem::kBadHost, ": agent '" + h.name + "' is also named by " +
                                                    it->second + " of this environment");
      }
      listing.push_back({{"name", h.name}, {"address", h.address}, {"labels", h.labels}});
      names.push_back(h.name);
      g.hosts.push_back(std::move(h));
    }
    source.sha256 = Sha256Hex(listing.dump());
    if (const auto before = previous.find(g.name); before != previous.end()) {
      source.removed_hosts = Minus(before->second, names);
      source.added_hosts = Minus(names, before->second);
    }
  }
  return out;
}

json InventoriesJson(const spec::Environment& env) {
  json out = json::array();
  for (const auto& g : env.targets) {
    if (!g.inventory) continue;
    json hosts = json::array();
    for (const auto& h : g.hosts) {
      json jh = {{"name", h.name}, {"address", h.address}};
      if (h.port != 0) jh["port"] = h.port;
      hosts.push_back(std::move(jh));
    }
    json entry = {{"group", g.name},
                  {"source", DescribeSource(*g.inventory)},
                  {"sha256", g.inventory->sha256},
                  {"hosts", std::move(hosts)},
                  {"removed_hosts", g.inventory->removed_hosts},
                  {"added_hosts", g.inventory->added_hosts}};
    if (g.inventory->selector.empty()) {
      entry["inventory_group"] = g.inventory->group;
    } else {
      entry["selector"] = g.inventory->selector;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace sluice::release_intake
