#include <openssl/rand.h>

#include <array>
#include <sluice/core/encoding.hpp>
#include <sluice/core/ids.hpp>
#include <stdexcept>

namespace sluice::core {
namespace {

template <std::size_t N>
std::array<unsigned char, N> RandomBytes() {
  std::array<unsigned char, N> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(N)) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: no entropy for ids");
  }
  return bytes;
}

}  // namespace

std::string NewUuid() {
  auto b = RandomBytes<16>();
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::string out = HexEncode(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
  for (const int dash : {8, 13, 18, 23}) out.insert(static_cast<std::size_t>(dash), 1, '-');
  return out;
}

std::string NewTraceId() {
  for (;;) {
    auto b = RandomBytes<16>();
    bool zero = true;
    for (const unsigned char c : b) zero = zero && c == 0;
    if (!zero) {
      return HexEncode(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
    }
  }
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace sluice::core
