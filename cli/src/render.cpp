#include "render.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <sluice/core/clock.hpp>
#include <sluice/core/duration.hpp>
#include <sluice/core/rfc3339.hpp>
#include <string_view>

namespace sluice::cli {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::string Trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string PadRight(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string PadLeft(std::string s, std::size_t width) {
  if (s.size() < width) s.insert(0, width - s.size(), ' ');
  return s;
}

std::string JoinHosts(const json& hosts) {
  std::string out;
  for (const auto& h : hosts) {
    out += (out.empty() ? "" : ", ") + (h.is_object() ? Str(h, "name") : h.get<std::string>());
  }
  return out;
}

}  // namespace

std::string SpecAppName(std::string_view yaml) {
  std::size_t pos = 0;
  while (pos < yaml.size()) {
    const auto end = std::min(yaml.find('\n', pos), yaml.size());
    const std::string_view line = yaml.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("app:", 0) != 0) continue;
    std::string value = Trim(line.substr(4));
    if (const auto hash = value.find(" #"); hash != std::string::npos)
      value = Trim(value.substr(0, hash));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return "";
}

std::vector<std::string> RenderSpecError(const json& error, std::string_view app,
                                         std::string_view file, std::string_view text) {
  std::string message = Str(error, "message");
  const std::string origin = std::string(app) + ".yaml";
  if (!app.empty() && message.rfind(origin, 0) == 0) {
    message = std::string(file) + message.substr(origin.size());
  }
  std::vector<std::string> out{message};
  const int line = error.value("line", json()).is_number_integer() ? error["line"].get<int>() : 0;
  const int column =
      error.value("column", json()).is_number_integer() ? error["column"].get<int>() : 0;
  if (line <= 0) return out;
  std::size_t pos = 0;
  for (int i = 1; i < line && pos != std::string_view::npos; ++i) {
    pos = text.find('\n', pos);
    if (pos != std::string_view::npos) ++pos;
  }
  if (pos == std::string_view::npos || pos > text.size()) return out;
  const auto end = std::min(text.find('\n', pos), text.size());
  const std::string number = std::to_string(line);
  const std::string gutter(number.size(), ' ');
  out.push_back(" " + number + " | " + std::string(text.substr(pos, end - pos)));
  if (column > 0) out.push_back(" " + gutter + " | " + std::string(column - 1, ' ') + "^");
  return out;
}

std::string RenderGate(const json& gate) {
  const std::string kind = Str(gate, "kind");
  if (kind == "pause") {
    const std::string d = Str(gate, "duration");
    return d.empty() ? "pause until resumed" : "pause " + d;
  }
  return kind;
}

std::vector<std::string> RenderPlan(const json& plan) {
  struct Row {
    std::string index, weight, count, hosts, tail;
  };
  std::vector<Row> rows;
  for (const auto& b : plan.value("batches", json::array())) {
    Row r;
    r.index = "batch " + std::to_string(b.value("index", 0) + 1);
    r.weight = std::to_string(b.value("weight_percent", 0)) + "%";
    const auto n = b.value("hosts", json::array()).size();
    r.count = std::to_string(n) + (n == 1 ? " host" : " hosts");
    r.hosts = JoinHosts(b.value("hosts", json::array()));
    // Kubernetes targets move to the batch's weight: "Deployment web (replica-canary)".
    const json workloads = b.value("kubernetes", json::array());
    for (const auto& k : workloads) {
      r.hosts += (r.hosts.empty() ? "" : ", ") + Str(k, "kind") + " " + Str(k, "workload") + " (" +
                 Str(k, "rollout") + ")";
    }
    if (!workloads.empty()) {
      r.count += " + " + std::to_string(workloads.size()) +
                 (workloads.size() == 1 ? " workload" : " workloads");
    }
    std::string gates;
    for (const auto& g : b.value("gates_before", json::array())) {
      gates += (gates.empty() ? "" : ", ") + RenderGate(g);
    }
    r.tail = "(gates: " + (gates.empty() ? std::string("none") : gates) + ")";
    if (b.value("analysis", false)) r.tail += " + analysis";
    rows.push_back(std::move(r));
  }
  std::size_t wi = 0, ww = 0, wc = 0, wh = 0;
  for (const auto& r : rows) {
    wi = std::max(wi, r.index.size());
    ww = std::max(ww, r.weight.size());
    wc = std::max(wc, r.count.size());
    wh = std::max(wh, r.hosts.size());
  }
  std::vector<std::string> out;
  for (const auto& r : rows) {
    out.push_back(PadRight(r.index, wi) + "  " + PadLeft(r.weight, ww) + "  " +
                  PadRight(r.count, wc) + "   " + PadRight(r.hosts, wh) + "   " + r.tail);
  }
  return out;
}

bool IsFinalStatus(std::string_view status) {
  return status == "succeeded" || status == "failed" || status == "rolled_back" ||
         status == "aborted";
}

int ExitCodeFor(std::string_view status) { return status == "succeeded" ? 0 : 2; }

WatchView DescribeDeployment(const json& d) {
  WatchView v;
  const std::string status = Str(d, "status");
  v.status_line = "deployment " + Str(d, "id") + " " + status;
  const std::string phase = Str(d, "phase");
  if (!phase.empty() && phase != status) v.status_line += " (" + phase + ")";
  if (status == "paused" && !Str(d, "pause_reason").empty()) {
    v.status_line += ": " + Str(d, "pause_reason");
    if (const auto countdown = PauseCountdown(d, std::nullopt); !countdown.empty()) {
      v.status_line += ", " + countdown;
    }
  } else if (!Str(d, "failure_reason").empty()) {
    v.status_line += ": " + Str(d, "failure_reason");
  } else if (status == "waiting" && d.contains("waiting") && d["waiting"].is_object()) {
    // Held by release-intake until its deployment window opens (or the gate lets it go).
    const json& w = d["waiting"];
    v.status_line += ": " + Str(w, "code");
    if (!Str(w, "next_open").empty())
      v.status_line += ", starts by itself at " + Str(w, "next_open");
  }
  const json batches = d.value("batches", json::array());
  if (!batches.is_array() || batches.empty()) return v;
  std::optional<std::size_t> shown;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const std::string s = Str(batches[i], "status");
    if (s == "running" || s == "analysing" || s == "waiting") {
      shown = i;
      break;
    }
    if (s != "pending") shown = i;  // the last one done so far
  }
  if (!shown) return v;
  const auto& b = batches[*shown];
  v.batch_line = "batch " + std::to_string(*shown + 1) + "/" + std::to_string(batches.size()) +
                 " " + std::to_string(b.value("weight_percent", 0)) + "% " + Str(b, "status");
  const std::string hosts = JoinHosts(b.value("hosts", json::array()));
  if (!hosts.empty()) v.batch_line += ": " + hosts;
  return v;
}

