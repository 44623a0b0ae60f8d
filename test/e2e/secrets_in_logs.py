#!/usr/bin/env python3
"""Every configured secret grepped for in the logs of a whole e2e run.

    python3 test/e2e/secrets_in_logs.py --since MARKER [--root DIR]

Scans every log and test output written after MARKER (a file whose mtime marks the start of
the run) under the repository's var/ (the e2e scripts' run directories, the services', hosts'
and stack's logs) and build/dev (test-logs, ctest's Testing/Temporary) for:
  - the value of every secret the local stack and the run configured: the tokens, webhook,
    DingTalk and SMTP secrets and signed-link keys of var/local, the bearer tokens of its
    kubeconfigs and of the control plane's token file, and every *token*, *secret*, *password*
    or *key* file an e2e script wrote into its run directory;
  - the shapes of the credentials Sluice issues, whoever made them (the tests' own included):
    API tokens (slc_ + 43 characters), console sessions (sls_ + 43), and any `Bearer <value>`.
A hit names the file, the line and which secret (never its value) and fails the check.
"""
import argparse
import os
import re
import sys

LOG_SUFFIXES = (".log", ".txt", ".out", ".err")
SECRET_NAME = re.compile(r"(token|secret|password|passwd|key)", re.IGNORECASE)
SHAPES = {
    "an API token (slc_...)": re.compile(r"\bslc_[A-Za-z0-9_-]{43}\b"),
    "a console session id (sls_...)": re.compile(r"\bsls_[A-Za-z0-9_-]{43}\b"),
    "a bearer credential": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{12,}"),
}
MIN_SECRET_LEN = 8  # shorter values would match ordinary words; none of ours is that short


def read_text(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def values_of(path):
    """The secret values one file holds: a bare value, `id:key` lines, or kubeconfig tokens."""
    text = read_text(path)
    base = os.path.basename(path)
    if base.startswith("kubeconfig") or base.endswith(".yaml"):
        return [m.group(1) for m in re.finditer(r"^\s*token:\s*(\S+)\s*$", text, re.M)]
    if base.endswith(".csv"):  # kube-apiserver's static token file: token,user,uid,...
        return [line.split(",", 1)[0] for line in text.splitlines() if "," in line]
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if base == "link-keys" and ":" in line:
            line = line.split(":", 1)[1]
        out.append(line)
    return out


def collect_secrets(root, since):
    secrets = {}  # value -> where it was configured

    def add(path):
        for v in values_of(path):
            if len(v) >= MIN_SECRET_LEN:
                secrets.setdefault(v, os.path.relpath(path, root))

    local = os.path.join(root, "var", "local")
    if os.path.isdir(local):
        for name in sorted(os.listdir(local)):
            path = os.path.join(local, name)
            if os.path.isfile(path) and (SECRET_NAME.search(name) or name.startswith("kubeconfig") or name == "link-keys"):
                add(path)
    kube = os.path.join(root, "var", "stack", "kube")
    for dirpath, _, files in os.walk(kube):
        for name in files:
            if name.endswith(".csv") and "token" in name:
                add(os.path.join(dirpath, name))
    e2e = os.path.join(root, "var", "e2e")
    for dirpath, _, files in os.walk(e2e):
        for name in files:
            path = os.path.join(dirpath, name)
            if SECRET_NAME.search(name) and not name.endswith(LOG_SUFFIXES) and os.path.getmtime(path) >= since:
                add(path)
    return secrets


def log_files(root, since):
    dirs = [os.path.join(root, "var"), os.path.join(root, "build", "dev", "test-logs"),
            os.path.join(root, "build", "dev", "Testing", "Temporary")]
    skip = {os.path.join(root, "var", "cache"), os.path.join(root, "var", "stack")}
    for top in dirs:
        for dirpath, dirnames, files in os.walk(top):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
            for name in files:
                if not name.endswith(LOG_SUFFIXES):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    if os.path.getmtime(path) >= since:
                        yield path
                except OSError:
                    continue


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--since", required=True, help="a file whose mtime marks the start of the run")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    since = os.path.getmtime(args.since)

    secrets = collect_secrets(root, since)
    files = list(log_files(root, since))
    hits = 0
    for path in files:
        for lineno, line in enumerate(read_text(path).splitlines(), 1):
            found = [src for value, src in secrets.items() if value in line]
            found += [shape for shape, rx in SHAPES.items() if rx.search(line)]
            for what in found:
                hits += 1
                if hits <= 50:
                    print(f"secret in a log: {os.path.relpath(path, root)}:{lineno}: {what}")
    if hits:
        print(f"secrets-in-logs: FAILED: {hits} hit(s) in {len(files)} log files written since the run "
              f"started ({len(secrets)} configured secrets); the lines above name each (values not shown)")
        return 1
    print(f"secrets-in-logs: {len(files)} log files of this run, {len(secrets)} configured secrets and "
          f"{len(SHAPES)} credential shapes: no hit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
