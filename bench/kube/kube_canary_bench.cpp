// kube-canary-bench: Sluice's side of `make bench`'s kube part (bench/kube/run.py drives it and
// Argo Rollouts' side). A Deployment of --replicas pods (KWOK) in a namespace of its own is
// created and waited for; then, once a line arrives on stdin (so the caller samples the
// control plane's CPU around the canary alone), the `kubernetes` TargetDriver moves it through
// the steps (a replica canary: 5 / 25 / 100 by default) with --pause-seconds between them, as
// the planner's batches would. Prints one JSON line with the figures; the namespace goes away.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sluice/core/clock.hpp>
#include <sluice/kube/client.hpp>
#include <sluice/kube/credentials.hpp>
#include <sluice/kube/resource.hpp>
#include <string>
#include <thread>
#include <vector>

#include "adapters/kubernetes_driver.hpp"

namespace {

using namespace sluice;
using namespace sluice::executor;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Json Deployment(int replicas, const std::string& image) {
  const Json labels = {{"app", "bench"}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "bench"}, {"labels", labels}}},
          {"spec",
           {{"replicas", replicas},
            {"selector", {{"matchLabels", labels}}},
            {"template",
             {{"metadata", {{"labels", labels}}},
              {"spec", {{"containers", Json::array({{{"name", "app"}, {"image", image}}})}}}}}}}};
}

// The bench Deployment as the driver's target, in cluster "local".
HostTarget BenchTarget(const std::string& ns) {
  HostTarget target;
  target.host = "bench";
  target.driver = std::string(kDriverKubernetes);
  target.kubernetes = KubernetesTarget{};
  target.kubernetes->cluster = "local";
  target.kubernetes->ns = ns;
  target.kubernetes->kind = "Deployment";
  target.kubernetes->name = "bench";
  target.kubernetes->container = "app";
  return target;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kube-canary-bench: a replica canary of a KWOK Deployment through the driver"};
  std::string kubeconfig;
  int replicas = 100;
  std::vector<int> steps{5, 25, 100};
  int pause_s = 10;
  int timeout_s = 600;
  app.add_option("--kubeconfig", kubeconfig, "admin kubeconfig of the control plane")->required();
  app.add_option("--replicas", replicas, "the Deployment's replicas")->check(CLI::Range(1, 2000));
  app.add_option("--steps", steps, "cumulative shares, the last 100")->delimiter(',');
  app.add_option("--pause-seconds", pause_s, "between steps")->check(CLI::Range(0, 3600));
  app.add_option("--timeout-seconds", timeout_s, "for each step")->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);

  const core::Clock& clock = core::SystemClock::Instance();
  const kube::Credentials creds = kube::LoadKubeconfig(kubeconfig);
  kube::ClientOptions admin_options;
  admin_options.identity = "kube-canary-bench";
  kube::Client admin(creds, admin_options);
  const std::string ns = "sluice-bench-kube-" + std::to_string(::getpid());
  admin.Create(kube::kNamespaces, "", {{"metadata", {{"name", ns}}}});
  int rc = 0;
  try {
    const std::string old_image = "example.com/bench:1";
    admin.Create(kube::kDeployments, ns, Deployment(replicas, old_image));
    KubernetesDriverConfig config;
    config.clusters = LoadClusters({{"local", false, kubeconfig, ""}});
    config.workload.poll_interval = std::chrono::milliseconds(500);
    KubernetesDriver driver(std::move(config), clock);
    kube_workload::KubernetesWorkload waiter(admin, clock, {});
    const HostOutcome ready =
        waiter.WaitRollout(ns, "bench", "app=bench", clock.Monotonic() + std::chrono::seconds(300));
    if (!ready.Succeeded())
      throw std::runtime_error("the Deployment is not ready: " + ready.message);

    HostTarget target = BenchTarget(ns);
    const std::string digest = "sha256:" + std::string(64, 'c');
    const ArtifactRef release{"2.0.0", "example.com/bench:2.0.0", digest, "image", "", ""};

    std::cout << "READY" << std::endl;
    std::string go;
    std::getline(std::cin, go);

    Json step_s = Json::array();
    const auto start = Clock::now();
    Clock::duration paused{};
    for (std::size_t i = 0; i < steps.size(); ++i) {
      target.kubernetes->weight_percent = static_cast<std::uint32_t>(steps[i]);
      const auto t0 = Clock::now();
      const HostOutcome o =
          driver.Deploy(target, release, CommandFence{"bench", core::Generation{1}},
                        clock.Monotonic() + std::chrono::seconds(timeout_s));
      step_s.push_back(Seconds(Clock::now() - t0));
      if (!o.Succeeded())
        throw std::runtime_error("step " + std::to_string(steps[i]) + ": " + o.message);
      if (i + 1 < steps.size() && pause_s > 0) {
        const auto p0 = Clock::now();
        std::this_thread::sleep_for(std::chrono::seconds(pause_s));
        paused += Clock::now() - p0;
      }
    }
    const auto wall = Clock::now() - start;
    std::cout << Json{{"wall_s", Seconds(wall)},
                      {"working_s", Seconds(wall - paused)},
                      {"steps_s", step_s},
                      {"replicas", replicas}}
                     .dump()
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "kube-canary-bench: " << e.what() << std::endl;
    rc = 1;
  }
  admin.DeleteIfExists(kube::kNamespaces, "", ns);
  return rc;
}
