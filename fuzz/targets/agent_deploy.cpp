// sluice-agent's POST /v1/deploy and /v1/revert bodies: the strict JSON check every body passes
// (http::ParseJsonBody), then the contract's parser and validation (ParseDeployRequest /
// ParseRevertRequest: ValidationError naming the field). Bit 0 of the first byte picks the route.

#include <cstddef>
#include <cstdint>
#include <sluice/core/strict_json.hpp>
#include <string_view>

#include "deploy.hpp"

namespace agent = sluice::agent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool revert = (data[0] & 1) != 0;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    (void)sluice::core::ParseStrictJson(body);
  } catch (const sluice::core::JsonInputError&) {
    return 0;
  }
  try {
    if (revert) {
      (void)agent::ParseRevertRequest(body);
    } else {
      (void)agent::ParseDeployRequest(body);
    }
  } catch (const agent::ValidationError&) {
  }
  return 0;
}
