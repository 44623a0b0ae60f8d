#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer, ASan + UBSan; build/fuzz) and runs every fuzzer of
# fuzz/ for FUZZ_SECONDS each, one after the other (make fuzz: 300 s; make test: a short run).
#
#   scripts/fuzz.sh [target...]        default: every target of fuzz/targets/
#   FUZZ_SECONDS=60                    time per target (one process each: the machine is shared)
#   FUZZ_BUILD_ONLY=1                  build, run nothing
#   FUZZ_MERGE=1                       afterwards, merge what the run found into the checked-in
#                                      corpus (fuzz/corpus/<target>, minimised: -merge=1)
#
# Inputs: fuzz/corpus/<target> (seeds, read only) and fuzz/crashes/<target> (every input that
# once crashed or hung a fuzzer; the replay unit tests run them in the gcc builds too). New
# coverage goes to build/fuzz/corpus/<target> (kept between runs, not checked in). A crash, a
# leak, a sanitizer report, a timeout (FUZZ_TIMEOUT s per input) or an input using more than
# FUZZ_RSS_MB fails the run; the input is left in build/fuzz/findings/<target>/ and its path
# printed: copy it into fuzz/crashes/<target>/ with the fix.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${FUZZ_SECONDS:-60}"
timeout_s="${FUZZ_TIMEOUT:-10}"
rss_mb="${FUZZ_RSS_MB:-2048}"
build=build/fuzz

if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz: clang and libFuzzer are needed (make deps installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for f in fuzz/targets/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

# One build at a time in build/fuzz: `make test` may have started it in the background
# (scripts/prebuild.sh); then this waits for it and finds it done.
start=$(date +%s)
mkdir -p "$build"
exec 9>"$build/.build.lock"
if ! flock -n 9; then
  echo "fuzz: waiting for the fuzz build already running (scripts/prebuild.sh?)"
  flock 9
fi
cmake --preset fuzz >/dev/null
nice cmake --build "$build" -j"${JOBS:-2}" --target sluice_fuzzers
exec 9>&-
echo "fuzz: build $(($(date +%s) - start)) s"
if [[ "${FUZZ_BUILD_ONLY:-0}" == 1 ]]; then
  exit 0
fi

failed=()
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/findings/$t" "fuzz/crashes/$t"
  log="$build/findings/$t/last-run.log"
  dirs=("$build/corpus/$t" "fuzz/corpus/$t" "fuzz/crashes/$t")
  rc=0
  # The first directory receives what is new; the sandbox of agent_extract lives in /dev/shm.
  UBSAN_OPTIONS=print_stacktrace=1 nice "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout_s" \
    -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -max_len=262144 \
    -print_final_stats=1 -artifact_prefix="$build/findings/$t/" \
    "${dirs[@]}" >"$log" 2>&1 || rc=$?
  runs=$(awk '/^stat::number_of_executed_units:/ {s += $2} END {print s + 0}' "$log")
  rate=$(awk '/^stat::average_exec_per_sec:/ {s += $2} END {print s + 0}' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  if [[ $rc -ne 0 ]]; then
    failed+=("$t")
    echo "fuzz: $t FAILED after ${runs} runs (log: $log)"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|agent_extract:|.*runtime error)|Test unit written to' "$log" | head -5 || true
  else
    printf 'fuzz: %-15s %9s runs %6s/s  cov %s  corpus %s\n' "$t" "$runs" "$rate" "${cov:-?}" \
      "$(find "$build/corpus/$t" "fuzz/corpus/$t" -type f | wc -l)"
  fi
  if [[ "${FUZZ_MERGE:-0}" == 1 && $rc -eq 0 ]]; then
    "$build/fuzz/fuzz_$t" -merge=1 -max_len=262144 "fuzz/corpus/$t" "$build/corpus/$t" \
      >"$build/findings/$t/merge.log" 2>&1
  fi
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $(($(date +%s) - start)) s in all"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
