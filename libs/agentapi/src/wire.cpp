#include "sluice/agentapi/wire.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace sluice::agentapi {
namespace {

namespace pb = google::protobuf;
using nlohmann::json;

bool IsWellKnown(const pb::Descriptor* d) { return d->file()->package() == "google.protobuf"; }

void UnquoteInt64(json& value, const pb::FieldDescriptor& f);

// Turns the quoted 64-bit integers of `j` (an object printed from a message of type `d`) into
// numbers, recursing into nested messages (not into well-known types: their JSON is their own).
void UnquoteMessage(json& j, const pb::Descriptor& d) {
  if (!j.is_object() || IsWellKnown(&d)) return;
  for (int i = 0; i < d.field_count(); ++i) {
    const pb::FieldDescriptor& f = *d.field(i);
    const auto it = j.find(f.name());
    if (it == j.end()) continue;
    if (f.is_map()) {
      if (!it->is_object()) continue;
      const pb::FieldDescriptor& value_field = *f.message_type()->map_value();
      for (auto& [key, v] : it->items()) UnquoteInt64(v, value_field);
    } else if (f.is_repeated()) {
      if (!it->is_array()) continue;
      for (auto& v : *it) UnquoteInt64(v, f);
    } else {
      UnquoteInt64(*it, f);
    }
  }
}

void UnquoteInt64(json& value, const pb::FieldDescriptor& f) {
  switch (f.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64:
      if (value.is_string()) value = std::stoll(value.get<std::string>());
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      if (value.is_string()) value = std::stoull(value.get<std::string>());
      break;
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      UnquoteMessage(value, *f.message_type());
      break;
    default:
      break;
  }
}

// protobuf 3.21 reports "(service.restart_command[1]): message"; the field is named without its
// index. Other forms name no field.
WireError FromStatus(const std::string& text) {
  if (text.starts_with("(")) {
    const auto close = text.find("): ");
    if (close != std::string::npos && close > 1) {
      std::string field = text.substr(1, close - 1);
      if (field.ends_with("]")) field.erase(field.rfind('['));
      if (!field.empty()) return {field, text.substr(close + 3)};
    }
  }
  return {"body", text};
}

}  // namespace

std::string ToWireJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  const auto status = pb::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    throw std::runtime_error("cannot print " + message.GetTypeName() +
                             " as JSON: " + status.ToString());
  }
  json j = json::parse(out);
  UnquoteMessage(j, *message.GetDescriptor());
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<WireError> FromWireJson(std::string_view text, pb::Message& message) {
  message.Clear();
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(text.data(), text.size()), &message, options);
  if (status.ok()) return std::nullopt;
  message.Clear();
  return FromStatus(std::string(status.message()));
}

}  // namespace sluice::agentapi
