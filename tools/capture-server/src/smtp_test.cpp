#include <gtest/gtest.h>

#include <sluice/capture/smtp.hpp>

namespace sluice::capture {
namespace {

// The first three characters of a reply: its code.
std::string Code(const SmtpSession::Step& s) { return s.reply.substr(0, 3); }

class SmtpSessionTest : public ::testing::Test {
 protected:
  SmtpSession::Step Say(std::string_view line) { return session_.OnLine(line); }
  void Transaction() {
    ASSERT_EQ(Code(Say("EHLO client.example")), "250");
    ASSERT_EQ(Code(Say("MAIL FROM:<sluice@example.com> SIZE=100")), "250");
    ASSERT_EQ(Code(Say("RCPT TO:<oncall@example.com>")), "250");
    ASSERT_EQ(Code(Say("DATA")), "354");
  }
  SmtpOptions options_;
  SmtpSession session_{options_};
};

TEST_F(SmtpSessionTest, AcceptsAMessageAndUnstuffsDots) {
  EXPECT_EQ(session_.Greeting().substr(0, 4), "220 ");
  const auto ehlo = Say("EHLO client.example");
  EXPECT_NE(ehlo.reply.find("250-AUTH PLAIN LOGIN\r\n"), std::string::npos);
  EXPECT_NE(ehlo.reply.find("250-SIZE 10485760\r\n"), std::string::npos);
  EXPECT_EQ(ehlo.reply.find("STARTTLS"), std::string::npos);  // not offered
  // "\0mailer\0secret"
  EXPECT_EQ(Code(Say("AUTH PLAIN AG1haWxlcgBzZWNyZXQ=")), "235");
  EXPECT_EQ(Code(Say("MAIL FROM:<sluice@example.com>")), "250");
  EXPECT_EQ(Code(Say("RCPT TO:<a@example.com>")), "250");
  EXPECT_EQ(Code(Say("rcpt to: <b@example.com>")), "250");
  EXPECT_EQ(Code(Say("DATA")), "354");
  EXPECT_TRUE(session_.InData());
  EXPECT_TRUE(Say("Subject: x").reply.empty());
  EXPECT_TRUE(Say("").reply.empty());
  EXPECT_TRUE(Say("..leading dot").reply.empty());
  EXPECT_TRUE(Say("QUIT").reply.empty());  // inside DATA: just text
  const auto done = Say(".");
  EXPECT_EQ(Code(done), "250");
  ASSERT_TRUE(done.mail);
  EXPECT_EQ(done.mail->helo, "client.example");
  EXPECT_EQ(done.mail->auth_user, "mailer");
  EXPECT_EQ(done.mail->auth_password, "secret");
  EXPECT_EQ(done.mail->mail_from, "sluice@example.com");
  EXPECT_EQ(done.mail->rcpt_to, (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_EQ(done.mail->data, "Subject: x\r\n\r\n.leading dot\r\nQUIT\r\n");
  EXPECT_FALSE(session_.InData());
  // A second transaction on the same connection keeps the authentication, not the recipients.
  EXPECT_EQ(Code(Say("MAIL FROM:<>")), "250");  // null reverse path (bounces)
  EXPECT_EQ(Code(Say("DATA")), "503");
  EXPECT_EQ(Code(Say("RCPT TO:<c@example.com>")), "250");
  EXPECT_EQ(Code(Say("DATA")), "354");
  const auto second = Say(".");
  ASSERT_TRUE(second.mail);
  EXPECT_EQ(second.mail->rcpt_to, std::vector<std::string>{"c@example.com"});
  EXPECT_EQ(second.mail->auth_user, "mailer");
  EXPECT_EQ(second.mail->data, "");
  const auto quit = Say("QUIT");
  EXPECT_EQ(Code(quit), "221");
  EXPECT_TRUE(quit.close);
}

// With a certificate: STARTTLS is offered and, with require_tls, needed before AUTH and MAIL;
// after the handshake the client starts over with EHLO, and STARTTLS is not offered again.
TEST(SmtpSessionTlsTest, OffersStartTlsAndStartsOverAfterTheHandshake) {
  SmtpOptions options;
  options.tls_cert_file = "cert.pem";  // the session only needs to know TLS is there
  options.tls_key_file = "key.pem";
  options.require_tls = true;
  SmtpSession session(options);
  const auto say = [&](std::string_view line) { return session.OnLine(line); };
  EXPECT_EQ(Code(say("STARTTLS")), "503");  // EHLO first
  const auto ehlo = say("EHLO client.example");
  EXPECT_NE(ehlo.reply.find("250-STARTTLS\r\n"), std::string::npos) << ehlo.reply;
  EXPECT_EQ(Code(say("AUTH PLAIN AG1haWxlcgBzZWNyZXQ=")), "530");
  EXPECT_EQ(Code(say("MAIL FROM:<a@x>")), "530");
  EXPECT_EQ(Code(say("STARTTLS now")), "501");
  const auto start = say("STARTTLS");
  EXPECT_EQ(Code(start), "220");
  EXPECT_TRUE(start.start_tls);
  EXPECT_FALSE(start.close);

  session.TlsStarted();
  EXPECT_EQ(Code(say("MAIL FROM:<a@x>")), "503");  // EHLO again first
  const auto again = say("EHLO client.example");
  EXPECT_EQ(again.reply.find("STARTTLS"), std::string::npos) << again.reply;
  EXPECT_EQ(Code(say("STARTTLS")), "503");  // already active
  EXPECT_EQ(Code(say("AUTH PLAIN AG1haWxlcgBzZWNyZXQ=")), "235");
  EXPECT_EQ(Code(say("MAIL FROM:<a@x>")), "250");
  EXPECT_EQ(Code(say("RCPT TO:<b@x>")), "250");
  EXPECT_EQ(Code(say("DATA")), "354");
  const auto done = say(".");
  ASSERT_TRUE(done.mail);
  EXPECT_TRUE(done.mail->tls);
  EXPECT_EQ(done.mail->auth_user, "mailer");
}

TEST(SmtpSessionTlsTest, WithoutRequireTlsPlainMailIsAcceptedAndMarkedSo) {
  SmtpOptions options;
  options.tls_cert_file = "cert.pem";
  options.tls_key_file = "key.pem";
  SmtpSession session(options);
  ASSERT_EQ(Code(session.OnLine("EHLO c")), "250");
  EXPECT_EQ(Code(session.OnLine("MAIL FROM:<a@x>")), "250");
  EXPECT_EQ(Code(session.OnLine("RCPT TO:<b@x>")), "250");
  EXPECT_EQ(Code(session.OnLine("DATA")), "354");
  const auto done = session.OnLine(".");
  ASSERT_TRUE(done.mail);
  EXPECT_FALSE(done.mail->tls);
}

TEST_F(SmtpSessionTest, AnswersUnknownAndOutOfOrderCommands) {
  EXPECT_EQ(Code(Say("MAIL FROM:<a@x>")), "503");  // no EHLO yet
  EXPECT_EQ(Code(Say("EHLO")), "501");
  EXPECT_EQ(Code(Say("HELO c")), "250");
  EXPECT_EQ(Code(Say("XYZZY")), "500");
  EXPECT_EQ(Code(Say("")), "500");
  EXPECT_EQ(Code(Say("STARTTLS")), "454");
  EXPECT_EQ(Code(Say("RCPT TO:<a@x>")), "503");  // no MAIL
  EXPECT_EQ(Code(Say("MAIL TO:<a@x>")), "501");
  EXPECT_EQ(Code(Say("MAIL FROM:<a@x")), "501");
  EXPECT_EQ(Code(Say("MAIL FROM:<a@x>")), "250");
  EXPECT_EQ(Code(Say("MAIL FROM:<a@x>")), "503");  // nested
  EXPECT_EQ(Code(Say("RCPT TO:<>")), "501");
  EXPECT_EQ(Code(Say("AUTH PLAIN AG1haWxlcgBzZWNyZXQ=")), "503");  // inside a transaction
  EXPECT_EQ(Code(Say("RSET")), "250");
  EXPECT_EQ(Code(Say("RCPT TO:<a@x>")), "503");  // RSET ended the transaction
  EXPECT_EQ(Code(Say("NOOP")), "250");
  EXPECT_EQ(Code(Say("VRFY a")), "252");
  EXPECT_EQ(Code(Say("AUTH CRAM-MD5")), "504");
  EXPECT_EQ(Code(Say("AUTH PLAIN bm9udWxs")), "501");  // "nonull"
}

TEST_F(SmtpSessionTest, ClosesAfterTooManyErrors) {
  SmtpSession::Step last;
  for (int i = 0; i < 21; ++i) last = Say("BOGUS");
  EXPECT_EQ(Code(last), "421");
  EXPECT_TRUE(last.close);
}

TEST(SmtpSessionLimitsTest, RefusesTooBigMessagesAndTooManyRecipients) {
  SmtpOptions options;
  options.max_message_bytes = 20;
  options.max_recipients = 2;
  SmtpSession s(options);
  ASSERT_EQ(s.OnLine("EHLO c").reply.substr(0, 3), "250");
  EXPECT_EQ(s.OnLine("MAIL FROM:<a@x> SIZE=21").reply.substr(0, 3), "552");  // declared
  ASSERT_EQ(s.OnLine("MAIL FROM:<a@x>").reply.substr(0, 3), "250");
  EXPECT_EQ(s.OnLine("RCPT TO:<1@x>").reply.substr(0, 3), "250");
  EXPECT_EQ(s.OnLine("RCPT TO:<2@x>").reply.substr(0, 3), "250");
  EXPECT_EQ(s.OnLine("RCPT TO:<3@x>").reply.substr(0, 3), "452");
  ASSERT_EQ(s.OnLine("DATA").reply.substr(0, 3), "354");
  s.OnLine("0123456789");
  s.OnLine("0123456789");  // 24 bytes with line ends: over the limit
  const auto end = s.OnLine(".");
  EXPECT_EQ(end.reply.substr(0, 3), "552");
  EXPECT_FALSE(end.mail);
  // The session goes on: a small message is accepted afterwards.
  ASSERT_EQ(s.OnLine("MAIL FROM:<a@x>").reply.substr(0, 3), "250");
  ASSERT_EQ(s.OnLine("RCPT TO:<1@x>").reply.substr(0, 3), "250");
  ASSERT_EQ(s.OnLine("DATA").reply.substr(0, 3), "354");
  s.OnLine("small");
  const auto ok = s.OnLine(".");
  ASSERT_TRUE(ok.mail);
  EXPECT_EQ(ok.mail->data, "small\r\n");
}

TEST(SmtpSessionAuthTest, ChecksCredentialsWhenConfigured) {
  SmtpOptions options;
  options.username = "mailer";
  options.password = "secret";
  SmtpSession s(options);
  ASSERT_EQ(s.OnLine("EHLO c").reply.substr(0, 3), "250");
  EXPECT_EQ(s.OnLine("MAIL FROM:<a@x>").reply.substr(0, 3), "530");
  // "\0mailer\0wrong"
  EXPECT_EQ(s.OnLine("AUTH PLAIN AG1haWxlcgB3cm9uZw==").reply.substr(0, 3), "535");
  // AUTH PLAIN without an initial response: 334, then the credentials.
  EXPECT_EQ(s.OnLine("AUTH PLAIN").reply, "334 \r\n");
  EXPECT_EQ(s.OnLine("*").reply.substr(0, 3), "501");  // cancelled
  // AUTH LOGIN: user and password on their own lines.
  EXPECT_EQ(s.OnLine("AUTH LOGIN").reply, "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(s.OnLine("bWFpbGVy").reply, "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(s.OnLine("c2VjcmV0").reply.substr(0, 3), "235");
  EXPECT_EQ(s.OnLine("AUTH LOGIN").reply.substr(0, 3), "503");  // already
  EXPECT_EQ(s.OnLine("MAIL FROM:<a@x>").reply.substr(0, 3), "250");
}

}  // namespace
}  // namespace sluice::capture
