#pragma once

// Builds .tar.gz archives for the agent's tests, including hostile ones. Tests only.

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace sluice::agent::testing {

struct TarEntry {
  enum class Type { kFile, kDir, kSymlink, kHardlink, kCharDevice, kFifo } type = Type::kFile;
  std::string path;
  std::string content;  // kFile: the data; kSymlink / kHardlink: the link target
  int mode = 0644;
  long long declared_size = -1;  // kFile: a header size other than content.size()
};

inline TarEntry File(std::string path, std::string content, int mode = 0644) {
  return {TarEntry::Type::kFile, std::move(path), std::move(content), mode, -1};
}
inline TarEntry Dir(std::string path) { return {TarEntry::Type::kDir, std::move(path), "", 0755}; }
inline TarEntry Symlink(std::string path, std::string target) {
  return {TarEntry::Type::kSymlink, std::move(path), std::move(target), 0777};
}
inline TarEntry Hardlink(std::string path, std::string target) {
  return {TarEntry::Type::kHardlink, std::move(path), std::move(target), 0644};
}

// Writes the entries, in order, as a gzip-compressed tar at `out_path`.
inline void WriteTarGz(const std::string& out_path, const std::vector<TarEntry>& entries) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  if (archive_write_open_filename(a, out_path.c_str()) != ARCHIVE_OK) {
    const std::string msg = archive_error_string(a);
    archive_write_free(a);
    throw std::runtime_error("cannot write " + out_path + ": " + msg);
  }
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, static_cast<mode_t>(e.mode));
    archive_entry_set_mtime(entry, 1'700'000'000, 0);
    switch (e.type) {
      case TarEntry::Type::kFile:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, e.declared_size >= 0
                                          ? e.declared_size
                                          : static_cast<la_int64_t>(e.content.size()));
        break;
      case TarEntry::Type::kDir:
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case TarEntry::Type::kSymlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.content.c_str());
        break;
      case TarEntry::Type::kHardlink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.content.c_str());
        archive_entry_set_size(entry, 0);
        break;
      case TarEntry::Type::kCharDevice:
        archive_entry_set_filetype(entry, AE_IFCHR);
        archive_entry_set_rdev(entry, makedev(1, 3));
        break;
      case TarEntry::Type::kFifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
    }
    archive_write_header(a, entry);
    if (e.type == TarEntry::Type::kFile && !e.content.empty()) {
      archive_write_data(a, e.content.data(), e.content.size());
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace sluice::agent::testing
