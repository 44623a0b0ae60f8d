#!/usr/bin/env python3
"""Checks on what the charts render, without a cluster (scripts/check-charts.sh runs it).

  python3 test/helm/render_checks.py HELM

- The umbrella chart renders with each values file, under a release name that contains a
  service's name ("executor": the case where a standalone chart would drop the prefix), and
  the services' URLs point at Services that exist in the same render.
- Every Deployment has a startupProbe, probes, a PDB (unless disabled), topology spread; with
  the staging / prod files a NetworkPolicy, ServiceMonitor and PrometheusRule per service, and
  the Ingresses of release-intake; no secret is a literal value; every secretKeyRef names one
  of the Secrets the values say exist.
- The schemas refuse what they should (unknown key, unknown config key, bad digest, ...).
- The rendered PrometheusRules pass `promtool check rules`, and `promtool test rules` with
  test/helm/sluice-rules.test.yml: the alerts fire for this release's job and not for
  another's.
Prints one line per check; exits 1 if any failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UMBRELLA = os.path.join(ROOT, "charts", "sluice")
SERVICES = ["release-intake", "rollout-planner", "executor", "metric-watcher", "rollback-agent", "notifier"]
RELEASE = "executor"
NAMESPACE = "sluice-render"
failed = 0
passed = 0


def check(what, ok, detail=""):
    global failed, passed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")
        if detail:
            print("       " + str(detail).replace("\n", "\n       "))


def render(helm, *args, release=RELEASE, chart=UMBRELLA):
    p = subprocess.run([helm, "template", release, chart, "-n", NAMESPACE, *args],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def env_of(dep):
    c = dep["spec"]["template"]["spec"]["containers"][0]
    return c.get("env", []), c


def main():
    helm = sys.argv[1]
    variants = {
        "values.yaml": [],
        "values-dev.yaml": ["-f", os.path.join(UMBRELLA, "values-dev.yaml")],
        "values-staging.yaml": ["-f", os.path.join(UMBRELLA, "values-staging.yaml")],
        "values-prod.yaml": ["-f", os.path.join(UMBRELLA, "values-prod.yaml")],
    }
    rules_docs = []
    for name, args in variants.items():
        rc, out, err = render(helm, *args)
        check(f"{name}: renders", rc == 0, err.strip())
        if rc != 0:
            continue
        objs = docs(out)
        by_kind = {}
        for o in objs:
            by_kind.setdefault(o["kind"], []).append(o)
        deps = by_kind.get("Deployment", [])
        names = {o["metadata"]["name"] for o in objs}
        check(f"{name}: six Deployments named <release>-<service>",
              sorted(d["metadata"]["name"] for d in deps) == sorted(f"{RELEASE}-{s}" for s in SERVICES),
              [d["metadata"]["name"] for d in deps])
        # The wiring: every in-cluster URL of the ConfigMaps names a Service of this render.
        services = {o["metadata"]["name"] for o in by_kind.get("Service", [])}
        bad = []
        for cm in by_kind.get("ConfigMap", []):
            for k, v in (cm.get("data") or {}).items():
                m = re.match(r"^https?://([a-z0-9-]+):\d+", str(v))
                if k.endswith("_URL") and m and m.group(1).startswith(RELEASE + "-") and m.group(1) not in services:
                    bad.append(f"{cm['metadata']['name']}.{k}={v}")
                if "{{" in str(v):
                    bad.append(f"{cm['metadata']['name']}.{k} not rendered: {v}")
        ri = next(cm for cm in by_kind["ConfigMap"] if cm["metadata"]["name"] == f"{RELEASE}-release-intake")
        check(f"{name}: URLs between the services resolve to this release's Services", not bad
              and ri["data"]["SLUICE_PLANNER_URL"] == f"http://{RELEASE}-rollout-planner:8082"
              and ri["data"]["SLUICE_EXECUTOR_URL"] == f"http://{RELEASE}-executor:8084", bad)
        brokers = {cm["data"].get("SLUICE_KAFKA_BROKERS") for cm in by_kind["ConfigMap"] if "SLUICE_KAFKA_BROKERS" in cm["data"]}
        check(f"{name}: one Kafka address for the six (global.sluice.kafka.brokers)", len(brokers) == 1, brokers)
        # Probes, spread, secrets.
        problems, secret_names = [], set()
        for d in deps:
            env, c = env_of(d)
            n = d["metadata"]["name"]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in c:
                    problems.append(f"{n}: no {probe}")
            for e in env:
                if "value" in e and re.search(r"TOKEN|DSN|SECRET|PASSWORD|AUTHORIZATION", e["name"]):
                    problems.append(f"{n}: {e['name']} is a literal value")
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret_names.add(ref["name"])
            envnames = [e["name"] for e in env]
            if len(envnames) != len(set(envnames)):
                problems.append(f"{n}: duplicate env {envnames}")
            if not c["image"].startswith(("127.0.0.1:15000/sluice/", "registry.example.com/sluice/", "sluice/")):
                problems.append(f"{n}: image {c['image']}")
        check(f"{name}: startup/liveness/readiness probes, no literal secrets, no duplicate env", not problems, "\n".join(problems))
        # Signed links: release-intake and the notifier read the same keys (optional: links off
        # while absent), from the suite's Secret under the umbrella.
        links = {}
        for d in deps:
            for e in env_of(d)[0]:
                if e["name"] == "SLUICE_LINK_KEYS":
                    links[d["metadata"]["name"][len(RELEASE) + 1:]] = e.get("valueFrom", {}).get("secretKeyRef")
        want_ref = {"name": "sluice", "key": "link-keys", "optional": True}
        check(f"{name}: release-intake and the notifier read SLUICE_LINK_KEYS from one Secret (optional)",
              links == {"release-intake": want_ref, "notifier": want_ref}, links)
        expected_secrets = {"sluice", "sluice-service-token"} | ({"sluice-redis"} if name == "values-prod.yaml" else set())
        check(f"{name}: secrets come from the existing Secrets named in values", secret_names == expected_secrets,
              f"{sorted(secret_names)} != {sorted(expected_secrets)}")
        want_pdb = name != "values-dev.yaml"
        check(f"{name}: a PodDisruptionBudget per Deployment" if want_pdb else f"{name}: no PDB (dev)",
              len(by_kind.get("PodDisruptionBudget", [])) == (6 if want_pdb else 0))
        spread = [d["metadata"]["name"] for d in deps if not d["spec"]["template"]["spec"].get("topologySpreadConstraints")]
        check(f"{name}: topology spread" if want_pdb else f"{name}: no spread (dev)", (not spread) if want_pdb else len(spread) == 6, spread)
        if name in ("values-staging.yaml", "values-prod.yaml"):
            for kind in ("NetworkPolicy", "ServiceMonitor", "PrometheusRule"):
                check(f"{name}: a {kind} per service", len(by_kind.get(kind, [])) == 6)
            ings = {i["metadata"]["name"]: i for i in by_kind.get("Ingress", [])}
            paths = sorted(p["path"] for i in ings.values() for r in i["spec"]["rules"] for p in r["http"]["paths"])
            check(f"{name}: Ingresses for the public API and the GitHub webhook",
                  sorted(ings) == [f"{RELEASE}-release-intake-api", f"{RELEASE}-release-intake-webhook"]
                  and "/v1/hooks/github" in paths and "/v1" in paths
                  and all(p["backend"]["service"]["name"] == f"{RELEASE}-release-intake"
                          for i in ings.values() for r in i["spec"]["rules"] for p in r["http"]["paths"]), paths)
            # NetworkPolicy egress: DNS + the dependencies; nothing open to every port.
            open_rules = [np["metadata"]["name"] for np in by_kind["NetworkPolicy"]
                          for r in np["spec"]["egress"] if not r.get("ports")]
            check(f"{name}: every egress rule is limited to ports", not open_rules, open_rules)
            ex = next(np for np in by_kind["NetworkPolicy"] if np["metadata"]["name"] == f"{RELEASE}-executor")
            ports = sorted({p["port"] for r in ex["spec"]["egress"] for p in r["ports"]})
            check(f"{name}: the executor's egress: DNS, Kafka, PostgreSQL, Redis, agents, Kubernetes API",
                  ports == [53, 443, 5432, 6379, 6443, 7070, 9092], ports)
            if name == "values-prod.yaml":
                cron = by_kind.get("CronJob", [])
                arch = next((cm for cm in by_kind["ConfigMap"] if cm["metadata"]["name"] == f"{RELEASE}-postgres-archiving"), None)
                timeout = re.search(r"archive_timeout = (\d+)s", arch["data"]["archiving.conf"]) if arch else None
                check(f"{name}: a base-backup CronJob and the WAL archiving settings (archive_timeout <= 60s)",
                      [c["metadata"]["name"] for c in cron] == [f"{RELEASE}-postgres-base-backup"]
                      and timeout is not None and int(timeout.group(1)) <= 60
                      and "pg_basebackup" in cron[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][0],
                      arch)
                rules_docs = by_kind["PrometheusRule"]
                check(f"{name}: an HPA for release-intake only (the consumers scale by partitions)",
                      [h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", [])]
                      == [f"{RELEASE}-release-intake"])
                ri_dep = next(d for d in deps if d["metadata"]["name"] == f"{RELEASE}-release-intake")
                check(f"{name}: no replicas field where the HPA owns the count", "replicas" not in ri_dep["spec"])

    # A digest pins the image; the global registry prefixes it.
    digest = "sha256:" + "ab" * 32
    rc, out, err = render(helm, "--set", f"executor.image.digest={digest}", "--set", "global.sluice.image.registry=127.0.0.1:15000")
    imgs = [env_of(d)[1]["image"] for d in docs(out) if d["kind"] == "Deployment"] if rc == 0 else []
    check("image.digest pins the image (registry/repository@sha256)", f"127.0.0.1:15000/sluice/executor@{digest}" in imgs, imgs or err)

    # Standalone, the link keys come from links.existingSecret, else sluice-link-keys.
    for svc in ("release-intake", "notifier"):
        refs = []
        for args in ([], ["--set", "links.existingSecret=my-links", "--set", "links.key=k"]):
            rc, out, err = render(helm, *args, chart=os.path.join(ROOT, "charts", svc), release=svc)
            refs += [e["valueFrom"]["secretKeyRef"] for d in (docs(out) if rc == 0 else []) if d["kind"] == "Deployment"
                     for e in env_of(d)[0] if e["name"] == "SLUICE_LINK_KEYS"]
        check(f"{svc}: SLUICE_LINK_KEYS from sluice-link-keys, or links.existingSecret / links.key",
              [(r["name"], r["key"]) for r in refs] == [("sluice-link-keys", "link-keys"), ("my-links", "k")], refs)

    # Kafka SASL: each service as its own principal, the password a mounted Secret file (never
    # an environment value), the CA a mounted file; nothing of it while plaintext.
    rc, out, err = render(helm, "--set", "global.sluice.kafka.securityProtocol=sasl_ssl",
                          "--set", "global.sluice.kafka.saslExistingSecret=sluice-kafka",
                          "--set", "global.sluice.kafka.caExistingSecret=sluice-kafka-ca",
                          "--set", "executor.kafka.saslUsername=exec-principal")
    sasl = {}
    for d in (docs(out) if rc == 0 else []):
        if d["kind"] != "Deployment":
            continue
        env, c = env_of(d)
        vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
        sasl[d["metadata"]["name"].removeprefix(f"{RELEASE}-")] = (
            {e["name"]: e.get("value") for e in env if e["name"].startswith("SLUICE_KAFKA_")},
            vols.get("kafka-sasl", {}).get("secret"), vols.get("kafka-ca", {}).get("secret"), mounts)
    want_users = {s: s for s in ("release-intake", "rollout-planner", "metric-watcher", "notifier", "rollback-agent")}
    want_users["executor"] = "exec-principal"
    check("sasl_ssl: every service its own principal, the password and CA as mounted Secret files",
          set(sasl) == set(want_users) and all(
              e.get("SLUICE_KAFKA_SECURITY_PROTOCOL") == "sasl_ssl"
              and e.get("SLUICE_KAFKA_SASL_USERNAME") == want_users[s]
              and e.get("SLUICE_KAFKA_SASL_MECHANISM") == "SCRAM-SHA-512"
              and e.get("SLUICE_KAFKA_SASL_PASSWORD_FILE") == "/etc/sluice/kafka-sasl/password"
              and e.get("SLUICE_KAFKA_SSL_CA_LOCATION") == "/etc/sluice/kafka-ca/ca.pem"
              and "SLUICE_KAFKA_SASL_PASSWORD" not in e
              and sv == {"secretName": "sluice-kafka", "defaultMode": 0o440,
                         "items": [{"key": want_users[s], "path": "password"}]}
              and cv["secretName"] == "sluice-kafka-ca"
              and m.get("kafka-sasl") == "/etc/sluice/kafka-sasl" and m.get("kafka-ca") == "/etc/sluice/kafka-ca"
              for s, (e, sv, cv, m) in sasl.items()), sasl or err)
    rc, out, err = render(helm, "--set", "global.sluice.kafka.securityProtocol=sasl_ssl")
    check("sasl_ssl without global.sluice.kafka.saslExistingSecret is refused, naming it",
          rc != 0 and "saslExistingSecret" in err, err)
    rc, out, err = render(helm)
    plain = [e["name"] for d in (docs(out) if rc == 0 else []) if d["kind"] == "Deployment"
             for e in env_of(d)[0] if e["name"].startswith(("SLUICE_KAFKA_SECURITY", "SLUICE_KAFKA_SASL"))]
    check("plaintext (the default): no Kafka security settings", rc == 0 and not plain, plain or err)

    # The schemas refuse.
    refused = {
        "an unknown Kafka security protocol": ["--set", "global.sluice.kafka.securityProtocol=SASL-SSL"],
        "an unknown top-level key": ["--set", "executor.replicas=3"],
        "an unknown config key": ["--set", "notifier.config.LOG_LEVEL=debug"],
        "a malformed digest": ["--set", "executor.image.digest=sha256:xyz"],
        "a bad pullPolicy": ["--set", "global.sluice.image.pullPolicy=Sometimes"],
        "a Kafka address without a port": ["--set", "global.sluice.kafka.brokers=kafka"],
        "a percent-less string PDB": ["--set", "executor.podDisruptionBudget.maxUnavailable=half"],
        "an egress rule without ports' shape": ["--set", "executor.networkPolicy.egress.kafka.ports[0].proto=TCP"],
        "umbrella off (names would not match the wiring)": ["--set", "global.sluice.umbrella=false"],
        "a link-keys key that is no Secret key": ["--set", "notifier.links.key=a/b"],
    }
    for what, args in refused.items():
        rc, out, err = render(helm, *args)
        check(f"schema refuses {what}", rc != 0 and "schema" in err.lower() or rc != 0 and "at '" in err, err.strip()[-300:] or "rendered")
    for svc in SERVICES:
        rc, out, err = render(helm, "--set", "replicaCount=x", chart=os.path.join(ROOT, "charts", svc), release=svc)
        check(f"{svc}: its own schema refuses replicaCount=x", rc != 0, err.strip()[-200:])

    # The alert rules: valid PromQL, and they fire for this release's job only.
    promtool = shutil.which("promtool")
    if not promtool:
        check("promtool is installed (scripts/install-deps.sh)", False)
    elif rules_docs:
        tmp = tempfile.mkdtemp()
        try:
            groups = [g for r in rules_docs for g in r["spec"]["groups"]]
            path = os.path.join(tmp, "sluice.rules.yml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": groups}, f)
            p = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
            check(f"promtool check rules: {len(groups)} groups, {sum(len(g['rules']) for g in groups)} rules", p.returncode == 0, p.stdout + p.stderr)
            shutil.copy(os.path.join(ROOT, "test", "helm", "sluice-rules.test.yml"), tmp)
            p = subprocess.run([promtool, "test", "rules", "sluice-rules.test.yml"], cwd=tmp, capture_output=True, text=True)
            check("promtool test rules test/helm/sluice-rules.test.yml", p.returncode == 0, (p.stdout + p.stderr)[-1500:])
        finally:
            shutil.rmtree(tmp)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
