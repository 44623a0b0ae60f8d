// Alertmanager's webhook body as POST /v1/alerts/alertmanager reads it: strict JSON with NULs
// let through (they are sorted out per alert), ParseAlertmanagerPayload (PayloadError for an
// unusable batch), then what the receiver derives from each alert kept: its key, the evidence
// of an AlertRaised, the fingerprint.

#include <cstddef>
#include <cstdint>
#include <sluice/core/strict_json.hpp>
#include <string_view>

#include "alerts.hpp"

namespace w = sluice::watcher;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sluice::core::JsonLimits limits;
  limits.allow_nul = true;
  nlohmann::json body;
  try {
    body = sluice::core::ParseStrictJson(text, limits);
  } catch (const sluice::core::JsonInputError&) {
    return 0;
  }
  w::AlertPayload payload;
  try {
    payload = w::ParseAlertmanagerPayload(body);
  } catch (const w::PayloadError&) {
    return 0;
  }
  for (const auto& alert : payload.alerts) {
    (void)w::KeyOf(alert);
    (void)w::AlertEvidence(alert);
    (void)w::LabelsFingerprint(alert.labels);
    (void)w::MatchAlert(alert, {}, alert.starts_at);
  }
  return 0;
}