std::string TransitionLine(const json& t) {
  std::string at = Str(t, "at");
  if (at.size() >= 19 && at[10] == 'T') at = at.substr(11, 8);  // the time of day, UTC
  std::string line = at + "  " + Str(t, "kind") + ":";
  if (const std::string detail = Str(t, "detail"); !detail.empty()) line += " " + detail;
  if (const std::string actor = Str(t, "actor"); !actor.empty()) line += " (by " + actor + ")";
  if (t.contains("applied") && t["applied"].is_boolean() && !t["applied"].get<bool>()) {
    line += " ignored";
    if (const std::string why = Str(t, "ignored_reason"); !why.empty()) line += ": " + why;
  }
  return line;
}

namespace {

// Columns aligned on the widest cell, two blanks apart; the last column is not padded.
std::vector<std::string> Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::string> out;
  std::vector<std::size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += i + 1 < r.size() ? PadRight(r[i], widths[i]) + "  " : r[i];
    }
    out.push_back(line);
  }
  return out;
}

// 97.5, 100, 66.7: one decimal at most; "-" when not a number.
std::string Number(const json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v.get<double>());
  std::string s = buf;
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

std::string Plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string NextCommand(const json& d) {
  const std::string status = Str(d, "status");
  const std::string id = Str(d, "id");
  if (id.empty()) return "";
  if (status == "failed" || status == "aborted" || status == "rolled_back") {
    return "sluice deployment retry " + id + "  (the same release again, as a new deployment)";
  }
  if (IsFinalStatus(status) || status == "rolling_back") return "";
  const json batches = d.value("batches", json::array());
  if (batches.is_array()) {
    for (const auto& b : batches) {
      if (Str(b, "status") != "waiting") continue;
      for (const auto& g : b.value("gates", json::array())) {
        if (g.value("passed", false)) continue;
        if (Str(g, "kind") == "approval") return "sluice deployment approve " + id;
        if (Str(g, "kind") == "pause" && !g.value("duration_ms", json()).is_number()) {
          return "sluice deployment resume " + id;
        }
      }
    }
  }
  if (status == "paused") return "sluice deployment resume " + id;
  if (status == "running") return "sluice deployment promote " + id + "  (or pause, abort)";
  return "";
}

