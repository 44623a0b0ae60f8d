#include "compat.hpp"

#include <map>

namespace sluice::tools {
namespace {

namespace pb = google::protobuf;

std::string Card(const pb::FieldDescriptorProto& f) {
  return f.label() == pb::FieldDescriptorProto::LABEL_REPEATED ? "repeated" : "singular";
}

std::string OneofName(const pb::DescriptorProto& m, const pb::FieldDescriptorProto& f) {
  if (!f.has_oneof_index() || f.proto3_optional()) return "";
  return m.oneof_decl(f.oneof_index()).name();
}

void CheckEnum(const std::string& scope, const pb::EnumDescriptorProto& prev,
               const pb::EnumDescriptorProto& next, std::vector<std::string>& out) {
  std::map<int, const pb::EnumValueDescriptorProto*> by_number;
  for (const auto& v : next.value()) by_number[v.number()] = &v;
  for (const auto& v : prev.value()) {
    auto it = by_number.find(v.number());
    if (it == by_number.end()) {
      out.push_back("enum " + scope + ": value " + v.name() + " = " + std::to_string(v.number()) +
                    " was removed");
    } else if (it->second->name() != v.name()) {
      out.push_back("enum " + scope + ": value " + std::to_string(v.number()) +
                    " was renamed from " + v.name() + " to " + it->second->name());
    }
  }
}

void CheckMessage(const std::string& scope, const pb::DescriptorProto& prev,
                  const pb::DescriptorProto& next, std::vector<std::string>& out) {
  std::map<int, const pb::FieldDescriptorProto*> fields;
  for (const auto& f : next.field()) fields[f.number()] = &f;
  for (const auto& f : prev.field()) {
    const std::string where =
        "message " + scope + ": field " + f.name() + " = " + std::to_string(f.number());
    auto it = fields.find(f.number());
    if (it == fields.end()) {
      out.push_back(where + " was removed (mark it reserved in a new major version instead)");
      continue;
    }
    const auto& n = *it->second;
    if (n.name() != f.name()) out.push_back(where + " was renamed to " + n.name());
    if (n.type() != f.type() || n.type_name() != f.type_name()) {
      out.push_back(where + " changed type");
    }
    if (Card(n) != Card(f)) {
      out.push_back(where + " changed from " + Card(f) + " to " + Card(n));
    }
    if (OneofName(next, n) != OneofName(prev, f)) {
      out.push_back(where + " moved between oneofs ('" + OneofName(prev, f) + "' to '" +
                    OneofName(next, n) + "')");
    }
  }
  std::map<std::string, const pb::DescriptorProto*> nested;
  for (const auto& m : next.nested_type()) nested[m.name()] = &m;
  for (const auto& m : prev.nested_type()) {
    auto it = nested.find(m.name());
    if (it == nested.end()) {
      out.push_back("message " + scope + "." + m.name() + " was removed");
    } else {
      CheckMessage(scope + "." + m.name(), m, *it->second, out);
    }
  }
  std::map<std::string, const pb::EnumDescriptorProto*> enums;
  for (const auto& e : next.enum_type()) enums[e.name()] = &e;
  for (const auto& e : prev.enum_type()) {
    auto it = enums.find(e.name());
    if (it == enums.end()) {
      out.push_back("enum " + scope + "." + e.name() + " was removed");
    } else {
      CheckEnum(scope + "." + e.name(), e, *it->second, out);
    }
  }
}

}  // namespace

std::vector<std::string> CheckAdditive(const pb::FileDescriptorSet& prev,
                                       const pb::FileDescriptorSet& next) {
  std::vector<std::string> out;
  // Messages and enums are matched by full name across files, so moving a message to another
  // file of the same package is not a break.
  std::map<std::string, const pb::DescriptorProto*> messages;
  std::map<std::string, const pb::EnumDescriptorProto*> enums;
  std::map<std::string, std::string> packages;
  for (const auto& file : next.file()) {
    packages[file.name()] = file.package();
    for (const auto& m : file.message_type()) messages[file.package() + "." + m.name()] = &m;
    for (const auto& e : file.enum_type()) enums[file.package() + "." + e.name()] = &e;
  }
  for (const auto& file : prev.file()) {
    if (file.package().rfind("google.protobuf", 0) == 0) continue;
    auto pkg = packages.find(file.name());
    if (pkg != packages.end() && pkg->second != file.package()) {
      out.push_back("file " + file.name() + ": package changed from " + file.package() + " to " +
                    pkg->second);
    }
    for (const auto& m : file.message_type()) {
      const std::string name = file.package() + "." + m.name();
      auto it = messages.find(name);
      if (it == messages.end()) {
        out.push_back("message " + name + " was removed");
      } else {
        CheckMessage(name, m, *it->second, out);
      }
    }
    for (const auto& e : file.enum_type()) {
      const std::string name = file.package() + "." + e.name();
      auto it = enums.find(name);
      if (it == enums.end()) {
        out.push_back("enum " + name + " was removed");
      } else {
        CheckEnum(name, e, *it->second, out);
      }
    }
  }
  return out;
}

}  // namespace sluice::tools
