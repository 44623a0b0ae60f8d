// Renders every example incident chart to PNG with rsvg-convert (librsvg2-bin, installed by
// scripts/install-deps.sh) at the sizes chat and mail clients show, and checks that a PNG of
// that size comes out. The PNGs go to SLUICE_CHART_PNG_DIR when set (scripts/incident-charts.sh
// sets it to docs/ to keep them for review), else under the build tree.

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "chart_examples.hpp"
#include "incident.hpp"

extern char** environ;  // what posix_spawnp hands rsvg-convert

namespace sluice::rollback {
namespace {

namespace fs = std::filesystem;

fs::path OutputDir() {
  const char* dir = std::getenv("SLUICE_CHART_PNG_DIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path(SLUICE_CHART_PNG_DEFAULT_DIR);
}

// Runs rsvg-convert on `svg` (no shell); its exit status, 127 when it cannot be started.
int RsvgConvert(const fs::path& svg, const fs::path& png) {
  std::vector<std::string> args = {"rsvg-convert", "--format=png", "--output=" + png.string(),
                                   svg.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, "rsvg-convert", nullptr, nullptr, argv.data(), environ) != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct PngSize {
  std::uint32_t width = 0, height = 0;
};

// The signature and the IHDR chunk that must open every PNG: width and height, big-endian.
bool ReadPngSize(const fs::path& png, PngSize* size) {
  std::ifstream in(png, std::ios::binary);
  std::array<unsigned char, 24> head{};
  if (!in.read(reinterpret_cast<char*>(head.data()), head.size())) return false;
  static constexpr std::array<unsigned char, 8> kSignature = {0x89, 'P',  'N',  'G',
                                                              '\r', '\n', 0x1A, '\n'};
  if (!std::equal(kSignature.begin(), kSignature.end(), head.begin())) return false;
  if (std::memcmp(head.data() + 12, "IHDR", 4) != 0) return false;
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t{head[at]} << 24) | (std::uint32_t{head[at + 1]} << 16) |
           (std::uint32_t{head[at + 2]} << 8) | std::uint32_t{head[at + 3]};
  };
  size->width = be32(16);
  size->height = be32(20);
  return true;
}

TEST(IncidentChartPngTest, EveryExampleRendersAtChatAndMailSizes) {
  const fs::path dir = OutputDir();
  fs::create_directories(dir);
  const fs::path svg_dir = fs::path(SLUICE_CHART_PNG_DEFAULT_DIR) / "svg";
  fs::create_directories(svg_dir);
  for (const auto& ex : testdata::Examples()) {
    for (const auto& [w, h] : testdata::Sizes()) {
      const std::string name =
          "incident-chart-" + ex.name + "-" + std::to_string(w) + "x" + std::to_string(h);
      const fs::path svg = svg_dir / (name + ".svg");
      const fs::path png = dir / (name + ".png");
      {
        std::ofstream out(svg, std::ios::binary | std::ios::trunc);
        out << RenderChartSvg(ex.incident, w, h);
        ASSERT_TRUE(out.good()) << svg;
      }
      fs::remove(png);
      const int rc = RsvgConvert(svg, png);
      ASSERT_NE(rc, 127) << "rsvg-convert could not be run: install librsvg2-bin "
                            "(scripts/install-deps.sh does)";
      ASSERT_EQ(rc, 0) << "rsvg-convert failed on " << svg;
      PngSize size;
      ASSERT_TRUE(ReadPngSize(png, &size)) << png << " is not a PNG";
      EXPECT_EQ(size.width, static_cast<std::uint32_t>(w)) << png;
      EXPECT_EQ(size.height, static_cast<std::uint32_t>(h)) << png;
      EXPECT_GT(fs::file_size(png), 2000u) << png << ": nearly empty";
    }
  }
}

}  // namespace
}  // namespace sluice::rollback