std::optional<std::string> RetryRefusal(const json& d) {
  const std::string status = Str(d, "status");
  const std::string id = Str(d, "id");
  if (status == "failed" || status == "aborted" || status == "rolled_back") return std::nullopt;
  if (status == "succeeded") {
    return "deployment " + id + " succeeded: there is nothing to retry; to deploy its release " +
           "again, run 'sluice deploy --release " + Str(d, "release_id") + " --env " +
           Str(d, "env") + "'";
  }
  if (status.empty()) return "deployment " + id + " has no status yet; try again in a moment";
  return "deployment " + id + " is " + status +
         ": only a failed, aborted or rolled-back deployment can be retried; follow it with "
         "'sluice deployment watch " +
         id + "' or stop it with 'sluice deployment abort " + id + "'";
}

std::string RetryKey(std::string_view deployment_id) {
  return "retry-" + std::string(deployment_id);
}

std::string RenderAnalysisLine(const json& a) {
  std::string line = "analysis " + Str(a, "id");
  const auto batch = a.value("batch_index", json());
  if (batch.is_number_integer()) {
    line += " (batch " + std::to_string(batch.get<long long>() + 1) + ", " +
            (a.value("bake_watch", false) ? "bake" : "canary") + ")";
  }
  line += " " + Str(a, "status");
  const json measurements = a.value("measurements", json::array());
  if (measurements.is_array() && !measurements.empty()) {
    const auto& m = measurements.back();
    line += ": " + Str(m, "message");
    if (!Str(m, "rule").empty()) line += " (rule " + Str(m, "rule") + ")";
  } else if (!Str(a, "reason").empty()) {
    line += ": " + Str(a, "reason");
  }
  return line;
}

std::string PauseCountdown(const json& d,
                           std::optional<std::chrono::system_clock::time_point> now) {
  const auto at = core::ParseRfc3339(Str(d, "resumes_at"));
  if (!at) return "";
  const std::string clock = core::FormatRfc3339(*at).substr(11, 8) + "Z";
  if (!now) return "resumes at " + clock;
  const auto left = std::chrono::ceil<std::chrono::seconds>(*at - *now);
  if (left <= std::chrono::seconds(0)) return "resumes now (due " + clock + ")";
  return "resumes in " + core::FormatDuration(left) + " at " + clock;
}

