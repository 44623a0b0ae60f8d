#!/usr/bin/env python3
"""judge-bench: a labelled canary benchmark for the metric-watcher's judge.

Generates seeded canary/baseline scenarios (healthy, drifts inside tolerance, error and
latency regressions of several sizes, short spikes, late onsets, counter resets, missing
buckets, a bad deployment just before the switch, a bimodal latency (fast and slow path),
canary and baseline silence) at low, medium
and high traffic; writes them as OpenMetrics with timestamps; loads them into a Prometheus of
its own with `promtool tsdb create-blocks-from openmetrics`; starts the real metric-watcher
against it (the local stack's Kafka and PostgreSQL, a schema and topics of its own); judges each
scenario through `POST /v1/analyses` with the judge template and with a threshold-only template
(the seed's `error_rate > 5% OR p95 > 500ms`); and prints, per template and traffic level,
regressions caught, missed and inconclusive, and false failures among the good ones.

A regression is "detectable" when an ideal test on the true (generating) parameters would
reach the judge's confidence with 95% power at the scenario's expected traffic; the label is
computed from the scenario's parameters, never from the judge's answer.

  judge_bench.py --metric-watcher BIN [--seeds 11,12] [--scale N] [--small] [--markdown FILE]

Everything it starts (Prometheus, metric-watcher) it stops; its schema it drops.
"""
import argparse
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

SCRAPE = 15  # seconds between samples
WINDOW = 600  # the analysis window after the switch
PRE = 300  # samples before the switch (a previous deployment lives there)
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
TRAFFIC = {"low": 0.3, "medium": 3.0, "high": 30.0}  # requests/s per instance
CONFIDENCE = 0.99
ERR_TOL, LAT_TOL = 0.5, 0.2
Z_ALPHA, Z_POWER = 2.3263, 1.6449  # one-sided 99%, 95% power

JUDGE_TEMPLATE = f"""
judge:
  confidence: {CONFIDENCE}
  lookback: 10m
  step: 30s
  metrics:
    - name: errors
      kind: ratio
      errors: 'bench_http_requests_total{{scn="{{{{app}}}}",code="500",instance_name=~"{{{{instances}}}}"}}'
      requests: 'bench_http_requests_total{{scn="{{{{app}}}}",instance_name=~"{{{{instances}}}}"}}'
      tolerance: {int(ERR_TOL * 100)}%
      critical: true
    - name: latency
      kind: histogram
      buckets: 'bench_http_request_duration_seconds_bucket{{scn="{{{{app}}}}",instance_name=~"{{{{instances}}}}"}}'
      tolerance: {int(LAT_TOL * 100)}%
      critical: true
"""

THRESHOLD_TEMPLATE = """
interval: 30s
count: 20
failureLimit: 0
inconclusiveLimit: 20
metrics:
  error_rate:
    query: >-
      (sum(rate(bench_http_requests_total{scn="{{app}}",code="500",instance_name=~"{{instances}}"}[30s]))
      or sum(rate(bench_http_requests_total{scn="{{app}}",instance_name=~"{{instances}}"}[30s])) * 0)
      / sum(rate(bench_http_requests_total{scn="{{app}}",instance_name=~"{{instances}}"}[30s]))
  p95_latency:
    query: >-
      histogram_quantile(0.95, sum by (le)
      (rate(bench_http_request_duration_seconds_bucket{scn="{{app}}",instance_name=~"{{instances}}"}[30s])))
  requests:
    query: 'sum(increase(bench_http_requests_total{scn="{{app}}",instance_name=~"{{instances}}"}[30s]))'
rules:
  - name: seed
    failWhen: "error_rate > 5% OR p95_latency > 500ms"
    minRequests: {metric: requests, min: 20}
    noData: inconclusive
"""


def phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


def lognormal_cdf(x, median, sigma):
    return phi((math.log(x) - math.log(median)) / sigma)


def poisson(rng, lam):
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    l, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= l:
            return k
        k += 1


def binomial(rng, n, p):
    if n <= 0 or p <= 0:
        return 0
    if p >= 1:
        return n
    if n < 60:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    if mean < 15:
        return min(n, poisson(rng, mean))
    return min(n, max(0, int(round(rng.gauss(mean, sd)))))


