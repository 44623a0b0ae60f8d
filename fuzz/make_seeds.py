#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ (checked in; rerun after changing it).

Seeds come from the unit tests' fixtures (the demo spec, the Alertmanager and GitHub payloads,
the agent's deploy body) and from hand-made hostile cases: deep nesting, duplicate keys, NULs,
bad UTF-8, YAML alias bombs, tar traversal, links out of the tree, huge and sparse entries,
gzip bombs, archives in archives. Protobuf seeds are encoded by protoc from text format.
Usage: python3 fuzz/make_seeds.py (from the repository root).
"""
import gzip
import hashlib
import hmac
import io
import json
import os
import shutil
import subprocess
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def js(v):
    return json.dumps(v, separators=(",", ":"))


SHA = "a" * 64
DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 100 + "1" + "}" * 100


def api_json():
    put("api_json", "release", js({"app": "shop", "tag": "v1.2.3", "artifact_url":
                                   "https://artifacts.example/shop-1.2.3.tar.gz", "sha256": SHA}))
    put("api_json", "release_image", js({"app": "shop", "tag": "v2.0.0", "artifact_kind": "image",
                                         "artifact_url": "registry.example/shop:2.0.0",
                                         "sha256": "sha256:" + SHA, "commit": "0" * 40}))
    put("api_json", "token", js({"name": "ci", "role": "deployer", "expires_in": "30d"}))
    put("api_json", "token_at", js({"name": "ci", "role": "admin",
                                    "expires_at": "2027-01-31T10:00:00.5+02:00"}))
    put("api_json", "deployment", js({"release_id": "rel_1", "env": "production",
                                      "spec_version": 3}))
    put("api_json", "command", js({"reason": "bad canary", "generation": 2,
                                   "target_release_id": "rel_0"}))
    put("api_json", "retrospective", js({"template": {"name": "t", "metrics": [
        {"name": "err", "query": "sum(rate(e[1m]))", "threshold": {"max": 0.05}}]},
        "start": "2026-11-25T10:00:00Z", "end": "2026-11-25T11:00:00Z", "step": "30s"}))
    put("api_json", "deep_array", DEEP_ARRAY)
    put("api_json", "deep_object", DEEP_OBJECT)
    put("api_json", "duplicate_key", '{"app":"shop","app":"evil"}')
    put("api_json", "nul", '{"app":"sh\\u0000op"}')
    put("api_json", "bad_utf8", b'{"app":"\xc3\x28"}')
    put("api_json", "huge_number", '{"spec_version":1e999999,"generation":-18446744073709551617}')
    put("api_json", "bidi", '{"app":"shop","tag":"v1.0.0\\u202e","created_by":"x"}')


def delivery_spec():
    with open(os.path.join(ROOT, "services/rollout-planner/examples/demo-app.yaml"), "rb") as f:
        demo = f.read()
    put("delivery_spec", "demo_app", b"\x00" + demo)
    put("delivery_spec", "demo_app_json", b"\x01" + js({"spec": demo.decode()}).encode())
    put("delivery_spec", "minimal", b"\x00" + b"""app: shop
environments:
  production:
    targets:
      - group: web
        hosts:
          - {name: web-1, address: 10.0.0.1, agent: "http://10.0.0.1:7070"}
    strategy:
      type: rolling
      batchSize: 25%
