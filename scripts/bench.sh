#!/usr/bin/env bash
# make bench: runs the benchmarks against the local stack and writes their figures to
# BENCHMARKS.md (with the machine they ran on). Bounded in count and time.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=bench
cd "$SLUICE_ROOT"
BUILD="${SLUICE_BENCH_BUILD_DIR:-build/release}"
RELEASES="${SLUICE_BENCH_RELEASES:-3000}"
CLIENTS="${SLUICE_BENCH_CLIENTS:-8}"

sl_log "building the release preset (optimised) into $BUILD"
cmake --preset release >/dev/null
cmake --build "$BUILD" --target release-intake intake-bench sluice -j2

started_stack=0
if ! bash scripts/stack.sh status >/dev/null 2>&1; then
  bash scripts/stack.sh up
  started_stack=1
fi
# The benchmark runs its own optimised release-intake.
was_running=0
if bash scripts/services.sh status >/dev/null 2>&1; then
  was_running=1
  bash scripts/services.sh down
fi
cleanup() {
  SLUICE_BUILD_DIR="$BUILD" bash scripts/services.sh down || true
  if [[ $was_running == 1 ]]; then bash scripts/services.sh up || true; fi
  if [[ $started_stack == 1 ]]; then bash scripts/stack.sh down || true; fi
}
trap cleanup EXIT
SLUICE_BUILD_DIR="$BUILD" bash scripts/services.sh up

tmp="$(mktemp)"
sl_log "intake: $RELEASES releases, $CLIENTS clients"
"$BUILD/bench/intake-bench" --releases "$RELEASES" --clients "$CLIENTS" --max-seconds 180 \
  --markdown "$tmp" | tee "$tmp.txt"

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
mem="$(free -g | awk '/Mem:/ {print $2 " GiB"}')"
row="$(cat "$tmp")"
python3 - "$row" "$cpu" "$(nproc)" "$mem" "$(date -u +%Y-%m-%d)" "$(git rev-parse --short HEAD)" <<'PY'
import re, sys
row, cpu, cores, mem, day, commit = sys.argv[1:]
path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- intake:begin -->", "<!-- intake:end -->"
section = (f"{begin}\nMeasured {day} at {commit} on {cores} cores ({cpu}), {mem}; release build, "
           "one release-intake, the local stack on the same machine.\n\n"
           "| releases | clients | accepted/s (HTTP 201) | end to end/s (on Kafka) | POST p50 ms | POST p99 ms "
           "| POST→Kafka p50 ms | POST→Kafka p99 ms |\n|---|---|---|---|---|---|---|---|\n"
           f"{row.strip()}\n{end}")
text = re.sub(re.escape(begin) + ".*?" + re.escape(end), section, text, flags=re.S)
open(path, "w").write(text)
PY
rm -f "$tmp" "$tmp.txt"
sl_log "figures written to BENCHMARKS.md"

# notifier: notices/s through the real notifier to the capture server, and the delay from a
# RollbackStarted on Kafka to the Slack capture. Runs its own notifier (own schema and topic).
bench_notifier() {
  local out events="${SLUICE_BENCH_NOTIFIER_EVENTS:-2000}"
  local latency="${SLUICE_BENCH_NOTIFIER_LATENCY_EVENTS:-200}"
  cmake --build "$BUILD" --target notifier notifier-bench -j2
  out="$(mktemp)"
  sl_log "notifier: $events events x 4 channels; $latency RollbackStarted one at a time"
  "$BUILD/bench/notifier-bench" --events "$events" --latency-events "$latency" --max-seconds 240 \
    --log-dir var/bench --markdown "$out"
  python3 - "$(cat "$out")" "$cpu" "$(nproc)" "$mem" "$(date -u +%Y-%m-%d)" \
    "$(git rev-parse --short HEAD)" <<'PY'
import re, sys
row, cpu, cores, mem, day, commit = sys.argv[1:]
path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- notifier:begin -->", "<!-- notifier:end -->"
section = (f"{begin}\nMeasured {day} at {commit} on {cores} cores ({cpu}), {mem}; release build, "
           "one notifier, the capture server in the bench process, the local stack on the same "
           "machine.\n\n"
           "| events | notices delivered | notices/s | events/s | latency events | sender poll "
           "| Kafka→Slack p50 ms | Kafka→Slack p99 ms |\n|---|---|---|---|---|---|---|---|\n"
           f"{row.strip()}\n{end}")
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
  rm -f "$out"
  sl_log "notifier figures written to BENCHMARKS.md"
}
bench_notifier

# rollout: Sluice vs Ansible on 50 namespace hosts, a 100-host revert and the control-plane
# cost of a 2,000-host canary; bench/rollout/run.sh runs its own services and hosts and writes
# the section between the rollout markers of BENCHMARKS.md.
bench_rollout() {
  cmake --build "$BUILD" --target rollout-bench rollout-planner executor release-intake sluice \
    sluice-agent sluice-demo-app -j2
  # Every planner and executor acts on every deployment event: the ones started above stop
  # for this benchmark (the EXIT trap starts what ran before again).
  SLUICE_BUILD_DIR="$BUILD" bash scripts/services.sh down
  SLUICE_BENCH_BUILD_DIR="$BUILD" bash bench/rollout/run.sh all
}
bench_rollout
