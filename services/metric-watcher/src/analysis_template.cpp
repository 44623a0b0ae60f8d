#include "analysis_template.hpp"

#include "run.hpp"

namespace sluice::watcher {

std::variant<analysis::Template, std::string> TemplateOf(const AnalysisRow& a) {
  return TemplateFromRequest(a.resolved_template, a.env, a.template_name);
}

}  // namespace sluice::watcher
