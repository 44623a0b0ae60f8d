#pragma once

// Artifact download over HTTP(S) with resume, a size limit and a streaming sha256.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::agent {

struct DownloadOptions {
  std::string url;
  std::filesystem::path part_path;  // the partial (then complete) file; resumed when present
  std::string expected_sha256;      // 64 lowercase hex
  std::uint64_t max_bytes = 1ull << 30;
  std::chrono::milliseconds timeout{600'000};  // the whole transfer
  std::chrono::milliseconds connect_timeout{10'000};
};

class DownloadFailed : public std::runtime_error {
 public:
  // `reason` is one of kReasonChecksumMismatch, kReasonArtifactTooLarge, kReasonDownloadFailed.
  DownloadFailed(std::string_view reason, const std::string& message)
      : std::runtime_error(message), reason_(reason) {}
  std::string_view Reason() const { return reason_; }

 private:
  std::string_view reason_;
};

struct DownloadResult {
  std::uint64_t bytes = 0;         // size of the verified file
  std::uint64_t resumed_from = 0;  // bytes that were already there and not fetched again
};

// Fetches opts.url into opts.part_path, continuing a partial file with a Range request (a
// server that ignores the range sends everything again and the file restarts from zero).
// On success the file is complete and its sha256 matches. A checksum mismatch or an artifact
// over max_bytes deletes the file; a transport failure or an HTTP error keeps what arrived so
// that the next attempt resumes. Never logs the URL's path or query (they may carry secrets).
DownloadResult Download(const DownloadOptions& opts);

// Lowercase hex sha256 of a file (throws std::runtime_error when unreadable).
std::string Sha256File(const std::filesystem::path& p);

}  // namespace sluice::agent