std::vector<std::string> RenderDeploymentView(
    const json& d, const json& instances, const json& analysis,
    std::optional<std::chrono::system_clock::time_point> now) {
  std::string status_line = DescribeDeployment(d).status_line;
  if (now && Str(d, "status") == "paused") {
    if (const auto plain = PauseCountdown(d, std::nullopt); !plain.empty()) {
      status_line.replace(status_line.size() - plain.size(), plain.size(), PauseCountdown(d, now));
    }
  }
  std::vector<std::string> out{status_line};
  std::string what = Str(d, "app") + " " + Str(d, "version") + " -> " + Str(d, "env");
  if (d.contains("generation") && d["generation"].is_number()) {
    what += ", generation " + std::to_string(d["generation"].get<long long>());
  }
  out.push_back(what);
  if (Str(d, "status") == "waiting" && d.contains("waiting") && d["waiting"].is_object()) {
    out.push_back("waiting: " + Str(d["waiting"], "message"));
  }
  const json batches = d.value("batches", json::array());
  if (batches.is_array() && !batches.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      std::string gates;
      for (const auto& g : b.value("gates", json::array())) {
        if (g.value("passed", false)) continue;
        std::string gate = Str(g, "kind");
        if (gate == "pause") {
          gate = g.value("duration_ms", json()).is_number()
                     ? "pause " + std::to_string(g["duration_ms"].get<long long>() / 1000) + "s"
                     : "pause until resumed";
        }
        gates += (gates.empty() ? "" : ", ") + gate;
      }
      std::string tail = JoinHosts(b.value("hosts", json::array()));
      if (!gates.empty()) tail += "  (waits for: " + gates + ")";
      if (b.value("analysis", false)) tail += " + analysis";
      rows.push_back({"batch " + std::to_string(i + 1),
                      PadLeft(std::to_string(b.value("weight_percent", 0)) + "%", 4),
                      Str(b, "status"), tail});
    }
    for (auto& line : Table(rows)) out.push_back(std::move(line));
  }
  const json records = ListItems(instances, "instances");
  if (!records.empty()) {
    std::vector<std::string> order;  // hosts in first-seen order, each with its latest record
    std::map<std::string, json> latest;
    for (const auto& r : records) {
      const std::string host = Str(r, "host");
      if (!latest.contains(host)) order.push_back(host);
      latest[host] = r;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& host : order) {
      const auto& r = latest[host];
      auto cell = [&](const char* key) {
        const std::string v = Str(r, key);
        return v.empty() ? std::string("-") : v;
      };
      rows.push_back({"  " + host, cell("version"), cell("health_status"), cell("status")});
    }
    out.push_back("hosts:");
    for (auto& line : Table(rows)) out.push_back(std::move(line));
  }
  if (analysis.is_object()) out.push_back(RenderAnalysisLine(analysis));
  const std::string next = NextCommand(d);
  if (!next.empty()) out.push_back("next: " + next);
  return out;
}

std::vector<std::string> RenderDeploymentList(const json& list) {
  const json items = list.contains("items") ? list["items"] : list.value("deployments", json());
  if (!items.is_array()) return {};
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "APP", "ENV", "VERSION", "STATUS", "CREATED"});
  for (const auto& d : items) {
    std::string status = Str(d, "status");
    // Held by release-intake until its window opens: until when, or why it still waits.
    if (status == "waiting" && d.contains("waiting") && d["waiting"].is_object()) {
      const json& w = d["waiting"];
      status += Str(w, "next_open").empty() ? " (" + Str(w, "code") + ")"
                                            : " until " + Str(w, "next_open");
    }
    rows.push_back({Str(d, "id"), Str(d, "app"), Str(d, "env"), Str(d, "version"), status,
                    Str(d, "created_at")});
  }
  return Table(rows);
}

namespace {

// `word` as a shell reads it back: as it is when it holds only safe characters, else in single
// quotes (' as '\'').
std::string ShellWord(std::string_view word) {
  const bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("-_./:=@%+,").find(c) != std::string_view::npos;
  });
  if (safe) return std::string(word);
  std::string out = "'";
  for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::string NextPageLine(const json& list, const std::vector<std::string>& command) {
  if (!list.is_object() || !list.contains("next_cursor") || !list["next_cursor"].is_string()) {
    return "";
  }
  std::string out = "next page:";
  for (const auto& w : command) out += " " + ShellWord(w);
  return out + " --cursor " + ShellWord(list["next_cursor"].get<std::string>());
}

json ListItems(const json& list, const char* key) {
  if (list.is_object()) {
    if (list.contains(key) && list[key].is_array()) return list[key];
    if (list.contains("items") && list["items"].is_array()) return list["items"];
  }
  return json::array();
}

std::vector<std::string> RenderAnalysisList(const json& list) {
  const json items = ListItems(list, "analyses");
  if (items.empty()) return {"no analyses"};
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "BATCH", "KIND", "TEMPLATE", "STATUS", "REASON", "STARTED"});
  for (const auto& a : items) {
    const auto batch = a.value("batch_index", json());
    rows.push_back({Str(a, "id"), batch.is_number() ? std::to_string(batch.get<int>() + 1) : "",
                    a.value("bake_watch", false) ? "bake" : "canary", Str(a, "template"),
                    Str(a, "status"), Str(a, "reason"), Str(a, "started_at")});
  }
  return Table(rows);
}

