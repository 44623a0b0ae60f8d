// sluice-agent's unpacker (ExtractTarGz, libarchive) over an archive from the input (tar, or
// tar.gz). Besides crashes and sanitizer reports, three oracles: nothing is ever written beside
// the destination (traversal, links), a link left in it never resolves outside, and the file
// data it holds (logical sizes, so sparse files count whole) stays within the byte limit.
// Each run unpacks into a fresh directory under a sandbox of its own (on /dev/shm when there).

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "extract.hpp"

namespace fs = std::filesystem;
namespace agent = sluice::agent;

namespace {

constexpr std::uint64_t kMaxBytes = 1 << 20;

const fs::path& Sandbox() {
  static const fs::path dir = [] {
    const fs::path base =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("sluice-fuzz-extract-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d / "outside");
    return d;
  }();
  return dir;
}

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "agent_extract: %s\n", what.c_str());
  std::abort();
}

// The sandbox holds the archive, dest/ and an empty outside/: nothing else, ever.
void CheckNothingOutside(const fs::path& sandbox) {
  for (const auto& e : fs::directory_iterator(sandbox)) {
    const auto name = e.path().filename().string();
    if (name != "archive" && name != "dest" && name != "outside") {
      Finding("written beside the destination: " + e.path().string());
    }
  }
  if (!fs::is_empty(sandbox / "outside")) Finding("written into a sibling directory");
}

// The logical size of the regular files under dest (each inode once); with `links`, every
// link's target inside dest (a refused archive may leave a bad link: the caller discards it).
std::uint64_t CheckDest(const fs::path& dest, bool links) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::uint64_t total = 0;
  const fs::path root = fs::canonical(dest);
  for (auto it = fs::recursive_directory_iterator(dest); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode) && seen.insert({st.st_dev, st.st_ino}).second) {
      total += static_cast<std::uint64_t>(st.st_size);
    }
    if (links && S_ISLNK(st.st_mode)) {
      std::error_code ec;
      const fs::path resolved = fs::weakly_canonical(it->path(), ec);
      const auto rel = resolved.lexically_relative(root);
      if (!ec && (rel.empty() || rel.begin()->string() == "..")) {
        Finding("link " + it->path().string() + " resolves outside: " + resolved.string());
      }
    }
  }
  return total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const fs::path& sandbox = Sandbox();
  const fs::path archive = sandbox / "archive";
  const fs::path dest = sandbox / "dest";
  fs::remove_all(dest);
  fs::create_directory(dest);
  {
    std::ofstream out(archive, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  agent::ExtractLimits limits;
  limits.max_total_bytes = kMaxBytes;
  limits.max_entries = 256;
  bool ok = true;
  try {
    (void)agent::ExtractTarGz(archive, dest, limits);
  } catch (const agent::UnsafeArchive&) {
    ok = false;
  }
  CheckNothingOutside(sandbox);
  const std::uint64_t total = CheckDest(dest, ok);
  // A refused archive may leave the block that crossed the limit (at most 64 KiB per read).
  if (total > (ok ? kMaxBytes : 2 * kMaxBytes)) {
    Finding("file data of " + std::to_string(total) + " bytes, over the limit of " +
            std::to_string(kMaxBytes));
  }
  fs::remove_all(dest);
  return 0;
}
