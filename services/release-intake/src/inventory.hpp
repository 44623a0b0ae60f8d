#pragma once

// Host groups read from an Ansible JSON inventory (issue 19): the format an inventory script
// prints for `--list`, or `ansible-inventory --list` writes, read from a file or an HTTP URL
// when a deployment is requested. This file is the pure part: the document's text in, the
// group's hosts (or a refusal naming the problem) out, and the merge of the hosts read into the
// environment that goes out in DeploymentRequested. Reading the file or the URL is in
// inventory_reader.{hpp,cpp}.
//
// The format (docs.ansible.com, "Developing dynamic inventory"; the script plugin's schema):
//   {"web": {"hosts": ["w1", "w2"], "vars": {...}, "children": ["web-eu"]},
//    "web-eu": ["w3"],                                  // a group may be a plain list of hosts
//    "_meta": {"hostvars": {"w1": {"ansible_host": "10.0.0.1", "ansible_port": 22, ...}}}}
// A group's hosts are its own and its children's, recursively (cycles and repeats are ignored).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/spec/delivery_spec.hpp"

namespace sluice::release_intake {

struct InventoryLimits {
  std::size_t max_bytes = 4u << 20;  // the document, read or received
  std::size_t max_hosts = 5000;      // hosts of the selected group
  int max_depth = 32;                // JSON nesting, and children levels from the group
  std::size_t max_label_value = 256;
  std::int64_t timeout_ms = 5000;  // reading a URL, connect included
  // Inventory files and URL token files are read only below this directory (symbolic links and
  // '..' resolved first): a spec cannot make release-intake read, or send away, any other file.
  std::string file_root = "/etc/sluice/inventories";
  // Inventory URLs must start with one of these (each an http(s) URL ending in '/'); none: URL
  // inventories are refused. A spec cannot make release-intake call any other address.
  std::vector<std::string> url_prefixes;
};

// Whether `url` starts with one of `prefixes` (each ends in '/', so a host name cannot be
// extended: "https://cmdb.example/" does not allow "https://cmdb.example.evil/").
bool InventoryUrlAllowed(std::string_view url, const std::vector<std::string>& prefixes);

// What can be wrong, each a closed code the API answers with (HTTP 422, code `inventory_<code>`).
enum class InventoryProblem {
  kUnreachable,   // the file cannot be read, the URL answered no 2xx or not at all
  kTooLarge,      // over max_bytes
  kBadJson,       // not JSON, too deep, or not the inventory format
  kGroupMissing,  // the group is not in the inventory
  kEmptyGroup,    // the group (children included) has no host
  kTooManyHosts,  // over max_hosts
  kBadHost,       // a host's name, ansible_host, ansible_port or agent endpoint is unusable
  kNotAllowed,    // a URL outside SLUICE_INVENTORY_URLS
};
std::string_view ToString(InventoryProblem p);  // "unreachable", "too_large", ...

struct InventoryError {
  InventoryProblem problem = InventoryProblem::kBadJson;
  std::string message;  // names the inventory source and what is wrong
};

// The hosts of one group, in the inventory's order (children after the group's own hosts).
// Host.group is left empty (the caller names the Sluice host group).
struct InventoryHosts {
  std::vector<spec::Host> hosts;
};

// "file /etc/x.json" or "url https://host:port/path" (query and user info left out: they may
// carry secrets), or "selector role=web,zone=zone-a", for messages.
std::string DescribeSource(const spec::InventorySource& source);

// Parses an Ansible JSON inventory and takes the hosts of `source.group`:
// - a host's address is its `ansible_host` (else its inventory name), its port `ansible_port`
//   (an integer or a decimal string, 1..65535); vars come from the groups on the way down from
//   the selected group (a child's over its parent's) and then `_meta.hostvars` over them;
// - its agent endpoint is its `sluice_agent_endpoint` var, else `source.agent_endpoint` with
//   "{address}" and "{port}" replaced ("{port}" without an ansible_port is refused);
// - its labels are its other vars whose values are strings and whose names are label names
//   (letters, digits, '.', '-', '_', '/'; up to 63), except `ansible_*` (connection settings,
//   passwords among them) and `sluice_*`; numbers, booleans, lists and objects are left out.
std::variant<InventoryHosts, InventoryError> ParseAnsibleInventory(
    std::string_view text, const spec::InventorySource& source, const InventoryLimits& limits);

// Reads an inventory's text (a file or a URL); an error says why not (kUnreachable, kTooLarge).
using InventoryTextReader = std::function<std::variant<std::string, InventoryError>(
    const spec::InventorySource&, const InventoryLimits&)>;

// The hosts each inventory group had in the previous deployment request of the same app and
// environment, by group name (empty when there was none).
using PreviousInventoryHosts = std::map<std::string, std::vector<std::string>>;

// An inventory group that could not be resolved: which, and why.
struct InventoryGroupError {
  std::string group;  // the Sluice host group
  InventoryError error;
};

// `env` with every inventory group's hosts read (through `read`) and parsed, each group's
// InventorySource filled with the document's sha256 and the hosts removed from / added to the
// group since `previous`. Host names must stay unique across the environment, and distinct from
// its Kubernetes targets' names (kBadHost otherwise).
std::variant<spec::Environment, InventoryGroupError> ResolveInventories(
    const spec::Environment& env, const InventoryTextReader& read, const InventoryLimits& limits,
    const PreviousInventoryHosts& previous);

// --- Selector host groups (`selector: {label: value, ...}`) -----------------------------------

// An enrolled host agent as a selector sees it (agent_repository.hpp's StoredAgent).
struct EnrolledAgent {
  std::string name;
  std::string address;
  std::map<std::string, std::string> labels;
  bool revoked = false;
};

// Whether `agent` is enrolled (not revoked) and has every label of `selector` with its value.
bool SelectorMatches(const std::map<std::string, std::string>& selector,
                     const EnrolledAgent& agent);

// "role=web,zone=zone-a": the selector's pairs by label name.
std::string DescribeSelector(const std::map<std::string, std::string>& selector);

// `env` with every selector group's hosts taken from `agents`: the matching ones sorted by name,
// each with its address, labels, and `agent_endpoint` with "{address}" replaced (an IPv6 address
// in brackets). The group's source gets the sha256 of the agents matched (name, address, labels)
// and the hosts removed from / added to it since `previous`, as an inventory group's. Refused:
// no agent matches (kEmptyGroup), more than limits.max_hosts do (kTooManyHosts), a matched
// agent's name is a host or Kubernetes target of another group, or its endpoint is no URL
// (kBadHost). Inventory groups are left as they are (resolve them first, so that host names
// stay unique across both).
std::variant<spec::Environment, InventoryGroupError> ResolveSelectors(
    const spec::Environment& env, const std::vector<EnrolledAgent>& agents,
    const InventoryLimits& limits, const PreviousInventoryHosts& previous);

// Whether any host group of `env` selects enrolled agents.
bool HasSelector(const spec::Environment& env);

// The inventory groups of a resolved environment, as the API shows them in a deployment's answer
// and dry run: [{"group", "source", "inventory_group", "sha256", "hosts": [{"name", "address",
// "port"}], "removed_hosts", "added_hosts"}] (a selector group: "selector": {label: value} and
// no "inventory_group"); empty when no group reads an inventory or selects agents.
nlohmann::json InventoriesJson(const spec::Environment& env);

}  // namespace sluice::release_intake
