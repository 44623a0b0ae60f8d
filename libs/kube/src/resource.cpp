#include <sluice/kube/resource.hpp>

namespace sluice::kube {

std::string Resource::QualifiedName() const {
  std::string out(resource);
  if (!group.empty()) {
    out += '.';
    out += group;
  }
  return out;
}

std::string Resource::Path(std::string_view ns, std::string_view name) const {
  std::string p = group.empty() ? "/api/" : "/apis/";
  if (!group.empty()) {
    p += group;
    p += '/';
  }
  p += version;
  if (namespaced) {
    p += "/namespaces/";
    p += ns;
  }
  p += '/';
  p += resource;
  if (!name.empty()) {
    p += '/';
    p += name;
  }
  return p;
}

std::string_view VerbName(Verb v) {
  for (const auto& [verb, name] : kVerbNames) {
    if (verb == v) return name;
  }
  return "?";
}

std::string VerbList(std::uint32_t verbs) {
  std::string out = "[";
  for (const auto& [verb, name] : kVerbNames) {
    if ((verbs & verb) == 0) continue;
    if (out.size() > 1) out += ", ";
    out += name;
  }
  return out + "]";
}

std::string FormatRbacRule(std::string_view group, std::string_view resource, std::uint32_t verbs) {
  std::string g = group.empty() ? std::string("\"\"") : std::string(group);
  return "{apiGroups: [" + g + "], resources: [" + std::string(resource) +
         "], verbs: " + VerbList(verbs) + "}";
}

}  // namespace sluice::kube
