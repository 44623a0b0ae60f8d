#include "sluice/spec/analysis_spec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <utility>

#include "sluice/analysis/render.hpp"
#include "sluice/analysis/window.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/spec/yaml_reader.hpp"

// The parser fills the analysis engine's types throughout.
using namespace ::sluice::analysis;  // NOLINT(google-build-using-namespace)

namespace sluice::spec {
namespace {

bool IsIdentifier(std::string_view s) {  // what failWhen accepts as a NAME
  if (s.empty() || s.size() > 128) return false;
  if (!std::isalpha(static_cast<unsigned char>(s[0])) && s[0] != '_') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  });
}

bool IsTemplateName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const std::vector<std::string> kLimitKeys = {"interval", "count", "failureLimit",
                                             "consecutiveSuccessLimit", "inconclusiveLimit"};

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class Parser : public YamlReader {
 public:
  std::string NonEmpty(const YAML::Node& n, const std::string& path) const {
    auto s = Scalar(n, path);
    if (s.find_first_not_of(" \t\r\n") == std::string::npos) Fail(n, path, "must not be empty");
    return s;
  }

  double Number(const YAML::Node& n, const std::string& path) const {
    const auto s = n.IsScalar() ? n.Scalar() : std::string();
    char* end = nullptr;
    const double v = s.empty() ? NAN : std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v)) {
      Fail(n, path, "must be a number" + (n.IsScalar() ? ", got " + s : ""));
    }
    return v;
  }

  // A threshold: a number with an optional unit, as in failWhen ("500ms", "5%", "0.9").
  double Threshold(const YAML::Node& n, const std::string& path) const {
    const auto v = n.IsScalar() ? ParseThreshold(n.Scalar()) : std::nullopt;
    if (!v) {
      Fail(n, path,
           "must be a number with an optional unit (%, ms, s)" +
               (n.IsScalar() ? ", got " + n.Scalar() : ""));
    }
    return *v;
  }

  // "20%" -> 0.2; a plain number is a fraction (0.2).
  double Fraction(const YAML::Node& n, const std::string& path) const {
    const auto s = n.IsScalar() ? n.Scalar() : std::string();
    std::optional<double> v;
    if (!s.empty() && s.back() == '%') {
      v = ParseThreshold(s);
    } else if (!s.empty()) {
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (end == s.c_str() + s.size() && std::isfinite(d)) v = d;
    }
    if (!v || *v < 0) Fail(n, path, "must be a share like 20% (or 0.2), got " + s);
    return *v;
  }

  // Reads the limit keys present in `node` over `base`.
  Limits ParseLimits(const YAML::Node& node, const std::string& path, Limits base) const {
    if (const auto n = node["interval"]; n.IsDefined()) {
      base.interval = Duration(n, Child(path, "interval"));
    }
    if (const auto n = node["count"]; n.IsDefined()) {
      base.count = Integer(n, Child(path, "count"), 1, 100000);
    }
    if (const auto n = node["failureLimit"]; n.IsDefined()) {
      base.failure_limit = Integer(n, Child(path, "failureLimit"), 0, 100000);
    }
    if (const auto n = node["consecutiveSuccessLimit"]; n.IsDefined()) {
      base.consecutive_success_limit =
          Integer(n, Child(path, "consecutiveSuccessLimit"), 0, 100000);
    }
    if (const auto n = node["inconclusiveLimit"]; n.IsDefined()) {
      base.inconclusive_limit = Integer(n, Child(path, "inconclusiveLimit"), 0, 100000);
    }
    return base;
  }

  AnalysisSpec Spec(const YAML::Node& node, const std::string& path) const {
    CheckKeys(node, path, {"templates", "bakeWatch"});
    AnalysisSpec spec;
    const auto tpath = Child(path, "templates");
    const auto templates = Required(node, path, "templates");
    RequireMap(templates, tpath);
    if (templates.size() == 0) Fail(templates, tpath, "must define at least one template");
    for (const auto& kv : templates) {
      const auto name = KeyOf(kv.first, tpath);
      const auto path_t = Child(tpath, name);
      if (!IsTemplateName(name)) {
        Fail(kv.first, path_t,
             "template names are letters, digits, '-', '_' and '.', starting with a letter or "
             "digit");
      }
      if (name == "none") {
        Fail(kv.first, path_t, "'none' is reserved (a step's `analysis: none` means no analysis)");
      }
      if (spec.templates.count(name) != 0) Fail(kv.first, path_t, "duplicate template");
      spec.templates.emplace(name, ParseTemplate(kv.second, path_t, name));
    }
    if (const auto b = node["bakeWatch"]; b.IsDefined() && !b.IsNull()) {
      const auto bpath = Child(path, "bakeWatch");
      CheckKeys(b, bpath, {"template", "duration"});
      BakeWatch bw;
      const auto t = Required(b, bpath, "template");
      bw.template_name = Scalar(t, Child(bpath, "template"));
      if (spec.templates.count(bw.template_name) == 0) {
        Fail(t, Child(bpath, "template"),
             "unknown template '" + bw.template_name + "'; " + tpath + " defines " +
                 Join(Names(spec)));
      }
      const auto d = Required(b, bpath, "duration");
      bw.duration = Duration(d, Child(bpath, "duration"));
      CheckBakeMeasures(spec.templates.at(bw.template_name), bw, d, Child(bpath, "duration"));
      spec.bake_watch = bw;
    }
    return spec;
  }

  // A threshold rule is first measured one rate window after the watch starts (the window
  // must hold only data from after it) and the watch ends at its duration, exclusive: a watch
  // shorter than a rule's window plus one interval could end before that rule measured
  // anything.
  void CheckBakeMeasures(const Template& t, const BakeWatch& bw, const YAML::Node& node,
                         const std::string& path) const {
    for (const auto& rule : t.rules) {
      const auto window = analysis::RuleWindow(t, rule);
      const auto needed = window + rule.limits.interval;
      if (window.count() == 0 || bw.duration >= needed) continue;
      Fail(node, path,
           "is " + core::FormatDuration(bw.duration) + ", too short to measure rule '" + rule.name +
               "' of template '" + t.name + "': its first measurement is due " +
               core::FormatDuration(window) + " (its query's rate window) after the watch " +
               "starts and then every " + core::FormatDuration(rule.limits.interval) +
               "; make the watch at least " + core::FormatDuration(needed) +
               " or shorten the rule's query range");
    }
  }

  static std::vector<std::string> Names(const AnalysisSpec& spec) {
    std::vector<std::string> out;
    for (const auto& [name, t] : spec.templates) out.push_back(name);
    return out;
  }

 private:
  static std::vector<std::string> MetricNames(const Template& t) {
    std::vector<std::string> out;
    for (const auto& m : t.metrics) out.push_back(m.name);
    return out;
  }

  void RequireMetric(const Template& t, const YAML::Node& n, const std::string& path,
                     const std::string& metric, const std::string& where) const {
    if (t.FindMetric(metric) != nullptr) return;
    const auto names = MetricNames(t);
    Fail(n, path,
         "unknown metric '" + metric + "' in " + where + "; the template defines " +
             (names.empty() ? std::string("no metrics") : Join(names)));
  }

  Template ParseTemplate(const YAML::Node& node, const std::string& path,
                         const std::string& name) const {
    CheckKeys(node, path, With({"metrics", "rules", "judge"}, kLimitKeys));
    Template t;
    t.name = name;
    const Limits defaults = ParseLimits(node, path, Limits{});
    if (const auto m = node["metrics"]; m.IsDefined() && !m.IsNull()) {
      const auto mpath = Child(path, "metrics");
      RequireMap(m, mpath);
      for (const auto& kv : m) {
        const auto metric = KeyOf(kv.first, mpath);
        const auto path_m = Child(mpath, metric);
        if (!IsIdentifier(metric) || Lower(metric) == "and" || Lower(metric) == "or") {
          Fail(kv.first, path_m,
               "metric names must be identifiers ([A-Za-z_][A-Za-z0-9_:]*, not AND/OR), got '" +
                   metric + "'");
        }
        if (t.FindMetric(metric) != nullptr) Fail(kv.first, path_m, "duplicate metric");
        CheckKeys(kv.second, path_m, {"query"});
        t.metrics.push_back(
            {metric, NonEmpty(Required(kv.second, path_m, "query"), Child(path_m, "query"))});
      }
    }
    if (const auto r = node["rules"]; r.IsDefined() && !r.IsNull()) {
      const auto rpath = Child(path, "rules");
      if (!r.IsSequence()) Fail(r, rpath, "must be a list of rules");
      std::set<std::string> names;
      for (std::size_t i = 0; i < r.size(); ++i) {
        auto rule = ParseRule(r[i], Index(rpath, i), t, defaults);
        if (!names.insert(rule.name).second) {
          Fail(r[i]["name"], Child(Index(rpath, i), "name"),
               "duplicate rule name '" + rule.name + "'");
        }
        t.rules.push_back(std::move(rule));
      }
    }
    if (const auto j = node["judge"]; j.IsDefined() && !j.IsNull()) {
      t.judge = ParseJudge(j, Child(path, "judge"), defaults);
    }
    if (t.rules.empty() && !t.judge) {
      Fail(node, path, "a template needs at least one rule under `rules` or a `judge`");
    }
    return t;
  }

  ThresholdRule ParseRule(const YAML::Node& node, const std::string& path, const Template& t,
                          const Limits& defaults) const {
    CheckKeys(node, path,
              With({"name", "failWhen", "metric", "max", "min", "severity", "minRequests",
                    "minSamples", "noData", "dryRun"},
                   kLimitKeys));
    ThresholdRule rule;
    rule.name = NonEmpty(Required(node, path, "name"), Child(path, "name"));
    const bool has_fail_when = Has(node, "failWhen");
    const bool has_metric = Has(node, "metric");
    if (has_fail_when == has_metric) {
      Fail(node, path,
           has_fail_when ? "write either failWhen or metric with max/min, not both"
                         : "needs failWhen (e.g. \"error_rate > 5%\") or metric with max/min");
    }
    if (has_fail_when) {
      ParseFailWhen(node, path, t, rule);
    } else {
      ParseBounds(node, path, t, rule);
    }
    ParseRuleOptions(node, path, t, rule);
    rule.limits = ParseLimits(node, path, defaults);
    if (const auto n = node["dryRun"]; n.IsDefined()) {
      rule.limits.dry_run = Bool(n, Child(path, "dryRun"));
    }
    return rule;
  }

  // `failWhen: "error_rate > 5%"`: a condition over the template's metrics.
  void ParseFailWhen(const YAML::Node& node, const std::string& path, const Template& t,
                     ThresholdRule& rule) const {
    if (Has(node, "max") || Has(node, "min")) {
      Fail(Has(node, "max") ? node["max"] : node["min"],
           Child(path, Has(node, "max") ? "max" : "min"), "max/min go with metric, not failWhen");
    }
    const auto fw = node["failWhen"];
    const auto fpath = Child(path, "failWhen");
    rule.fail_when = NonEmpty(fw, fpath);
    ConditionError err;
    auto cond = ParseCondition(rule.fail_when, &err);
    if (!cond) {
      Fail(fw, fpath,
           err.message + " (at character " + std::to_string(err.offset + 1) + " of \"" +
               rule.fail_when + "\")");
    }
    for (const auto* c : cond->Comparisons()) RequireMetric(t, fw, fpath, c->metric, "failWhen");
    rule.condition = std::move(*cond);
  }

  // `metric` with `max` and/or `min`: the condition they make.
  void ParseBounds(const YAML::Node& node, const std::string& path, const Template& t,
                   ThresholdRule& rule) const {
    const auto m = node["metric"];
    const auto mpath = Child(path, "metric");
    const auto metric = Scalar(m, mpath);
    RequireMetric(t, m, mpath, metric, "metric");
    std::vector<std::string> parts;
    if (const auto mx = node["max"]; mx.IsDefined()) {
      Threshold(mx, Child(path, "max"));
      parts.push_back(metric + " > " + mx.Scalar());
    }
    if (const auto mn = node["min"]; mn.IsDefined()) {
      Threshold(mn, Child(path, "min"));
      parts.push_back(metric + " < " + mn.Scalar());
    }
    if (parts.empty()) Fail(node, path, "metric needs max or min (or both)");
    rule.fail_when = parts.size() == 1 ? parts[0] : parts[0] + " OR " + parts[1];
    ConditionError err;
    auto cond = ParseCondition(rule.fail_when, &err);
    if (!cond) Fail(node, path, err.message);
    rule.condition = std::move(*cond);
  }

  // severity, minRequests, minSamples and noData.
  void ParseRuleOptions(const YAML::Node& node, const std::string& path, const Template& t,
                        ThresholdRule& rule) const {
    if (const auto n = node["severity"]; n.IsDefined()) {
      rule.severity = OneOf<Severity>(n, Child(path, "severity"),
                                      {{"info", Severity::kInfo},
                                       {"warning", Severity::kWarning},
                                       {"critical", Severity::kCritical}});
    }
    if (const auto n = node["minRequests"]; n.IsDefined()) {
      const auto qpath = Child(path, "minRequests");
      CheckKeys(n, qpath, {"metric", "min"});
      const auto m = Required(n, qpath, "metric");
      const auto metric = Scalar(m, Child(qpath, "metric"));
      RequireMetric(t, m, Child(qpath, "metric"), metric, "minRequests");
      rule.min_requests_metric = metric;
      const auto min = Required(n, qpath, "min");
      rule.min_requests = Number(min, Child(qpath, "min"));
      if (rule.min_requests < 0) Fail(min, Child(qpath, "min"), "must not be negative");
    }
    if (const auto n = node["minSamples"]; n.IsDefined()) {
      rule.min_samples = Integer(n, Child(path, "minSamples"), 1, 100000);
    }
    if (const auto n = node["noData"]; n.IsDefined()) {
      rule.no_data = OneOf<NoData>(n, Child(path, "noData"),
                                   {{"inconclusive", NoData::kInconclusive},
                                    {"pass", NoData::kPass},
                                    {"fail", NoData::kFail}});
    }
  }

  JudgeSpec ParseJudge(const YAML::Node& node, const std::string& path,
                       const Limits& defaults) const {
    CheckKeys(node, path,
              With({"confidence", "pass", "marginal", "lookback", "step", "metrics"}, kLimitKeys));
    JudgeSpec j;
    j.limits = ParseLimits(node, path, defaults);
    ParseJudgeSettings(node, path, j);
    const auto mpath = Child(path, "metrics");
    const auto metrics = Required(node, path, "metrics");
    if (!metrics.IsSequence() || metrics.size() == 0) {
      Fail(metrics, mpath, "must be a non-empty list of metrics");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < metrics.size(); ++i) {
      j.metrics.push_back(ParseJudgeMetric(metrics[i], Index(mpath, i), names));
    }
    return j;
  }

  // confidence, the pass and marginal scores, lookback and step.
  void ParseJudgeSettings(const YAML::Node& node, const std::string& path, JudgeSpec& j) const {
    if (const auto n = node["confidence"]; n.IsDefined()) {
      j.confidence = Number(n, Child(path, "confidence"));
      if (j.confidence < 0.5 || j.confidence >= 1) {
        Fail(n, Child(path, "confidence"), "must be at least 0.5 and below 1, e.g. 0.98");
      }
    }
    if (const auto n = node["pass"]; n.IsDefined()) {
      j.pass_score = Number(n, Child(path, "pass"));
      if (j.pass_score < 0 || j.pass_score > 100) {
        Fail(n, Child(path, "pass"), "must be a score from 0 to 100");
      }
    }
    if (const auto n = node["marginal"]; n.IsDefined()) {
      j.marginal_score = Number(n, Child(path, "marginal"));
      if (j.marginal_score < 0 || j.marginal_score > 100) {
        Fail(n, Child(path, "marginal"), "must be a score from 0 to 100");
      }
    }
    if (j.marginal_score > j.pass_score) {
      Fail(node["marginal"].IsDefined() ? node["marginal"] : node, Child(path, "marginal"),
           "must not exceed pass (the score from which the judgment is Successful)");
    }
    if (const auto n = node["lookback"]; n.IsDefined()) {
      j.lookback = Duration(n, Child(path, "lookback"));
    }
    if (const auto n = node["step"]; n.IsDefined()) j.step = Duration(n, Child(path, "step"));
    if (j.step > j.lookback) {
      Fail(node["step"].IsDefined() ? node["step"] : node, Child(path, "step"),
           "must not exceed lookback");
    }
  }

  // One metric of the judge; `names` holds the names of the ones before it.
  JudgeMetric ParseJudgeMetric(const YAML::Node& item, const std::string& ipath,
                               std::set<std::string>& names) const {
    CheckKeys(item, ipath,
              {"name", "kind", "query", "baselineQuery", "errors", "requests", "buckets", "sum",
               "count", "direction", "tolerance", "weight", "critical", "removeOutliers"});
    JudgeMetric m;
    const auto name = Required(item, ipath, "name");
    m.name = NonEmpty(name, Child(ipath, "name"));
    if (!names.insert(m.name).second) {
      Fail(name, Child(ipath, "name"), "duplicate judge metric '" + m.name + "'");
    }
    if (const auto n = item["kind"]; n.IsDefined()) {
      m.kind = OneOf<JudgeKind>(n, Child(ipath, "kind"),
                                {{"query", JudgeKind::kQuery},
                                 {"gauge", JudgeKind::kGauge},
                                 {"ratio", JudgeKind::kRatio},
                                 {"histogram", JudgeKind::kHistogram},
                                 {"mean", JudgeKind::kMean}});
    }
    ParseJudgeQueries(item, ipath, m);
    ParseJudgeMetricOptions(item, ipath, m);
    return m;
  }

  // The query keys of the metric's kind (each kind takes its own and no other's).
  void ParseJudgeQueries(const YAML::Node& item, const std::string& ipath, JudgeMetric& m) const {
    std::vector<std::string> wanted, refused;
    switch (m.kind) {
      case JudgeKind::kQuery:
      case JudgeKind::kGauge:
        wanted = {"query"};
        refused = {"errors", "requests", "buckets", "sum", "count"};
        break;
      case JudgeKind::kRatio:
        wanted = {"errors", "requests"};
        refused = {"query", "baselineQuery", "buckets", "sum", "count"};
        break;
      case JudgeKind::kHistogram:
        wanted = {"buckets"};
        refused = {"query", "baselineQuery", "errors", "requests", "sum", "count"};
        break;
      case JudgeKind::kMean:
        wanted = {"sum", "count"};
        refused = {"query", "baselineQuery", "errors", "requests", "buckets"};
        break;
    }
    for (const auto& key : refused) {
      if (const auto n = item[key]; n.IsDefined()) {
        Fail(n, Child(ipath, key),
             "not a key of a judge metric of kind " + std::string(ToString(m.kind)) +
                 " (it takes " + wanted.front() +
                 (wanted.size() > 1 ? " and " + wanted.back() : std::string()) + ")");
      }
    }
    std::vector<std::string> given;
    for (const auto& key : wanted) {
      given.push_back(NonEmpty(Required(item, ipath, key), Child(ipath, key)));
    }
    if (m.kind == JudgeKind::kQuery || m.kind == JudgeKind::kGauge) {
      m.query = given[0];
      if (const auto n = item["baselineQuery"]; n.IsDefined()) {
        m.baseline_query = NonEmpty(n, Child(ipath, "baselineQuery"));
      } else {
        m.baseline_query = DeriveBaselineQuery(m.query);
      }
    } else {
      m.numerator = given[0];
      m.baseline_numerator = DeriveBaselineQuery(m.numerator);
      if (given.size() > 1) {
        m.denominator = given[1];
        m.baseline_denominator = DeriveBaselineQuery(m.denominator);
      }
    }
  }

  // direction, tolerance, weight, critical and removeOutliers.
  void ParseJudgeMetricOptions(const YAML::Node& item, const std::string& ipath,
                               JudgeMetric& m) const {
    if (const auto n = item["direction"]; n.IsDefined()) {
      m.direction = OneOf<Direction>(n, Child(ipath, "direction"),
                                     {{"increase", Direction::kIncrease},
                                      {"decrease", Direction::kDecrease},
                                      {"either", Direction::kEither}});
    }
    if (m.kind == JudgeKind::kRatio && m.direction != Direction::kIncrease) {
      Fail(item["direction"], Child(ipath, "direction"),
           "a ratio (errors / requests) is judged on increase");
    }
    if (const auto n = item["tolerance"]; n.IsDefined()) {
      m.tolerance = Fraction(n, Child(ipath, "tolerance"));
    }
    if (const auto n = item["weight"]; n.IsDefined()) {
      m.weight = Number(n, Child(ipath, "weight"));
      if (m.weight <= 0) Fail(n, Child(ipath, "weight"), "must be positive");
    }
    if (const auto n = item["critical"]; n.IsDefined()) {
      m.critical = Bool(n, Child(ipath, "critical"));
    }
    if (const auto n = item["removeOutliers"]; n.IsDefined()) {
      m.remove_outliers = Bool(n, Child(ipath, "removeOutliers"));
    }
  }
};

}  // namespace

