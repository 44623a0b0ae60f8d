#include "sluice/analysis/window.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <set>

namespace sluice::analysis {
namespace {

using std::chrono::milliseconds;
constexpr auto npos = std::string_view::npos;

bool IsIdent(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == ':';
}

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::size_t SkipSpace(std::string_view q, std::size_t p) {
  while (p < q.size() && IsSpace(q[p])) ++p;
  return p;
}

// The text with its string literals and comments blanked, at the same positions: a `[5m]` or an
// `offset` inside a label value is neither a range nor a modifier.
std::string Blanked(std::string_view q) {
  std::string out(q);
  for (std::size_t i = 0; i < q.size(); ++i) {
    const char c = q[i];
    std::size_t end = i;  // the last character blanked
    if (c == '"' || c == '\'' || c == '`') {
      std::size_t j = i + 1;
      for (; j < q.size() && q[j] != c; ++j) {
        if (c != '`' && q[j] == '\\') ++j;  // an escaped character, e.g. \"
      }
      end = std::min(j, q.size() - 1);
    } else if (c == '#') {
      const auto nl = q.find('\n', i);
      end = nl == npos ? q.size() - 1 : nl;
    } else {
      continue;
    }
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(i),
              out.begin() + static_cast<std::ptrdiff_t>(end) + 1, ' ');
    i = end;
  }
  return out;
}

// A PromQL duration: terms `<integer><unit>` (ms, s, m, h, d, w, y), or a number of seconds.
std::optional<milliseconds> PromDuration(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  constexpr std::int64_t kLimit = std::int64_t{1} << 50;  // far beyond any range Prometheus keeps
  if (s.find_first_not_of("0123456789.") == npos) {
    std::int64_t whole = 0, frac_ms = 0, scale = 100;
    std::size_t i = 0;
    for (; i < s.size() && s[i] != '.'; ++i) {
      whole = whole * 10 + (s[i] - '0');
      if (whole > kLimit) return std::nullopt;
    }
    for (++i; i < s.size() && scale > 0; ++i, scale /= 10) {
      if (s[i] == '.') return std::nullopt;
      frac_ms += (s[i] - '0') * scale;
    }
    return milliseconds(whole * 1000 + frac_ms);
  }
  std::int64_t total = 0;
  while (!s.empty()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits])) != 0) {
      n = n * 10 + (s[digits++] - '0');
      if (n > kLimit) return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    s.remove_prefix(digits);
    std::int64_t unit = 0;
    std::size_t unit_len = 1;
    if (s.substr(0, 2) == "ms") {
      unit = 1;
      unit_len = 2;
    } else if (!s.empty()) {
      switch (s.front()) {
        case 's':
          unit = 1000;
          break;
        case 'm':
          unit = 60'000;
          break;
        case 'h':
          unit = 3'600'000;
          break;
        case 'd':
          unit = 86'400'000;
          break;
        case 'w':
          unit = 7 * 86'400'000LL;
          break;
        case 'y':
          unit = 365 * 86'400'000LL;
          break;
        default:
          return std::nullopt;
      }
    }
    if (unit == 0) return std::nullopt;
    s.remove_prefix(unit_len);
    total += n * unit;
    if (total > kLimit) return std::nullopt;
  }
  return milliseconds(total);
}

// True when the keyword (case-insensitive, as PromQL reads it) stands at p as a word.
bool KeywordAt(std::string_view q, std::size_t p, std::string_view word) {
  if (p + word.size() > q.size() || (p > 0 && IsIdent(q[p - 1]))) return false;
  for (std::size_t k = 0; k < word.size(); ++k) {
    if (std::tolower(static_cast<unsigned char>(q[p + k])) != word[k]) return false;
  }
  return p + word.size() == q.size() || !IsIdent(q[p + word.size()]);
}

