// A record of the public inbound topic sluice.intake.v1 (protobuf or JSON): DecodeSubmission,
// then the validator of the HTTP route the submission stands for, as the intake consumer runs.
// The first byte picks the content-type header (none, protobuf, JSON, something else).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "delivery.hpp"
#include "intake.hpp"
#include "release.hpp"

namespace ri = sluice::release_intake;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > ri::kMaxSubmissionBytes + 1) return 0;  // the consumer's own bound
  std::optional<std::string_view> content_type;
  switch (data[0] % 4) {
    case 1:
      content_type = "application/protobuf";
      break;
    case 2:
      content_type = "application/json";
      break;
    case 3:
      content_type = "text/plain";
      break;
    default:
      break;
  }
  const std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto decoded = ri::DecodeSubmission(value, content_type, std::nullopt);
  if (const auto* bad = std::get_if<ri::Malformed>(&decoded.result)) {
    (void)ri::EncodeResult(ri::MalformedResult(*bad), decoded.encoding);
    return 0;
  }
  const auto& s = std::get<ri::Submission>(decoded.result);
  switch (s.kind) {
    case ri::SubmissionKind::kRelease:
      (void)ri::ValidateRelease(s.body, "fuzz");
      break;
    case ri::SubmissionKind::kDeployment:
      (void)ri::ValidateDeploymentRequest(s.body);
      break;
    case ri::SubmissionKind::kCommand:
      if (const auto verb = ri::ParseVerb(s.verb)) (void)ri::ValidateCommand(*verb, s.body);
      break;
    case ri::SubmissionKind::kAlert:
      (void)ri::ValidateAlert(s.body);
      break;
  }
  (void)s.body.dump();
  return 0;
}
