#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sluice/capture/capture.hpp>
#include <sluice/capture/mime.hpp>

namespace sluice::capture {
namespace {

using nlohmann::json;

// What the notifier sends: multipart/alternative, both parts base64, RFC 2047 subject.
constexpr char kNotifierMail[] =
    "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    "From: Sluice <sluice@example.com>\r\n"
    "To: oncall@example.com, \"Ops, Night\" <ops@example.com>\r\n"
    "Subject: =?UTF-8?B?W1NsdWljZV1bY3JpdGljYWxdIOKPqiBSb2xsaW5nIGJhY2s=?=\r\n"
    "  =?UTF-8?B?IHBheW1lbnRz?=\r\n"
    "Message-ID: <abc@sluice>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=\"sluice-b1\"\r\n"
    "\r\n"
    "This is a multi-part message.\r\n"
    "--sluice-b1\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "4o+qIFJvbGxpbmcgYmFjawpT\r\n"
    "ZWUgdGhlIGNvbnNvbGUu\r\n"
    "--sluice-b1\r\n"
    "Content-Type: text/html; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<p style=3D\"color:red\">Rolling =\r\n"
    "back</p>\r\n"
    "--sluice-b1--\r\n"
    "epilogue\r\n";

TEST(MimeTest, ParsesTheNotifiersMultipartAlternative) {
  const auto m = ParseEmail(kNotifierMail);
  EXPECT_EQ(m.from, "Sluice <sluice@example.com>");
  EXPECT_EQ(m.to,
            (std::vector<std::string>{"oncall@example.com", "\"Ops, Night\" <ops@example.com>"}));
  EXPECT_TRUE(m.cc.empty());
  // Two adjacent encoded words on a folded line: the whitespace between them goes.
  EXPECT_EQ(m.subject, "[Sluice][critical] ⏪ Rolling back payments");
  EXPECT_EQ(m.text, "⏪ Rolling back\nSee the console.");
  EXPECT_EQ(m.html, "<p style=\"color:red\">Rolling back</p>");
  EXPECT_EQ(m.Header("message-id"), "<abc@sluice>");
  EXPECT_EQ(m.Header("MIME-Version"), "1.0");
}

TEST(MimeTest, FindsTextInNestedMultipartAndSkipsAttachments) {
  const std::string raw =
      "From: a@x\nTo: b@x\nSubject: plain subject\n"
      "Content-Type: multipart/mixed; boundary=outer\n\n"
      "--outer\n"
      "Content-Type: multipart/alternative; boundary=\"in ner\"\n\n"
      "--in ner\nContent-Type: text/plain\n\nhello\n--in ner\n"
      "Content-Type: text/html\n\n<b>hello</b>\n--in ner--\n"
      "--outer\nContent-Type: text/plain\nContent-Disposition: attachment; filename=x.txt\n\n"
      "not the body\n--outer--\n";
  const auto m = ParseEmail(raw);  // bare LF line ends are tolerated
  EXPECT_EQ(m.subject, "plain subject");
  EXPECT_EQ(m.text, "hello");
  EXPECT_EQ(m.html, "<b>hello</b>");
}

TEST(MimeTest, SinglePartBodies) {
  auto m = ParseEmail("Subject: x\r\n\r\nline one\r\nline two\r\n");
  EXPECT_EQ(m.text, "line one\r\nline two\r\n");  // no Content-Type: text/plain
  EXPECT_TRUE(m.html.empty());
  m = ParseEmail(
      "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
      "PGk+aGk8L2k+\r\n");
  EXPECT_EQ(m.html, "<i>hi</i>");
  EXPECT_TRUE(m.text.empty());
  // Only headers, no body; garbage: nothing throws.
  EXPECT_EQ(ParseEmail("From: only@x").from, "only@x");
  EXPECT_NO_THROW(ParseEmail("Content-Type: multipart/mixed\r\n\r\n--\r\n"));
  EXPECT_NO_THROW(ParseEmail(""));
}

TEST(MimeTest, Decoders) {
  EXPECT_EQ(DecodeBase64("aGVs\r\nbG8="), "hello");
  EXPECT_EQ(DecodeBase64("aGk"), "hi");  // unpadded
  EXPECT_EQ(DecodeBase64(""), "");
  EXPECT_EQ(DecodeQuotedPrintable("a=3Db=\r\nc"), "a=bc");
  EXPECT_EQ(DecodeQuotedPrintable("caf=C3=A9=\nx"),
            "café"
            "x");
  EXPECT_EQ(DecodeQuotedPrintable("50% = half=Z"), "50% = half=Z");  // not an escape: kept
  EXPECT_EQ(DecodeHeaderWords("=?utf-8?q?caf=C3=A9_au_lait?="), "café au lait");
  EXPECT_EQ(DecodeHeaderWords("Re: =?UTF-8?B?aGk=?= there"), "Re: hi there");
  EXPECT_EQ(DecodeHeaderWords("=?UTF-8?B?YQ==?= \t =?UTF-8?B?Yg==?="), "ab");
  EXPECT_EQ(DecodeHeaderWords("=?broken"), "=?broken");
  EXPECT_EQ(DecodeHeaderWords("=?UTF-8?X?abc?="), "=?UTF-8?X?abc?=");
}

TEST(MimeTest, SplitsAddressLists) {
  EXPECT_EQ(
      SplitAddressList("a@x, B <b@x> ,, \"C, D\" <c@x>, (x, y) e@x, <f@x,g>"),
      (std::vector<std::string>{"a@x", "B <b@x>", "\"C, D\" <c@x>", "(x, y) e@x", "<f@x,g>"}));
  EXPECT_EQ(SplitAddressList("=?UTF-8?B?SsO2cmc=?= <j@x>"), std::vector<std::string>{"Jörg <j@x>"});
  EXPECT_TRUE(SplitAddressList("  ").empty());
}

TEST(MimeTest, EmailCaptureJson) {
  SmtpMail mail;
  mail.auth_user = "mailer";
  mail.mail_from = "sluice@example.com";
  mail.rcpt_to = {"oncall@example.com"};
  mail.data = kNotifierMail;
  const auto j = json::parse(EmailCaptureJson(mail));
  EXPECT_EQ(j["channel"], "email");
  EXPECT_EQ(j["from"], "Sluice <sluice@example.com>");
  EXPECT_EQ(j["to"], json::array({"oncall@example.com", "\"Ops, Night\" <ops@example.com>"}));
  EXPECT_EQ(j["subject"], "[Sluice][critical] ⏪ Rolling back payments");
  EXPECT_EQ(j["text"], "⏪ Rolling back\nSee the console.");
  EXPECT_EQ(j["html"], "<p style=\"color:red\">Rolling back</p>");
  EXPECT_EQ(j["raw_size"], std::string(kNotifierMail).size());
  EXPECT_EQ(j["auth_user"], "mailer");
  EXPECT_EQ(j["envelope_from"], "sluice@example.com");
  EXPECT_EQ(j["envelope_to"], json::array({"oncall@example.com"}));
  EXPECT_EQ(j["message_id"], "<abc@sluice>");
  // A Latin-1 body is not UTF-8: the capture is still written.
  mail.data = "Subject: caf\xe9\r\n\r\nx";
  EXPECT_EQ(json::parse(EmailCaptureJson(mail))["subject"], "caf\xef\xbf\xbd");
}

}  // namespace
}  // namespace sluice::capture
