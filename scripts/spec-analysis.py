#!/usr/bin/env python3
"""Adds canary analysis to the demo hosts' delivery spec (written by scripts/hosts.sh).

  spec-analysis.py SPEC --app NAME [--window 30s] [--interval 5s] [--count 3]
                   [--bake 30s] [--pause 3s] [--on-canary-failure revert-batch]

Prints the spec with both canary batches judged (`analysis: default`), the seed rule
"error_rate > 5% OR p95_latency > 500ms" over the demo application's metrics, a bake watch
after 100% and the rollback policy. Used by `make demo` and the rollback e2e test.
"""
import argparse
import re
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("spec")
    p.add_argument("--app", required=True)
    p.add_argument("--window", default="30s", help="rate() window of the queries")
    p.add_argument("--interval", default="5s")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--inconclusive-limit", type=int, default=3)
    p.add_argument("--bake", default="30s")
    p.add_argument("--pause", default="3s")
    p.add_argument("--health-timeout", default="")
    p.add_argument("--on-canary-failure", default="revert-batch",
                   choices=["revert-batch", "revert-all"])
    a = p.parse_args()

    text = open(a.spec).read()
    text = re.sub(r"^app: .*$", "app: " + a.app, text, flags=re.M)
    if a.health_timeout:
        text = text.replace("timeout: 20s}", "timeout: %s}" % a.health_timeout)
    steps = (
        "      steps:\n"
        "        - weight: 5%\n"
        "          analysis: default\n"
        f"        - pause: {a.pause}\n"
        "        - weight: 25%\n"
        "          analysis: default\n"
        f"        - pause: {a.pause}\n"
        "        - weight: 100%\n"
    )
    text, n = re.subn(r"      steps:\n(        - .*\n)+", steps, text)
    if n != 1:
        print("spec-analysis: no canary steps found in " + a.spec, file=sys.stderr)
        return 1
    sel = 'app="{{app}}",version="{{version}}",instance_name=~"{{instances}}"'
    w = a.window
    # A 5xx series exists only once an error happened: "or ... * 0" makes "no errors" a 0.
    error_rate = (
        f'(sum by (instance_name) (rate(demo_http_requests_total{{{sel},code=~"5.."}}[{w}]))'
        f" or sum by (instance_name) (rate(demo_http_requests_total{{{sel}}}[{w}])) * 0)"
        f" / sum by (instance_name) (rate(demo_http_requests_total{{{sel}}}[{w}]))"
    )
    p95 = (
        "histogram_quantile(0.95, sum by (le, instance_name) "
        f"(rate(demo_http_request_duration_seconds_bucket{{{sel}}}[{w}])))"
    )
    analysis = f"""    analysis:
      bakeWatch: {{template: default, duration: {a.bake}}}
      templates:
        default:
          interval: {a.interval}
          count: {a.count}
          failureLimit: 0
          inconclusiveLimit: {a.inconclusive_limit}
          metrics:
            error_rate:
              query: '{error_rate}'
            p95_latency:
              query: '{p95}'
          rules:
            - name: seed
              failWhen: "error_rate > 5% OR p95_latency > 500ms"
              severity: critical
    rollback:
      onCanaryFailure: {a.on_canary_failure}
"""
    sys.stdout.write(text.rstrip("\n") + "\n" + analysis)
    return 0


if __name__ == "__main__":
    sys.exit(main())
