#include "format.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <sluice/core/duration.hpp>
#include <sluice/core/time_range.hpp>
#include <sstream>

namespace sluice::cli {

using nlohmann::json;

std::optional<Format> ParseFormat(std::string_view s) {
  if (s == "table") return Format::kTable;
  if (s == "json") return Format::kJson;
  if (s == "yaml") return Format::kYaml;
  return std::nullopt;
}

namespace {

// Would a plain YAML scalar with this text be read as something other than this string?
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* const kWords[] = {"true", "false", "yes", "no", "on",   "off",
                                       "null", "~",     "y",   "n",  ".inf", ".nan"};
  std::string lower = s;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  const json parsed = json::parse(s, nullptr, false);
  return !parsed.is_discarded() && !parsed.is_string();
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        out << YAML::Key;
        if (NeedsQuotes(k)) out << YAML::DoubleQuoted;
        out << k << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : v) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case json::value_t::boolean:
      out << v.get<bool>();
      break;
    case json::value_t::number_integer:
      out << v.get<std::int64_t>();
      break;
    case json::value_t::number_unsigned:
      out << v.get<std::uint64_t>();
      break;
    case json::value_t::number_float:
      out << v.dump();
      break;
    default:
      out << YAML::Null;
  }
}

std::string Cell(const json& item, const std::string& key) {
  if (!item.is_object() || !item.contains(key)) return "-";
  const auto& v = item[key];
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_number_integer() && key.size() > 3 && key.ends_with("_ms")) {
    const auto ms = v.get<std::int64_t>();
    if (ms <= 0) return "-";
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }
  return v.dump();
}

}  // namespace

std::string ToYaml(const json& value) {
  YAML::Emitter out;
  Emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += "\n";
  return s;
}

std::vector<std::string> RenderTable(const json& items, const std::vector<Column>& cols,
                                     std::string_view empty) {
  if (!items.is_array() || items.empty()) return {std::string(empty)};
  std::vector<std::vector<std::string>> rows;
  rows.emplace_back();
  for (const auto& c : cols) rows.back().push_back(c.header);
  for (const auto& item : items) {
    rows.emplace_back();
    for (const auto& c : cols) rows.back().push_back(Cell(item, c.key));
  }
  std::vector<std::size_t> width(cols.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::vector<std::string> out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out.push_back(line);
  }
  return out;
}

std::vector<std::string> RenderFields(const json& object) {
  if (!object.is_object()) return {object.dump()};
  std::size_t width = 0;
  for (const auto& [k, v] : object.items()) width = std::max(width, k.size());
  std::vector<std::string> out;
  for (const auto& [k, v] : object.items()) {
    const std::string value = v.is_object() || v.is_array() ? v.dump() : Cell(object, k);
    out.push_back(k + ":" + std::string(width - k.size() + 1, ' ') + value);
  }
  return out;
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view s) {
  // The one grammar of Sluice (core::ParseDuration), capped at ten years and a bit.
  constexpr std::chrono::milliseconds kMax{std::int64_t{3660} * 24 * 3'600'000};
  const auto d = core::ParseDuration(s);
  if (!d || *d > kMax) return std::nullopt;
  return d;
}

std::optional<TimeRangeFlags> ResolveTimeRange(std::string_view since, std::string_view until,
                                               std::chrono::system_clock::time_point now,
                                               std::string& error) {
  const auto given = [](std::string_view v) {
    return v.empty() ? std::nullopt : std::optional<std::string_view>(v);
  };
  auto range = core::ParseTimeRange(given(since), given(until), now);
  if (const auto* e = std::get_if<core::TimeRangeError>(&range)) {
    const std::string_view value = e->field == "since" ? since : until;
    // until alone reads: the two are in the wrong order.
    const bool order =
        e->field == "until" && std::holds_alternative<core::TimeRange>(
                                   core::ParseTimeRange(std::nullopt, given(until), now));
    error = order ? "--until is earlier than --since"
                  : "--" + e->field + " '" + std::string(value) +
                        "': not a time or a duration; use e.g. 2026-12-01T00:00:00Z, 24h or 1h30m";
    return std::nullopt;
  }
  const auto& r = std::get<core::TimeRange>(range);
  TimeRangeFlags out;
  if (r.since_us) out.since = core::FormatTimeRangeBound(*r.since_us);
  if (r.until_us) out.until = core::FormatTimeRangeBound(*r.until_us);
  return out;
}

