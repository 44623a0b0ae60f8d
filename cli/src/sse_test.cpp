#include "sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::cli {
namespace {

std::vector<SseMessage> ReadAll(const std::vector<std::string>& pieces) {
  SseParser p;
  std::vector<SseMessage> got;
  for (const auto& piece : pieces) {
    p.Feed(piece, [&](const SseMessage& m) {
      got.push_back(m);
      return true;
    });
  }
  return got;
}

TEST(SseParserTest, EventsWithTypesIdsAndData) {
  const auto got = ReadAll({"id: 3\nevent: snapshot\ndata: {\"a\":1}\n\nevent: end\ndata: {}\n\n"});
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got[0].event, "snapshot");
  EXPECT_EQ(got[0].data, "{\"a\":1}");
  EXPECT_EQ(got[0].id, "3");
  EXPECT_EQ(got[1].event, "end");
  EXPECT_EQ(got[1].id, "3");  // the last id seen stays
}

TEST(SseParserTest, LinesSplitAnywhereAndEveryLineEnding) {
  const std::string whole = "event: transition\r\ndata: one\r\ndata: two\r\rdata:x\n\n";
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    const auto got = ReadAll({whole.substr(0, cut), whole.substr(cut)});
    ASSERT_EQ(got.size(), 2U) << "cut at " << cut;
    EXPECT_EQ(got[0].event, "transition");
    EXPECT_EQ(got[0].data, "one\ntwo");
    EXPECT_EQ(got[1].event, "message");
    EXPECT_EQ(got[1].data, "x");
  }
}

TEST(SseParserTest, CommentsAndEventsWithoutDataAreNotDispatched) {
  const auto got = ReadAll({": keep-alive\n\nevent: nothing\n\nretry: 10\nfoo: bar\ndata: d\n\n"});
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].event, "message");  // the type does not carry over to the next event
  EXPECT_EQ(got[0].data, "d");
}

TEST(SseParserTest, StopsWhenTheReaderSaysSo) {
  SseParser p;
  int n = 0;
  EXPECT_FALSE(p.Feed("data: 1\n\ndata: 2\n\n", [&](const SseMessage&) { return ++n < 1; }));
  EXPECT_EQ(n, 1);
}

TEST(SseParserTest, LastEventIdForTheReconnect) {
  SseParser p;
  EXPECT_EQ(p.LastEventId(), std::nullopt);
  p.Feed("id: 7\ndata: a\n\nid: 9\n", [](const SseMessage&) { return true; });
  EXPECT_EQ(p.LastEventId(), "9");
}

}  // namespace
}  // namespace sluice::cli
