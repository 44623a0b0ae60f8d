#!/usr/bin/env bash
# make bench: runs the benchmarks against the local stack and writes their figures to
# BENCHMARKS.md (with the machine they ran on). Bounded in count and time.
#   SLUICE_BENCH_ONLY=analysis,notifier   runs only those (intake, notifier, rollout, analysis,
#                                         consumer, judge, kube)
#   SLUICE_BENCH_BUILD_DIR=build/x        builds there (configured RelWithDebInfo if new)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=bench
cd "$SLUICE_ROOT"
BUILD="${SLUICE_BENCH_BUILD_DIR:-build/release}"
RELEASES="${SLUICE_BENCH_RELEASES:-3000}"
CLIENTS="${SLUICE_BENCH_CLIENTS:-8}"
KAFKA_SUBMISSIONS="${SLUICE_BENCH_KAFKA_SUBMISSIONS:-2000}"
ONLY="${SLUICE_BENCH_ONLY:-}"
bench_wanted() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

if [[ $BUILD == build/release ]]; then
  sl_log "configuring the release preset (optimised) into $BUILD"
  cmake --preset release >/dev/null
elif [[ ! -f $BUILD/build.ninja ]]; then
  sl_log "configuring an optimised build into $BUILD"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON >/dev/null
fi
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
mem="$(free -g | awk '/Mem:/ {print $2 " GiB"}')"

started_stack=0
# The kube part needs only the local control plane (scripts/kube.sh), not the stack.
needs_stack=0
for part in intake notifier rollout analysis consumer judge; do
  if bench_wanted "$part"; then needs_stack=1; fi
done
if [[ $needs_stack == 1 ]] && ! bash scripts/stack.sh status >/dev/null 2>&1; then
  bash scripts/stack.sh up
  started_stack=1
fi
was_running=0
services_touched=0
# Stops the services scripts/services.sh runs (once); the EXIT trap starts them again.
stop_services() {
  if [[ $services_touched == 0 ]] && bash scripts/services.sh status >/dev/null 2>&1; then
    was_running=1
  fi
  services_touched=1
  SLUICE_BUILD_DIR="$BUILD" bash scripts/services.sh down
}
cleanup() {
  if [[ $services_touched == 1 ]]; then
    SLUICE_BUILD_DIR="$BUILD" bash scripts/services.sh down || true
    if [[ $was_running == 1 ]]; then bash scripts/services.sh up || true; fi
  fi
  if [[ $started_stack == 1 ]]; then bash scripts/stack.sh down || true; fi
}
trap cleanup EXIT

# write_section NAME WHAT FILE: puts FILE's figures between <!-- NAME:begin --> and
# <!-- NAME:end --> of BENCHMARKS.md (appended when the markers are missing), after a line
# saying when, where and on what (WHAT) they were measured. An empty FILE changes nothing.
write_section() {
  python3 - "$1" "$2" "$3" "$cpu" "$(nproc)" "$mem" "$(date -u +%Y-%m-%d)" \
    "$(git rev-parse --short HEAD)" <<'PY'
import re, sys
name, what, body_file, cpu, cores, mem, day, commit = sys.argv[1:]
body = open(body_file).read().strip()
if not body:
    print(f"the {name} benchmark wrote no figures; BENCHMARKS.md left as it was")
    sys.exit(0)
path = "BENCHMARKS.md"
text = open(path).read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
section = (f"{begin}\nMeasured {day} at {commit} on {cores} cores ({cpu}), {mem}; {what}.\n\n"
           f"{body}\n{end}")
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
print(f"{name} figures written to BENCHMARKS.md")
PY
}

