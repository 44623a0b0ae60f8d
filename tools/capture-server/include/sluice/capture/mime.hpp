#pragma once

// Reading a received e-mail (RFC 5322 + MIME) far enough to show what a person would see:
// From, To, Subject (RFC 2047 encoded words decoded) and the text/plain and text/html bodies
// (quoted-printable and base64 decoded), found in nested multipart/* containers.

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::capture {

struct EmailMessage {
  std::string from;             // decoded From header, e.g. "Sluice <sluice@example.com>"
  std::vector<std::string> to;  // decoded To header, one entry per address
  std::vector<std::string> cc;
  std::string subject;  // decoded
  std::string text;     // first text/plain part that is not an attachment (decoded)
  std::string html;     // first text/html part that is not an attachment (decoded)
  // Top-level headers: names lower-cased, folded lines joined, first occurrence, not decoded.
  std::map<std::string, std::string> headers;

  std::string Header(std::string_view name) const;  // case-insensitive; "" when absent
};

// Never throws on malformed input: what cannot be understood is kept as it is.
EmailMessage ParseEmail(std::string_view raw);

// Content-Transfer-Encoding decoders. Whitespace and line breaks in base64 are skipped, decoding
// stops at the first '=' padding; in quoted-printable "=\r\n" is a soft line break and "=XX" a
// byte, a '=' not followed by two hex digits is kept as it is.
std::string DecodeBase64(std::string_view in);
std::string DecodeQuotedPrintable(std::string_view in);

// RFC 2047 encoded words (=?charset?B|Q?...?=) decoded to their bytes (the charset is not
// converted); whitespace between two adjacent encoded words is dropped.
std::string DecodeHeaderWords(std::string_view in);

// "A <a@x>, \"B, Jr.\" <b@x>" -> {"A <a@x>", "\"B, Jr.\" <b@x>"}: commas inside quotes, angle
// brackets or comments do not split; entries are trimmed, empty ones dropped.
std::vector<std::string> SplitAddressList(std::string_view in);

}  // namespace sluice::capture
