#!/usr/bin/env bash
# The compose tier of `make test`: the images built (cached), checked (images_test.sh), the whole
# suite up in docker-compose (compose/docker-compose.yml, profile full), then, through the CLI's
# image and the public API only:
#   1. v1 to the three host containers, then v2 in canary batches (1 / 1 / 1 hosts, each canary
#      batch judged on live metrics): succeeded, every host's agent runs v2;
#   2. a bad v3 (its artifact fails half of the requests): batch 1 fails its analysis, the
#      deployment is rolled back, host-1 runs v2 again;
#   3. notices of it all captured by the capture server (Slack, webhook, e-mail ...), their console
#      links signed; signed links (SLUICE_LINK_KEYS of compose/.env) open without a token: one
#      from POST /v1/links and one from a notice, while a tampered one and one for another
#      deployment are refused;
#   4. v4 while the executor container is killed (SIGKILL) mid-rollout and started again: the
#      deployment finishes, every host runs v4;
# then the stack down (containers, networks and volumes). The engine is stopped afterwards if
# this test started it (scripts/docker.sh with). Timings in var/compose/timings.txt.
# SLUICE_COMPOSE_NO_BUILD=1 skips the image build (the images as they are). SLUICE_IMAGES_FROM:
# where the Sluice images' binaries come from (scripts/images.sh build --from): `make compose`
# passes build/dev, the dev build the earlier tiers of `make test` built and tested, so the tree
# is not compiled again for the images (stripped debug binaries: images for tests, not for
# shipping); `source` compiles them in the Dockerfile's build stage as `make images` does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
SL_TAG=compose-e2e
ROOT="$PWD"
eval "$(bash scripts/docker.sh env)"
DOCKER=/usr/bin/docker
[[ -x "$DOCKER" ]] || DOCKER=docker
set -a
# shellcheck disable=SC1091
source compose/.env
set +a
PROJECT="${SLUICE_COMPOSE_PROJECT:-sluice}"
API="http://127.0.0.1:$SLUICE_COMPOSE_API_PORT"
CAPTURES="http://127.0.0.1:$SLUICE_COMPOSE_CAPTURE_PORT/captures"
mkdir -p var/compose
TIMINGS="$ROOT/var/compose/timings.txt"
t0=$SECONDS
lap() { printf '%s %-28s %4ss\n' "$(date -u +%FT%TZ)" "$1" "$((SECONDS - t0))" | tee -a "$TIMINGS"; }

