// Reading request bodies field by field: the FieldError every validator returns, and the
// optional-string reader shared by the release and agent enrolment validators.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "release.hpp"

namespace sluice::release_intake {

inline FieldError Err(std::string field, std::string message) {
  return FieldError{std::move(field), std::move(message)};
}

// Reads an optional string field into `out`; a present non-string is an error, and so is a
// missing one when `required`.
inline std::optional<FieldError> GetString(const nlohmann::json& body, const char* field,
                                           bool required, std::optional<std::string>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) {
    if (required) return Err(field, std::string(field) + " is required");
    return std::nullopt;
  }
  if (!it->is_string()) return Err(field, std::string(field) + " must be a string");
  out = it->get<std::string>();
  return std::nullopt;
}

}  // namespace sluice::release_intake
