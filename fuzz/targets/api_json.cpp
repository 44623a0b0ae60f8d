// The JSON bodies of the public APIs: core::ParseStrictJson (what http::ParseJsonBody applies to
// every body), then each validator a route runs on the parsed value: POST /v1/releases,
// /v1/tokens, /v1/deployments, /v1/deployments/{id}:<verb>, metric-watcher's retrospective.
// A validator answers with a field error (or, for the retrospective, http::ApiException); any
// other exception, a crash or a sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <sluice/core/strict_json.hpp>
#include <sluice/http/errors.hpp>
#include <string_view>

#include "delivery.hpp"
#include "release.hpp"
#include "retrospective.hpp"

namespace ri = sluice::release_intake;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json body;
  try {
    body = sluice::core::ParseStrictJson(text);
  } catch (const sluice::core::JsonInputError&) {
    return 0;
  }
  (void)body.dump();  // what an error answer or an audit entry does with it
  (void)ri::ValidateRelease(body, "fuzz");
  (void)ri::ValidateTokenRequest(body, 1'780'000'000'000);
  const auto deployment = ri::ValidateDeploymentRequest(body);
  if (const auto* d = std::get_if<ri::DeploymentRequest>(&deployment)) {
    (void)ri::RequestFingerprint(*d);
  }
  for (const auto verb : {ri::OperatorCommand::VERB_PROMOTE, ri::OperatorCommand::VERB_ROLLBACK,
                          ri::OperatorCommand::VERB_APPROVE}) {
    (void)ri::ValidateCommand(verb, body);
  }
  try {
    const auto request = sluice::watcher::ParseRetrospectiveRequest(body);
    sluice::watcher::CheckRetrospectiveCaps(request);
  } catch (const sluice::http::ApiException&) {
  }
  return 0;
}
