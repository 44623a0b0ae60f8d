#include "list_cursor.hpp"

#include <gtest/gtest.h>

#include <sluice/core/encoding.hpp>
#include <string>

namespace sluice::rollout_planner {
namespace {

std::string Encoded(const std::string& plain) { return core::Base64UrlEncode(plain); }

TEST(ListCursorTest, FormatAndParseRoundTrip) {
  for (const ListCursor& c :
       {ListCursor{1'796'630'400'123'456, "3f2b9c1e-8d4a-4e27-9a51-0c6d2e7f8b90"},
        ListCursor{0, "a"}, ListCursor{9'223'372'036'854'775'807, std::string(256, 'z')},
        ListCursor{42, "id.with.dots_and~"}}) {
    const std::string text = FormatListCursor(c);
    EXPECT_TRUE(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789-_") == std::string::npos)
        << text;
    EXPECT_EQ(ParseListCursor(text), c) << text;
  }
  // Opaque: the time and id are not readable as they are.
  EXPECT_EQ(FormatListCursor({5, "d1"}), Encoded("5.d1"));
}

TEST(ListCursorTest, AnythingButAFormattedCursorIsRefused) {
  const std::string good = FormatListCursor({1'700'000'000'000'000, "d1"});
  for (const std::string& bad : {
           std::string(),                          // empty
           std::string("1700000000000000.d1"),     // not encoded
           good + "=",                             // padding
           good + " ",                             // a space
           "+" + good.substr(1),                   // the standard alphabet
           good.substr(0, good.size() - 1),        // cut: a dangling character or another text
           std::string(600, 'A'),                  // too long
           Encoded("1700000000000000"),            // no id
           Encoded(".d1"),                         // no time
           Encoded("1700000000000000."),           // empty id
           Encoded("-5.d1"),                       // negative
           Encoded("-0.d1"),                       // signed zero
           Encoded("+5.d1"),                       // a sign
           Encoded("05.d1"),                       // zero-led
           Encoded("5x.d1"),                       // not a number
           Encoded(" 5.d1"),                       // a space
           Encoded("99999999999999999999.d1"),     // past int64
           Encoded("5.d 1"),                       // a space in the id
           Encoded(std::string("5.d\x01", 4)),     // a control byte
           Encoded("5.d\x7f"),                     // DEL
           Encoded("5.\xc3\xa9"),                  // not ASCII
           Encoded("5." + std::string(257, 'z')),  // id too long
       }) {
    EXPECT_FALSE(ParseListCursor(bad)) << bad;
  }
  // One encoding per cursor: "5.d1" is "NS5kMQ"; "NS5kMR" decodes to the same bytes but sets
  // bits the encoding leaves zero.
  ASSERT_EQ(Encoded("5.d1"), "NS5kMQ");
  EXPECT_TRUE(ParseListCursor("NS5kMQ"));
  EXPECT_FALSE(ParseListCursor("NS5kMR"));
}

}  // namespace
}  // namespace sluice::rollout_planner