# intake: releases accepted end to end through an optimised release-intake.
bench_intake() {
  sl_log "building release-intake and intake-bench into $BUILD"
  cmake --build "$BUILD" --target release-intake intake-bench sluice -j2
  # The benchmark runs its own optimised release-intake.
  stop_services
  SLUICE_BUILD_DIR="$BUILD" bash scripts/services.sh up

  local tmp row
  tmp="$(mktemp)"
  sl_log "intake: $RELEASES releases, $CLIENTS clients"
  "$BUILD/bench/intake-bench" --releases "$RELEASES" --clients "$CLIENTS" --max-seconds 180 \
    --markdown "$tmp" | tee "$tmp.txt"

  {
    echo "| releases | clients | accepted/s (HTTP 201) | end to end/s (on Kafka) | POST p50 ms |" \
      "POST p99 ms | POST→Kafka p50 ms | POST→Kafka p99 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    cat "$tmp"
  } >"$tmp.md"
  write_section intake "release build, one release-intake, the local stack on the same machine" \
    "$tmp.md"
  rm -f "$tmp" "$tmp.txt" "$tmp.md"

  # The same release submissions as a Kafka producer makes them (docs/kafka-producers.md):
  # protobuf records on sluice.intake.v1 through the PLAINTEXT listener, each producer of its
  # own app waiting for its answer on sluice.intake.results.v1 before the next.
  sl_log "intake over Kafka: $KAFKA_SUBMISSIONS submissions, $CLIENTS producers"
  : >"$tmp"
  : >"$tmp.md"
  "$BUILD/bench/intake-bench" --via kafka --releases "$KAFKA_SUBMISSIONS" --clients "$CLIENTS" \
    --max-seconds 120 --markdown "$tmp" || sl_log "intake-bench --via kafka reported a failure"
  if [[ -s $tmp ]]; then
    {
      echo "| submissions | producers | accepted/s (answers) | end to end/s (ReleaseCreated) |" \
        "produce→answer p50 ms | produce→answer p99 ms | produce→ReleaseCreated p50 ms |" \
        "produce→ReleaseCreated p99 ms |"
      echo "|---|---|---|---|---|---|---|---|"
      cat "$tmp"
    } >"$tmp.md"
  fi
  write_section intake-kafka "release build, one release-intake, submissions on sluice.intake.v1 \
(protobuf, key = app, one in flight per producer), the local stack on the same machine" "$tmp.md"
  rm -f "$tmp" "$tmp.md"
}

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
  {
    echo "| events | notices delivered | notices/s | events/s | latency events | sender poll |" \
      "Kafka→Slack p50 ms | Kafka→Slack p99 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    cat "$out"
  } >"$out.md"
  write_section notifier "release build, one notifier, the capture server in the bench process, \
the local stack on the same machine" "$out.md"
  rm -f "$out" "$out.md"
}

# rollout: Sluice vs Ansible on 50 namespace hosts, a 100-host revert, breach -> every one of
# 100 hosts back on the stable release, and the control-plane cost of a 2,000-host canary;
# bench/rollout/run.sh runs its own services and hosts and writes the section between the
# rollout markers of BENCHMARKS.md.
bench_rollout() {
  cmake --build "$BUILD" --target rollout-bench rollout-planner executor release-intake sluice \
    sluice-agent sluice-demo-app sluice-demo-load metric-watcher rollback-agent -j2
  # Every planner, executor and rollback-agent acts on every deployment event: the ones started above stop
  # for this benchmark (the EXIT trap starts what ran before again).
  stop_services
  SLUICE_BENCH_BUILD_DIR="$BUILD" bash bench/rollout/run.sh all
}

# analysis: breach -> AnalysisFailed through the real metric-watcher and a Prometheus of the
# bench's own, 1,000 analyses at once (queries/s, CPU, RSS, schedule), and AnalysisFailed ->
# rollback commanded through the real rollback-agent. Own schemas, topics and groups.
bench_analysis() {
  local out
  cmake --build "$BUILD" --target metric-watcher rollback-agent analysis-bench -j2
  out="$(mktemp)"
  sl_log "analysis: breach latency, ${SLUICE_BENCH_ANALYSIS_MANY:-1000} analyses at once, rollbacks"
  "$BUILD/bench/analysis-bench" --breach "${SLUICE_BENCH_ANALYSIS_BREACH:-20}" \
    --many "${SLUICE_BENCH_ANALYSIS_MANY:-1000}" \
    --many-interval "${SLUICE_BENCH_ANALYSIS_MANY_INTERVAL:-1s,5s}" --window 60 \
    --rollbacks "${SLUICE_BENCH_ANALYSIS_ROLLBACKS:-50}" --max-seconds 180 \
    --watcher-workers "${SLUICE_BENCH_ANALYSIS_WORKERS:-4}" \
    --log-dir var/bench --markdown "$out" || sl_log "analysis-bench reported a failure (see above)"
  write_section analysis "release build, one metric-watcher, one rollback-agent, a Prometheus of \
the bench's own (scrape 1 s), the local stack on the same machine" "$out"
  rm -f "$out"
}

# consumer: kill -9 of a Kafka consumer -> first event handled by its restarted successor, as
# a static group member (what the services run), against dynamic membership; and a clean stop
# followed by another replica. Own topic and groups; the services keep running.
bench_consumer() {
  local out kills="${SLUICE_BENCH_CONSUMER_KILLS:-30}"
  cmake --build "$BUILD" --target consumer-restart-bench kafka-consumer-child -j2
  out="$(mktemp)"
  sl_log "consumer: $kills kills as a static member, 3 as a dynamic one, 2 hand-overs each"
  "$BUILD/bench/consumer-restart-bench" --kills "$kills" --dynamic-kills 3 --handovers 2 \
    --max-seconds 300 --log-dir var/bench --markdown "$out.rows" ||
    sl_log "consumer-restart-bench reported a failure (see above)"
  {
    echo "| how the consumer stopped | rounds | partitions | stop→first event p50 ms |" \
      "max ms | stop→every partition p50 ms | max ms |"
    echo "|---|---|---|---|---|---|---|"
    cat "$out.rows" 2>/dev/null
  } >"$out"
  [[ -s $out.rows ]] || : >"$out"
  write_section consumer "release build, kafka-consumer-child (sluice::kafka::Consumer, \
session.timeout.ms 10 s) on a 3-partition topic, the local stack on the same machine" "$out"
  rm -f "$out" "$out.rows"
}

