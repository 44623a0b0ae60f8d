#pragma once

// Message templates: one file per language and event kind, "<lang>/<kind>.md". The first line
// is the title, the rest the body. {{name}} placeholders are replaced; a line whose
// placeholders include one with no value is left out (so "Batch: {{batch}}" disappears when
// the event has no batch).

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "notification.hpp"

namespace sluice::notifier {

enum class Language { kEn, kZh };
std::string_view LanguageName(Language l);  // "en", "zh"
std::optional<Language> ParseLanguage(std::string_view name);

// A template that cannot be used: the message names the file and line.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RenderedText {
  std::string title;
  std::string body;  // lines separated by '\n', no trailing newline
};

// The placeholders a template may use.
const std::vector<std::string>& KnownPlaceholders();

// The placeholder values for a notice (empty string = no value).
std::map<std::string, std::string> TemplateValues(const Notification& n);

// Replaces {{name}} (spaces inside the braces allowed) by values[name]; drops lines with a
// placeholder whose value is empty or missing.
std::string Substitute(std::string_view text, const std::map<std::string, std::string>& values);

// The templates shipped with the notifier, keyed "<lang>/<kind>.md" (generated at build time
// from services/notifier/templates).
const std::map<std::string, std::string>& EmbeddedTemplates();

class Templates {
 public:
  // The embedded defaults.
  static Templates Defaults();
  // The defaults with every "<dir>/<lang>/<kind>.md" that exists replacing its default.
  // Throws TemplateError for an unreadable or invalid file.
  static Templates LoadWithOverrides(const std::string& dir);

  // Replaces one template; validates it first. `origin` names it in errors (a file path).
  void Override(Language lang, EventKind kind, std::string text, const std::string& origin);

  RenderedText Render(const Notification& n, Language lang) const;

 private:
  std::map<std::pair<Language, EventKind>, std::string> texts_;
};

// Throws TemplateError ("<origin>:<line>: ...") for an empty template or an unknown or
// unterminated placeholder.
void ValidateTemplate(std::string_view text, const std::string& origin);

}  // namespace sluice::notifier
