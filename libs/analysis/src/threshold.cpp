#include "sluice/analysis/threshold.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace sluice::analysis {
namespace {

std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string InstanceOf(const SeriesValue& s) {
  for (const char* key : {"instance_name", "instance"}) {
    if (const auto it = s.labels.find(key); it != s.labels.end() && !it->second.empty()) {
      return it->second;
    }
  }
  return "";
}

enum class Truth { kClear, kBreach, kNoData };

// One comparison against its metric's series.
struct ComparisonResult {
  const Comparison* comparison = nullptr;
  Truth truth = Truth::kNoData;
  double observed = NAN;  // worst breaching value, else worst value
  std::size_t usable = 0;
  std::set<std::string> instances;  // of the breaching series
};

bool Worse(const Comparison& c, double a, double b) {  // a is worse than b for this comparison
  return (c.op == ">" || c.op == ">=") ? a > b : a < b;
}

ComparisonResult EvaluateComparison(const Comparison& c, const MetricResult& r, int min_samples) {
  ComparisonResult out;
  out.comparison = &c;
  double worst = NAN, worst_breach = NAN;
  for (const auto& s : r.series) {
    if (!std::isfinite(s.value)) continue;
    ++out.usable;
    if (std::isnan(worst) || Worse(c, s.value, worst)) worst = s.value;
    if (c.Breaches(s.value)) {
      if (std::isnan(worst_breach) || Worse(c, s.value, worst_breach)) worst_breach = s.value;
      if (const auto inst = InstanceOf(s); !inst.empty()) out.instances.insert(inst);
    }
  }
  if (out.usable < static_cast<std::size_t>(std::max(min_samples, 1))) {
    out.truth = Truth::kNoData;
    out.instances.clear();
    out.observed = worst;
    return out;
  }
  out.truth = std::isnan(worst_breach) ? Truth::kClear : Truth::kBreach;
  out.observed = out.truth == Truth::kBreach ? worst_breach : worst;
  return out;
}

// Kleene three-valued logic over the tree; collects the breaching comparisons that make a
// breaching subtree breach.
Truth Evaluate(const Condition& c, const std::map<const Comparison*, ComparisonResult>& leaves,
               std::vector<const ComparisonResult*>& breaching) {
  if (c.kind == Condition::Kind::kComparison) {
    const auto& r = leaves.at(&c.comparison);
    if (r.truth == Truth::kBreach) breaching.push_back(&r);
    return r.truth;
  }
  std::vector<const ComparisonResult*> mine;
  bool any_breach = false, any_clear = false, any_no_data = false;
  for (const auto& child : c.children) {
    std::vector<const ComparisonResult*> sub;
    const auto t = Evaluate(child, leaves, sub);
    any_breach = any_breach || t == Truth::kBreach;
    any_clear = any_clear || t == Truth::kClear;
    any_no_data = any_no_data || t == Truth::kNoData;
    if (t == Truth::kBreach) mine.insert(mine.end(), sub.begin(), sub.end());
  }
  Truth t;
  if (c.kind == Condition::Kind::kOr) {
    t = any_breach ? Truth::kBreach : (any_no_data ? Truth::kNoData : Truth::kClear);
  } else {
    t = any_clear ? Truth::kClear : (any_no_data ? Truth::kNoData : Truth::kBreach);
  }
  if (t == Truth::kBreach) breaching.insert(breaching.end(), mine.begin(), mine.end());
  return t;
}

std::string Describe(const ComparisonResult& r, int min_samples) {
  const auto& c = *r.comparison;
  if (r.truth == Truth::kNoData) {
    if (r.usable == 0) return c.metric + ": no data";
    return c.metric + ": " + std::to_string(r.usable) + " usable series, need " +
           std::to_string(min_samples);
  }
  if (r.truth == Truth::kClear) {
    return c.metric + " " + Num(r.observed) + " (not " + c.op + " " + Num(c.threshold) + ")";
  }
  std::string out = c.metric + " " + Num(r.observed) + " " + c.op + " " + Num(c.threshold);
  if (!r.instances.empty()) {
    out += " on ";
    bool first = true;
    for (const auto& i : r.instances) {
      out += (first ? "" : ", ") + i;
      first = false;
    }
  }
  return out;
}

// A failed or missing query makes the measurement an error, whatever the rest says: true when
// one did (m then says which).
bool QueryFailed(const ThresholdRule& rule, const std::vector<const Comparison*>& comparisons,
                 const std::map<std::string, MetricResult>& results, Measurement& m) {
  std::vector<std::string> needed;
  for (const auto* c : comparisons) needed.push_back(c->metric);
  if (rule.min_requests_metric) needed.push_back(*rule.min_requests_metric);
  for (const auto& name : needed) {
    const auto it = results.find(name);
    if (it == results.end()) {
      m.verdict = Outcome::kError;
      m.metric = name;
      m.message = "no result for metric " + name;
      return true;
    }
    if (!it->second.ok) {
      m.verdict = Outcome::kError;
      m.metric = name;
      m.message = "query of " + name + " failed: " + it->second.error;
      return true;
    }
  }
  return false;
}

// Fewer requests than the rule's minRequests make the measurement Inconclusive: true when so.
bool TooFewRequests(const ThresholdRule& rule, const std::map<std::string, MetricResult>& results,
                    Measurement& m) {
  if (!rule.min_requests_metric) return false;
  double requests = 0;
  for (const auto& s : results.at(*rule.min_requests_metric).series) {
    if (std::isfinite(s.value)) requests += s.value;
  }
  if (requests >= rule.min_requests) return false;
  m.verdict = Outcome::kInconclusive;
  m.metric = *rule.min_requests_metric;
  m.observed = requests;
  m.threshold = rule.min_requests;
  m.comparator = "<";
  m.message = "only " + Num(requests) + " requests (" + *rule.min_requests_metric + "), need " +
              Num(rule.min_requests);
  return true;
}

// Failed: the first breaching comparison, and the instances of every breaching one.
void ReportBreach(const std::vector<const ComparisonResult*>& breaching, Measurement& m) {
  m.verdict = Outcome::kFailed;
  const auto& first = *breaching.front();
  m.metric = first.comparison->metric;
  m.threshold = first.comparison->threshold;
  m.comparator = first.comparison->op;
  m.observed = first.observed;
  std::set<std::string> affected;
  for (const auto* r : breaching) affected.insert(r->instances.begin(), r->instances.end());
  m.affected_instances.assign(affected.begin(), affected.end());
}

// No data: the first comparison that lacked data, and the verdict the rule's noData gives.
void ReportNoData(const ThresholdRule& rule, const std::vector<const Comparison*>& comparisons,
                  const std::map<const Comparison*, ComparisonResult>& leaves, Measurement& m) {
  for (const auto* c : comparisons) {
    const auto& r = leaves.at(c);
    if (r.truth == Truth::kNoData) {
      m.metric = c->metric;
      m.threshold = c->threshold;
      m.comparator = c->op;
      m.observed = NAN;
      break;
    }
  }
  switch (rule.no_data) {
    case NoData::kInconclusive:
      m.verdict = Outcome::kInconclusive;
      break;
    case NoData::kPass:
      m.verdict = Outcome::kSuccessful;
      break;
    case NoData::kFail:
      m.verdict = Outcome::kFailed;
      break;
  }
}

}  // namespace

