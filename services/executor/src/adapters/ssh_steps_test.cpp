// The ssh driver's command building and answer reading, with hostile values: what the remote
// POSIX shell makes of the command line must be exactly the arguments.
#include "adapters/ssh_steps.hpp"

#include <gtest/gtest.h>

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;

// POSIX sh word splitting of a command line made only of plain words and quotes (XCU 2.2 and
// 2.6.5, no expansions): returns the words, or throws when the line holds anything a shell
// would act on outside quotes ($, `, ;, &, |, <, >, (, ), newline, *, ?, [, #, ~).
std::vector<std::string> ShellWords(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const auto end = line.find('\'', i + 1);
      if (end == std::string_view::npos) throw std::runtime_error("unterminated quote");
      word.append(line.substr(i + 1, end - i - 1));
      i = end;
    } else if (c == '\\') {
      if (i + 1 >= line.size()) throw std::runtime_error("trailing backslash");
      word += line[++i];
    } else if (std::string_view("$`;&|<>()\n*?[#~\"").find(c) != std::string_view::npos) {
      throw std::runtime_error(std::string("unquoted '") + c + "'");
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

const std::vector<std::string>& Hostile() {
  static const std::vector<std::string> kValues = {
      "two words",
      "it's",
      "'",
      "''",
      "\"double\"",
      "a;rm -rf /",
      "$(touch /tmp/pwned)",
      "`touch /tmp/pwned`",
      "${HOME}",
      "line1\nline2",
      "-rf",
      "--help",
      "\\",
      "tab\there",
      "*",
      "~root",
      "#comment",
      "a|b&c>d<e",
      "'; touch /tmp/pwned; echo '",
      "",
  };
  return kValues;
}

TEST(ShellQuoteTest, WrapsInSingleQuotesAndEscapesOnlyTheQuote) {
  EXPECT_EQ(ShellQuote("plain"), "'plain'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("it's"), R"('it'\''s')");
  EXPECT_EQ(ShellQuote("$(id)"), "'$(id)'");
  EXPECT_EQ(ShellQuote("`id`"), "'`id`'");
  EXPECT_EQ(ShellQuote("a\nb"), "'a\nb'");
  EXPECT_EQ(ShellQuote("-x"), "'-x'");
  EXPECT_EQ(ShellQuote("'; id; '"), R"(''\''; id; '\''')");
}

TEST(ShellQuoteTest, RefusesNul) {
  EXPECT_THROW(ShellQuote(std::string("a\0b", 3)), SshArgumentError);
}

TEST(ShellQuoteTest, EveryHostileValueIsExactlyOneWord) {
  for (const auto& v : Hostile()) {
    const auto words = ShellWords(ShellQuote(v));
    ASSERT_EQ(words.size(), 1u) << v;
    EXPECT_EQ(words[0], v);
  }
}

TEST(RemoteCommandLineTest, TheShellSeesExactlyTheArguments) {
  const auto line = RemoteCommandLine(Hostile());
  ASSERT_TRUE(line.starts_with("sh -s -- ")) << line;
  const auto words = ShellWords(line);
  std::vector<std::string> expected = {"sh", "-s", "--"};
  expected.insert(expected.end(), Hostile().begin(), Hostile().end());
  EXPECT_EQ(words, expected);
}

SshHostLayout Layout() { return {"/srv/app", 3}; }

AgentServiceSpec Service(std::vector<std::string> restart, std::vector<std::string> health) {
  AgentServiceSpec s;
  s.restart_command = std::move(restart);
  s.restart_timeout = 1500ms;
  s.health.command = std::move(health);
  s.health.timeout = 30s;
  return s;
}

ArtifactRef Artifact(std::string version = "1.2.3") {
  return {std::move(version), "https://artifacts.example/app-1.2.3.tar.gz",
          "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"};
}

TEST(DeployArgsTest, FixedLayoutWithServiceArgvVerbatim) {
  const auto& restart = Hostile();
  const std::vector<std::string> health = {"/bin/check", "$(reboot)", "-v"};
  const auto args = DeployArgs(Layout(), Artifact(), {"dep-1", core::Generation(7)},
                               Service(restart, health), 90'500ms);
  std::vector<std::string> expected = {
      "deploy",
      "/srv/app",
      "3",
      "1.2.3",
      "https://artifacts.example/app-1.2.3.tar.gz",
      "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
      "dep-1",
      "7",
      "91",  // the download's bound: the time left, rounded up
      "2",
      "30",
      "",
      std::to_string(restart.size())};
  // The restart argv starts with "two words": a non-empty program.
  expected.insert(expected.end(), restart.begin(), restart.end());
  expected.push_back("3");
  expected.insert(expected.end(), health.begin(), health.end());
  EXPECT_EQ(args, expected);
  // And through the shell, unchanged.
  auto words = ShellWords(RemoteCommandLine(args));
  words.erase(words.begin(), words.begin() + 3);
  EXPECT_EQ(words, expected);
}

TEST(DeployArgsTest, UnnamedDeploymentIsTilde) {
  const auto args = DeployArgs(Layout(), Artifact(), {"", core::Generation(1)},
                               Service({"/bin/restart"}, {"/bin/true"}), 60s);
  EXPECT_EQ(args[6], "~");
}

TEST(DeployArgsTest, RefusesHostileVersions) {
  for (const std::string v :
       {"1.0;id", "1.0 2", "$(id)", "../1.0", "-1.0", "1.0\n", "`id`", "1.0/x", "", "1.0'"}) {
    try {
      DeployArgs(Layout(), Artifact(v), {"d", core::Generation(1)},
                 Service({"/bin/restart"}, {"/bin/true"}), 60s);
      ADD_FAILURE() << "accepted version " << v;
    } catch (const SshArgumentError& e) {
      EXPECT_EQ(e.Field(), "version");
    }
  }
}

TEST(DeployArgsTest, RefusesBadUrlChecksumRootAndDeployment) {
  const auto service = Service({"/bin/restart"}, {"/bin/true"});
  auto a = Artifact();
  a.url = "https://x/a b.tar.gz";
  EXPECT_THROW(DeployArgs(Layout(), a, {"d", core::Generation(1)}, service, 60s), SshArgumentError);
  a.url = "file:///etc/passwd";
  EXPECT_THROW(DeployArgs(Layout(), a, {"d", core::Generation(1)}, service, 60s), SshArgumentError);
  a.url = "-o/tmp/x";
  EXPECT_THROW(DeployArgs(Layout(), a, {"d", core::Generation(1)}, service, 60s), SshArgumentError);
  a = Artifact();
  a.sha256 = "abc";
  EXPECT_THROW(DeployArgs(Layout(), a, {"d", core::Generation(1)}, service, 60s), SshArgumentError);
  for (const std::string root :
       {"relative", "/srv/../etc", "/srv/a b", "/srv/$(id)", "/", "/a//b", "/srv/./x"}) {
    EXPECT_THROW(DeployArgs({root, 3}, Artifact(), {"d", core::Generation(1)}, service, 60s),
                 SshArgumentError)
        << root;
  }
  EXPECT_THROW(DeployArgs(Layout(), Artifact(), {"d;id", core::Generation(1)}, service, 60s),
               SshArgumentError);
  EXPECT_THROW(
      DeployArgs(Layout(), Artifact(), {"d", core::Generation(1)}, Service({}, {"/bin/true"}), 60s),
      SshArgumentError);
  EXPECT_THROW(DeployArgs(Layout(), Artifact(), {"d", core::Generation(1)},
                          Service({"/bin/r", std::string("a\0b", 3)}, {"/bin/true"}), 60s),
               SshArgumentError);
}

TEST(ValidateAddressTest, OnlyHostNamesAndAddresses) {
  for (const std::string a : {"10.0.0.1", "web-1.example.com", "fe80::1%eth0", "::1"}) {
    EXPECT_NO_THROW(ValidateAddress(a)) << a;
  }
  for (const std::string a : {"", "root@10.0.0.1", "-oProxyCommand=id", "a b", "a/b", "$(id)"}) {
    EXPECT_THROW(ValidateAddress(a), SshArgumentError) << a;
  }
}

TEST(RevertArgsTest, WithoutServiceTheHostUsesItsOwn) {
  EXPECT_EQ(RevertArgs(Layout(), "1.0.0", {"dep", core::Generation(4)}, std::nullopt),
            (std::vector<std::string>{"revert", "/srv/app", "3", "1.0.0", "dep", "4", "0", "0", "",
                                      "0", "0"}));
  EXPECT_THROW(RevertArgs(Layout(), "1.0.0;id", {"dep", core::Generation(4)}, std::nullopt),
               SshArgumentError);
}

TEST(StepReportTest, ReadsOnlyReportLines) {
  const auto r = ParseStepReport(
      "noise\nsluice:result=failed\nsluice:reason=download_failed\nsluice:message=a=b c\n"
      "sluice:retryable=1\nsluice:current=1.0.0\nsluice:previous=0.9.0\nsluice:health=healthy\n"
      "sluice:installed=0.9.0\nsluice:installed=1.0.0\nsluice:highest_generation=12\n"
      "sluice:bogus\n");
  EXPECT_EQ(r.result, "failed");
  EXPECT_EQ(r.reason, "download_failed");
  EXPECT_EQ(r.message, "a=b c");
  EXPECT_TRUE(r.retryable);
  EXPECT_EQ(r.current, "1.0.0");
  EXPECT_EQ(r.previous, "0.9.0");
  EXPECT_EQ(r.installed, (std::vector<std::string>{"0.9.0", "1.0.0"}));
  EXPECT_EQ(r.highest_generation, 12u);
}

TEST(StepOutcomeTest, MapsResults) {
  StepReport r;
  r.result = "succeeded";
  r.current = "2.0.0";
  r.health = "healthy";
  EXPECT_TRUE(StepOutcome(r, 0, "", "2.0.0").Succeeded());
  r.result = "unchanged";
  EXPECT_TRUE(StepOutcome(r, 0, "", "2.0.0").Succeeded());

  auto o = StepOutcome(r, 0, "", "3.0.0");
  EXPECT_EQ(o.kind, OutcomeKind::kFailed);
  EXPECT_EQ(o.reason, "version_mismatch");

  r.result = "stale";
  r.reason = "stale_generation";
  o = StepOutcome(r, 0, "", "2.0.0");
  EXPECT_EQ(o.kind, OutcomeKind::kStale);
  EXPECT_FALSE(o.retryable);

  r.result = "failed";
  r.reason = "health_check_failed";
  o = StepOutcome(r, 0, "", "2.0.0");
  EXPECT_EQ(o.kind, OutcomeKind::kUnhealthy);
  EXPECT_EQ(o.version, "2.0.0");

  r.reason = "download_failed";
  r.retryable = true;
  o = StepOutcome(r, 0, "", "2.0.0");
  EXPECT_EQ(o.kind, OutcomeKind::kFailed);
  EXPECT_TRUE(o.retryable);

  o = StepOutcome(StepReport{}, 127, "sh: not found\n", "2.0.0");
  EXPECT_EQ(o.reason, "bad_response");
  EXPECT_NE(o.message.find("127"), std::string::npos);
  EXPECT_NE(o.message.find("sh: not found"), std::string::npos);
}

TEST(StepStatusTest, NeedsAStatusReport) {
  StepReport r;
  EXPECT_FALSE(StepStatus(r, 1, "").reachable);
  r.result = "status";
  r.current = "1.0.0";
  r.health = "unhealthy";
  r.highest_generation = 3;
  const auto s = StepStatus(r, 0, "");
  EXPECT_TRUE(s.reachable);
  EXPECT_EQ(s.current, "1.0.0");
  EXPECT_EQ(s.health, HostHealth::kUnhealthy);
  EXPECT_EQ(s.highest_generation, 3u);
}

TEST(SshStepsScriptTest, IsTheCheckedInScript) {
  const auto script = SshStepsScript();
  EXPECT_TRUE(script.starts_with("# The steps the executor's ssh driver runs"))
      << script.substr(0, 80);
  EXPECT_TRUE(script.ends_with("main \"$@\"\nexit 0\n"));
}

}  // namespace
}  // namespace sluice::executor
