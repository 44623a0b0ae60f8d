#pragma once

// Safe unpacking of a release archive (tar, gzip-compressed) into a directory.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace sluice::agent {

struct ExtractLimits {
  std::uint64_t max_total_bytes = 4ull << 30;  // sum of the regular files' sizes
  std::uint64_t max_entries = 200'000;
};

// The archive is unreadable or would write outside its directory, or is too big. Whatever was
// already written stays in the destination: the caller discards the staging directory.
class UnsafeArchive : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Unpacks `archive` (a .tar.gz) into `dest`, an existing directory. Refuses:
//  - absolute paths and paths with a `..` component;
//  - symbolic links whose target is absolute or resolves outside `dest` (checked once all
//    entries are written, following links to links), and writing through a symbolic link;
//  - hard links to paths outside `dest`;
//  - device, FIFO and socket entries;
//  - more than limits.max_entries entries or limits.max_total_bytes bytes of file data.
// Owners are not restored; set-user-id, set-group-id and sticky bits are dropped.
// Returns the number of entries written.
std::uint64_t ExtractTarGz(const std::filesystem::path& archive, const std::filesystem::path& dest,
                           const ExtractLimits& limits);

// The entry path with "." components dropped, or an empty optional when it is absolute or
// has a ".." component. "./" alone gives an empty path.
std::optional<std::filesystem::path> SafeRelativePath(std::string_view entry_path);

}  // namespace sluice::agent
