#include "sluice/core/encoding.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::core {
namespace {

using namespace std::string_literals;

TEST(HexEncodeTest, TwoLowercaseDigitsAByte) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode("\x01\xab\xff\x00"s), "01abff00");
  EXPECT_EQ(HexEncode("sluice"), "736c75696365");
}

TEST(Sha256HexTest, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HmacSha256Test, PublishedExample) {
  EXPECT_EQ(HexEncode(HmacSha256("key", "The quick brown fox jumps over the lazy dog")),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

TEST(Base64Test, EncodesWithPadding) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xfb\xff"s), "+/8=");
}

TEST(Base64Test, UrlSafeHasNoPadding) {
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"s), "-_8");
  EXPECT_EQ(Base64UrlEncode(std::string(32, '\xff')).size(), 43U);
}

TEST(Base64Test, DecodesWhatItEncodes) {
  for (const std::string& s : {""s, "f"s, "fo"s, "foo"s, "foob"s, "\x00\xfb\xff\x10"s}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_EQ(Base64Decode("Zg"), "f");  // padding may be left out
  EXPECT_EQ(Base64Decode("Zm8"), "fo");
}

TEST(Base64Test, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(Base64Decode("Z"));
  EXPECT_FALSE(Base64Decode("Zg="));
  EXPECT_FALSE(Base64Decode("Zg==="));
  EXPECT_FALSE(Base64Decode("Z=g="));
  EXPECT_FALSE(Base64Decode("Zm9v YmFy"));
  EXPECT_FALSE(Base64Decode(" Zm9v"));
  EXPECT_FALSE(Base64Decode("Zm9v-_"));
}

TEST(HtmlEscapeTest, EscapesTheFiveSpecials) {
  EXPECT_EQ(HtmlEscape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("plain"), "plain");
}

}  // namespace
}  // namespace sluice::core
