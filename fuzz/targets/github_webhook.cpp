// POST /v1/hooks/github: the X-Hub-Signature-256 check over the raw body, then the strict JSON
// body and InterpretGithubEvent for the X-GitHub-Event given. Input: bit 0 of the first byte
// says whether the body is signed with the configured secret (as GitHub does) or the header is
// taken from the input; then "<signature header>\n<event>\n<body>".

#include <cstddef>
#include <cstdint>
#include <sluice/core/strict_json.hpp>
#include <string>
#include <string_view>

#include "release.hpp"

namespace ri = sluice::release_intake;

namespace {

std::string_view Line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  constexpr std::string_view kSecret = "fuzz-webhook-secret";
  const bool sign = (data[0] & 1) != 0;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string_view given_signature = Line(rest);
  const std::string_view event = Line(rest);
  const std::string_view body = rest;
  const std::string signature =
      sign ? ri::GithubSignature(kSecret, body) : std::string(given_signature);
  if (!ri::VerifyGithubSignature(kSecret, body, signature)) return 0;
  if (event.empty()) return 0;
  nlohmann::json payload;
  try {
    payload = sluice::core::ParseStrictJson(body);
  } catch (const sluice::core::JsonInputError&) {
    return 0;
  }
  (void)ri::InterpretGithubEvent(event, payload);
  return 0;
}
