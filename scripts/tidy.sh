#!/usr/bin/env bash
# clang-tidy over every translation unit of the dev build (the checks of .clang-tidy), skipping
# the ones already found clean: a pass is cached under ~/.cache/sluice/tidy (SLUICE_TIDY_CACHE)
# keyed by the SHA-256 of the TU's preprocessed text (`c++ -E` with the compile command's flags:
# the file and every header it includes, comments kept), .clang-tidy and the clang-tidy
# version. So a warm run costs one preprocessing per TU, and a change to a header
# re-checks every TU that includes it. Test TUs are checked without the static analyzer.
#
#   bash scripts/tidy.sh [FILE...]      (default: every TU of build/dev outside build/)
#   bash scripts/tidy.sh --changed [BASE]
#       only the TUs whose source, or a header they include (ninja's dependency log of the
#       build), differs from BASE (default: the merge base with main) in the working tree:
#       committed, staged, unstaged or untracked. Everything when .clang-tidy itself changed.
#       The cost of a cold run is then that of the change, not of the tree.
#
# The key leaves out the clone's path (__FILE__ expands to it), so every clone on a machine
# shares the cache.
#
# SLUICE_TIDY_BUILD (default build/dev: needs its compile_commands.json and generated headers,
# i.e. `make build` first), SLUICE_TIDY_JOBS (default 2), SLUICE_TIDY_LIST=1 (print the TUs a
# run would check, check none), SLUICE_TIDY_DEADLINE (epoch seconds: after it, no uncached TU
# is started; the ones left are listed as unchecked and the run says it is incomplete; .ci/run
# sets it so tidy cannot take CI past its time). Exits 1 with the findings when any.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=tidy
cd "$SLUICE_ROOT"

BUILD="${SLUICE_TIDY_BUILD:-build/dev}"
CACHE="${SLUICE_TIDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/tidy}"
TIDY="${CLANG_TIDY:-clang-tidy}"

sl_have "$TIDY" || sl_die "clang-tidy is missing; run scripts/install-deps.sh"
[[ -f $BUILD/compile_commands.json ]] || sl_die "no $BUILD/compile_commands.json: run make build"
mkdir -p "$CACHE"

# The compiler's flags are GCC's; clang-tidy is Clang: let it pass over GCC-only warning flags.
TIDY_ARGS=(--quiet "--warnings-as-errors=*" --extra-arg=-Wno-unknown-warning-option
  -p "$BUILD")
SALT="$("$TIDY" --version | sha256sum | cut -c1-64) $(sha256sum .clang-tidy | cut -c1-64) ${TIDY_ARGS[*]}"

CHANGED=""
if [[ ${1:-} == --changed ]]; then
  shift
  base="${1:-}"
  [[ $# -gt 0 ]] && shift
  if [[ -z $base ]]; then
    base="$(git merge-base HEAD main 2>/dev/null || git merge-base HEAD origin/main 2>/dev/null ||
      git rev-parse HEAD)"
  fi
  CHANGED="$( {
    git diff --name-only "$base" --
    git ls-files --others --exclude-standard
  } | sort -u)"
  sl_log "--changed since ${base:0:10}: $(printf '%s\n' "$CHANGED" | grep -c . || true) file(s) differ"
  [[ -n $CHANGED ]] || { sl_log "nothing changed"; exit 0; }
  export SLUICE_TIDY_CHANGED="$CHANGED"
fi

export SLUICE_ROOT BUILD CACHE TIDY SALT
export TIDY_ARGS_STR="${TIDY_ARGS[*]}"
start=$SECONDS
set +e
python3 - "$@" <<'PY'
import concurrent.futures, hashlib, json, os, resource, shlex, subprocess, sys, time

root, build, cache = os.environ["SLUICE_ROOT"], os.environ["BUILD"], os.environ["CACHE"]
tidy, salt = os.environ["TIDY"], os.environ["SALT"]
tidy_args = os.environ["TIDY_ARGS_STR"].split()
jobs = int(os.environ.get("SLUICE_TIDY_JOBS", "2"))
deadline = float(os.environ.get("SLUICE_TIDY_DEADLINE") or 0)  # epoch s; 0: none

def is_test(rel):
    base = os.path.basename(rel)
    return base.endswith(("_test.cpp", "_itest.cpp")) or "/test/" in rel

# Tests run without the static analyzer: it triples the time of a GoogleTest TU (its paths run
# through every EXPECT macro) and finds little there; the bugprone and performance checks stay.
TEST_ARGS = ["--checks=-clang-analyzer-*"]

with open(os.path.join(build, "compile_commands.json")) as f:
    entries = json.load(f)
