#include "analysis_template.hpp"

#include "run.hpp"

namespace sluice::watcher {

std::variant<analysis::Template, std::string> TemplateOf(const AnalysisRow& a) {
  return ResolveTemplate(a.spec_yaml, a.env, a.template_name);
}

std::optional<analysis::BakeWatch> BakeWatchSettingsOf(const AnalysisRow& a) {
  return BakeWatchOf(a.spec_yaml, a.env);
}

}  // namespace sluice::watcher
