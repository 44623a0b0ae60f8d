// The kubernetes driver's own decisions, before any API call: which image a release gives a
// Kubernetes target, and the refusals of a target it cannot drive (no request is made: the
// transport fails the test if called).
#include "adapters/kubernetes_driver.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sluice::executor {
namespace {

using ::testing::HasSubstr;

const std::string kDigest = "sha256:" + std::string(64, 'c');

// The driver's refusals are sluice.v1.Reason values: consumers key on the enum, and the text
// on the wire (records, BatchFailed) stays what it was.
TEST(KubernetesReasons, AreVocabularyValuesWithTheirText) {
  const std::pair<std::string_view, events::v1::Reason> kReasons[] = {
      {kube_reason::kNoWorkload, events::v1::REASON_NO_KUBERNETES_WORKLOAD},
      {kube_reason::kUnknownCluster, events::v1::REASON_UNKNOWN_CLUSTER},
      {kube_reason::kNotAnImage, events::v1::REASON_ARTIFACT_NOT_IMAGE},
      {kube_reason::kNoWeight, events::v1::REASON_NO_WEIGHT_PERCENT},
      {kube_reason::kUnsupported, events::v1::REASON_UNSUPPORTED_ROLLOUT},
  };
  for (const auto& [text, reason] : kReasons) EXPECT_EQ(events::ParseReason(text), reason) << text;
  EXPECT_EQ(kube_reason::kNoWorkload, "no_kubernetes_workload");
  EXPECT_EQ(kube_reason::kUnknownCluster, "unknown_cluster");
  EXPECT_EQ(kube_reason::kNotAnImage, "artifact_not_image");
  EXPECT_EQ(kube_reason::kNoWeight, "no_weight_percent");
  EXPECT_EQ(kube_reason::kUnsupported, "unsupported_rollout");
}

TEST(KubernetesImageOf, AnImageReleaseRunsByDigest) {
  EXPECT_EQ(ImageOf({"2.0.0", "registry.local/shop/web:2.0.0", kDigest, "image", "", ""}),
            "registry.local/shop/web@" + kDigest);
  // Unspecified kind, no separate image: the url is the image (older events).
  EXPECT_EQ(ImageOf({"2.0.0", "shop/web:2", "", "", "", ""}), "shop/web:2");
}

TEST(KubernetesImageOf, AMixedReleaseGivesKubernetesItsImage) {
  EXPECT_EQ(ImageOf({"2.0.0", "https://a/app-2.0.0.tar.gz", std::string(64, 'a'), "tarball",
                     "registry.local:5000/shop/web:2.0.0", kDigest}),
            "registry.local:5000/shop/web@" + kDigest);
  EXPECT_EQ(ImageOf({"2.0.0", "https://a/app.tar.gz", "", "tarball", "", ""}), "");
  EXPECT_THROW(ImageOf({"2.0.0", "u", "", "tarball", "shop/web", "md5:abc"}),
               std::invalid_argument);
}

class KubernetesDriverTest : public ::testing::Test {
 protected:
  KubernetesDriverTest() {
    KubernetesDriverConfig c;
    kube::Credentials creds;
    creds.server = "https://127.0.0.1:1";
    creds.token = "t";
    c.clusters.emplace("local", creds);
    c.client.transport = [](const http::ClientRequest& r) -> http::ClientResponse {
      ADD_FAILURE() << "unexpected request " << r.method << " " << r.url;
      return {};
    };
    driver_ = std::make_unique<KubernetesDriver>(std::move(c), core::SystemClock::Instance());
  }

  static HostTarget Target() {
    HostTarget t;
    t.host = "shop-web";
    t.driver = "kubernetes";
    t.kubernetes = KubernetesTarget{};
    t.kubernetes->cluster = "local";
    t.kubernetes->ns = "shop";
    t.kubernetes->name = "web";
    t.kubernetes->container = "app";
    t.kubernetes->weight_percent = 25;
    return t;
  }

  const ArtifactRef release_{"2.0.0", "shop/web:2", kDigest, "image", "", ""};
  const CommandFence fence_{"d-1", core::Generation(1)};
  std::unique_ptr<KubernetesDriver> driver_;
};

TEST_F(KubernetesDriverTest, RefusesWhatItCannotDriveWithoutACall) {
  HostTarget t = Target();
  t.kubernetes->cluster = "prod";
  HostOutcome o = driver_->Deploy(t, release_, fence_, {});
  EXPECT_EQ(o.reason, kube_reason::kUnknownCluster);
  EXPECT_FALSE(o.retryable);
  EXPECT_THAT(o.message, HasSubstr("cluster \"prod\" is not configured; known: local"));

  t = Target();
  t.kubernetes.reset();
  EXPECT_EQ(driver_->Deploy(t, release_, fence_, {}).reason, kube_reason::kNoWorkload);

  t = Target();
  t.kubernetes->weight_percent = 0;
  EXPECT_EQ(driver_->Deploy(t, release_, fence_, {}).reason, kube_reason::kNoWeight);

  const ArtifactRef tarball{"2.0.0", "https://a/app.tar.gz", std::string(64, 'a'), "tarball", "",
                            ""};
  o = driver_->Deploy(Target(), tarball, fence_, {});
  EXPECT_EQ(o.reason, kube_reason::kNotAnImage);
  EXPECT_THAT(o.message, HasSubstr("no image for Kubernetes targets"));

  t = Target();
  t.kubernetes->kind = "StatefulSet";
  t.kubernetes->rollout = "replica_canary";
  EXPECT_EQ(driver_->Deploy(t, release_, fence_, {}).reason, kube_reason::kUnsupported);
  t.kubernetes->rollout = "shadow";
  EXPECT_EQ(driver_->Deploy(t, release_, fence_, {}).reason, kube_reason::kUnsupported);
}

TEST_F(KubernetesDriverTest, StatusSendsARestartedExecutorBackThroughDeploy) {
  const HostState s = driver_->Status(Target(), {});
  EXPECT_FALSE(s.reachable);  // ResumeDecision: redeploy, which writes only what is missing
  EXPECT_THAT(s.error, HasSubstr("read by the next Deploy or Revert"));
}

}  // namespace
}  // namespace sluice::executor