# judge: the judge and the seed's threshold rule on labelled canary scenarios (two seeds),
# loaded into a Prometheus of the bench's own and judged through the real metric-watcher's
# POST /v1/analyses (bench/judge/judge_bench.py). Own schema and topics.
bench_judge() {
  local out seeds="${SLUICE_BENCH_JUDGE_SEEDS:-41,42}" scale="${SLUICE_BENCH_JUDGE_SCALE:-3}"
  cmake --build "$BUILD" --target metric-watcher -j2
  out="$(mktemp)"
  sl_log "judge: labelled canary scenarios, seeds $seeds"
  python3 bench/judge/judge_bench.py --metric-watcher "$BUILD/services/metric-watcher/metric-watcher" \
    --seeds "$seeds" --scale "$scale" \
    --log-dir var/bench --markdown "$out.rows" ||
    sl_log "judge-bench reported a failure (see above)"
  if [[ -s $out.rows ]]; then
    {
      echo "Per template and traffic (low 0.3, medium 3, high 30 requests/s per instance; one"
      echo "canary, two baseline instances; 10-minute window). A regression counts as detectable"
      echo "when an ideal test on its true parameters reaches 99% confidence with 95% power;"
      echo "caught = Failed, missed = Successful. Target: >= 95% caught, <= 1% false failures."
      echo
      cat "$out.rows"
    } >"$out"
  fi
  write_section judge "release build, one metric-watcher, a Prometheus of the bench's own \
(promtool tsdb create-blocks-from openmetrics), the local stack on the same machine; seeds \
${seeds//,/, }, scale $scale (SLUICE_BENCH_JUDGE_SEEDS, SLUICE_BENCH_JUDGE_SCALE)" "$out"
  rm -f "$out" "$out.rows"
}

# kube: a 3-batch canary (5 / 25 / 100%, equal pauses, no analysis) of a 100-replica KWOK
# Deployment in the local control plane through the executor's kubernetes driver, and the same
# canary as an Argo Rollouts Rollout through its controller built from the Go module proxy
# (tools/kube/argo-rollouts.sh): wall times, control-plane CPU per replica, RSS per rollout.
bench_kube() {
  local out argo crds kube_env="var/local/kube.env"
  [[ -f $kube_env ]] || bash scripts/kube.sh env >/dev/null
  # shellcheck disable=SC1090
  source "$kube_env"
  cmake --build "$BUILD" --target kube-canary-bench -j2
  out="$(mktemp)"
  local argo_args=()
  sl_log "kube: building Argo Rollouts' controller (cached after the first time)"
  if argo="$(nice -n 19 bash tools/kube/argo-rollouts.sh build)" &&
    crds="$(bash tools/kube/argo-rollouts.sh crds)"; then
    argo_args=(--argo-controller "$argo" --argo-crds "$crds")
  else
    sl_log "kube: Argo Rollouts' controller could not be built (see above); Sluice alone"
  fi
  sl_log "kube: ${SLUICE_BENCH_KUBE_REPLICAS:-100} replicas, pauses of ${SLUICE_BENCH_KUBE_PAUSE:-10} s"
  python3 bench/kube/run.py --kubeconfig "$SLUICE_KUBECONFIG" --kubectl "$SLUICE_KUBE_BIN/kubectl" \
    --run-dir "${SLUICE_KUBE_RUN_DIR:-$(dirname "$SLUICE_KUBECONFIG")/../run}" \
    --sluice-bench "$BUILD/bench/kube-canary-bench" "${argo_args[@]}" \
    --replicas "${SLUICE_BENCH_KUBE_REPLICAS:-100}" --pause "${SLUICE_BENCH_KUBE_PAUSE:-10}" \
    --log-dir var/bench --markdown "$out" || sl_log "kube bench reported a failure (see above)"
  write_section kube "$(basename "$BUILD") build, the local control plane (kube-apiserver, \
etcd, controller-manager, scheduler built from source, KWOK nodes) on the same machine" "$out"
  rm -f "$out"
}

if bench_wanted intake; then bench_intake; fi
if bench_wanted notifier; then bench_notifier; fi
if bench_wanted rollout; then bench_rollout; fi
if bench_wanted analysis; then bench_analysis; fi
if bench_wanted consumer; then bench_consumer; fi
if bench_wanted judge; then bench_judge; fi
if bench_wanted kube; then bench_kube; fi