""")
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev = "*a%d" % (i - 1)
        laughs.append("a%d: &a%d [%s]" % (i, i, ", ".join([prev] * 10)))
    put("delivery_spec", "billion_laughs", b"\x00" + ("\n".join(laughs) + "\napp: *a9\n").encode())
    put("delivery_spec", "deep_flow", b"\x00" + b"app: " + b"[" * 3000 + b"]" * 3000)
    put("delivery_spec", "deep_block", b"\x00" + "".join(
        " " * i + "k:\n" for i in range(200)).encode())
    put("delivery_spec", "alias_cycle", b"\x00" + b"a: &x\n  b: *x\napp: shop\n")
    put("delivery_spec", "merge_keys", b"\x00" + b"base: &b {type: canary}\napp: shop\n"
        b"environments:\n  p:\n    strategy:\n      <<: *b\n      steps: [{weight: 10}]\n")
    put("delivery_spec", "tags", b"\x00" + b"!!binary app: !<tag:x> shop\n? [a, b]\n: c\n")
    put("delivery_spec", "nul_and_bad_utf8", b"\x00" + b"app: sh\x00op\nx: \xff\xfe\n")
    put("delivery_spec", "huge_ints", b"\x00" + b"app: shop\nenvironments:\n  p:\n    strategy:\n"
        b"      type: canary\n      maxParallel: 99999999999999999999999\n"
        b"      steps: [{weight: 000000000000000000000000010}, {pause: 9999999999h}]\n")
    put("delivery_spec", "json_not_object", b"\x01" + b'["spec"]')
    put("delivery_spec", "json_deep", b"\x01" + DEEP_ARRAY.encode())


def protoc(message, text, proto):
    return subprocess.run(
        ["protoc", "--encode=" + message, "-I", os.path.join(ROOT, "schemas"), proto],
        input=text.encode(), capture_output=True, check=True, cwd=ROOT).stdout


ENVELOPE_HEAD = ('event_id: "0b7c9f4e-3f7e-4c1b-9d7a-1f2e3d4c5b6a" occurred_at { seconds: 1780000000 }'
                 ' source: "release-intake" schema_version: 1 trace_id: "%s" ' % ("ab" * 16))


def envelope():
    proto = "sluice/v1/envelope.proto"
    cases = {
        "release_created": 'type: "sluice.v1.ReleaseCreated" release_id: "rel_1" release_created {'
                           ' release_id: "rel_1" app: "shop" version: "1.2.3" }',
        "deployment_requested": 'type: "sluice.v1.DeploymentRequested" deployment_id: "dep_1"'
                                ' deployment_requested { deployment_id: "dep_1" app: "shop"'
                                ' env: "production" spec { app: "shop" environments { name:'
                                ' "production" targets { name: "web" hosts { name: "web-1"'
                                ' address: "10.0.0.1" agent_endpoint: "http://10.0.0.1:7070" } }'
                                ' strategy { type: STRATEGY_CANARY steps { weight { percent: 10'
                                ' analysis: true analysis_template: "t" } } steps { pause {} } } } } }',
        "app_spec_applied": 'type: "sluice.v1.AppSpecApplied" app_spec_applied { app: "shop"'
                            ' spec_version: 2 spec { app: "shop" environments { name: "staging"'
                            ' strategy { type: STRATEGY_ROLLING batch_size { value: 25 percent:'
                            ' true } } } } }',
        "analysis_requested": 'type: "sluice.v1.AnalysisRequested" deployment_id: "dep_1"'
                              ' analysis_requested { analysis_id: "an_1" deployment_id: "dep_1"'
                              ' template_name: "t" resolved_template { name: "t" } }',
        "wrong_type": 'type: "sluice.v1.DeploymentFailed" release_created { release_id: "r" }',
    }
    for name, body in cases.items():
        try:
            put("envelope", name, protoc("sluice.v1.Envelope", ENVELOPE_HEAD + body, proto))
        except subprocess.CalledProcessError as e:
            raise SystemExit("protoc: %s: %s" % (name, e.stderr.decode()))
    # A message nested past protobuf's recursion limit (field 20, length-delimited, in itself).
    nested = b""
    for _ in range(200):
        nested = b"\xa2\x01" + encode_varint(len(nested)) + nested
    put("envelope", "deep_nesting", nested)
    put("envelope", "truncated", protoc("sluice.v1.Envelope", ENVELOPE_HEAD, proto)[:-3])


def encode_varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def intake_record():
    proto = "sluice/v1/intake.proto"
    rel = ('submission_id: "s-1" release { app: "shop" tag: "v1.2.3" artifact_url:'
           ' "https://artifacts.example/shop-1.2.3.tar.gz" sha256: "%s" }' % SHA)
    put("intake_record", "release_protobuf", b"\x01" + protoc("sluice.v1.IntakeSubmission", rel, proto))
    put("intake_record", "release_noheader", b"\x00" + protoc("sluice.v1.IntakeSubmission", rel, proto))
    put("intake_record", "release_json", b"\x02" + js({"submission_id": "s-2", "release": {
        "app": "shop", "tag": "v1.2.3", "artifact_url": "https://a.example/s.tar.gz",
        "sha256": SHA}}).encode())
    put("intake_record", "deployment_json", b"\x02" + js({"submission_id": "s-3", "deployment": {
        "release_id": "rel_1", "env": "production", "idempotency_key": "k"}}).encode())
    put("intake_record", "command_json", b"\x02" + js({"submission_id": "s-4", "command": {
        "deployment_id": "dep_1", "verb": "rollback", "reason": "r"}}).encode())
    put("intake_record", "alert_json", b"\x02" + js({"submission_id": "s-5", "alert": {
        "app": "shop", "env": "production", "summary": "down"}}).encode())
    put("intake_record", "deep_json", b"\x02" + DEEP_ARRAY.encode())
    put("intake_record", "other_type", b"\x03" + b"hello")


def alertmanager():
    payload = {
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "status": "firing",
        "receiver": "sluice", "truncatedAlerts": 0, "externalURL": "http://am:9093",
        "commonLabels": {"alertname": "HighErrorRate", "app": "shop"},
        "commonAnnotations": {"summary": "error rate above 5%"},
        "alerts": [{
            "status": "firing",
            "labels": {"env": "production", "severity": "critical", "instance_name": "web-2",
                       "version": "2.0.0", "deployment_id": "dep_1"},
            "annotations": {"value": "0.31", "threshold": "0.05"},
            "startsAt": "2026-11-25T10:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom:9090/graph?g0.expr=sum%28rate%28errors%5B1m%5D%29%29+%3E+0.05&g0.tab=1",
            "fingerprint": "abc123"}]}
    put("alertmanager", "firing", js(payload))
    resolved = json.loads(js(payload))
    resolved["alerts"][0]["status"] = "resolved"
    put("alertmanager", "resolved", js(resolved))
    put("alertmanager", "nul_label", '{"alerts":[{"labels":{"app":"a\\u0000"},"startsAt":"2026-01-01T00:00:00Z"}]}')
    put("alertmanager", "bad_times", '{"alerts":[{"startsAt":"9999-99-99T99:99:99+99:99"},'
        '{"startsAt":"2026-01-01T00:00:00.99999999999999999999Z"},{"startsAt":"-0001-01-01T00:00:00Z"}]}')
    put("alertmanager", "generator_urls", '{"alerts":[{"startsAt":"2026-01-01T00:00:00Z",'
        '"generatorURL":"http://p/graph?g0.expr=%%%25%2&expr=%zz+"}]}')
    put("alertmanager", "deep", '{"alerts":' + DEEP_ARRAY + "}")
    put("alertmanager", "many_alerts", js({"alerts": [{"startsAt": "2026-01-01T00:00:00Z",
                                                        "labels": {"app": "a%d" % i}} for i in range(300)]}))


def github_webhook():
    release = {"action": "published",
               "repository": {"id": 1, "name": "Shop_API", "full_name": "acme/Shop_API"},
               "sender": {"login": "octocat"},
               "release": {"id": 7, "tag_name": "v2.0.1", "draft": False,
                           "target_commitish": "0123456789abcdef0123456789abcdef01234567",
                           "assets": [{"name": "notes.txt"},
                                      {"name": "shop-2.0.1.tar.gz",
                                       "browser_download_url": "https://github.com/acme/Shop_API/releases/download/v2.0.1/shop-2.0.1.tar.gz",
                                       "digest": "sha256:" + SHA}]}}
    body = js(release).encode()
    put("github_webhook", "release_signed", b"\x01\n" + b"release\n" + body)
    sig = "sha256=" + hmac.new(b"fuzz-webhook-secret", body, hashlib.sha256).hexdigest()
    put("github_webhook", "release_header", b"\x00" + sig.encode() + b"\nrelease\n" + body)
    put("github_webhook", "bad_signature", b"\x00sha256=" + b"0" * 64 + b"\nrelease\n" + body)
    put("github_webhook", "ping", b"\x01\nping\n" + js({"zen": "Keep it simple", "hook_id": 1}).encode())
    put("github_webhook", "deep", b"\x01\nrelease\n" + DEEP_ARRAY.encode())
    odd = json.loads(js(release))
    odd["release"]["assets"] = [{"name": "a.tar.gz", "browser_download_url": "javascript:x",
                                 "digest": "sha256:" + "Z" * 64}] * 50
    odd["release"]["tag_name"] = "v1.0.0\u202e"
    put("github_webhook", "odd_assets", b"\x01\nrelease\n" + js(odd).encode())


def agent_deploy():
    deploy = {"version": "1.2.3", "artifact_url": "https://artifacts.example/shop-1.2.3.tar.gz",
              "sha256": "A" * 64, "generation": 7, "deployment_id": "dep_1",
              "service": {"restart_command": ["systemctl", "restart", "shop"],
                          "health": {"http_url": "http://127.0.0.1:8080/healthz", "timeout": "20s"}}}
    put("agent_deploy", "deploy", b"\x00" + js(deploy).encode())
    put("agent_deploy", "revert", b"\x01" + js({"version": "1.2.2", "deployment_id": "dep_1",
                                                "generation": 8}).encode())
    evil = dict(deploy, version="../../etc", generation="18446744073709551616")
    evil["service"] = {"restart_command": ["sh", "-c", "rm -rf /"], "health": {"timeout": 1e308,
                                                                              "interval": "-5s"}}
    put("agent_deploy", "hostile_values", b"\x00" + js(evil).encode())
    put("agent_deploy", "deep", b"\x00" + DEEP_OBJECT.encode())
    put("agent_deploy", "wrong_types", b"\x00" + js({"version": [], "service": "x",
                                                     "generation": {"a": 1}}).encode())


def tar_bytes(entries, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, size=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    info.size = len(data) if size is None else size
    return info, (data if kind == tarfile.REGTYPE else None)


def agent_extract():
    put("agent_extract", "release_targz", gzip.compress(tar_bytes([
        entry("./", tarfile.DIRTYPE, mode=0o755), entry("bin/", tarfile.DIRTYPE, mode=0o755),
        entry("bin/shop", data=b"#!/bin/sh\necho shop\n", mode=0o4755),
        entry("current", tarfile.SYMTYPE, link="bin/shop"),
        entry("shop-hard", tarfile.LNKTYPE, link="bin/shop")]), mtime=0))
    put("agent_extract", "plain_tar", tar_bytes([entry("a.txt", data=b"hello\n")]))
    put("agent_extract", "pax", tar_bytes([entry("p/" + "x" * 200, data=b"long name")],
                                          fmt=tarfile.PAX_FORMAT))
    put("agent_extract", "traversal", tar_bytes([entry("../outside/evil", data=b"x")]))
    put("agent_extract", "traversal_nested", tar_bytes([entry("a/b/../../../evil", data=b"x")]))
    put("agent_extract", "absolute", tar_bytes([entry("/tmp/sluice-evil", data=b"x")]))
    put("agent_extract", "symlink_escape", tar_bytes([
        entry("out", tarfile.SYMTYPE, link="../outside"), entry("out/evil", data=b"x")]))
    put("agent_extract", "symlink_chain", tar_bytes([
        entry("a", tarfile.SYMTYPE, link="b"), entry("b", tarfile.SYMTYPE, link="c/../.."),
        entry("c/", tarfile.DIRTYPE, mode=0o755)]))
    put("agent_extract", "symlink_absolute", tar_bytes([entry("etc", tarfile.SYMTYPE, link="/etc")]))
    put("agent_extract", "hardlink_escape", tar_bytes([
        entry("passwd", tarfile.LNKTYPE, link="../../../../etc/passwd")]))
    put("agent_extract", "hardlink_to_symlink", tar_bytes([
        entry("s", tarfile.SYMTYPE, link="."), entry("h", tarfile.LNKTYPE, link="s"),
        entry("h/x", data=b"x")]))
    put("agent_extract", "device_fifo", tar_bytes([entry("null", tarfile.CHRTYPE),
                                                   entry("fifo", tarfile.FIFOTYPE)]))
    put("agent_extract", "huge_declared", tar_bytes([entry("big", data=b"", size=0)])[:512]
        .replace(b"00000000000\x00", b"77777777777\x00", 1))
    # A GNU sparse file: a 1 TiB hole declared, 512 bytes of data.
    sparse = tarfile.TarInfo("sparse")
    sparse.type = tarfile.GNUTYPE_SPARSE
    sparse.size = 512
    hdr = bytearray(sparse.tobuf(tarfile.GNU_FORMAT))
    put("agent_extract", "sparse_gnu", bytes(hdr) + b"s" * 512 + b"\x00" * 1024)
    # PAX sparse 1.0: a 1 TiB file of 16 bytes; and a small declared size whose map lies.
    put("agent_extract", "pax_sparse_huge", pax_sparse("big", 1 << 40, (1 << 40) - 16, b"x" * 16))
    put("agent_extract", "pax_sparse_lying_map", pax_sparse("big", 100, (1 << 40) - 16, b"x" * 16))
    put("agent_extract", "gzip_bomb", gzip.compress(tar_bytes([
        entry("zeros", data=b"\x00" * (4 << 20))]), mtime=0))
    inner = gzip.compress(tar_bytes([entry("inner.bin", data=b"\x00" * 65536)]), mtime=0)
    put("agent_extract", "nested_archive", gzip.compress(tar_bytes([
        entry("layer.tar.gz", data=inner)] * 3), mtime=0))
    put("agent_extract", "many_entries", gzip.compress(tar_bytes([
        entry("d%04d" % i, tarfile.DIRTYPE, mode=0o755) for i in range(300)]), mtime=0))
    put("agent_extract", "overwrite_dir_with_link", tar_bytes([
        entry("d/", tarfile.DIRTYPE, mode=0o755), entry("d", tarfile.SYMTYPE, link="../outside"),
        entry("d/x", data=b"x")]))


def pax_sparse(name, realsize, offset, data):
    sparse_map = ("1\n%d\n%d\n" % (offset, len(data))).encode()
    payload = sparse_map + b"\0" * (512 - len(sparse_map)) + data
    info = tarfile.TarInfo("GNUSparseFile.0/" + name)
    info.size = len(payload)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": name, "GNU.sparse.realsize": str(realsize)}
    return tar_bytes([(info, payload)], fmt=tarfile.PAX_FORMAT)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    for make in (api_json, delivery_spec, envelope, intake_record, alertmanager, github_webhook,
                 agent_deploy, agent_extract):
        make()
    for target in sorted(os.listdir(CORPUS)):
        print("%-15s %d seeds" % (target, len(os.listdir(os.path.join(CORPUS, target)))))


if __name__ == "__main__":
    main()