build_abs = os.path.realpath(build)
wanted = {os.path.realpath(a) for a in sys.argv[1:]}
units, seen = [], set()
for e in entries:
    path = os.path.realpath(os.path.join(e["directory"], e["file"]))
    if path.startswith(build_abs + os.sep) or not path.startswith(root + os.sep):
        continue  # generated code (protobuf, embedded files) is not ours to lint
    if (wanted and path not in wanted) or path in seen:
        continue
    seen.add(path)
    units.append((path, e))
# --changed: keep the TUs that are, or include, a changed file (ninja's deps log lists every
# header each object was built with; a TU not built yet is kept).
changed = [c for c in os.environ.get("SLUICE_TIDY_CHANGED", "").split("\n") if c]
if changed and ".clang-tidy" not in changed:
    changed_abs = {os.path.realpath(os.path.join(root, c)) for c in changed}
    deps, current = {}, None
    out = subprocess.run(["ninja", "-C", build, "-t", "deps"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line and not line[0].isspace():
            current = os.path.realpath(os.path.join(build, line.split(":")[0]))
            deps[current] = set()
        elif line.strip() and current:
            deps[current].add(os.path.realpath(os.path.join(build, line.strip())))
    def touched(unit):
        path, e = unit
        if path in changed_abs:
            return True
        args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
        obj = e.get("output") or (args[args.index("-o") + 1] if "-o" in args else "")
        obj = os.path.realpath(os.path.join(e["directory"], obj))
        return obj not in deps or bool(deps[obj] & changed_abs)
    units = [u for u in units if touched(u)]
# Production code first: its findings matter most and come sooner.
units.sort(key=lambda u: is_test(os.path.relpath(u[0], root)))
if os.environ.get("SLUICE_TIDY_LIST"):  # which TUs a run would check, and nothing else
    for path, _ in units:
        print(os.path.relpath(path, root))
    sys.exit(0)
if wanted and len(units) < len(wanted):
    missing = wanted - seen
    sys.exit("tidy: not in %s/compile_commands.json: %s" % (build, " ".join(sorted(missing))))

def preprocess_command(e):
    args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a.startswith("-o"):
            continue
        out.append(a)
    return out + ["-E", "-P", "-C"]  # comments kept: NOLINT lives in them

def check(unit):
    path, e = unit
    rel = os.path.relpath(path, root)
    extra = TEST_ARGS if is_test(rel) else []
    command = preprocess_command(e)
    pre = subprocess.run(command, cwd=e["directory"], capture_output=True)
    h = hashlib.sha256(salt.encode())
    h.update(rel.encode())
    h.update(" ".join(extra).encode())
    # The clone's own path leaves the key: __FILE__ (every GoogleTest assertion, every log
    # macro) expands to an absolute path, and CI checks a fresh clone in a folder of its own.
    text = pre.stdout.replace(root.encode(), b"<root>") if pre.returncode == 0 else os.urandom(16)
    h.update(text)  # no key when preprocessing failed: always check
    stamp = os.path.join(cache, h.hexdigest())
    if os.path.exists(stamp):
        return rel, "cached", "", 0.0
    if deadline and time.time() >= deadline:
        return rel, "unchecked", "", 0.0
    t0 = time.monotonic()
    r = subprocess.run(["nice", tidy, *tidy_args, *extra, path], cwd=root, capture_output=True,
                       text=True)
    took = time.monotonic() - t0
    if r.returncode == 0:
        with open(stamp, "w") as f:
            f.write(rel + "\n")
        return rel, "clean", "", took
    return rel, "findings", (r.stdout + r.stderr).strip(), took

counts = {"cached": 0, "clean": 0, "findings": 0, "unchecked": 0}
failed, unchecked = [], []
with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
    for rel, status, text, took in pool.map(check, units):
        counts[status] += 1
        if status == "unchecked":
            unchecked.append(rel)
        elif status != "cached":
            print("tidy: %-9s %5.1fs  %s" % (status, took, rel), flush=True)
        if text:
            failed.append(rel)
            print(text, flush=True)
cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
print("tidy: %d translation units: %d cached, %d checked clean, %d with findings; %.0f CPU-s"
      % (len(units), counts["cached"], counts["clean"], counts["findings"],
         cpu.ru_utime + cpu.ru_stime))
if unchecked:
    print("tidy: INCOMPLETE: the deadline (SLUICE_TIDY_DEADLINE) came before %d translation units"
          " not in the cache were checked; run make tidy to check them:" % len(unchecked))
    for rel in unchecked:
        print("tidy:   unchecked  " + rel)
if failed:
    print("tidy: findings in " + " ".join(failed))
    sys.exit(1)
PY
rc=$?
set -e
sl_log "took $((SECONDS - start))s"
exit "$rc"