int ExitCodeForHttpStatus(long status) {
  if (status >= 200 && status < 300) return kExitOk;
  if (status == 404) return kExitNotFound;
  if (status == 401 || status == 403) return kExitRefused;
  if (status == 502 || status == 503 || status == 504) return kExitUnavailable;
  return kExitError;
}

std::string HintFor(long status, std::string_view api) {
  const std::string where(api);
  switch (status) {
    case 401:
      return "log in with 'sluice login --api-url " + where +
             " --token TOKEN', or pass --token / set SLUICE_TOKEN";
    case 403:
      return "this needs a token with a larger role; ask an admin for one ('sluice token "
             "create --role …') and pass it with --token or 'sluice login'";
    case 404:
      return "check the id or name; the list commands ('sluice release list', 'sluice "
             "deployment list', 'sluice app list') show what exists";
    case 409:
      return "the request conflicts with what is stored; read it again and retry";
    case 429:
      return "too many requests; wait a moment and retry";
    case 502:
    case 503:
    case 504:
      return "a service behind the API is down or busy; retry shortly, and check 'make ps' "
             "or the services' logs";
    default:
      return "";
  }
}

namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::string Range(std::size_t start, std::size_t count) {
  // diff -u: "l,s" with l 1-based; an empty range names the line before it.
  const std::size_t first = count == 0 ? start : start + 1;
  return count == 1 ? std::to_string(first) : std::to_string(first) + "," + std::to_string(count);
}

}  // namespace

std::string UnifiedDiff(std::string_view a, std::string_view b, std::string_view label_a,
                        std::string_view label_b) {
  const auto x = Lines(a);
  const auto y = Lines(b);
  const std::size_t n = x.size(), m = y.size();
  // Longest common subsequence, then the edit script: ' ' kept, '-' only in a, '+' only in b.
  std::vector<std::vector<std::uint32_t>> lcs(n + 1, std::vector<std::uint32_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Edit {
    char op;
    std::size_t i, j;  // positions in a and b before this edit
  };
  std::vector<Edit> edits;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] == y[j]) {
      edits.push_back({' ', i++, j++});
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      edits.push_back({'-', i++, j});  // removals before additions, as diff -u prints them
    } else {
      edits.push_back({'+', i, j++});
    }
  }
  constexpr std::size_t kContext = 3;
  std::string out;
  std::size_t k = 0;
  while (k < edits.size()) {
    if (edits[k].op == ' ') {
      ++k;
      continue;
    }
    // A hunk: from kContext lines before the change to kContext lines after the last change
    // that is at most 2*kContext kept lines from the next.
    const std::size_t begin = k >= kContext ? k - kContext : 0;
    std::size_t end = k;
    std::size_t kept = 0;
    for (std::size_t e = k; e < edits.size(); ++e) {
      if (edits[e].op == ' ') {
        if (++kept > 2 * kContext) break;
      } else {
        kept = 0;
        end = e + 1;
      }
    }
    end = std::min(edits.size(), end + kContext);
    std::size_t a_count = 0, b_count = 0;
    for (std::size_t e = begin; e < end; ++e) {
      if (edits[e].op != '+') ++a_count;
      if (edits[e].op != '-') ++b_count;
    }
    if (out.empty()) {
      out += "--- " + std::string(label_a) + "\n+++ " + std::string(label_b) + "\n";
    }
    out +=
        "@@ -" + Range(edits[begin].i, a_count) + " +" + Range(edits[begin].j, b_count) + " @@\n";
    for (std::size_t e = begin; e < end; ++e) {
      const auto& line = edits[e].op == '+' ? y[edits[e].j] : x[edits[e].i];
      out += edits[e].op;
      out += line;
      out += "\n";
    }
    k = end;
  }
  return out;
}

}  // namespace sluice::cli
