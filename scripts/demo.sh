#!/usr/bin/env bash
# make demo: the local stack and every service, six hosts (network namespaces on a private
# bridge, or loopback ports where namespaces cannot be made) each running sluice-agent and the
# demo application, two releases registered as CI would, v1 rolled out everywhere, then v2 in
# canary batches 5% -> 25% -> 100% with pauses, and the notices it caused. Leaves it all running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=demo
cd "$SLUICE_ROOT"
BUILD="${SLUICE_BUILD_DIR:-build/dev}"
export SLUICE_BUILD_DIR="$BUILD"
SLUICE="$BUILD/cli/sluice"

bash scripts/up.sh
echo
sl_log "Six hosts, each with sluice-agent and the demo app (Prometheus scrapes them):"
bash scripts/hosts.sh up 6
bash scripts/artifacts.sh serve

# Versions are new on every run: a release's artifact never changes once registered.
stamp="$(date +%s)"
v1="1.0.$stamp"
v2="2.0.$stamp"
release() {
  local v="$1" sha
  sha="$(bash scripts/artifacts.sh build "$v" 2>/dev/null)"
  "$SLUICE" --raw release create --app demo-app --tag "v$v" --version "$v" \
    --artifact-url "$(bash scripts/artifacts.sh url "$v")" --sha256 "$sha" --created-by demo-ci |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

echo
sl_log "1. The delivery spec of demo-app (hosts, canary steps, health check) is applied:"
"$SLUICE" apply -f var/demo/demo-app.yaml

echo
sl_log "2. CI registers releases v$v1 and v$v2 (artifact URL + sha256):"
r1="$(release "$v1")"
r2="$(release "$v2")"
echo "   v$v1 -> release $r1"
echo "   v$v2 -> release $r2"

echo
sl_log "3. What a deployment of v$v2 would do (dry run, nothing changes):"
"$SLUICE" plan --release "$r2" --env production

echo
sl_log "4. v$v1 to every host:"
"$SLUICE" deploy --release "$r1" --env production --wait

echo
sl_log "5. v$v2 in canary batches, 5% -> 25% -> 100%, with a pause before each next batch:"
"$SLUICE" deploy --release "$r2" --env production --wait

echo
sl_log "6. What each host runs now (the agents' own answer):"
python3 - var/demo/hosts.json var/local/agent-token <<'PY'
import json, sys, urllib.request
hosts = json.load(open(sys.argv[1])); token = open(sys.argv[2]).read().strip()
for h in hosts:
    req = urllib.request.Request(h["agent_endpoint"] + "/v1/status", headers={"Authorization": "Bearer " + token})
    s = json.load(urllib.request.urlopen(req, timeout=5))
    print("   %-8s %-12s current %-14s previous %-14s %s" % (h["name"], h["address"], s.get("current"), s.get("previous") or "-", s.get("health_status")))
PY

echo
sl_log "7. Notices the rollout caused (captured locally in var/demo/captures, one of each):"
sleep 2
for ch in slack dingtalk wecom webhook; do
  f="$(ls -t var/demo/captures/"$ch"-*.json 2>/dev/null | head -n 1 || true)"
  if [[ -n "$f" ]]; then
    echo "   --- $f"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); b=d.get("body", d); print("   " + json.dumps(b, ensure_ascii=False)[:400] + " ...")' "$f"
  else
    echo "   --- no $ch notice captured yet (var/log/notifier.log says why)"
  fi
done

cat <<MSG

Everything is still running:
  $SLUICE deployment list                 deployments so far
  $SLUICE deployment get ID               one deployment, its batches and timeline
  $SLUICE deployment instances ID         what the executor recorded per host
  bash scripts/hosts.sh status                  the hosts; 'hosts.sh exec 1 curl -s 10.77.0.11:8000/'
  Prometheus http://127.0.0.1:19090  query: sum by (version) (rate(demo_http_requests_total[1m]))
  var/demo/captures/                            Slack / DingTalk / WeCom / webhook notices
  make down                                     stop everything
Not built yet: automatic analysis (metric-watcher) and rollback (rollback-agent); see README.
MSG
