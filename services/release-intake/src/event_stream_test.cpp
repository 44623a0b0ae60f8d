#include "event_stream.hpp"

#include <gtest/gtest.h>

namespace sluice::release_intake {
namespace {

using nlohmann::json;

json Deployment(const std::string& status, const std::string& phase, int batch, int entries) {
  json timeline = json::array();
  for (int i = 0; i < entries; ++i) timeline.push_back({{"kind", "t" + std::to_string(i)}});
  return {{"id", "d-1"},      {"status", status}, {"phase", phase},      {"current_batch", batch},
          {"batch_count", 3}, {"generation", 1},  {"timeline", timeline}};
}

std::vector<std::string> Names(const std::vector<SseEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.name);
  return out;
}

TEST(EventStream, StartsWithASnapshotThenSendsEachNewTransitionOnce) {
  DeploymentStream s;
  auto first = NextEvents(s, Deployment("running", "batch_in_flight", 0, 2));
  ASSERT_EQ(Names(first), std::vector<std::string>{"snapshot"});
  EXPECT_EQ(first[0].id, 2U);
  EXPECT_TRUE(NextEvents(s, Deployment("running", "batch_in_flight", 0, 2)).empty());
  auto next = NextEvents(s, Deployment("running", "analysing", 0, 4));
  ASSERT_EQ(Names(next), (std::vector<std::string>{"transition", "transition"}));
  EXPECT_EQ(next[0].id, 3U);
  EXPECT_EQ(next[1].id, 4U);
  EXPECT_EQ(next[1].data["kind"], "t3");
  EXPECT_EQ(next[1].data["phase"], "analysing");  // the state after it
  EXPECT_TRUE(NextEvents(s, Deployment("running", "analysing", 0, 4)).empty());
}

TEST(EventStream, ASummaryChangeWithoutATransitionIsSentAsDeployment) {
  DeploymentStream s;
  NextEvents(s, Deployment("running", "batch_in_flight", 0, 1));
  auto e = NextEvents(s, Deployment("running", "batch_in_flight", 1, 1));
  ASSERT_EQ(Names(e), std::vector<std::string>{"deployment"});
  EXPECT_EQ(e[0].data["current_batch"], 1);
  EXPECT_FALSE(e[0].id);
}

TEST(EventStream, AFinishedDeploymentEndsTheStream) {
  DeploymentStream s;
  NextEvents(s, Deployment("running", "batch_in_flight", 2, 3));
  auto e = NextEvents(s, Deployment("succeeded", "done", 2, 4));
  ASSERT_EQ(Names(e), (std::vector<std::string>{"transition", "end"}));
  EXPECT_EQ(e[1].data["status"], "succeeded");
  EXPECT_TRUE(s.ended);
  EXPECT_TRUE(NextEvents(s, Deployment("succeeded", "done", 2, 5)).empty());
  // Opened on a finished deployment: the snapshot and the end at once.
  DeploymentStream late;
  EXPECT_EQ(Names(NextEvents(late, Deployment("rolled_back", "done", 1, 6))),
            (std::vector<std::string>{"snapshot", "end"}));
  DeploymentStream rolling;
  EXPECT_EQ(Names(NextEvents(rolling, Deployment("rolling_back", "done", 1, 6))),
            std::vector<std::string>{"snapshot"});
}

TEST(EventStream, LastEventIdResumesAfterTheTransitionsAlreadySeen) {
  auto s = ResumeAt("2");
  auto e = NextEvents(s, Deployment("running", "analysing", 0, 4));
  ASSERT_EQ(Names(e), (std::vector<std::string>{"transition", "transition"}));
  EXPECT_EQ(e[0].id, 3U);
  for (const char* junk : {"", "x", "-1", "1e3", "99999999999"}) {
    auto fresh = ResumeAt(junk);
    EXPECT_EQ(Names(NextEvents(fresh, Deployment("running", "p", 0, 1))),
              std::vector<std::string>{"snapshot"})
        << junk;
  }
  // An id beyond the timeline (another deployment's) sends what there is from now on.
  auto beyond = ResumeAt("50");
  EXPECT_EQ(Names(NextEvents(beyond, Deployment("running", "p", 0, 3))),
            std::vector<std::string>{"deployment"});
}

TEST(EventStream, TheWireFormIsOneDataLinePerEvent) {
  EXPECT_EQ(FormatSse({"transition", json{{"detail", "line 1\nline 2"}}, 7U}),
            "id: 7\nevent: transition\ndata: {\"detail\":\"line 1\\nline 2\"}\n\n");
  EXPECT_EQ(FormatSse({"end", json{{"status", "aborted"}}, std::nullopt}),
            "event: end\ndata: {\"status\":\"aborted\"}\n\n");
}

}  // namespace
}  // namespace sluice::release_intake
