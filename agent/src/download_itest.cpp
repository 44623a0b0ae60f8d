// Downloads from an HTTP server on 127.0.0.1 inside the test.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sluice/core/encoding.hpp>
#include <sluice/http/testing/serve.hpp>
#include <sstream>
#include <thread>

#include "deploy.hpp"
#include "download.hpp"

namespace sluice::agent {
namespace {

namespace fs = std::filesystem;

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(42);
    for (int i = 0; i < 300'000; ++i) payload_.push_back(static_cast<char>(rng() & 0xff));
    server_.Get("/a.tar.gz", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      if (req.has_header("Range")) last_range_ = req.get_header_value("Range");
      res.set_content(payload_, "application/gzip");
    });
    server_.Get("/ignores-range", [this](const httplib::Request&, httplib::Response& res) {
      ++requests_;
      // Chunked: the server cannot apply a range and sends the whole artifact.
      res.set_chunked_content_provider(
          "application/gzip", [this](size_t offset, httplib::DataSink& sink) {
            if (offset >= payload_.size()) {
              sink.done();
              return true;
            }
            const size_t n = std::min<size_t>(65536, payload_.size() - offset);
            sink.write(payload_.data() + offset, n);
            return true;
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = http::testing::ServeInBackground(server_);
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("sluice-download-" + std::to_string(rd()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
    fs::remove_all(dir_);
  }
  DownloadOptions Options(const std::string& path) {
    DownloadOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(port_) + path;
    o.part_path = dir_ / "artifact.part";
    o.expected_sha256 = core::Sha256Hex(payload_);
    o.max_bytes = 1 << 20;
    o.timeout = std::chrono::seconds(20);
    return o;
  }
  std::string ReadPart() {
    std::ifstream in(dir_ / "artifact.part", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WritePart(const std::string& data) {
    std::ofstream(dir_ / "artifact.part", std::ios::binary) << data;
  }

  std::string payload_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::string last_range_;
  fs::path dir_;
};

TEST_F(DownloadTest, FetchesAndVerifies) {
  const auto r = Download(Options("/a.tar.gz"));
  EXPECT_EQ(r.bytes, payload_.size());
  EXPECT_EQ(r.resumed_from, 0u);
  EXPECT_EQ(ReadPart(), payload_);
  EXPECT_EQ(Sha256File(dir_ / "artifact.part"), core::Sha256Hex(payload_));
}

TEST_F(DownloadTest, ResumesAPartialFile) {
  WritePart(payload_.substr(0, 100'000));
  const auto r = Download(Options("/a.tar.gz"));
  EXPECT_EQ(last_range_, "bytes=100000-");
  EXPECT_EQ(r.resumed_from, 100'000u);
  EXPECT_EQ(ReadPart(), payload_);
}

TEST_F(DownloadTest, AcceptsACompletePartialFile) {
  WritePart(payload_);
  const auto r = Download(Options("/a.tar.gz"));
  EXPECT_EQ(r.bytes, payload_.size());
  EXPECT_EQ(ReadPart(), payload_);
}

TEST_F(DownloadTest, StartsOverWhenTheServerIgnoresTheRange) {
  WritePart(std::string(5000, 'x'));  // not even a prefix: a server that ignores Range saves us
  const auto r = Download(Options("/ignores-range"));
  EXPECT_EQ(r.resumed_from, 0u);
  EXPECT_EQ(ReadPart(), payload_);
}

TEST_F(DownloadTest, AMismatchDeletesTheFile) {
  auto o = Options("/a.tar.gz");
  o.expected_sha256 = std::string(64, '0');
  try {
    Download(o);
    FAIL() << "accepted a wrong checksum";
  } catch (const DownloadFailed& e) {
    EXPECT_EQ(e.Reason(), kReasonChecksumMismatch);
  }
  EXPECT_FALSE(fs::exists(o.part_path));
}

TEST_F(DownloadTest, TooLargeIsRefusedAndDeleted) {
  auto o = Options("/a.tar.gz");
  o.max_bytes = 200'000;
  try {
    Download(o);
    FAIL() << "accepted an artifact over the limit";
  } catch (const DownloadFailed& e) {
    EXPECT_EQ(e.Reason(), kReasonArtifactTooLarge);
  }
  EXPECT_FALSE(fs::exists(o.part_path));
}

TEST_F(DownloadTest, HttpErrorsKeepThePartialFile) {
  WritePart(payload_.substr(0, 10));
  try {
    Download(Options("/missing.tar.gz"));
    FAIL() << "accepted a 404";
  } catch (const DownloadFailed& e) {
    EXPECT_EQ(e.Reason(), kReasonDownloadFailed);
    EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("missing"), std::string::npos) << "path leaked";
  }
  EXPECT_EQ(ReadPart(), payload_.substr(0, 10));
}

TEST_F(DownloadTest, ConnectionRefusedIsADownloadFailure) {
  auto o = Options("/a.tar.gz");
  o.url = "http://127.0.0.1:1/a.tar.gz";  // nothing listens on port 1
  try {
    Download(o);
    FAIL() << "no server, yet accepted";
  } catch (const DownloadFailed& e) {
    EXPECT_EQ(e.Reason(), kReasonDownloadFailed);
  }
}

}  // namespace
}  // namespace sluice::agent
