#include "enroll_args.hpp"

#include <gtest/gtest.h>

namespace sluice::agent {
namespace {

std::vector<std::string> Base() {
  return {"--server",     "http://10.77.0.1:8080/",
          "--token-file", "/tmp/t",
          "--name",       "web-1",
          "--address",    "10.77.0.11"};
}

std::string UsageOf(std::vector<std::string> args) {
  try {
    ParseEnrollArgs(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(EnrollArgs, ParsesFlagsLabelsAndDefaults) {
  auto args = Base();
  args.insert(args.end(), {"--label", "role=web", "--label=zone=zone-a", "--force"});
  const auto o = ParseEnrollArgs(args);
  EXPECT_EQ(o.server, "http://10.77.0.1:8080");
  EXPECT_EQ(o.name, "web-1");
  EXPECT_EQ(o.address, "10.77.0.11");
  EXPECT_EQ(o.labels.at("role"), "web");
  EXPECT_EQ(o.labels.at("zone"), "zone-a");
  EXPECT_TRUE(o.force);
  EXPECT_EQ(o.config_dir, std::filesystem::path("/etc/sluice-agent"));
}

TEST(EnrollArgs, NamesTheFlagThatIsWrong) {
  EXPECT_NE(UsageOf({"--server", "http://x"}).find("--token-file is required"), std::string::npos);
  auto args = Base();
  args.push_back("--label");
  EXPECT_NE(UsageOf(args).find("--label needs a value"), std::string::npos);
  args = Base();
  args.insert(args.end(), {"--label", "novalue"});
  EXPECT_NE(UsageOf(args).find("--label"), std::string::npos);
  args = Base();
  args.insert(args.end(), {"--label", "a=1", "--label", "a=2"});
  EXPECT_NE(UsageOf(args).find("twice"), std::string::npos);
  args = Base();
  args[1] = "10.77.0.1:8080";
  EXPECT_NE(UsageOf(args).find("--server"), std::string::npos);
  args = Base();
  args.insert(args.end(), {"--config-dir", "etc/sluice"});
  EXPECT_NE(UsageOf(args).find("absolute"), std::string::npos);
  args = Base();
  args[5] = "web 1\nSLUICE_AGENT_TOKEN=x";  // would inject a line into enrolled.conf
  EXPECT_NE(UsageOf(args).find("--name"), std::string::npos);
  args = Base();
  args.push_back("--bogus");
  EXPECT_NE(UsageOf(args).find("unknown argument '--bogus'"), std::string::npos);
}

TEST(EnrollArgs, MapsServerFieldsToFlags) {
  EXPECT_EQ(FlagOfField("enrollment_token"), "--token-file");
  EXPECT_EQ(FlagOfField("labels.zone"), "--label");
  EXPECT_EQ(FlagOfField("address"), "--address");
}

}  // namespace
}  // namespace sluice::agent