// The positive offset of the modifiers at p (`offset d` and `@ t`, in either order), 0 without
// one. The position of an `offset` read goes into `read`.
milliseconds OffsetAt(std::string_view q, std::size_t p, std::set<std::size_t>& read) {
  milliseconds offset{0};
  for (int modifier = 0; modifier < 2; ++modifier) {
    p = SkipSpace(q, p);
    if (p < q.size() && q[p] == '@') {
      // @ <number> or @ start() / end(): a fixed time, or the evaluation time of an instant query.
      p = SkipSpace(q, p + 1);
      if (p < q.size() && (q[p] == '+' || q[p] == '-')) ++p;
      while (p < q.size() && (IsIdent(q[p]) || q[p] == '.')) ++p;
      const auto open = SkipSpace(q, p);
      if (open < q.size() && q[open] == '(') {
        const auto close = SkipSpace(q, open + 1);
        if (close < q.size() && q[close] == ')') p = close + 1;
      }
    } else if (KeywordAt(q, p, "offset")) {
      read.insert(p);
      p = SkipSpace(q, p + 6);
      const bool negative = p < q.size() && q[p] == '-';
      if (p < q.size() && (q[p] == '-' || q[p] == '+')) p = SkipSpace(q, p + 1);
      const auto start = p;
      while (p < q.size() && (IsIdent(q[p]) || q[p] == '.')) ++p;
      const auto d = PromDuration(q.substr(start, p - start));
      if (d && !negative) offset = *d;
    } else {
      break;
    }
  }
  return offset;
}

// Where the expression a subquery's `[` (at lb) evaluates begins: a parenthesised expression or
// call, a selector with its braces, or a bare name.
std::size_t OperandStart(std::string_view q, std::size_t begin, std::size_t lb) {
  std::size_t p = lb;
  while (p > begin && IsSpace(q[p - 1])) --p;
  if (p > begin && (q[p - 1] == ')' || q[p - 1] == '}')) {
    const char close = q[p - 1];
    const char open = close == ')' ? '(' : '{';
    int depth = 0;
    while (p > begin) {
      --p;
      if (q[p] == close) ++depth;
      if (q[p] == open && --depth == 0) break;
    }
  }
  while (p > begin && IsIdent(q[p - 1])) --p;
  return p;
}

// The reach of q[begin, end) (q blanked).
milliseconds ReachIn(std::string_view q, std::size_t begin, std::size_t end) {
  milliseconds longest{0};
  std::set<std::size_t> read;  // offsets counted with the range or subquery they modify
  for (std::size_t i = begin; i < end; ++i) {
    if (q[i] == '[') {
      const auto close = q.find(']', i + 1);
      if (close == npos || close >= end) break;
      const auto inside = q.substr(i + 1, close - i - 1);
      const auto colon = inside.find(':');
      const auto range = PromDuration(inside.substr(0, colon));
      if (!range) continue;
      milliseconds inner{0};
      if (colon != npos) inner = ReachIn(q, OperandStart(q, begin, i), i);
      longest = std::max(longest, *range + inner + OffsetAt(q, close + 1, read));
      i = close;
    } else if (read.count(i) == 0 && KeywordAt(q, i, "offset")) {
      // An instant selector's offset: the sample that far back.
      longest = std::max(longest, OffsetAt(q, i, read));
    }
  }
  return longest;
}

}  // namespace

std::vector<std::string> MetricsOfRule(const Template& tmpl, const ThresholdRule& rule) {
  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (tmpl.FindMetric(name) != nullptr && std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(name);
    }
  };
  for (const auto* c : rule.condition.Comparisons()) add(c->metric);
  if (rule.min_requests_metric) add(*rule.min_requests_metric);
  return out;
}

std::chrono::milliseconds Reach(std::string_view promql) {
  const std::string q = Blanked(promql);
  return ReachIn(q, 0, q.size());
}

std::chrono::milliseconds RuleWindow(const Template& tmpl, const ThresholdRule& rule) {
  milliseconds longest{0};
  for (const auto& name : MetricsOfRule(tmpl, rule)) {
    longest = std::max(longest, Reach(tmpl.FindMetric(name)->query));
  }
  return longest;
}

std::chrono::milliseconds JudgeWindow(const JudgeSpec& spec) {
  milliseconds longest{0};
  for (const auto& m : spec.metrics) {
    const bool sampled = m.kind == JudgeKind::kQuery || m.kind == JudgeKind::kGauge;
    longest = std::max(longest, sampled ? Reach(m.query) : spec.step);
  }
  return longest;
}

}  // namespace sluice::analysis