def bucket_counts(rng, n, median, sigma):
    """Cumulative bucket counts of n log-normal latencies (sequential binomials)."""
    out, left, prev_cdf, cum = [], n, 0.0, 0
    for le in BUCKETS:
        cdf = lognormal_cdf(le, median, sigma)
        p = (cdf - prev_cdf) / max(1e-12, 1 - prev_cdf)
        k = binomial(rng, left, min(1.0, max(0.0, p)))
        left -= k
        cum += k
        out.append(cum)
        prev_cdf = cdf
    return out, n  # +Inf = n


def mixture_quantile(q, parts):
    """Quantile of a mixture of log-normals [(weight, median, sigma)] by bisection."""
    lo, hi = 1e-6, 1e3
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        if sum(w * lognormal_cdf(mid, m, s) for w, m, s in parts) < q:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


class Scenario:
    def __init__(self, sid, kind, label, traffic, rng, **mods):
        self.sid, self.kind, self.label, self.traffic = sid, kind, label, traffic
        self.rate = TRAFFIC[traffic]
        self.err = rng.uniform(0.002, 0.02)
        self.median = rng.uniform(0.05, 0.2)
        self.sigma = rng.uniform(0.3, 0.6)
        self.mods = mods
        self.detectable = None

    # The canary's error rate and latency median multiplier at second t after the switch.
    def canary_at(self, t):
        m = self.mods
        err, lat = self.err * m.get("err_x", 1.0) + m.get("err_plus", 0.0), m.get("lat_x", 1.0)
        slow = m.get("slow_x", 1.0)
        onset = m.get("onset")
        if onset is not None and t < onset * WINDOW:
            err, lat, slow = self.err, 1.0, 1.0
        spike = m.get("spike")
        if spike is not None and spike <= t < spike + 30:
            err, lat = 0.5, 5.0
        if t < 0 and m.get("bad_before"):
            err = 0.3
        return min(err, 1.0), lat, slow

    def latency_parts(self, lat_x, slow_x):
        """The latency distribution as log-normal parts (weight, median, sigma)."""
        if self.mods.get("bimodal"):
            return [(0.7, self.median * lat_x, self.sigma),
                    (0.3, 5 * self.median * lat_x * slow_x, self.sigma)]
        return [(1.0, self.median * lat_x, self.sigma)]

    def oracle(self):
        """Detectable by an ideal test on the true parameters (95% power at the confidence)."""
        m = self.mods
        frac = 1 - m.get("onset", 0.0)
        nc = self.rate * WINDOW
        nb = 2 * self.rate * WINDOW
        if "err_x" in m or "err_plus" in m:
            rc_full = self.err * m.get("err_x", 1.0) + m.get("err_plus", 0.0)
            rc = self.err + frac * (rc_full - self.err)
            rb = self.err
            se = math.sqrt(rc / nc + (1 + ERR_TOL) ** 2 * rb / nb)
            return (rc - rb * (1 + ERR_TOL)) / se >= Z_ALPHA + Z_POWER
        if "lat_x" in m or "slow_x" in m:
            parts_b = self.latency_parts(1.0, 1.0)
            parts_c = ([(w * (1 - frac), md, sg) for w, md, sg in parts_b]
                       + [(w * frac, md, sg) for w, md, sg in
                          self.latency_parts(m.get("lat_x", 1.0), m.get("slow_x", 1.0))])
            ratios = sorted(mixture_quantile(q, parts_c) / mixture_quantile(q, parts_b)
                            for q in (0.25, 0.5, 0.75, 0.9))
            effect = (ratios[1] + ratios[2]) / 2
            delta = math.log(effect) - math.log(1 + LAT_TOL)
            if delta <= 0:
                return False
            se = self.sigma * math.sqrt(1 / nc + 1 / nb) * math.sqrt(math.pi / 3)
            return delta / se >= Z_ALPHA + Z_POWER
        return False