std::vector<std::string> RenderIncidentList(const json& list) {
  const json items = ListItems(list, "incidents");
  if (items.empty()) return {"no incidents"};
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "APP", "ENV", "VERSION", "TRIGGER", "SCOPE", "RESULT", "CREATED"});
  for (const auto& i : items) {
    const bool failed = i.contains("success") && i["success"].is_boolean() && !i["success"];
    rows.push_back({Str(i, "id"), Str(i, "app"), Str(i, "env"), Str(i, "version"),
                    Str(i, "trigger"), Str(i, "scope"),
                    failed ? "rollback failed" : Str(i, "final_status"), Str(i, "created_at")});
  }
  return Table(rows);
}

std::vector<std::string> RenderAnalysisVerdict(const json& analysis) {
  std::vector<std::string> out;
  // A retrospective answer has "outcome"; a stored analysis has "status".
  std::string outcome = Str(analysis, "outcome");
  if (outcome.empty()) outcome = Str(analysis, "status");
  const std::string reason = Str(analysis, "reason");
  out.push_back("analysis " + outcome + (reason.empty() ? "" : ": " + reason));
  std::vector<std::vector<std::string>> rows;
  const json rules = analysis.value("rules", json::array());
  const json stored = analysis.value("measurements", json::array());
  for (const auto& r : rules) {
    const std::string name = Str(r, "name");
    // The rule's measurements: inline (retrospective) or in the analysis' list (stored).
    json measurements = r.value("measurements", json::array());
    if (measurements.empty() && stored.is_array()) {
      for (const auto& m : stored) {
        if (Str(m, "rule") == name) measurements.push_back(m);
      }
    }
    std::string message;
    for (const auto& m : measurements) {
      const std::string verdict = Str(m, "verdict");
      if (verdict != "Successful" || message.empty()) message = Str(m, "message");
      if (verdict == "Failed") break;
    }
    const std::string kind = Str(r, "kind");
    if (kind == "judge") {
      rows.push_back({"judge", Str(r, "outcome"),
                      Plural(measurements.size(), "measurement", "measurements"), message});
      continue;
    }
    rows.push_back({"rule " + name, Str(r, "outcome"),
                    Plural(measurements.size(), "measurement", "measurements"), message});
  }
  const json judge = analysis.value("judge", json());
  if (judge.is_object()) {
    std::string score = "score " + Number(judge.value("score", json()));
    const std::string why = Str(judge, "reason");
    rows.push_back({"judge", Str(judge, "verdict"), score, why});
  }
  if (rows.empty()) return out;
  for (auto& line : Table(rows)) {
    // An empty last cell leaves the padding of the one before it.
    line.erase(line.find_last_not_of(' ') + 1);
    out.push_back(std::move(line));
  }
  return out;
}

int AnalysisExitCode(std::string_view outcome) { return outcome == "Successful" ? 0 : 2; }

std::vector<std::string> RenderInventories(const json& answer) {
  std::vector<std::string> out;
  const auto names = [](const json& list) {
    std::string s;
    for (const auto& n : list)
      s += (s.empty() ? "" : ", ") + (n.is_string() ? n.get<std::string>() : "");
    return s;
  };
  for (const auto& i : answer.value("inventories", json::array())) {
    const auto n = i.value("hosts", json::array()).size();
    // A selector group has no inventory group: its source names the labels.
    const std::string group =
        i.contains("inventory_group") ? ", group " + Str(i, "inventory_group") : "";
    out.push_back("inventory " + Str(i, "group") + ": " + Str(i, "source") + group + ", " +
                  std::to_string(n) + (n == 1 ? " host" : " hosts"));
    const json removed = i.value("removed_hosts", json::array());
    const json added = i.value("added_hosts", json::array());
    if (removed.empty() && added.empty()) continue;
    std::string change = "  ";
    if (!removed.empty()) change += "gone since the last deployment: " + names(removed);
    if (!added.empty()) change += std::string(removed.empty() ? "" : "; ") + "new: " + names(added);
    out.push_back(change);
  }
  return out;
}

}  // namespace sluice::cli
