#pragma once

// The series sluice-kube-exporter exports for pods that do not run (KWOK's fake kubelets):
// which pods count and what version each runs (from the PodList the API server gives), and
// request counters and a latency histogram advanced by elapsed time, healthy or bad by the
// pod's version. The metric names and labels are the demo application's (tools/demo-app), with
// `instance_name` the pod's name, so one analysis template selects VM hosts and pods alike.
// Pure: no I/O, no clock.

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace sluice::kube_exporter {

struct Behaviour {
  double rate = 5.0;  // requests per second per pod
  double healthy_error_rate = 0.0;
  double bad_error_rate = 0.5;  // of a pod whose version is bad
  double healthy_latency_s = 0.02;
  double bad_latency_s = 0.02;
  std::set<std::string> bad_versions;
};

struct VersionRules {
  std::string container;                      // "" = the pod's first container
  std::map<std::string, std::string> images;  // image (or its digest "sha256:...") -> version
};

// The version a pod's image stands for: an explicit rule (the whole image, or the digest after
// '@'), else the image's tag ("registry/app:2.0.0" -> "2.0.0"), else "unknown".
std::string VersionOfImage(const std::string& image, const VersionRules& rules);

struct Pod {
  std::string name;
  std::string image;
  std::string version;
  bool operator==(const Pod&) const = default;
};

// The pods of a PodList that count: phase Running, not being deleted; sorted by name.
std::vector<Pod> PodsOf(const nlohmann::json& pod_list, const VersionRules& rules);

class PodSeries {
 public:
  explicit PodSeries(Behaviour behaviour);

  // The pods now: new ones start from zero, gone ones are dropped (their series end).
  // Returns the names that came and went, for the log.
  struct Change {
    std::vector<Pod> added;
    std::vector<std::string> removed;
  };
  Change SetPods(const std::vector<Pod>& pods);

  // `seconds` of traffic on every pod known now.
  void Advance(double seconds);

  bool IsBad(const std::string& version) const { return behaviour_.bad_versions.contains(version); }

  // Prometheus text exposition (version 0.0.4).
  std::string Render() const;

 private:
  struct State {
    Pod pod;
    double ok = 0;
    double errors = 0;
    std::vector<double> buckets;  // cumulative counts per bucket bound
    double sum = 0;
    double count = 0;
  };
  Behaviour behaviour_;
  std::map<std::string, State> pods_;
};

}  // namespace sluice::kube_exporter
