#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <sluice/core/lifecycle.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::core {
namespace {

using ::testing::ElementsAre;

class Recorder : public Component {
 public:
  Recorder(std::string name, std::vector<std::string>& log, bool fail_start = false)
      : name_(std::move(name)), log_(log), fail_start_(fail_start) {}
  std::string_view Name() const override { return name_; }
  void Start() override {
    if (fail_start_) throw std::runtime_error(name_ + " cannot start");
    log_.push_back("start " + name_);
  }
  void Stop() override { log_.push_back("stop " + name_); }

 private:
  std::string name_;
  std::vector<std::string>& log_;
  bool fail_start_;
};

TEST(LifecycleTest, StartsInOrderAndStopsInReverse) {
  std::vector<std::string> log;
  Recorder a("a", log), b("b", log), c("c", log);
  Lifecycle lc;
  lc.Add(a);
  lc.Add(b);
  lc.Add(c);
  lc.StartAll();
  lc.StopAll();
  EXPECT_THAT(log, ElementsAre("start a", "start b", "start c", "stop c", "stop b", "stop a"));
}

TEST(LifecycleTest, StopAllIsIdempotent) {
  std::vector<std::string> log;
  Recorder a("a", log);
  Lifecycle lc;
  lc.Add(a);
  lc.StartAll();
  lc.StopAll();
  lc.StopAll();
  EXPECT_THAT(log, ElementsAre("start a", "stop a"));
}

TEST(LifecycleTest, FailedStartStopsTheStartedOnesAndRethrows) {
  std::vector<std::string> log;
  Recorder a("a", log), b("b", log), bad("bad", log, /*fail_start=*/true), d("d", log);
  Lifecycle lc;
  lc.Add(a);
  lc.Add(b);
  lc.Add(bad);
  lc.Add(d);
  try {
    lc.StartAll();
    FAIL() << "expected the start failure to propagate";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad cannot start");
  }
  EXPECT_THAT(log, ElementsAre("start a", "start b", "stop b", "stop a"));
  lc.StopAll();  // nothing left to stop
  EXPECT_EQ(log.size(), 4u);
}

TEST(LifecycleTest, DestructorStopsWhatIsStillRunning) {
  std::vector<std::string> log;
  Recorder a("a", log), b("b", log);
  {
    Lifecycle lc;
    lc.Add(a);
    lc.Add(b);
    lc.StartAll();
  }
  EXPECT_THAT(log, ElementsAre("start a", "start b", "stop b", "stop a"));
}

// Raises SIGTERM from its Start: the signal stays pending (blocked) until sigwait takes it,
// so RunUntilSignal returns without any sleep.
class ShutdownRequester : public Component {
 public:
  explicit ShutdownRequester(std::vector<std::string>& log) : log_(log) {}
  std::string_view Name() const override { return "requester"; }
  void Start() override {
    log_.push_back("start requester");
    Lifecycle::RequestShutdown();
  }
  void Stop() override { log_.push_back("stop requester"); }

 private:
  std::vector<std::string>& log_;
};

TEST(LifecycleTest, RunUntilSignalStopsOnSigterm) {
  std::vector<std::string> log;
  Recorder a("a", log);
  ShutdownRequester r(log);
  Lifecycle lc;
  lc.Add(a);
  lc.Add(r);
  EXPECT_EQ(lc.RunUntilSignal(), SIGTERM);
  EXPECT_THAT(log, ElementsAre("start a", "start requester", "stop requester", "stop a"));
}

}  // namespace
}  // namespace sluice::core
