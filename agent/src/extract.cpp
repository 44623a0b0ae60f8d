#include "extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace sluice::agent {
namespace fs = std::filesystem;

namespace {

struct ReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};

std::string Describe(archive* a) {
  const char* msg = archive_error_string(a);
  return msg != nullptr ? msg : "unknown error";
}

// Is `p` (lexically normal, absolute) equal to `root` or below it?
bool IsWithin(const fs::path& p, const fs::path& root) {
  auto pi = p.begin();
  for (auto ri = root.begin(); ri != root.end(); ++ri, ++pi) {
    if (ri->empty()) continue;  // trailing separator
    if (pi == p.end() || *pi != *ri) return false;
  }
  return true;
}

}  // namespace

std::optional<fs::path> SafeRelativePath(std::string_view entry_path) {
  if (entry_path.empty() || entry_path.front() == '/') return std::nullopt;
  fs::path out;
  for (const auto& part : fs::path(entry_path)) {
    const auto& s = part.native();
    if (s.empty() || s == ".") continue;
    if (s == "..") return std::nullopt;
    out /= part;
  }
  return out;
}

namespace {

using Reader = std::unique_ptr<archive, ReadCloser>;
using Writer = std::unique_ptr<archive, WriteCloser>;

Reader OpenTarGz(const fs::path& archive_path) {
  Reader in(archive_read_new());
  archive_read_support_filter_gzip(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_gnutar(in.get());
  if (archive_read_open_filename(in.get(), archive_path.c_str(), 64 * 1024) != ARCHIVE_OK) {
    throw UnsafeArchive("cannot read the archive: " + Describe(in.get()));
  }
  return in;
}

Writer OpenDiskWriter() {
  Writer out(archive_write_disk_new());
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  return out;
}

// What one extraction has seen so far.
struct Progress {
  std::uint64_t entries = 0;
  std::uint64_t total_bytes = 0;
  std::vector<fs::path> symlinks;  // checked again once every entry is on disk
};

// Links stay inside the release (a hard link is rewritten to its place under root); devices,
// FIFOs and sockets are refused.
void CheckLinkOrType(archive_entry* entry, const std::string& name, const fs::path& target,
                     const fs::path& root, Progress& progress) {
  const char* hardlink = archive_entry_hardlink(entry);
  const mode_t type = archive_entry_filetype(entry);
  if (hardlink != nullptr) {
    const auto link_rel = SafeRelativePath(hardlink);
    if (!link_rel || link_rel->empty()) {
      throw UnsafeArchive("entry '" + name + "': hard link to '" + hardlink +
                          "' outside the release");
    }
    archive_entry_set_hardlink(entry, (root / *link_rel).c_str());
  } else if (type == AE_IFLNK) {
    const char* link = archive_entry_symlink(entry);
    const std::string link_target = link != nullptr ? link : "";
    if (link_target.empty() || link_target.front() == '/') {
      throw UnsafeArchive("entry '" + name + "': symbolic link to absolute path '" + link_target +
                          "'");
    }
    const fs::path resolved = (target.parent_path() / link_target).lexically_normal();
    if (!IsWithin(resolved, root)) {
      throw UnsafeArchive("entry '" + name + "': symbolic link to '" + link_target +
                          "' points outside the release");
    }
    progress.symlinks.push_back(target);
  } else if (type != AE_IFREG && type != AE_IFDIR) {
    throw UnsafeArchive("entry '" + name + "': devices, FIFOs and sockets are not allowed");
  }
}

[[noreturn]] void TooManyBytes(const ExtractLimits& limits) {
  throw UnsafeArchive("more than " + std::to_string(limits.max_total_bytes) +
                      " bytes of file data");
}

// A regular file's declared size is refused before any of its data is written.
void CheckDeclaredSize(archive_entry* entry, const Progress& progress,
                       const ExtractLimits& limits) {
  if (archive_entry_filetype(entry) != AE_IFREG || archive_entry_size_is_set(entry) == 0) return;
  const auto size = static_cast<std::uint64_t>(archive_entry_size(entry));
  if (size > limits.max_total_bytes || progress.total_bytes + size > limits.max_total_bytes) {
    TooManyBytes(limits);
  }
}

// The entry's data, counted against the limit as it comes (the declared size may lie).
void CopyData(archive* in, archive* out, const std::string& name, const ExtractLimits& limits,
              Progress& progress) {
  const void* buf = nullptr;
  size_t len = 0;
  la_int64_t offset = 0;
  for (;;) {
    const int rd = archive_read_data_block(in, &buf, &len, &offset);
    if (rd == ARCHIVE_EOF) break;
    if (rd != ARCHIVE_OK) throw UnsafeArchive("entry '" + name + "': " + Describe(in));
    progress.total_bytes += len;
    if (progress.total_bytes > limits.max_total_bytes) TooManyBytes(limits);
    if (archive_write_data_block(out, buf, len, offset) != ARCHIVE_OK) {
      throw UnsafeArchive("entry '" + name + "': " + Describe(out));
    }
  }
}

// One entry checked and written under root.
void ExtractEntry(archive* in, archive* out, archive_entry* entry, const fs::path& root,
                  const ExtractLimits& limits, Progress& progress) {
  const char* raw_name = archive_entry_pathname(entry);
  const std::string name = raw_name != nullptr ? raw_name : "";
  const auto rel = SafeRelativePath(name);
  if (!rel) throw UnsafeArchive("entry '" + name + "': absolute path or '..' component");
  if (rel->empty()) return;  // "./" itself

  const fs::path target = root / *rel;
  const bool hardlink = archive_entry_hardlink(entry) != nullptr;
  const mode_t type = archive_entry_filetype(entry);
  CheckLinkOrType(entry, name, target, root, progress);
  CheckDeclaredSize(entry, progress, limits);
  archive_entry_set_pathname(entry, target.c_str());
  archive_entry_set_perm(entry, archive_entry_perm(entry) & 0777);
  if (archive_write_header(out, entry) != ARCHIVE_OK) {
    throw UnsafeArchive("entry '" + name + "': " + Describe(out));
  }
  if (type == AE_IFREG && !hardlink) CopyData(in, out, name, limits, progress);
  if (archive_write_finish_entry(out) != ARCHIVE_OK) {
    throw UnsafeArchive("entry '" + name + "': " + Describe(out));
  }
}

// Links to links: only the file system knows where a chain ends.
void CheckSymlinkChains(const std::vector<fs::path>& symlinks, const fs::path& root) {
  std::error_code ec;
  for (const auto& link : symlinks) {
    const fs::path resolved = fs::weakly_canonical(link, ec);
    if (ec || !IsWithin(resolved, root)) {
      throw UnsafeArchive("symbolic link '" + link.lexically_relative(root).string() +
                          "' resolves outside the release");
    }
  }
}

}  // namespace

std::uint64_t ExtractTarGz(const fs::path& archive_path, const fs::path& dest,
                           const ExtractLimits& limits) {
  std::error_code ec;
  // No symbolic link in the destination's own path: libarchive's symlink check then only ever
  // meets links that the archive created.
  const fs::path root = fs::canonical(dest, ec);
  if (ec) throw UnsafeArchive("destination " + dest.string() + ": " + ec.message());

  const Reader in = OpenTarGz(archive_path);
  const Writer out = OpenDiskWriter();
  Progress progress;
  archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(in.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      throw UnsafeArchive("cannot read the archive: " + Describe(in.get()));
    }
    if (++progress.entries > limits.max_entries) {
      throw UnsafeArchive("more than " + std::to_string(limits.max_entries) + " entries");
    }
    ExtractEntry(in.get(), out.get(), entry, root, limits, progress);
  }
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    throw UnsafeArchive("cannot finish writing: " + Describe(out.get()));
  }
  CheckSymlinkChains(progress.symlinks, root);
  return progress.entries;
}

}  // namespace sluice::agent