down_done=0
cleanup() {
  local rc=$?
  if ((rc != 0)); then
    sl_warn "failed; the containers' state and the last log lines:"
    bash scripts/compose.sh ps >&2 || true
    bash scripts/compose.sh logs --tail 15 executor rollout-planner metric-watcher rollback-agent release-intake >&2 || true
  fi
  ((down_done)) || bash scripts/compose.sh down >/dev/null 2>&1 || true
  exit $rc
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cli() { bash scripts/compose.sh cli "$@"; }
api_get() { curl -fsS --max-time 5 -H "Authorization: Bearer $SLUICE_ADMIN_TOKEN" "$API$1"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
container() { "$DOCKER" ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
# The version each host's agent switched to ("host-1=2.0.0 host-2=..."), read in the containers.
host_versions() {
  local i out=()
  for i in 1 2 3; do
    out+=("host-$i=$("$DOCKER" exec "$(container "host-$i")" sh -c 'basename "$(readlink /var/lib/sluice/agent/current)"' 2>/dev/null || echo none)")
  done
  echo "${out[*]}"
}
expect_versions() {
  local got
  got="$(host_versions)"
  [[ "$got" == "$1" ]] || fail "hosts run '$got', expected '$1'"
}
ALL3() { echo "host-1=$1 host-2=$1 host-3=$1"; }
# release VERSION [artifact options]: the artifact stored, the release registered; prints its id.
release() {
  local v="$1" url sha
  shift
  read -r url sha < <(bash scripts/compose.sh artifact "$v" "$@") || fail "artifact $v"
  [[ -n "$sha" ]] || fail "artifact $v: no sha256"
  cli --raw release create --app demo-app --tag "v$v" --version "$v" --artifact-url "$url" \
    --sha256 "$sha" --created-by compose-e2e | json 'd["id"]'
}
deploy() { cli --raw deploy --release "$1" --env production | json 'd["deployment_id"]'; }
wait_final() {
  local id="$1" deadline=$((SECONDS + $2)) status=""
  while ((SECONDS < deadline)); do
    status="$(api_get "/v1/deployments/$id" 2>/dev/null | json 'd["status"]' 2>/dev/null || true)"
    case "$status" in succeeded | failed | aborted | rolled_back) echo "$status"; return 0 ;; esac
    sleep 1
  done
  echo "timeout(last: ${status:-none})"
}

# ---- images, checked; the stack up
lap start
# SLUICE_COMPOSE_NO_BUILD=1 takes the images as they are (when `make images` just ran).
[[ "${SLUICE_COMPOSE_NO_BUILD:-0}" == 1 ]] || bash scripts/images.sh build --from "${SLUICE_IMAGES_FROM:-source}"
lap "images built"
sl_log "the Sluice images hold: $("$DOCKER" image inspect -f '{{index .Config.Labels "sluice.binaries"}} binaries {{index .Config.Labels "sluice.binaries.from"}}' "sluice/release-intake:$SLUICE_IMAGE_TAG")"
bash test/compose/images_test.sh
lap "images checked"
bash scripts/compose.sh down >/dev/null 2>&1 || true
bash scripts/compose.sh up full
lap "stack up"

stamp="$(date +%s)"
v1="1.0.$stamp" v2="2.0.$stamp" v3="3.0.$stamp" v4="4.0.$stamp"
cli apply -f /compose/demo-app.yaml >/dev/null || fail "the delivery spec was not applied"

# ---- 1. v1 everywhere, then v2 in canary batches judged on live metrics
sl_log "1. v$v1 to the three hosts, then v$v2 in canary batches"
r1="$(release "$v1")"
d1="$(deploy "$r1")"
[[ "$(wait_final "$d1" 240)" == succeeded ]] || fail "v1 deployment $d1 did not succeed"
expect_versions "$(ALL3 "$v1")"
r2="$(release "$v2")"
d2="$(deploy "$r2")"
[[ "$(wait_final "$d2" 300)" == succeeded ]] || fail "v2 deployment $d2 did not succeed"
api_get "/v1/deployments/$d2" | python3 -c '
import json, sys
d = json.load(sys.stdin)
sizes = [len(b["hosts"]) for b in d["batches"]]
assert sizes == [1, 1, 1], sizes
assert all(b["status"] == "succeeded" for b in d["batches"]), d["batches"]
' || fail "v2 batches are not three succeeded one-host batches"
api_get "/v1/analyses?deployment_id=$d2" >/dev/null 2>&1 || true
expect_versions "$(ALL3 "$v2")"
lap "canary rollout"

# ---- 2. a bad release: batch 1 fails its analysis, rolled back
sl_log "2. v$v3 fails half of its requests: caught in batch 1 and rolled back"
r3="$(release "$v3" --error-rate 0.5)"
d3="$(deploy "$r3")"
final="$(wait_final "$d3" 300)"
[[ "$final" == failed || "$final" == rolled_back ]] || fail "bad deployment $d3 ended '$final'"
api_get "/v1/deployments/$d3" | python3 -c '
import json, sys
d = json.load(sys.stdin)
st = [b["status"] for b in d["batches"]]
assert st[0] != "succeeded" and all(s == "pending" for s in st[1:]), st
' || fail "v3 was not stopped at its first canary batch"
# The failed analysis (batch 1, host-1, with its evidence) and the rollback's incident report,
# through the public API.
cli --raw analysis list --deployment "$d3" | python3 -c '
import json, sys
rows = json.load(sys.stdin)["analyses"]
failed = [a for a in rows if a["status"] == "Failed"]
assert len(failed) == 1 and failed[0]["batch_index"] == 0, [(a["batch_index"], a["status"]) for a in rows]
assert failed[0]["evidence"][0]["affected_instances"] == ["host-1"], failed[0]["evidence"]
' || fail "no failed analysis of v3 batch 1 naming host-1"
incident_written() {
  cli --raw incident list --deployment "$d3" 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(0 if any(i["status"] == "written" for i in json.load(sys.stdin)["incidents"]) else 1)'
}
sl_wait_until 90 "the incident report of v3's rollback" incident_written || fail "no incident written for $d3"
host1_is() { [[ "$(host_versions)" == "host-1=$1 "* ]]; }
sl_wait_until 60 "host-1 back on v$v2" host1_is "$v2" || fail "host-1 was not reverted to v$v2 ($(host_versions))"
expect_versions "$(ALL3 "$v2")"
lap "bad release rolled back"

# ---- 3. notices captured
sl_log "3. notices captured by the capture server"
channels_captured() {
  curl -fsS --max-time 5 "$CAPTURES" | python3 -c '
import json, sys
chans = {c["channel"] for c in json.load(sys.stdin)["captures"]}
sys.exit(0 if {"slack", "wecom", "webhook", "email"} <= chans else 1)'
}
sl_wait_until 90 "notices on Slack, WeCom, the webhook and e-mail" channels_captured ||
  fail "notices missing: $(curl -fsS "$CAPTURES" | head -c 400)"
curl -fsS "$CAPTURES" | python3 -c '
import collections, json, sys
c = collections.Counter(x["channel"] for x in json.load(sys.stdin)["captures"])
print("   captured:", ", ".join("%s %d" % kv for kv in sorted(c.items())))'
lap "notices"

# ---- 3b. signed links: from POST /v1/links and from the notices, opened without a token
sl_log "3b. signed links open the deployment without a token; tampered or misused ones do not"
link_status() {  # link_status URL_PATH LINK: the HTTP status of GET URL_PATH with X-Sluice-Link: LINK
  curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Sluice-Link: $2" "$API$1"
}
made="$(curl -fsS --max-time 5 -H "Authorization: Bearer $SLUICE_ADMIN_TOKEN" -H 'Content-Type: application/json' \
  --data "{\"path\": \"/console/deployments/$d2\", \"expires_in\": \"10m\"}" "$API/v1/links")" ||
  fail "POST /v1/links did not sign a link (SLUICE_LINK_KEYS not passed to release-intake?)"
link="$(json 'd["url"]' <<<"$made")"
[[ "$(json 'd["kid"]' <<<"$made")" == "${SLUICE_LINK_KEYS%%:*}" ]] || fail "the link is not signed with the first key: $made"
[[ "$(link_status "/v1/deployments/$d2" "$link")" == 200 ]] || fail "the signed link $link does not open deployment $d2"
api_get "/v1/deployments/$d2" >/dev/null
[[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$API/v1/deployments/$d2")" == 401 ]] ||
  fail "deployment $d2 opens without a token or a link"
[[ "$(link_status "/v1/deployments/$d3" "$link")" == 401 ]] || fail "the link for $d2 opens deployment $d3"
# The signature's first character changed (the last one may carry only padding bits).
sig="${link##*sig=}"
bad="${link%%sig=*}sig=$([[ "${sig:0:1}" == A ]] && echo B || echo A)${sig:1}"
[[ "$(link_status "/v1/deployments/$d2" "$bad")" == 401 ]] || fail "a tampered signature opens deployment $d2"
# The notifier signs its notices' console links with the same keys (SLUICE_LINK_KEYS there too).
notice_link="$(python3 - "$CAPTURES" <<'PY'
import json, re, sys, urllib.request
base = sys.argv[1]
files = [c["file"] for c in json.load(urllib.request.urlopen(base, timeout=5))["captures"]]
for f in sorted(files, key=lambda f: not f.startswith("webhook")):
    text = urllib.request.urlopen(base + "/" + f, timeout=5).read().decode("utf-8", "replace")
    text = text.replace("\\u0026", "&").replace("&amp;", "&")
    m = re.search(r"/console/deployments/[A-Za-z0-9-]+\?exp=[0-9]+&kid=[a-z0-9_-]+&sig=[A-Za-z0-9_-]+", text)
    if m:
        print(m.group(0))
        break
PY
)"
[[ -n "$notice_link" ]] || fail "no signed console link in the captured notices (SLUICE_LINK_KEYS not passed to the notifier?)"
notice_dep="${notice_link#/console/deployments/}"
notice_dep="${notice_dep%%\?*}"
[[ "$(link_status "/v1/deployments/$notice_dep" "$notice_link")" == 200 ]] ||
  fail "the signed link of a notice ($notice_link) does not open its deployment"
echo "   signed links: POST /v1/links and a notice's console link open; tampered and misused ones refused"
lap "signed links"

# ---- 4. the executor container killed mid-rollout and started again
sl_log "4. v$v4 while the executor container is killed (SIGKILL) and started again"
r4="$(release "$v4")"
d4="$(deploy "$r4")"
batch_started() {
  api_get "/v1/deployments/$d4" 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); b=d['batches'][$1]; sys.exit(0 if b['status'] not in ('pending',) else 1)"
}
sl_wait_until 120 "v4 batch 2 started" batch_started 1 || fail "v4 batch 2 never started"
"$DOCKER" kill -s KILL "$(container executor)" >/dev/null
lap "executor killed"
docker-compose -p "$PROJECT" -f compose/docker-compose.yml --profile full start executor >/dev/null 2>&1
sl_wait_until 90 "executor healthy again" bash -c "[[ \$(\"$DOCKER\" inspect -f '{{.State.Health.Status}}' $(container executor)) == healthy ]]" ||
  fail "the executor did not come back"
[[ "$(wait_final "$d4" 300)" == succeeded ]] || fail "v4 deployment $d4 did not finish after the executor restart"
expect_versions "$(ALL3 "$v4")"
lap "kill and restart mid-rollout"

# ---- the stack down
bash scripts/compose.sh down >/dev/null 2>&1
down_done=1
left="$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT")"
[[ -z "$left" ]] || fail "containers left after down: $left"
lap "stack down"
echo "compose e2e: 1 passed, 0 failed"