Measurement EvaluateThreshold(const ThresholdRule& rule,
                              const std::map<std::string, MetricResult>& results) {
  Measurement m;
  const auto comparisons = rule.condition.Comparisons();
  if (!comparisons.empty()) {
    m.metric = comparisons.front()->metric;
    m.threshold = comparisons.front()->threshold;
    m.comparator = comparisons.front()->op;
  }
  if (QueryFailed(rule, comparisons, results, m)) return m;
  if (TooFewRequests(rule, results, m)) return m;

  std::map<const Comparison*, ComparisonResult> leaves;
  for (const auto* c : comparisons) {
    leaves[c] = EvaluateComparison(*c, results.at(c->metric), rule.min_samples);
  }
  std::vector<const ComparisonResult*> breaching;
  const auto truth = Evaluate(rule.condition, leaves, breaching);

  std::string details;
  for (const auto* c : comparisons) {
    details += (details.empty() ? "" : "; ") + Describe(leaves.at(c), rule.min_samples);
  }

  switch (truth) {
    case Truth::kBreach:
      ReportBreach(breaching, m);
      m.message = details;
      break;
    case Truth::kClear:
      m.verdict = Outcome::kSuccessful;
      if (!comparisons.empty()) m.observed = leaves.at(comparisons.front()).observed;
      m.message = details;
      break;
    case Truth::kNoData:
      ReportNoData(rule, comparisons, leaves, m);
      m.message = "no data (noData: " + std::string(ToString(rule.no_data)) + "): " + details;
      break;
  }
  return m;
}

}  // namespace sluice::analysis
