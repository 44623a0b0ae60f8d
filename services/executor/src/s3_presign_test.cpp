// SigV4 presigned URLs: the example of the Amazon S3 API reference ("Authenticating Requests:
// Using Query Parameters", GET examplebucket/test.txt), path-style URLs of on-premises stores,
// and the URI encoding of keys. The second reference signatures below were computed with
// botocore's S3SigV4QueryAuth (botocore 1.43) at the same inputs.
#include "s3_presign.hpp"

#include <gtest/gtest.h>

namespace sluice::executor {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kKeyId = "AKIAIOSFODNN7EXAMPLE";
constexpr std::string_view kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

core::SystemTime At(int y, unsigned mo, unsigned d, int h, int mi, int s) {
  return std::chrono::sys_days(std::chrono::year(y) / mo / d) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + std::chrono::seconds(s);
}

S3Signer Signer(std::string_view endpoint, bool path_style, std::string region = "us-east-1") {
  S3Signer s;
  s.endpoint = ParseS3Endpoint(endpoint);
  s.region = std::move(region);
  s.credentials = {std::string(kKeyId), std::string(kSecret)};
  s.path_style = path_style;
  return s;
}

TEST(S3PresignTest, AwsDocumentedExample) {
  const auto p = PresignS3(Signer("https://s3.amazonaws.com", false), {"examplebucket", "test.txt"},
                           "GET", At(2013, 5, 24, 0, 0, 0), 86400s);
  EXPECT_EQ(p.canonical_request,
            "GET\n/test.txt\n"
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%"
            "2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-"
            "Amz-SignedHeaders=host\n"
            "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD");
  EXPECT_EQ(p.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
  EXPECT_EQ(p.url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  EXPECT_EQ(p.expires_at, At(2013, 5, 25, 0, 0, 0));
}

TEST(S3PresignTest, PathStyleSignsTheBucketInThePathAndThePortInTheHost) {
  const auto p = PresignS3(Signer("http://127.0.0.1:8333", true), {"examplebucket", "test.txt"},
                           "GET", At(2013, 5, 24, 0, 0, 0), 86400s);
  EXPECT_NE(p.canonical_request.find("GET\n/examplebucket/test.txt\n"), std::string::npos);
  EXPECT_NE(p.canonical_request.find("\nhost:127.0.0.1:8333\n"), std::string::npos);
  EXPECT_EQ(p.url,
            "http://127.0.0.1:8333/examplebucket/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=1a3a725bd928b6419a7e9ffad4d647394781955aab013db9b8c7f403622c6e12");
}

TEST(S3PresignTest, KeysWithSpacesUnicodeAndReservedCharactersAreEncodedOnce) {
  // '%' and '?' belong to the key: "%20" is three characters, not a space.
  const S3Object o{"releases", "web/v1+2/my file (\xC3\xBC)\xE2\x82\xAC?x=1&y#z%20~._-.tar.gz"};
  const auto p = PresignS3(Signer("http://127.0.0.1:8333/", true, "eu-west-3"), o, "GET",
                           At(2026, 12, 7, 9, 45, 30), 900s);
  const std::string path =
      "/releases/web/v1%2B2/my%20file%20%28%C3%BC%29%E2%82%AC%3Fx%3D1%26y%23z%2520~._-.tar.gz";
  EXPECT_EQ(p.url,
            "http://127.0.0.1:8333" + path +
                "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261207%2Feu-west-3%2Fs3%2Faws4_request"
                "&X-Amz-Date=20261207T094530Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host"
                "&X-Amz-Signature="
                "4fe48b9dc1e6a1aeb30d386cf75972f3924e6d7848a999bc7f2a1480031b3eb4");
  EXPECT_EQ(p.canonical_request.substr(0, 4 + path.size() + 1), "GET\n" + path + "\n");
}

TEST(S3PresignTest, UriEncoding) {
  EXPECT_EQ(S3UriEncode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(S3UriEncode("a/b c", false), "a%2Fb%20c");
  EXPECT_EQ(S3UriEncode("a/b c", true), "a/b%20c");
  EXPECT_EQ(S3UriEncode("+=&?#%:@!$'()*,;[]", true),
            "%2B%3D%26%3F%23%25%3A%40%21%24%27%28%29%2A%2C%3B%5B%5D");
  EXPECT_EQ(S3UriEncode("\xE6\x97\xA5\xE6\x9C\xAC", true), "%E6%97%A5%E6%9C%AC");
}

TEST(S3PresignTest, VirtualHostedPutsTheBucketInTheHost) {
  const auto p = PresignS3(Signer("http://s3.store.internal:8333", false), {"art", "a/b.tgz"},
                           "GET", At(2026, 1, 2, 3, 4, 5), 60s);
  EXPECT_TRUE(p.url.starts_with("http://art.s3.store.internal:8333/a/b.tgz?")) << p.url;
  EXPECT_NE(p.canonical_request.find("\nhost:art.s3.store.internal:8333\n"), std::string::npos);
  EXPECT_NE(p.url.find("&X-Amz-Date=20260102T030405Z&X-Amz-Expires=60&"), std::string::npos);
}

TEST(S3PresignTest, VirtualHostedRefusesIpEndpointsAndDottedBucketsOverTls) {
  EXPECT_THROW(PresignS3(Signer("http://127.0.0.1:8333", false), {"art", "k"}, "GET",
                         At(2026, 1, 1, 0, 0, 0), 60s),
               S3UrlError);
  EXPECT_THROW(PresignS3(Signer("http://[::1]:8333", false), {"art", "k"}, "GET",
                         At(2026, 1, 1, 0, 0, 0), 60s),
               S3UrlError);
  EXPECT_THROW(PresignS3(Signer("https://s3.example.com", false), {"my.art", "k"}, "GET",
                         At(2026, 1, 1, 0, 0, 0), 60s),
               S3UrlError);
  // Path-style takes both.
  EXPECT_NO_THROW(PresignS3(Signer("https://s3.example.com", true), {"my.art", "k"}, "GET",
                            At(2026, 1, 1, 0, 0, 0), 60s));
}

TEST(S3PresignTest, DefaultPortsAreLeftOutOfTheHostHeader) {
  // An HTTP client sends "Host: s3.example.com" for :443 over https; the signed host must too.
  const auto p = PresignS3(Signer("https://S3.Example.com:443", true), {"art", "k"}, "GET",
                           At(2026, 1, 1, 0, 0, 0), 60s);
  EXPECT_TRUE(p.url.starts_with("https://s3.example.com/art/k?")) << p.url;
  EXPECT_NE(p.canonical_request.find("\nhost:s3.example.com\n"), std::string::npos);
  EXPECT_EQ(ParseS3Endpoint("http://h:80").port, "");
  EXPECT_EQ(ParseS3Endpoint("http://h:443").port, "443");
  const auto v6 = ParseS3Endpoint("http://[::1]:8333");
  EXPECT_EQ(v6.host, "[::1]");
  EXPECT_EQ(v6.port, "8333");
}

TEST(S3PresignTest, TtlAndMethodBounds) {
  const auto s = Signer("http://127.0.0.1:8333", true);
  const auto now = At(2026, 1, 1, 0, 0, 0);
  EXPECT_THROW(PresignS3(s, {"art", "k"}, "GET", now, 0s), S3UrlError);
  EXPECT_THROW(PresignS3(s, {"art", "k"}, "GET", now, kS3MaxUrlTtl + 1s), S3UrlError);
  EXPECT_NE(PresignS3(s, {"art", "k"}, "GET", now, kS3MaxUrlTtl).url.find("X-Amz-Expires=604800"),
            std::string::npos);
  EXPECT_THROW(PresignS3(s, {"art", "k"}, "DELETE", now, 60s), S3UrlError);
  EXPECT_TRUE(PresignS3(s, {"art", "k"}, "PUT", now, 60s).canonical_request.starts_with("PUT\n"));
}

TEST(S3PresignTest, ParsesS3Urls) {
  const auto o = ParseS3Url("s3://my-bucket.v2/path/to/app 1.0.tar.gz");
  EXPECT_EQ(o.bucket, "my-bucket.v2");
  EXPECT_EQ(o.key, "path/to/app 1.0.tar.gz");
  EXPECT_EQ(ParseS3Url("s3://abc/k?versionId=1").key, "k?versionId=1");
  EXPECT_TRUE(IsS3Url("s3://x"));
  EXPECT_FALSE(IsS3Url("https://x/y"));
}

TEST(S3PresignTest, RefusesMalformedS3Urls) {
  for (const std::string bad : {
           "https://bucket/key",           // not s3
           "s3://bucket",                  // no key
           "s3://bucket/",                 // empty key
           "s3://ab/key",                  // bucket too short
           "s3://Bucket/key",              // uppercase
           "s3://-bucket/key",             // leading dash
           "s3://bucket-/key",             // trailing dash
           "s3://buc..ket/key",            // empty label
           "s3://192.168.1.1/key",         // an IP address
           "s3://bucket/a/../etc/passwd",  // a ".." segment
           "s3://bucket/./key",            // a "." segment
           "s3://bucket/..",               //
           "s3://bucket/a\nb",             // control character
           "s3://bucket/a\x7f",            //
       }) {
    EXPECT_THROW(ParseS3Url(bad), S3UrlError) << bad;
  }
  EXPECT_THROW(ParseS3Url("s3://bucket/" + std::string(1025, 'k')), S3UrlError);
  EXPECT_NO_THROW(ParseS3Url("s3://bucket/" + std::string(1024, 'k')));
  EXPECT_NO_THROW(ParseS3Url("s3://bucket/a..b/.c/d."));
}

TEST(S3PresignTest, RefusesMalformedEndpoints) {
  for (const std::string bad :
       {"", "s3.example.com", "ftp://s3.example.com", "https://s3.example.com/prefix",
        "https://user@s3.example.com", "https://s3.example.com?x=1", "http://h:0", "http://h:65536",
        "http://h:", "http://h:8x", "http://[::1", "http://[zz]:1", "http://", "http://-h",
        "http://h h"}) {
    EXPECT_THROW(ParseS3Endpoint(bad), S3UrlError) << bad;
  }
}

TEST(S3PresignTest, AmzDate) {
  EXPECT_EQ(AmzDate(At(2013, 5, 24, 0, 0, 0)), "20130524T000000Z");
  EXPECT_EQ(AmzDate(At(2026, 12, 31, 23, 59, 59) + 999ms), "20261231T235959Z");
}

}  // namespace
}  // namespace sluice::executor
