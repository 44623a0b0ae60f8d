// Secrets read from mounted files: touches the file system, hence an integration test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sluice/core/config.hpp>
#include <sluice/core/ids.hpp>

namespace sluice::core {
namespace {

using Env = std::map<std::string, std::string>;

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("sluice-secret-" + NewUuid());
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Write(const std::string& content) {
    std::ofstream out(path_, std::ios::binary);
    out << content;
  }
  std::filesystem::path path_;
};

TEST_F(SecretFileTest, ReadsTheFileAndTrimsTheTrailingNewline) {
  Write("hunter2\n");
  EnvConfig c(Env{{"SLUICE_TOKEN_FILE", path_.string()}});
  EXPECT_EQ(c.Secret("SLUICE_TOKEN"), "hunter2");
  EXPECT_NO_THROW(c.RejectUnknown());
}

TEST_F(SecretFileTest, KeepsInnerWhitespaceAndTrimsCrLf) {
  Write("line one\nline two\r\n");
  EnvConfig c(Env{{"SLUICE_TOKEN_FILE", path_.string()}});
  EXPECT_EQ(c.Secret("SLUICE_TOKEN"), "line one\nline two");
}

TEST_F(SecretFileTest, EmptyFileIsAnError) {
  Write("\n");
  EnvConfig c(Env{{"SLUICE_TOKEN_FILE", path_.string()}});
  try {
    c.Secret("SLUICE_TOKEN");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("SLUICE_TOKEN_FILE"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("empty file"));
  }
}

TEST_F(SecretFileTest, MissingFileNamesTheKeyAndThePath) {
  EnvConfig c(Env{{"SLUICE_TOKEN_FILE", path_.string()}});
  try {
    c.Secret("SLUICE_TOKEN");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("SLUICE_TOKEN_FILE=\"" + path_.string() +
                                               "\" cannot be read"));
  }
}

TEST(EnvConfigProcessTest, ReadsSluiceVariablesFromEnviron) {
  const std::string key = "SLUICE_ITEST_" + std::to_string(::getpid());
  ASSERT_EQ(::setenv(key.c_str(), "from-environ", 1), 0);
  EnvConfig c;
  EXPECT_EQ(c.String(key, ""), "from-environ");
  ::unsetenv(key.c_str());
}

}  // namespace
}  // namespace sluice::core