def make_scenarios(seed, small, scale=1):
    rng = random.Random(seed)
    out = []

    def add(kind, label, traffic, **mods):
        sid = f"s{seed}-{len(out):03d}-{kind}"
        s = Scenario(sid, kind, label, traffic, rng, **mods)
        if label == "bad":
            s.detectable = s.oracle()
        out.append(s)

    if small:
        for t in ("low", "medium", "high"):
            add("healthy", "good", t)
        add("error x6", "bad", "high", err_x=6.0)
        add("latency x2.5", "bad", "high", lat_x=2.5)
        add("spike 30s", "good", "high", spike=rng.uniform(60, WINDOW - 60))
        add("canary silent", "silent", "medium", canary_silent=True)
        return out
    for t in [t for t in TRAFFIC for _ in range(scale)]:
        for _ in range(16):
            add("healthy", "good", t)
        for _ in range(2):
            add("drift err +20%", "good", t, err_x=1.2)
            add("drift latency +8%", "good", t, lat_x=1.08)
        for k in (3.0, 6.0):
            for _ in range(2):
                add(f"error x{k:g}", "bad", t, err_x=k)
        for _ in range(2):
            add("error +5 points", "bad", t, err_plus=0.05)
        for k in (1.5, 2.0, 3.0):
            for _ in range(2):
                add(f"latency x{k:g}", "bad", t, lat_x=k)
        for _ in range(4):
            add("spike 30s", "good", t, spike=rng.uniform(60, WINDOW - 60))
        for _ in range(2):
            add("late error x6", "bad", t, err_x=6.0, onset=0.6)
            add("late latency x2.5", "bad", t, lat_x=2.5, onset=0.6)
        for _ in range(2):
            add("bimodal healthy", "good", t, bimodal=True)
            add("bimodal, slow path x2", "bad", t, bimodal=True, slow_x=2.0)
        add("counter reset", "good", t, reset=True)
        add("counter reset, error x6", "bad", t, err_x=6.0, reset=True)
        add("missing buckets", "good", t, missing=True)
        add("missing buckets, latency x2", "bad", t, lat_x=2.0, missing=True)
        for _ in range(2):
            add("bad deployment before switch", "good", t, bad_before=True)
        add("canary silent", "silent", t, canary_silent=True)
        add("baseline silent", "silent", t, baseline_silent=True)
    return out


def fmt(v):
    return repr(float(v)) if isinstance(v, float) else str(v)


