#!/usr/bin/env python3
"""make bench, part kube: the same 3-batch canary (setWeight 5 / 25 / 100, pauses of the same
length, no analysis) of a --replicas Deployment of KWOK pods, once through Sluice's kubernetes
driver (kube-canary-bench) and once as an Argo Rollouts Rollout through its controller, in the
same local control plane. Prints the figures and, with --markdown, the section's rows.

Measured for each: the wall time from the release's first write to the rollout complete (and
without the pauses), the CPU seconds of the control plane (kube-apiserver, etcd,
kube-controller-manager, kube-scheduler, kwok, from their /proc/<pid>/stat) over that time, per
replica, the controller's own CPU, and the controller's peak RSS while the rollout is active
(one active rollout, so RSS per active rollout)."""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
COMPONENTS = ["kube-apiserver", "kube-etcd", "kube-controller-manager", "kube-scheduler",
              "kube-kwok"]


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def control_plane_pids(run_dir):
    pids = {}
    for c in COMPONENTS:
        try:
            with open(os.path.join(run_dir, c + ".pid")) as f:
                pids[c] = int(f.read().strip())
        except (OSError, ValueError):
            sys.exit(f"kube bench: no pid file {run_dir}/{c}.pid: is the control plane up?")
    return pids


def plane_cpu(pids):
    return sum(cpu_seconds(p) for p in pids.values())


