#include "sluice/analysis/condition.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace sluice::analysis {
namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Recursive descent over the text; the first error stops it.
class ConditionParser {
 public:
  explicit ConditionParser(std::string_view text) : text_(text) {}

  std::optional<Condition> Parse(ConditionError* error) {
    SkipSpace();
    if (pos_ == text_.size()) return Fail(error, "is empty; write e.g. \"error_rate > 5%\"");
    auto c = Expr(error);
    if (!c) return std::nullopt;
    SkipSpace();
    if (pos_ != text_.size()) {
      return Fail(error, "unexpected '" + std::string(text_.substr(pos_, 12)) +
                             "'; expected AND, OR or the end");
    }
    return c;
  }

 private:
  std::optional<Condition> Fail(ConditionError* error, std::string message) {
    if (error != nullptr && !failed_) {
      error->offset = pos_;
      error->message = std::move(message);
    }
    failed_ = true;
    return std::nullopt;
  }

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  // Consumes the keyword (case-insensitive) when it stands as a whole word at pos_.
  bool Keyword(std::string_view word) {
    SkipSpace();
    if (text_.size() - pos_ < word.size()) return false;
    if (Lower(text_.substr(pos_, word.size())) != word) return false;
    const auto end = pos_ + word.size();
    if (end < text_.size() && IsNameChar(text_[end])) return false;
    pos_ = end;
    return true;
  }

  std::optional<Condition> Combine(Condition::Kind kind, std::vector<Condition> parts) {
    if (parts.size() == 1) return std::move(parts.front());
    Condition c;
    c.kind = kind;
    c.children = std::move(parts);
    return c;
  }

  std::optional<Condition> Expr(ConditionError* error) {
    std::vector<Condition> parts;
    do {
      auto t = Term(error);
      if (!t) return std::nullopt;
      parts.push_back(std::move(*t));
    } while (Keyword("or"));
    return Combine(Condition::Kind::kOr, std::move(parts));
  }

  std::optional<Condition> Term(ConditionError* error) {
    std::vector<Condition> parts;
    do {
      auto f = Factor(error);
      if (!f) return std::nullopt;
      parts.push_back(std::move(*f));
    } while (Keyword("and"));
    return Combine(Condition::Kind::kAnd, std::move(parts));
  }

  std::optional<Condition> Factor(ConditionError* error) {
    SkipSpace();
    if (pos_ == text_.size()) return Fail(error, "ends early; expected a comparison or '('");
    if (text_[pos_] == '(') {
      ++pos_;
      auto inner = Expr(error);
      if (!inner) return std::nullopt;
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != ')') return Fail(error, "expected ')'");
      ++pos_;
      return inner;
    }
    const auto start = pos_;
    if (!IsNameStart(text_[pos_])) {
      return Fail(error,
                  "expected a metric name, got '" + std::string(text_.substr(pos_, 12)) + "'");
    }
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    Comparison cmp;
    cmp.metric = std::string(text_.substr(start, pos_ - start));
    const auto lowered = Lower(cmp.metric);
    if (lowered == "and" || lowered == "or") {
      pos_ = start;
      return Fail(error, "expected a metric name before " + cmp.metric);
    }
    SkipSpace();
    if (pos_ < text_.size() && (text_[pos_] == '>' || text_[pos_] == '<')) {
      cmp.op = std::string(1, text_[pos_++]);
      if (pos_ < text_.size() && text_[pos_] == '=') cmp.op += text_[pos_++];
    } else {
      return Fail(error, "expected one of > >= < <= after '" + cmp.metric + "'");
    }
    SkipSpace();
    const auto num_start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
            text_[pos_] == '%' || text_[pos_] == '-' || text_[pos_] == '+')) {
      ++pos_;
    }
    const auto number = text_.substr(num_start, pos_ - num_start);
    const auto threshold = ParseThreshold(number);
    if (!threshold) {
      pos_ = num_start;
      return Fail(error, "expected a number with an optional unit (%, ms, s) after '" + cmp.metric +
                             " " + cmp.op + "', got '" + std::string(number) + "'");
    }
    cmp.threshold = *threshold;
    cmp.as_written = cmp.metric + " " + cmp.op + " " + std::string(number);
    Condition c;
    c.comparison = std::move(cmp);
    return c;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

void Collect(const Condition& c, std::vector<const Comparison*>& out) {
  if (c.kind == Condition::Kind::kComparison) {
    out.push_back(&c.comparison);
    return;
  }
  for (const auto& child : c.children) Collect(child, out);
}

}  // namespace

bool Comparison::Breaches(double value) const {
  if (op == ">") return value > threshold;
  if (op == ">=") return value >= threshold;
  if (op == "<") return value < threshold;
  if (op == "<=") return value <= threshold;
  return false;
}

std::vector<const Comparison*> Condition::Comparisons() const {
  std::vector<const Comparison*> out;
  Collect(*this, out);
  return out;
}

std::set<std::string> Condition::Metrics() const {
  std::set<std::string> out;
  for (const auto* c : Comparisons()) out.insert(c->metric);
  return out;
}

std::string Condition::ToString() const {
  if (kind == Kind::kComparison) return comparison.as_written;
  std::string out = "(";
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (i > 0) out += kind == Kind::kAnd ? " AND " : " OR ";
    out += children[i].ToString();
  }
  return out + ")";
}

std::optional<Condition> ParseCondition(std::string_view text, ConditionError* error) {
  return ConditionParser(text).Parse(error);
}

std::optional<double> ParseThreshold(std::string_view text) {
  double scale = 1;
  if (text.size() >= 2 && text.substr(text.size() - 2) == "ms") {
    scale = 0.001;
    text.remove_suffix(2);
  } else if (!text.empty() && text.back() == '%') {
    scale = 0.01;
    text.remove_suffix(1);
  } else if (!text.empty() && text.back() == 's') {
    text.remove_suffix(1);
  }
  if (text.empty()) return std::nullopt;
  // Plain decimal only: digits, an optional sign and point, an optional exponent.
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '+' &&
        c != 'e' && c != 'E') {
      return std::nullopt;
    }
  }
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v * scale;
}

}  // namespace sluice::analysis
