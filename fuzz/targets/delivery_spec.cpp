// The delivery spec of PUT /v1/apps/{app}: the body as release-intake reads it
// (SpecTextFromBody: YAML, or a JSON object carrying "spec"), then spec::ParseDeliverySpec, and
// a spec that parses goes through what its events do with it (ToProto, FromProto).
// The first byte picks the Content-Type; the rest is the body.

#include <cstddef>
#include <cstdint>
#include <sluice/spec/convert.hpp>
#include <sluice/spec/delivery_spec.hpp>
#include <string_view>

#include "delivery.hpp"

namespace ri = sluice::release_intake;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view content_type =
      (data[0] & 1) != 0 ? "application/json" : "application/yaml";
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto text = ri::SpecTextFromBody(content_type, body);
  const auto* yaml = std::get_if<std::string>(&text);
  if (yaml == nullptr) return 0;
  const auto parsed = sluice::spec::ParseDeliverySpec(*yaml, "fuzz.yaml");
  if (const auto* spec = std::get_if<sluice::spec::DeliverySpec>(&parsed)) {
    (void)ri::EnvironmentNames(*spec);
    (void)sluice::spec::FromProto(sluice::spec::ToProto(*spec));
  } else {
    (void)ri::SpecErrorBody(std::get<sluice::spec::SpecError>(parsed)).dump();
  }
  return 0;
}
