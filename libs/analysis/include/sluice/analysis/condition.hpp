#pragma once

// The `failWhen` language of threshold rules:
//   expr   := term (OR term)*
//   term   := factor (AND factor)*
//   factor := '(' expr ')' | NAME CMP NUMBER[UNIT]
// CMP is one of > >= < <=; UNIT is % (divides by 100), ms (divides by 1000), s, or none;
// OR / AND are case-insensitive; AND binds tighter than OR.

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::analysis {

// One `metric CMP threshold` of a condition. `threshold` is in base units (5% -> 0.05,
// 500ms -> 0.5); `as_written` is the comparison's source text ("p95_latency > 500ms").
struct Comparison {
  std::string metric;
  std::string op;  // ">", ">=", "<", "<="
  double threshold = 0;
  std::string as_written;

  // Whether `value` breaches (is on the failing side of) the threshold.
  bool Breaches(double value) const;
  bool operator==(const Comparison&) const = default;
};

// An expression tree: a leaf comparison, or the AND / OR of its children.
struct Condition {
  enum class Kind { kComparison, kAnd, kOr };
  Kind kind = Kind::kComparison;
  Comparison comparison;            // kComparison only
  std::vector<Condition> children;  // kAnd / kOr only (two or more)

  // The leaf comparisons, left to right.
  std::vector<const Comparison*> Comparisons() const;
  // The metric names the condition refers to.
  std::set<std::string> Metrics() const;
  // Canonical text with explicit parentheses, e.g. "(a > 0.05 OR (b > 0.5 AND c < 1))".
  std::string ToString() const;

  bool operator==(const Condition&) const = default;
};

struct ConditionError {
  std::size_t offset = 0;  // 0-based character offset into the text
  std::string message;
};

// Parses `failWhen` text. On error returns nullopt and fills `error`.
std::optional<Condition> ParseCondition(std::string_view text, ConditionError* error);

// "500ms" -> 0.5, "5%" -> 0.05, "2s" -> 2, "0.9" -> 0.9; nullopt when not NUMBER[UNIT].
std::optional<double> ParseThreshold(std::string_view text);

}  // namespace sluice::analysis
