// Presigned URLs against a real S3-compatible server: the SeaweedFS of scripts/s3.sh on
// loopback. An object is uploaded with libcurl's own SigV4 signer (CURLOPT_AWS_SIGV4, an
// implementation independent of ours), then fetched through the executor's presigned GET URL
// with Sluice's HTTP client and with the agent's downloader (a resumed download included); a
// tampered, expired, re-pointed or wrongly keyed URL is refused with 403.
//
// Needs `bash scripts/s3.sh up` (it writes var/local/s3.env); skipped, and reported as skipped
// by ctest, when that file is missing.
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sluice/core/encoding.hpp>
#include <sluice/http/client.hpp>

#include "artifact_access.hpp"
#include "download.hpp"
#include "s3_presign.hpp"

namespace sluice::executor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// `export KEY=value` lines of scripts/s3.sh's env file; empty when it is missing.
std::map<std::string, std::string> ReadEnvFile(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("export ")) line.erase(0, 7);
    const auto eq = line.find('=');
    if (line.empty() || line.front() == '#' || eq == std::string::npos) continue;
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::string EnvFilePath() {
  const char* p = std::getenv("SLUICE_S3_ENV_FILE");
  return p != nullptr && *p != '\0' ? p : SLUICE_S3_ENV_FILE;
}

struct CurlAnswer {
  long status = 0;
  std::string body;
};

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