std::string SpecIssue::ToString() const {
  std::string out;
  if (line > 0) out += std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

std::variant<AnalysisSpec, SpecIssue> ParseAnalysisSpec(const YAML::Node& node,
                                                        const std::string& path) {
  try {
    return Parser().Spec(node, path);
  } catch (const YamlReader::Failure& f) {
    return f.issue;
  } catch (const YAML::Exception& e) {
    return IssueFromYamlException(e, path, "");
  }
}

std::variant<AnalysisSpec, SpecIssue> ParseAnalysisFromDeliverySpec(std::string_view spec_yaml,
                                                                    std::string_view env) {
  if (auto issue = CheckYamlText(spec_yaml)) return *issue;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(spec_yaml));
  } catch (const YAML::Exception& e) {
    return IssueFromYamlException(e, "", "invalid YAML: ");
  }
  if (auto issue = CheckYamlTree(root)) return *issue;
  const std::string env_name(env);
  const std::string env_path = "environments." + env_name;
  try {
    if (!root.IsMap()) return SpecIssue{0, 0, "", "the delivery spec is not a mapping"};
    const YAML::Node envs = root["environments"];
    if (!envs.IsDefined() || !envs.IsMap()) {
      return SpecIssue{0, 0, "environments", "the delivery spec has no environments mapping"};
    }
    const YAML::Node e = envs[env_name];
    if (!e.IsDefined() || e.IsNull()) {
      return SpecIssue{0, 0, env_path, "the delivery spec has no environment '" + env_name + "'"};
    }
    if (!e.IsMap()) {
      const auto mark = e.Mark();
      return SpecIssue{mark.line + 1, mark.column + 1, env_path, "must be a mapping"};
    }
    const YAML::Node a = e["analysis"];
    if (!a.IsDefined() || a.IsNull()) return AnalysisSpec{};
    return ParseAnalysisSpec(a, env_path + ".analysis");
  } catch (const YAML::Exception& ex) {
    return IssueFromYamlException(ex, env_path, "");
  }
}

}  // namespace sluice::spec
