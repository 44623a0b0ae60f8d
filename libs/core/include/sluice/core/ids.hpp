#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <utility>

namespace sluice::core {

// A value with a name of its own, so a ReleaseId is never passed where a DeploymentId goes.
template <typename T, typename Tag>
class NamedType {
 public:
  using ValueType = T;
  NamedType() = default;
  explicit NamedType(T v) : value_(std::move(v)) {}
  const T& Value() const { return value_; }
  T& Value() { return value_; }
  auto operator<=>(const NamedType&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const NamedType& n) { return os << n.value_; }

 private:
  T value_{};
};

using ReleaseId = NamedType<std::string, struct ReleaseIdTag>;
using DeploymentId = NamedType<std::string, struct DeploymentIdTag>;
using EventId = NamedType<std::string, struct EventIdTag>;
using TraceId = NamedType<std::string, struct TraceIdTag>;
using BatchIndex = NamedType<std::uint32_t, struct BatchIndexTag>;
using FencingToken = NamedType<std::int64_t, struct FencingTokenTag>;
using Generation = NamedType<std::uint64_t, struct GenerationTag>;

// A random (version 4) UUID in its canonical 36-character form.
std::string NewUuid();
// A W3C trace id: 32 lowercase hex characters, not all zero.
std::string NewTraceId();
// True for a canonical UUID string (any version).
bool IsUuid(std::string_view s);

}  // namespace sluice::core

template <typename T, typename Tag>
struct std::hash<sluice::core::NamedType<T, Tag>> {
  std::size_t operator()(const sluice::core::NamedType<T, Tag>& n) const noexcept {
    return std::hash<T>{}(n.Value());
  }
};