class S3PresignItest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = EnvFilePath();
    if (!fs::exists(path)) {
      GTEST_SKIP() << path << " is missing: run `bash scripts/s3.sh up` to start the local "
                   << "S3 store (SeaweedFS), then run this test again";
    }
    const auto env = ReadEnvFile(path);
    for (const auto* key : {"SLUICE_S3_ENDPOINT", "SLUICE_S3_REGION", "SLUICE_S3_BUCKET",
                            "SLUICE_S3_ACCESS_KEY_ID_FILE", "SLUICE_S3_SECRET_ACCESS_KEY_FILE"}) {
      ASSERT_TRUE(env.contains(key)) << path << " has no " << key;
    }
    bucket_ = env.at("SLUICE_S3_BUCKET");
    settings_.endpoint_url = env.at("SLUICE_S3_ENDPOINT");
    settings_.signer.endpoint = ParseS3Endpoint(settings_.endpoint_url);
    settings_.signer.region = env.at("SLUICE_S3_REGION");
    settings_.signer.credentials = {FirstLine(env.at("SLUICE_S3_ACCESS_KEY_ID_FILE")),
                                    FirstLine(env.at("SLUICE_S3_SECRET_ACCESS_KEY_FILE"))};
    settings_.url_ttl = 5min;
    ASSERT_FALSE(settings_.signer.credentials.access_key_id.empty());
    ASSERT_FALSE(settings_.signer.credentials.secret_access_key.empty());

    std::random_device rd;
    prefix_ = "itest/" + std::to_string(rd()) + "-" + std::to_string(rd());
    std::mt19937 rng(rd());
    payload_.resize(700'000);
    for (auto& c : payload_) c = static_cast<char>(rng() & 0xff);
    dir_ = fs::temp_directory_path() / ("sluice-s3-itest-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // The object's path-style URL, encoded as S3 wants it.
  std::string ObjectUrl(const std::string& key) const {
    return settings_.endpoint_url + "/" + bucket_ + "/" + S3UriEncode(key, true);
  }

  // A request signed by libcurl's SigV4 (Authorization header), not by the code under test.
  CurlAnswer CurlSigned(const std::string& method, const std::string& key,
                        const std::string& body) const {
    CURL* c = curl_easy_init();
    CurlAnswer a;
    const std::string url = ObjectUrl(key);
    const std::string sigv4 = "aws:amz:" + settings_.signer.region + ":s3";
    const auto& cred = settings_.signer.credentials;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, cred.access_key_id.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, cred.secret_access_key.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    // S3 wants the payload's hash in x-amz-content-sha256, which curl 7.88 does not add; it
    // signs the header as given.
    const std::string hash_header = "x-amz-content-sha256: " + core::Sha256Hex(body);
    curl_slist* headers = curl_slist_append(nullptr, hash_header.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (method == "PUT") {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20'000L);
    const auto rc = curl_easy_perform(c);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    return a;
  }

  void Upload(const std::string& key) const {
    const auto a = CurlSigned("PUT", key, payload_);
    ASSERT_EQ(a.status, 200) << "PUT " << key << ": " << a.body;
  }

  std::string Presign(const std::string& key,
                      core::SystemTime at = std::chrono::system_clock::now(),
                      std::chrono::seconds ttl = 300s) const {
    return PresignS3(settings_.signer, {bucket_, key}, "GET", at, ttl).url;
  }

  static http::ClientResponse Get(const std::string& url) {
    http::ClientRequest r;
    r.url = url;
    r.timeout = 20s;
    return http::Send(r);
  }

  S3Settings settings_;
  std::string bucket_;
  std::string prefix_;
  std::string payload_;
  fs::path dir_;
};

TEST_F(S3PresignItest, PresignedGetReturnsTheUploadedBytes) {
  const std::string key = prefix_ + "/web/app-1.2.0.tar.gz";
  Upload(key);
  const auto res = Get(Presign(key));
  ASSERT_EQ(res.status, 200) << res.body.substr(0, 300);
  EXPECT_EQ(res.body.size(), payload_.size());
  EXPECT_TRUE(res.body == payload_);
}

TEST_F(S3PresignItest, KeysWithSpacesUnicodeAndReservedCharacters) {
  for (const std::string name :
       {"app 1.0 (final).tar.gz", "r\xC3\xA9lease-\xE2\x82\xAC-\xE6\x97\xA5.tgz",
        "a+b=c&d;e,f@g$h!i'j.tgz", "100%20sure~_-.tgz", "what?x=1#y"}) {
    const std::string key = prefix_ + "/odd/" + name;
    Upload(key);
    const auto res = Get(Presign(key));
    EXPECT_EQ(res.status, 200) << name << ": " << res.body.substr(0, 300);
    EXPECT_TRUE(res.body == payload_) << name;
  }
}

TEST_F(S3PresignItest, TamperedExpiredRepointedOrWronglyKeyedUrlsAreRefused) {
  const std::string key = prefix_ + "/guarded.tgz";
  const std::string other = prefix_ + "/other.tgz";
  Upload(key);
  Upload(other);
  const std::string good = Presign(key);
  ASSERT_EQ(Get(good).status, 200);

  // One hex digit of the signature changed.
  std::string tampered = good;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(Get(tampered).status, 403);

  // The same signature on another object of the bucket.
  std::string repointed = good;
  repointed.replace(repointed.find("guarded.tgz"), 11, "other.tgz");
  EXPECT_EQ(Get(repointed).status, 403);

  // A longer lifetime than the one signed.
  std::string extended = good;
  extended.replace(extended.find("X-Amz-Expires=300"), 17, "X-Amz-Expires=900");
  EXPECT_EQ(Get(extended).status, 403);

  // Signed two hours ago for one minute.
  EXPECT_EQ(Get(Presign(key, std::chrono::system_clock::now() - 2h, 60s)).status, 403);

  // Signed with a secret the store does not know.
  auto wrong = settings_.signer;
  wrong.credentials.secret_access_key += "x";
  EXPECT_EQ(Get(PresignS3(wrong, {bucket_, key}, "GET", std::chrono::system_clock::now(), 60s).url)
                .status,
            403);

  // And no URL at all: the store is not anonymous.
  EXPECT_EQ(Get(ObjectUrl(key)).status, 403);
}

TEST_F(S3PresignItest, WhatAHostIsSentDownloadsAndMatchesTheReleaseChecksum) {
  const std::string key = prefix_ + "/release/web 2.0.0.tar.gz";
  Upload(key);
  ArtifactRef artifact;
  artifact.version = "2.0.0";
  artifact.url = "s3://" + bucket_ + "/" + key;
  artifact.sha256 = core::Sha256Hex(payload_);
  const auto prepared = PrepareHostArtifact(artifact, settings_, std::chrono::system_clock::now());
  ASSERT_FALSE(prepared.refused) << prepared.refused->message;
  ASSERT_TRUE(prepared.artifact.url.starts_with(settings_.endpoint_url + "/"))
      << prepared.artifact.url;

  // The agent's own downloader, as on a host: first a partial file, then the rest by Range.
  agent::DownloadOptions o;
  o.url = prepared.artifact.url;
  o.part_path = dir_ / "artifact.part";
  o.expected_sha256 = prepared.artifact.sha256;
  {
    std::ofstream part(o.part_path, std::ios::binary);
    part.write(payload_.data(), 250'000);
  }
  const auto got = agent::Download(o);
  EXPECT_EQ(got.bytes, payload_.size());
  EXPECT_EQ(got.resumed_from, 250'000u);
  EXPECT_EQ(agent::Sha256File(o.part_path), artifact.sha256);

  // A checksum the object does not have is caught on the host, as for any URL.
  fs::remove(o.part_path);
  o.expected_sha256 = std::string(64, '0');
  EXPECT_THROW(agent::Download(o), agent::DownloadFailed);
}

}  // namespace
}  // namespace sluice::executor
