#pragma once

#include <optional>
#include <string>
#include <string_view>

// Byte encodings and digests every part of Sluice uses: one copy each, base64 by OpenSSL.
namespace sluice::core {

// Lowercase hex of the bytes, two digits a byte: "\x01\xab" -> "01ab".
std::string HexEncode(std::string_view bytes);

// Lowercase hex of the SHA-256 of the bytes (64 digits).
std::string Sha256Hex(std::string_view bytes);

// The raw 32-byte HMAC-SHA256 of the message under the key.
std::string HmacSha256(std::string_view key, std::string_view message);

// Standard base64 (RFC 4648 section 4) with '=' padding, no line breaks.
std::string Base64Encode(std::string_view bytes);

// URL-safe base64 (RFC 4648 section 5: '-' and '_'), without padding.
std::string Base64UrlEncode(std::string_view bytes);

// Decodes standard base64 with or without padding; nullopt when the text holds a character
// outside the alphabet (whitespace included), misplaced padding, or a dangling character.
std::optional<std::string> Base64Decode(std::string_view text);

// Escapes & < > " ' for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace sluice::core
