#include "download.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <sluice/core/encoding.hpp>
#include <system_error>

#include "deploy.hpp"

namespace sluice::agent {
namespace fs = std::filesystem;

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { Reset(); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Reset() { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  void Update(const void* data, size_t len) { EVP_DigestUpdate(ctx_, data, len); }
  std::string HexDigest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    return core::HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
  }

 private:
  EVP_MD_CTX* ctx_;
};

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

// Hashes the existing bytes of `f` (opened for reading and appending); returns their count.
std::uint64_t HashExisting(FILE* f, Sha256& sha) {
  std::fseek(f, 0, SEEK_SET);
  char buf[64 * 1024];
  std::uint64_t total = 0;
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    sha.Update(buf, n);
    total += n;
  }
  std::fseek(f, 0, SEEK_END);
  return total;
}

struct Transfer {
  CURL* curl = nullptr;
  FILE* file = nullptr;
  const fs::path* path = nullptr;
  Sha256* sha = nullptr;
  std::uint64_t existing = 0;  // bytes in the file before this transfer
  std::uint64_t received = 0;
  std::uint64_t max_bytes = 0;
  bool checked_status = false;
  bool restarted = false;  // the server ignored the range: the file was truncated
  bool too_large = false;
  bool write_error = false;
  long status = 0;
};

size_t OnData(char* data, size_t size, size_t nmemb, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t len = size * nmemb;
  if (!t.checked_status) {
    t.checked_status = true;
    curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
    if (t.status < 200 || t.status >= 300) return 0;  // an error page is not the artifact
    if (t.existing > 0 && t.status != 206) {
      // The whole artifact comes again: start the file and the hash over.
      if (std::fflush(t.file) != 0 || ::ftruncate(fileno(t.file), 0) != 0) {
        t.write_error = true;
        return 0;
      }
      std::fseek(t.file, 0, SEEK_SET);
      t.sha->Reset();
      t.existing = 0;
      t.restarted = true;
    }
  }
  if (t.existing + t.received + len > t.max_bytes) {
    t.too_large = true;
    return 0;
  }
  if (std::fwrite(data, 1, len, t.file) != len) {
    t.write_error = true;
    return 0;
  }
  t.sha->Update(data, len);
  t.received += len;
  return len;
}

struct CurlCloser {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

// scheme://host[:port] of a URL: what a message may name (no path, query or credentials in
// them).
std::string OriginOf(const std::string& url) {
  const auto scheme_end = url.find("://");
  const auto host_end = url.find_first_of("/?#", scheme_end + 3);
  return url.substr(0, host_end);
}

void SetOptions(CURL* c, const DownloadOptions& opts, Transfer& t, char* errbuf) {
  curl_easy_setopt(c, CURLOPT_URL, opts.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sluice-agent");
  if (t.existing > 0) {
    curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(t.existing));
  }
}

// Why the transfer failed (curl's error or the HTTP status), or nothing. A 416 on a resumed
// download is not a failure: the range starts at or past the end, so the file may already be
// complete; the checksum decides.
std::optional<std::string> TransferError(const Transfer& t, CURLcode rc, long status,
                                         const char* errbuf) {
  if (t.existing > 0 && status == 416) return std::nullopt;
  if (rc != CURLE_OK && !(status >= 400 && rc == CURLE_WRITE_ERROR)) {
    return std::string(errbuf[0] != 0 ? errbuf : curl_easy_strerror(rc));
  }
  if (status < 200 || status >= 300) return "HTTP status " + std::to_string(status);
  return std::nullopt;
}

}  // namespace

std::string Sha256File(const fs::path& p) {
  File f(std::fopen(p.c_str(), "rb"));
  if (!f) throw std::runtime_error("cannot read " + p.string());
  Sha256 sha;
  HashExisting(f.get(), sha);
  return sha.HexDigest();
}

DownloadResult Download(const DownloadOptions& opts) {
  const std::string where = "GET " + OriginOf(opts.url);

  File f(std::fopen(opts.part_path.c_str(), "a+b"));
  if (!f) {
    throw DownloadFailed(kReasonDownloadFailed, "cannot open " + opts.part_path.string());
  }
  Sha256 sha;
  const std::uint64_t existing = HashExisting(f.get(), sha);
  auto discard = [&](std::string_view reason, const std::string& message) {
    f.reset();
    std::error_code ec;
    fs::remove(opts.part_path, ec);
    return DownloadFailed(reason, message);
  };
  if (existing > opts.max_bytes) {
    throw discard(kReasonArtifactTooLarge,
                  "artifact is larger than " + std::to_string(opts.max_bytes) + " bytes");
  }

  Transfer t;
  CURLcode rc = CURLE_OK;
  long status = 0;
  char errbuf[CURL_ERROR_SIZE] = {0};
  bool restarted = false;
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<CURL, CurlCloser> curl(curl_easy_init());
    if (!curl) throw DownloadFailed(kReasonDownloadFailed, "curl_easy_init failed");
    t = Transfer{};
    t.curl = curl.get();
    t.file = f.get();
    t.path = &opts.part_path;
    t.sha = &sha;
    t.existing = restarted ? 0 : existing;
    t.max_bytes = opts.max_bytes;
    errbuf[0] = 0;
    CURL* c = curl.get();
    SetOptions(c, opts, t, errbuf);
    rc = curl_easy_perform(c);
    status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_RANGE_ERROR && t.existing > 0 && attempt == 0) {
      // The server does not do ranges: start the file and the hash over.
      if (std::fflush(f.get()) != 0 || ::ftruncate(fileno(f.get()), 0) != 0) {
        throw discard(kReasonDownloadFailed, "cannot write " + opts.part_path.string());
      }
      std::fseek(f.get(), 0, SEEK_SET);
      sha.Reset();
      restarted = true;
      continue;
    }
    break;
  }
  t.restarted = t.restarted || restarted;
  if (std::fflush(f.get()) != 0) t.write_error = true;

  if (t.too_large) {
    throw discard(kReasonArtifactTooLarge,
                  "artifact is larger than " + std::to_string(opts.max_bytes) + " bytes");
  }
  if (t.write_error) {
    throw discard(kReasonDownloadFailed, "cannot write " + opts.part_path.string());
  }
  if (const auto error = TransferError(t, rc, status, errbuf)) {
    throw DownloadFailed(kReasonDownloadFailed, where + ": " + *error);
  }
  const std::string got = sha.HexDigest();
  if (got != opts.expected_sha256 && status == 416) {
    throw discard(kReasonDownloadFailed,
                  where + ": the partial file does not continue; discarded, try again");
  }
  if (got != opts.expected_sha256) {
    throw discard(kReasonChecksumMismatch,
                  "sha256 of the artifact is " + got + ", expected " + opts.expected_sha256);
  }
  DownloadResult result;
  result.resumed_from = t.restarted ? 0 : existing;
  result.bytes = t.existing + t.received;
  return result;
}

}  // namespace sluice::agent
