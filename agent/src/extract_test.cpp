#include "extract.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>

#include "tar_builder.hpp"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;
using testing::Dir;
using testing::File;
using testing::Hardlink;
using testing::Symlink;
using testing::TarEntry;
using testing::WriteTarGz;

// A fresh temporary directory per test, removed afterwards.
class ExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    base_ = fs::temp_directory_path() / ("sluice-extract-" + std::to_string(rd()));
    fs::create_directories(base_ / "out" / "release");
    dest_ = base_ / "out" / "release";
  }
  void TearDown() override { fs::remove_all(base_); }

  std::uint64_t Extract(const std::vector<TarEntry>& entries, ExtractLimits limits = {}) {
    const auto archive = base_ / "a.tar.gz";
    WriteTarGz(archive.string(), entries);
    return ExtractTarGz(archive, dest_, limits);
  }
  std::string ErrorOf(const std::vector<TarEntry>& entries, ExtractLimits limits = {}) {
    try {
      Extract(entries, limits);
    } catch (const UnsafeArchive& e) {
      return e.what();
    }
    return "<accepted>";
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path base_;
  fs::path dest_;
};

TEST_F(ExtractTest, UnpacksFilesDirectoriesAndLinksInside) {
  const auto n = Extract({Dir("./"), Dir("bin"), File("libexec/app", "#!/bin/sh\necho hi\n", 0755),
                          Symlink("bin/app", "../libexec/app"), File("./etc/app.conf", "port=1"),
                          Hardlink("etc/app.conf.orig", "etc/app.conf"), Symlink("latest", "."),
                          File("setuid", "x", 04755)});
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(Read(dest_ / "bin/app"), "#!/bin/sh\necho hi\n");
  EXPECT_TRUE(fs::is_symlink(dest_ / "bin/app"));
  EXPECT_EQ(Read(dest_ / "etc/app.conf.orig"), "port=1");
  EXPECT_EQ(fs::hard_link_count(dest_ / "etc/app.conf"), 2u);
  struct stat st {};
  ASSERT_EQ(::stat((dest_ / "libexec/app").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ASSERT_EQ(::stat((dest_ / "setuid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07000, 0u) << "set-user-id must be dropped";
}

TEST_F(ExtractTest, RefusesAbsolutePaths) {
  EXPECT_NE(ErrorOf({File("/tmp/sluice-evil", "x")}).find("absolute"), std::string::npos);
  EXPECT_FALSE(fs::exists("/tmp/sluice-evil"));
}

TEST_F(ExtractTest, RefusesDotDot) {
  EXPECT_NE(ErrorOf({File("../escaped", "x")}), "<accepted>");
  EXPECT_NE(ErrorOf({File("a/../../escaped", "x")}), "<accepted>");
  EXPECT_FALSE(fs::exists(base_ / "out" / "escaped"));
  EXPECT_FALSE(fs::exists(base_ / "escaped"));
}

TEST_F(ExtractTest, RefusesSymlinksThatLeave) {
  EXPECT_NE(ErrorOf({Symlink("etc", "/etc")}).find("absolute"), std::string::npos);
  EXPECT_NE(ErrorOf({Symlink("up", "../")}).find("outside"), std::string::npos);
  EXPECT_NE(ErrorOf({Symlink("a/b/up", "../../../x")}).find("outside"), std::string::npos);
}

TEST_F(ExtractTest, RefusesAChainOfLinksThatLeaves) {
  // Each link alone stays inside; followed one after the other they end in the parent.
  const auto err = ErrorOf({Dir("d"), Symlink("d/l3", "l2/.."), Symlink("d/l2", "..")});
  EXPECT_NE(err.find("outside"), std::string::npos) << err;
}

TEST_F(ExtractTest, RefusesWritingThroughALink) {
  fs::create_directories(base_ / "victim");
  const auto err = ErrorOf({Dir("sub"), Symlink("sub/up", ".."), File("sub/up/x", "x")});
  EXPECT_NE(err, "<accepted>");
  EXPECT_FALSE(fs::exists(dest_ / "x"));
}

TEST_F(ExtractTest, RefusesHardlinksOutside) {
  EXPECT_NE(ErrorOf({Hardlink("passwd", "/etc/passwd")}).find("hard link"), std::string::npos);
  EXPECT_NE(ErrorOf({Hardlink("passwd", "../../etc/passwd")}).find("hard link"), std::string::npos);
}

TEST_F(ExtractTest, RefusesDevicesAndFifos) {
  TarEntry dev{TarEntry::Type::kCharDevice, "null", "", 0666};
  EXPECT_NE(ErrorOf({dev}).find("devices"), std::string::npos);
  TarEntry fifo{TarEntry::Type::kFifo, "pipe", "", 0644};
  EXPECT_NE(ErrorOf({fifo}).find("devices"), std::string::npos);
}

TEST_F(ExtractTest, EnforcesTheLimits) {
  ExtractLimits limits;
  limits.max_entries = 3;
  EXPECT_NE(ErrorOf({File("a", "1"), File("b", "2"), File("c", "3"), File("d", "4")}, limits)
                .find("entries"),
            std::string::npos);
  limits = {};
  limits.max_total_bytes = 1000;
  EXPECT_NE(ErrorOf({File("a", std::string(600, 'a')), File("b", std::string(600, 'b'))}, limits)
                .find("bytes"),
            std::string::npos);
  EXPECT_NE(ErrorOf({File("big", std::string(1001, 'a'))}, limits).find("bytes"),
            std::string::npos);
}

TEST_F(ExtractTest, RefusesWhatIsNotATarGz) {
  const auto p = base_ / "junk.tar.gz";
  std::ofstream(p) << "this is not an archive";
  EXPECT_THROW(ExtractTarGz(p, dest_, {}), UnsafeArchive);
  EXPECT_THROW(ExtractTarGz(base_ / "missing.tar.gz", dest_, {}), UnsafeArchive);
}

TEST(SafeRelativePath, NormalisesOrRefuses) {
  EXPECT_EQ(SafeRelativePath("./a/./b"), fs::path("a/b"));
  EXPECT_EQ(SafeRelativePath("./"), fs::path());
  EXPECT_FALSE(SafeRelativePath("/a").has_value());
  EXPECT_FALSE(SafeRelativePath("a/../b").has_value());
  EXPECT_FALSE(SafeRelativePath("").has_value());
}

}  // namespace
}  // namespace sluice::agent