def write_openmetrics(scenarios, t0, path, seed):
    """Counters and histograms per instance, one series after another, time ascending."""
    rng = random.Random(seed * 7919 + 1)
    req_lines, hist_lines = [], []
    ticks = list(range(-PRE, WINDOW + 60 + 1, SCRAPE))
    for s in scenarios:
        # Shared (both sides) slow variations: traffic, error burstiness and latency level.
        f_t, e_t, l_t = [], [], []
        a = b = c = 0.0
        for _ in ticks:
            a = 0.9 * a + rng.gauss(0, 0.07)
            b = 0.8 * b + rng.gauss(0, 0.15)
            c = 0.9 * c + rng.gauss(0, 0.02)
            f_t.append(math.exp(a))
            e_t.append(math.exp(b))
            l_t.append(math.exp(c))
        for inst in ("c0", "b0", "b1"):
            canary = inst == "c0"
            if canary and s.mods.get("canary_silent"):
                last = 0
            elif not canary and s.mods.get("baseline_silent"):
                last = 0
            else:
                last = None
            ok = err = 0
            cum = [0] * len(BUCKETS)
            count, total = 0, 0.0
            rows_req, rows_hist = [], []
            for i, t in enumerate(ticks):
                if last is not None and t > last:
                    break  # silent after the switch: the series stop
                if canary and s.mods.get("reset") and t == WINDOW // 2:
                    ok = err = 0
                    cum = [0] * len(BUCKETS)
                    count, total = 0, 0.0
                n = poisson(rng, s.rate * SCRAPE * f_t[i]) if t > -PRE else 0
                if canary:
                    er, lx, sx = s.canary_at(t)
                else:
                    er, lx, sx = s.err, 1.0, 1.0
                e = binomial(rng, n, min(1.0, er * e_t[i]))
                ok += n - e
                err += e
                left = n
                parts = s.latency_parts(lx * l_t[i], sx)
                for j, (w, md, sg) in enumerate(parts):
                    k = left if j == len(parts) - 1 else binomial(rng, n, w)
                    left -= k
                    bc, _ = bucket_counts(rng, k, md, sg)
                    cum = [x + y for x, y in zip(cum, bc)]
                    total += k * md * math.exp(sg ** 2 / 2)
                count += n
                ts = t0 + t
                rows_req.append((ts, ok, err))
                rows_hist.append((ts, list(cum), count, total))
            lbl = f'scn="{s.sid}",instance_name="{inst}"'
            for code, idx in (("200", 1), ("500", 2)):
                for row in rows_req:
                    req_lines.append(
                        f'bench_http_requests_total{{{lbl},code="{code}"}} {row[idx]} {row[0]}\n')
            missing = canary and s.mods.get("missing")
            for ts, bc, cnt, tot in rows_hist:
                for le, v in zip(BUCKETS, bc):
                    if missing and le in (0.1, 0.5):
                        continue
                    hist_lines.append(
                        f'bench_http_request_duration_seconds_bucket{{{lbl},le="{le:g}"}} {v} {ts}\n')
                hist_lines.append(
                    f'bench_http_request_duration_seconds_bucket{{{lbl},le="+Inf"}} {cnt} {ts}\n')
                hist_lines.append(
                    f'bench_http_request_duration_seconds_count{{{lbl}}} {cnt} {ts}\n')
                hist_lines.append(
                    f'bench_http_request_duration_seconds_sum{{{lbl}}} {tot:.6f} {ts}\n')
    with open(path, "a") as out:
        out.write("# TYPE bench_http_requests counter\n")
        out.writelines(req_lines)
        out.write("# TYPE bench_http_request_duration_seconds histogram\n")
        out.writelines(hist_lines)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ok(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def rfc3339(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def post(base, body, token):
    req = urllib.request.Request(base + "/v1/analyses", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"POST /v1/analyses: {e.code} {e.read()[:300]!r}") from e


def judge_all(base, scenarios, t0, token):
    results = []
    for s in scenarios:
        row = {"s": s}
        for name, tmpl in (("judge", JUDGE_TEMPLATE), ("threshold", THRESHOLD_TEMPLATE)):
            body = {"app": s.sid, "env": "bench", "template_yaml": tmpl,
                    "canary": {"version": "v2", "instances": ["c0"]},
                    "baseline": {"version": "v1", "instances": ["b0", "b1"]},
                    "start": rfc3339(t0), "end": rfc3339(t0 + WINDOW), "step": "30s"}
            answer = post(base, body, token)
            if name == "judge":
                verdict = (answer.get("judge") or {}).get("verdict", "Error")
                row["judge_detail"] = answer.get("judge")
            else:
                verdict = answer.get("outcome", "Error")
            row[name] = verdict
        results.append(row)
    return results


def tabulate(results, seed, markdown):
    lines = []
    for name in ("judge", "threshold"):
        for traffic in list(TRAFFIC) + ["all"]:
            rows = [r for r in results if traffic == "all" or r["s"].traffic == traffic]
            bad = [r for r in rows if r["s"].label == "bad" and r["s"].detectable]
            undet = [r for r in rows if r["s"].label == "bad" and not r["s"].detectable]
            good = [r for r in rows if r["s"].label == "good"]
            silent = [r for r in rows if r["s"].label == "silent"]
            caught = sum(r[name] == "Failed" for r in bad)
            missed = sum(r[name] == "Successful" for r in bad)
            inc = len(bad) - caught - missed
            ff = sum(r[name] == "Failed" for r in good)
            good_inc = sum(r[name] not in ("Failed", "Successful") for r in good)
            und_fail = sum(r[name] == "Failed" for r in undet)
            und_pass = sum(r[name] == "Successful" for r in undet)
            sil_pass = sum(r[name] == "Successful" for r in silent)

            def pct(a, b):
                return f"{100.0 * a / b:.0f}%" if b else "–"
            lines.append(
                f"| {seed} | {name} | {traffic} | {caught}/{len(bad)} ({pct(caught, len(bad))}) | "
                f"{missed} | {inc} | {ff}/{len(good)} ({pct(ff, len(good))}) | {good_inc} | "
                f"{und_fail} failed, {und_pass} passed of {len(undet)} | "
                f"{sil_pass} of {len(silent)} |")
    text = "\n".join(lines)
    print(text)
    if markdown:
        with open(markdown, "a") as out:
            out.write(text + "\n")
    return results


def target_misses(results, seed):
    """The judge's target on one seed's full set: >= 95% of detectable regressions caught,
    <= 1% false failures, and never Successful when the data cannot tell (a regression, detectable
    or not, passed; silence passed). The reasons it is missed, none when met."""
    bad = [r for r in results if r["s"].label == "bad" and r["s"].detectable]
    good = [r for r in results if r["s"].label == "good"]
    caught = sum(r["judge"] == "Failed" for r in bad)
    false_failures = sum(r["judge"] == "Failed" for r in good)
    passed_bad = sum(r["judge"] == "Successful" for r in results if r["s"].label == "bad")
    passed_silent = sum(r["judge"] == "Successful" for r in results if r["s"].label == "silent")
    misses = []
    if bad and caught < 0.95 * len(bad):
        misses.append(f"caught {caught}/{len(bad)} detectable regressions (< 95%)")
    if good and false_failures > 0.01 * len(good):
        misses.append(f"{false_failures}/{len(good)} false failures (> 1%)")
    if passed_bad:
        misses.append(f"{passed_bad} regression(s) passed")
    if passed_silent:
        misses.append(f"{passed_silent} silent canary(ies) passed")
    return [f"seed {seed}: {m}" for m in misses]


HEADER = ("| seed | template | traffic | detectable regressions caught | missed (passed) | "
          "inconclusive | false failures (good) | good inconclusive | not detectable: verdicts | "
          "silent passed |\n|---|---|---|---|---|---|---|---|---|---|")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metric-watcher", required=True)
    ap.add_argument("--seeds", default="11,12")
    ap.add_argument("--small", action="store_true", help="the few scenarios of the make-test part")
    ap.add_argument("--scale", type=int, default=1, help="repeat the full set this often per seed")
    ap.add_argument("--markdown", default="")
    ap.add_argument("--details", default="", help="write every verdict with its evidence (JSON)")
    ap.add_argument("--log-dir", default="var/bench")
    ap.add_argument("--token", default=os.environ.get("SLUICE_BENCH_WATCHER_TOKEN", ""),
                    help="the service token the bench's watcher is started with (random if empty)")
    ap.add_argument("--watcher-env", action="append", default=[], help="KEY=VALUE for the watcher")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",") if x]
    os.makedirs(args.log_dir, exist_ok=True)
    sfx = "%06x" % random.SystemRandom().getrandbits(24)
    tmp = tempfile.mkdtemp(prefix="sluice-judge-bench-")
    procs = []
    schema = f"bench_judge_{sfx}"
    pg_dsn = os.environ.get("SLUICE_PG_DSN", "postgresql://sluice:sluice@127.0.0.1:15432/sluice")
    brokers = os.environ.get("SLUICE_KAFKA_BROKERS", "127.0.0.1:19092")
    status = 0
    try:
        # Timestamps near now: the window ends 20 minutes ago, within any retention.
        t0 = (int(time.time()) // 60) * 60 - 30 * 60
        om = os.path.join(tmp, "scenarios.om")
        scenarios = []
        for seed in seeds:
            ss = make_scenarios(seed, args.small, args.scale)
            write_openmetrics(ss, t0, om, seed)
            scenarios.append((seed, ss))
        with open(om, "a") as out:
            out.write("# EOF\n")
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        t = time.time()
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, data],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"judge-bench: {sum(len(s) for _, s in scenarios)} scenarios, "
              f"{os.path.getsize(om) // 1024} KiB of OpenMetrics, blocks in {time.time() - t:.1f}s",
              flush=True)
        prom_port = free_port()
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write("global: {scrape_interval: 15s}\nscrape_configs: []\n")
        prom_log = open(os.path.join(args.log_dir, f"judge-bench-prometheus-{sfx}.log"), "w")
        procs.append(subprocess.Popen(
            ["prometheus", "--config.file=" + os.path.join(tmp, "prometheus.yml"),
             "--storage.tsdb.path=" + data, "--storage.tsdb.retention.time=30d",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=prom_log, stderr=subprocess.STDOUT))
        prom = f"http://127.0.0.1:{prom_port}"
        if not wait_ok(prom + "/-/ready", 60):
            raise RuntimeError("Prometheus did not start")
        w_port = free_port()
        # The watcher's API needs the suite's service token; the bench's watcher gets its own.
        token = args.token or "judge-bench-service-token-" + secrets.token_hex(16)
        # The watcher refuses SLUICE_* settings it does not know (make bench sets its own).
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update({
            "SLUICE_HTTP_ADDR": f"127.0.0.1:{w_port}",
            "SLUICE_PG_DSN": pg_dsn, "SLUICE_PG_SCHEMA": schema,
            "SLUICE_KAFKA_BROKERS": brokers, "SLUICE_KAFKA_GROUP": f"bench-judge-{sfx}",
            "SLUICE_KAFKA_START_OFFSET": "latest",
            "SLUICE_WATCHER_TOPICS": f"bench.judge.deployments.{sfx},bench.judge.rollbacks.{sfx}",
            "SLUICE_PROMETHEUS_URL": prom,
            "SLUICE_WATCHER_ALERT_TOKEN": "judge-bench-alert-token-" + sfx,
            "SLUICE_SERVICE_TOKEN": token,
            "SLUICE_LOG_LEVEL": "warn"})
        for kv in args.watcher_env:
            k, _, v = kv.partition("=")
            env[k] = v
        w_log_path = os.path.join(args.log_dir, f"judge-bench-metric-watcher-{sfx}.log")
        w_log = open(w_log_path, "w")
        procs.append(subprocess.Popen([args.metric_watcher], env=env, stdout=w_log,
                                      stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{w_port}"
        if not wait_ok(base + "/readyz", 90):
            raise RuntimeError(f"the metric-watcher did not become ready; log {w_log_path}")
        if args.markdown:
            with open(args.markdown, "a") as out:
                out.write(HEADER + "\n")
        print(HEADER, flush=True)
        details = []
        all_results = []
        for seed, ss in scenarios:
            t = time.time()
            results = judge_all(base, ss, t0, token)
            tabulate(results, seed, args.markdown)
            if not args.small:
                misses = target_misses(results, seed)
                for miss in misses:
                    print(f"judge-bench: target missed: {miss}", file=sys.stderr)
                    status = 1
                if not misses:
                    print(f"judge-bench: seed {seed}: target met (>= 95% caught, <= 1% false "
                          "failures, nothing passed that the data could not tell)", file=sys.stderr)
            all_results += results
            for r in results:
                details.append({"scenario": r["s"].sid, "kind": r["s"].kind, "label": r["s"].label,
                                "traffic": r["s"].traffic, "detectable": r["s"].detectable,
                                "judge": r["judge"], "threshold": r["threshold"],
                                "evidence": r["judge_detail"]})
            print(f"judge-bench: seed {seed} judged in {time.time() - t:.0f}s", file=sys.stderr,
                  flush=True)
        if args.details:
            with open(args.details, "w") as f:
                json.dump(details, f, indent=1)
        if args.small:
            # The make-test part: the plain cases must come out right (a good canary at high
            # traffic passes, none fails, a plain regression is caught, silence never passes).
            for r in all_results:
                s, v = r["s"], r["judge"]
                wrong = ((s.label == "good" and s.traffic == "high" and v != "Successful")
                         or (s.label == "good" and v == "Failed")
                         or (s.label == "bad" and s.detectable and v != "Failed")
                         or (s.label == "silent" and v == "Successful"))
                if wrong:
                    print(f"judge-bench: WRONG {s.sid} ({s.kind}, {s.traffic}): {v}: "
                          f"{json.dumps(r['judge_detail'])[:600]}", file=sys.stderr)
                    status = 1
    except Exception as e:  # noqa: BLE001 - report and clean up
        print(f"judge-bench: {e}", file=sys.stderr)
        status = 2
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", pg_dsn, "-q", "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