class Sampler:
    """Peak RSS of one process, sampled every 0.2 s until stopped."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.2)

    def done(self):
        self.stop.set()
        self.thread.join()
        return self.peak


def run_sluice(a, pids):
    p = subprocess.Popen([a.sluice_bench, "--kubeconfig", a.kubeconfig, "--replicas",
                          str(a.replicas), "--pause-seconds", str(a.pause), "--steps", "5,25,100"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if line != "READY":
        p.kill()
        sys.exit(f"kube bench: kube-canary-bench did not get ready ({line!r})")
    sampler = Sampler(p.pid)
    plane0, own0 = plane_cpu(pids), cpu_seconds(p.pid)
    p.stdin.write("go\n")
    p.stdin.flush()
    result = p.stdout.readline().strip()
    plane1, own1 = plane_cpu(pids), cpu_seconds(p.pid)
    peak = sampler.done()
    if p.wait() != 0 or not result:
        sys.exit("kube bench: kube-canary-bench failed (see above)")
    r = json.loads(result)
    return {"wall_s": r["wall_s"], "working_s": r["working_s"], "plane_cpu_s": plane1 - plane0,
            "controller_cpu_s": own1 - own0, "rss_mib": peak}


def kubectl(a, *args, data=None, check=True):
    r = subprocess.run([a.kubectl, "--kubeconfig", a.kubeconfig, *args], input=data,
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"kube bench: kubectl {' '.join(args[:3])} failed: {r.stderr.strip()}")
    return r.stdout


def rollout_doc(ns, replicas, image, pause):
    labels = {"app": "bench"}
    return json.dumps({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "bench", "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "app", "image": image}]}},
            "strategy": {"canary": {"steps": [
                {"setWeight": 5}, {"pause": {"duration": pause}},
                {"setWeight": 25}, {"pause": {"duration": pause}},
                {"setWeight": 100}]}}}})


def rollout_status(a, ns):
    out = kubectl(a, "-n", ns, "get", "rollout", "bench", "-o", "json", check=False)
    try:
        return json.loads(out).get("status", {})
    except json.JSONDecodeError:
        return {}


def wait_rollout(a, ns, until, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = rollout_status(a, ns)
        if until(s):
            return s
        time.sleep(0.5)
    sys.exit(f"kube bench: the Rollout in {ns} did not finish in {timeout} s: {s}")


def run_argo(a, pids):
    for name in sorted(os.listdir(a.argo_crds)):
        if name.endswith("-crd.yaml"):
            kubectl(a, "apply", "--server-side", "--force-conflicts", "-f",
                    os.path.join(a.argo_crds, name))
    kubectl(a, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/rollouts.argoproj.io")
    ns = f"sluice-bench-argo-{os.getpid()}"
    kubectl(a, "create", "namespace", ns)
    log = open(os.path.join(a.log_dir, "argo-rollouts-controller.log"), "w")
    ctl = subprocess.Popen([a.argo_controller, "--kubeconfig", a.kubeconfig, "--namespaced",
                            "--namespace", ns, "--leader-elect=false", "--metricsport",
                            str(a.argo_port), "--healthzPort", str(a.argo_port + 1)],
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        kubectl(a, "apply", "-f", "-", data=rollout_doc(ns, a.replicas, "example.com/bench:1",
                                                        a.pause))
        first = wait_rollout(a, ns, lambda s: s.get("phase") == "Healthy" and
                             s.get("availableReplicas") == a.replicas, 300)
        stable = first.get("stableRS")
        sampler = Sampler(ctl.pid)
        plane0, own0 = plane_cpu(pids), cpu_seconds(ctl.pid)
        start = time.monotonic()
        kubectl(a, "-n", ns, "patch", "rollout", "bench", "--type", "json", "-p",
                json.dumps([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                             "value": "example.com/bench@sha256:" + "c" * 64}]))
        wait_rollout(a, ns, lambda s: s.get("phase") == "Healthy" and
                     s.get("stableRS") not in (None, stable) and
                     s.get("availableReplicas") == a.replicas and
                     s.get("updatedReplicas") == a.replicas, 600)
        wall = time.monotonic() - start
        plane1, own1 = plane_cpu(pids), cpu_seconds(ctl.pid)
        peak = sampler.done()
    finally:
        ctl.terminate()
        ctl.wait()
        kubectl(a, "delete", "namespace", ns, "--wait=false", check=False)
    return {"wall_s": wall, "working_s": wall - 2 * a.pause, "plane_cpu_s": plane1 - plane0,
            "controller_cpu_s": own1 - own0, "rss_mib": peak}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--run-dir", required=True, help="the control plane's pid files")
    ap.add_argument("--sluice-bench", required=True, help="kube-canary-bench")
    ap.add_argument("--argo-controller", help="rollouts-controller (none: Sluice only)")
    ap.add_argument("--argo-crds", help="Argo Rollouts' CRD manifests")
    ap.add_argument("--argo-port", type=int, default=26290)
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--pause", type=int, default=10)
    ap.add_argument("--log-dir", default="var/bench")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    os.makedirs(a.log_dir, exist_ok=True)
    pids = control_plane_pids(a.run_dir)
    rows = [("Sluice (kubernetes driver)", run_sluice(a, pids))]
    if a.argo_controller:
        rows.append(("Argo Rollouts v1.8.3 controller", run_argo(a, pids)))
    md = ["| controller | replicas | wall s | wall s without pauses | control-plane CPU s |"
          " control-plane CPU ms per replica | controller CPU s | controller RSS MiB per active"
          " rollout |", "|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        print(f"kube bench: {name}: {json.dumps(r)}")
        md.append(f"| {name} | {a.replicas} | {r['wall_s']:.1f} | {r['working_s']:.1f} | "
                  f"{r['plane_cpu_s']:.2f} | {1000 * r['plane_cpu_s'] / a.replicas:.1f} | "
                  f"{r['controller_cpu_s']:.2f} | {r['rss_mib']:.0f} |")
    if len(rows) == 2:
        s, g = rows[0][1], rows[1][1]
        md.append("")
        md.append(f"Wall time Sluice / Argo Rollouts: {s['wall_s'] / g['wall_s']:.2f} "
                  f"(without the pauses: {s['working_s'] / g['working_s']:.2f}); "
                  f"RSS per active rollout Sluice / Argo: {s['rss_mib'] / g['rss_mib']:.2f}.")
    md.append("")
    md.append(f"Same steps (5 / 25 / 100%, two pauses of {a.pause} s, no analysis), one rollout at "
              "a time, KWOK pods (no container runs). Control-plane CPU: kube-apiserver, etcd, "
              "controller-manager, scheduler and KWOK over the rollout, polling included. "
              "Sluice's controller is the driver in kube-canary-bench (the executor adds its "
              "Kafka / PostgreSQL clients); it polls every 500 ms where Argo watches, and its "
              "promotion rolls the stable Deployment onto the release (all its pods replaced, "
              "the canary deleted) where Argo scales the canary ReplicaSet up and the stable "
              "one down (default maxSurge 25%).")
    print("\n".join(md))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
