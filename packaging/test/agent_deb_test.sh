#!/usr/bin/env bash
# The sluice-agent .deb, end to end (ctest agent_deb_test, label e2e; needs the local stack's
# PostgreSQL and Kafka, and root for dpkg --root, network namespaces and setpriv):
#   1. cpack builds the .deb; dpkg-deb --info / --contents: the binary in /usr/bin, the unit
#      with its hardening, agent.conf a conffile, postinst creating the system user, Depends
#      derived from the binary;
#   2. dpkg --root installs it into a directory root (the namespace host's root directory),
#      maintainer scripts included (--force-script-chrootless, DPKG_ROOT);
#   3. a release-intake of this test's own (own schema) on the bridge address; an admin makes a
#      one-time enrolment token; the installed binary enrols the host from inside the
#      namespace; a second run refuses (already enrolled), the spent token is refused;
#   4. systemd cannot run here: the installed /usr/bin/sluice-agent is started directly, as the
#      package's system user (setpriv, no new privileges), with the installed agent.conf and
#      enrolled.conf (its paths taken under the install root); it reports in and GET /v1/agents
#      lists it as seen; a release is deployed to it through the whole path (spec, release,
#      deployment request, rollout-planner, executor with the shared agent token);
#   5. the host is revoked: release-intake refuses its credential and the agent then refuses
#      deploys (403 agent_revoked).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=agent-deb
cd "$SLUICE_ROOT"

BUILD="${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build/dev}"
RUN_ID="deb$(date +%s)$$"
WORK="$SLUICE_ROOT/var/e2e/$RUN_ID"
R="$WORK/root"  # the host's root directory
mkdir -p "$WORK/log"
chmod 0755 "$SLUICE_ROOT/var/e2e" "$WORK"
declare -A PIDS=()
NS="" BRIDGE="" VETH=""

fail() {
  sl_warn "FAILED: $*"
  for f in "$WORK"/log/*.log; do
    [[ -f "$f" ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 25 "$f" >&2
  done
  exit 1
}
cleanup() {
  local rc=$?
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for name in "${!PIDS[@]}"; do wait "${PIDS[$name]}" 2>/dev/null || true; done
  [[ -n "$VETH" ]] && ip link del "$VETH" 2>/dev/null || true
  [[ -n "$NS" ]] && ip netns del "$NS" 2>/dev/null || true
  [[ -n "$BRIDGE" ]] && ip link del "$BRIDGE" 2>/dev/null || true
  if ((rc == 0)); then rm -rf "$WORK"; else sl_warn "kept $WORK (logs in $WORK/log)"; fi
}
trap cleanup EXIT

[[ "$(id -u)" == 0 ]] || fail "run as root (dpkg --root, network namespaces, setpriv)"
[[ -f var/local/stack.env ]] || fail "the local stack is not up (var/local/stack.env is missing)"
# shellcheck disable=SC1091
source var/local/stack.env
for b in agent/sluice-agent services/release-intake/release-intake services/rollout-planner/rollout-planner \
  services/executor/executor cli/sluice; do
  [[ -x "$BUILD/$b" ]] || fail "$BUILD/$b is not built"
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# ---- 1. the package
sl_log "building the .deb (cpack)"
(cd "$BUILD" && cpack -G DEB -B "$WORK/packages" >"$WORK/log/cpack.log" 2>&1) || fail "cpack failed"
DEB="$(find "$WORK/packages" -name "sluice-agent_*_amd64.deb" | head -n1)"
[[ -f "$DEB" ]] || fail "cpack made no sluice-agent_*_amd64.deb under $WORK/packages"
info="$(dpkg-deb --info "$DEB")"
contents="$(dpkg-deb --contents "$DEB")"
grep -q '^ Package: sluice-agent$' <<<"$info" || fail "package name is not sluice-agent"
depends="$(dpkg-deb --field "$DEB" Depends)"
for lib in libc6 libarchive13 libcurl4 libssl3 passwd; do
  grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib (derived from the binary): $depends"
done
for path in ./usr/bin/sluice-agent ./lib/systemd/system/sluice-agent.service ./etc/sluice-agent/agent.conf; do
  grep -q " $path\$" <<<"$contents" || fail "the package lacks $path"
done
[[ "$(dpkg-deb -I "$DEB" conffiles)" == /etc/sluice-agent/agent.conf ]] || fail "agent.conf is not the conffile"
dpkg-deb -I "$DEB" postinst | grep -q 'useradd .*--system' || fail "postinst does not create the system user"
unit="$(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./lib/systemd/system/sluice-agent.service)"
for want in Restart=on-failure NoNewPrivileges=yes ProtectSystem=strict \
  ReadWritePaths=/var/lib/sluice-agent User=sluice-agent ExecStart=/usr/bin/sluice-agent \
  EnvironmentFile=/etc/sluice-agent/agent.conf EnvironmentFile=-/etc/sluice-agent/enrolled.conf; do
  grep -qx "$want" <<<"$unit" || fail "the unit lacks $want"
done
sl_log "package ok: $(basename "$DEB"); Depends: $depends"

# ---- 2. install into the host's root directory
mkdir -p "$R/etc" "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:*::\n' >"$R/etc/gshadow"
chmod 0640 "$R/etc/shadow" "$R/etc/gshadow"
# The root has no libraries or shell of its own: the maintainer scripts run from the running
# system with DPKG_ROOT=$R (chrootless), and its Depends are this machine's.
dpkg --root="$R" --force-script-chrootless --force-depends -i "$DEB" >"$WORK/log/dpkg.log" 2>&1 ||
  fail "dpkg --root -i failed: $(tail -n 5 "$WORK/log/dpkg.log")"
sl_log "installed into $R: $(grep -c . "$R/var/lib/dpkg/info/sluice-agent.list") paths"
grep -q '^sluice-agent:x:' "$R/etc/passwd" || fail "postinst created no sluice-agent user in $R/etc/passwd"
AGENT_UID="$(awk -F: '$1 == "sluice-agent" { print $3 }' "$R/etc/passwd")"
AGENT_GID="$(awk -F: '$1 == "sluice-agent" { print $4 }' "$R/etc/passwd")"
((AGENT_UID > 0 && AGENT_UID < 1000)) || fail "sluice-agent is not a system user (uid $AGENT_UID)"
[[ "$(stat -c '%u:%g %a' "$R/var/lib/sluice-agent")" == "$AGENT_UID:$AGENT_GID 750" ]] ||
  fail "release root: $(stat -c '%u:%g %a' "$R/var/lib/sluice-agent"), expected $AGENT_UID:$AGENT_GID 750"
[[ "$(stat -c '%u:%g %a' "$R/etc/sluice-agent/agent.conf")" == "0:$AGENT_GID 640" ]] ||
  fail "agent.conf: $(stat -c '%u:%g %a' "$R/etc/sluice-agent/agent.conf"), expected 0:$AGENT_GID 640"
sed -n '/^Package: sluice-agent$/,/^$/p' "$R/var/lib/dpkg/status" | grep -q '^ /etc/sluice-agent/agent.conf [0-9a-f]\{32\}$' ||
  fail "dpkg did not record agent.conf as a conffile"
[[ -x "$R/usr/bin/sluice-agent" ]] || fail "no $R/usr/bin/sluice-agent"

# ---- the namespace host (loopback when namespaces are not available)
SUBNET=10.86.0
if ip netns add "sld$$" 2>/dev/null; then
  NS="sld$$"
  BRIDGE="sldbr$$"
  VETH="sldv$$"
  ip link add "$BRIDGE" type bridge
  ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  ip link add "$VETH" type veth peer name "sldp$$"
  ip link set "sldp$$" netns "$NS"
  ip -n "$NS" link set "sldp$$" name eth0
  ip link set "$VETH" master "$BRIDGE"
  ip link set "$VETH" up
  ip -n "$NS" link set lo up
  ip -n "$NS" addr add "$SUBNET.11/24" dev eth0
  ip -n "$NS" link set eth0 up
  SERVER_IP="$SUBNET.1" HOST_IP="$SUBNET.11" AGENT_PORT=7070
  IN_HOST=(ip netns exec "$NS")
  sl_log "namespace host $NS at $HOST_IP (bridge $BRIDGE $SERVER_IP)"
else
  SERVER_IP=127.0.0.1 HOST_IP=127.0.0.1 AGENT_PORT="$(free_port)"
  IN_HOST=()
  sl_warn "ip netns add failed: the host runs on loopback"
fi

# ---- 3. release-intake (with a rollout-planner and an executor), an enrolment token, enrol
API_PORT="$(free_port)"
API="http://$SERVER_IP:$API_PORT"
ADMIN_TOKEN_FILE="$WORK/admin-token"
(umask 077 && echo "slc_deb_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$ADMIN_TOKEN_FILE")
(umask 077 && echo "svc_deb_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/service-token")
(umask 077 && echo "sla_deb_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/executor-token")
# start_service NAME BINARY ADDR KEY=VALUE...: a clean environment, the stack's addresses, this
# run's schema and consumer group (as test/e2e/common.sh does).
start_service() {
  local name="$1" bin="$2" addr="$3"
  shift 3
  env -i PATH="$PATH" HOME="${HOME:-/root}" \
    SLUICE_KAFKA_BROKERS="$SLUICE_KAFKA_BROKERS" SLUICE_PG_DSN="$SLUICE_PG_DSN" \
    SLUICE_REDIS_URL="$SLUICE_REDIS_URL" SLUICE_LOG_LEVEL=info \
    SLUICE_HTTP_ADDR="$addr" SLUICE_PG_SCHEMA="e2e_${RUN_ID}_${name//-/_}" \
    SLUICE_SERVICE_TOKEN_FILE="$WORK/service-token" \
    "$@" "$BUILD/$bin" >>"$WORK/log/$name.log" 2>&1 &
  PIDS[$name]=$!
  sl_wait_until 60 "$name ready" sl_http_ok "http://$addr/readyz" || fail "$name did not become ready"
}
PLANNER_PORT="$(free_port)"
EXECUTOR_PORT="$(free_port)"
start_service rollout-planner services/rollout-planner/rollout-planner "127.0.0.1:$PLANNER_PORT" \
  SLUICE_KAFKA_GROUP="rollout-planner-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest
start_service executor services/executor/executor "127.0.0.1:$EXECUTOR_PORT" \
  SLUICE_KAFKA_GROUP="executor-$RUN_ID" SLUICE_KAFKA_START_OFFSET=latest \
  SLUICE_EXECUTOR_AGENT_TOKEN_FILE="$WORK/executor-token"
# On the bridge address: the namespace host enrols and reports to it.
start_service release-intake services/release-intake/release-intake "$SERVER_IP:$API_PORT" \
  SLUICE_ADMIN_TOKEN_FILE="$ADMIN_TOKEN_FILE" SLUICE_PLANNER_URL="http://127.0.0.1:$PLANNER_PORT" \
  SLUICE_EXECUTOR_URL="http://127.0.0.1:$EXECUTOR_PORT"
ADMIN="Authorization: Bearer $(cat "$ADMIN_TOKEN_FILE")"
api() { curl -sS --max-time 10 -H "$ADMIN" -H 'Content-Type: application/json' "$@"; }

HOST=deb-host-1
sluice() { "$BUILD/cli/sluice" --api "$API" --token-file "$ADMIN_TOKEN_FILE" "$@"; }
sluice --raw agent enrollment-token --name "$HOST" --expires-in 10m >"$WORK/enrol.json"
json 'd["token"]' <"$WORK/enrol.json" >"$R/root-enrollment-token" || fail "no enrolment token: $(cat "$WORK/enrol.json")"
chmod 0600 "$R/root-enrollment-token"
CONF="$R/etc/sluice-agent"
enroll() {
  "${IN_HOST[@]}" "$R/usr/bin/sluice-agent" enroll --server "$API" --token-file "$R/root-enrollment-token" \
    --name "$HOST" --address "$HOST_IP" --label role=web --label zone=zone-a \
    --config-dir "$CONF" --executor-token-file "$WORK/executor-token" "$@"
}
enroll >"$WORK/enroll.out" 2>&1 || fail "sluice-agent enroll failed: $(cat "$WORK/enroll.out")"
sl_log "$(head -n1 "$WORK/enroll.out")"
for f in credential enrolled.conf enrollment.json executor-token; do
  [[ "$(stat -c %a "$CONF/$f")" == 600 ]] || fail "$CONF/$f is $(stat -c %a "$CONF/$f"), not 0600"
done
grep -q '^slh_' "$CONF/credential" || fail "the credential is not a host credential"
cred_before="$(sha256sum <"$CONF/credential")"
rc=0
enroll >"$WORK/enroll2.out" 2>&1 || rc=$?
((rc == 3)) && grep -q "already enrolled as '$HOST'" "$WORK/enroll2.out" ||
  fail "a second enroll did not refuse (rc $rc): $(cat "$WORK/enroll2.out")"
rc=0
enroll --force >"$WORK/enroll3.out" 2>&1 || rc=$?
((rc == 1)) && grep -q "invalid_enrollment_token, --token-file" "$WORK/enroll3.out" ||
  fail "the spent enrolment token was not refused (rc $rc): $(cat "$WORK/enroll3.out")"
[[ "$(sha256sum <"$CONF/credential")" == "$cred_before" ]] || fail "a refused enrolment changed the credential"
sl_log "second enroll refused (already enrolled); --force with the spent token refused, nothing changed"
# One token, two hosts racing: exactly one enrols. An expired token enrols no one.
race_token="$(sluice --raw agent enrollment-token --expires-in 10m | json 'd["token"]')"
race_pids=()
for i in 1 2; do
  curl -sS -o "$WORK/race$i.json" -w '%{http_code}\n' -H 'Content-Type: application/json' \
    -d "{\"enrollment_token\": \"$race_token\", \"name\": \"race-$i\", \"address\": \"10.86.0.$((20 + i))\"}" \
    "$API/v1/agents/enroll" >"$WORK/race$i.code" &
  race_pids+=($!)
done
wait "${race_pids[@]}" || true
codes="$(sort "$WORK/race1.code" "$WORK/race2.code" | tr '\n' ' ')"
[[ "$codes" == "201 401 " ]] || fail "two enrolments with one token answered $codes (want one 201, one 401)"
short_token="$(sluice --raw agent enrollment-token --expires-in 1s | json 'd["token"]')"
sleep 1.5
code="$(curl -sS -o "$WORK/expired.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "{\"enrollment_token\": \"$short_token\", \"name\": \"late-1\", \"address\": \"10.86.0.30\"}" "$API/v1/agents/enroll")"
[[ "$code" == 401 ]] && grep -q expired "$WORK/expired.json" || fail "an expired token enrolled: $code $(cat "$WORK/expired.json")"
sl_log "one token, two racing hosts: one enrolled; an expired token refused"

# ---- 4. the installed agent, started directly (no systemd here)
sl_log "systemd cannot run here: starting the installed $R/usr/bin/sluice-agent directly as the"
sl_log "  package's user (uid $AGENT_UID, setpriv --no-new-privs) with the installed agent.conf +"
sl_log "  enrolled.conf, their /etc and /var/lib paths taken under $R"
# The credential and the executor token are the agent user's (enroll chowns them when that user
# exists on the running system; here it exists only in $R/etc/passwd).
chown "$AGENT_UID:$AGENT_GID" "$CONF/credential" "$CONF/executor-token"
mapfile -t settings < <(cat "$CONF/agent.conf" "$CONF/enrolled.conf" | grep -E '^SLUICE_[A-Z_]+=' |
  sed -e "s#=/etc/sluice-agent/#=$CONF/#" -e "s#=/var/lib/sluice-agent\$#=$R/var/lib/sluice-agent#" \
    -e "s#^SLUICE_AGENT_ADDR=.*#SLUICE_AGENT_ADDR=$HOST_IP:$AGENT_PORT#")
settings+=(SLUICE_AGENT_HEARTBEAT_INTERVAL=1s)
printf '  %s\n' "${settings[@]}"
"${IN_HOST[@]}" setpriv --reuid="$AGENT_UID" --regid="$AGENT_GID" --clear-groups --no-new-privs \
  env -i PATH=/usr/bin:/bin LANG=C.UTF-8 "${settings[@]}" "$R/usr/bin/sluice-agent" \
  >>"$WORK/log/agent.log" 2>&1 &
PIDS[agent]=$!
AGENT="http://$HOST_IP:$AGENT_PORT"
sl_wait_until 30 "installed agent up" sl_http_ok "$AGENT/healthz" || fail "the installed agent did not start"
seen() {
  api "$API/v1/agents" | python3 -c "
import json, sys
a = [h for h in json.load(sys.stdin)['items'] if h['name'] == '$HOST']
sys.exit(0 if a and a[0]['last_seen_at_ms'] and a[0]['labels'] == {'role': 'web', 'zone': 'zone-a'}
         and a[0]['address'] == '$HOST_IP' and not a[0]['revoked'] else 1)"
}
sl_wait_until 20 "$HOST listed and seen in GET /v1/agents" seen || fail "GET /v1/agents: $(api "$API/v1/agents")"

# A release, served from the bridge address, deployed through the agent's API with the
# executor's token (the executor's AgentDriver sends the same request).
mkdir -p "$WORK/art/pkg/bin" "$WORK/srv"
printf '#!/bin/sh\necho "restarted $SLUICE_RELEASE_VERSION" >>"$SLUICE_RELEASE_DIR/../restarts.log"\n' >"$WORK/art/pkg/bin/restart.sh"
printf '#!/bin/sh\nexit 0\n' >"$WORK/art/pkg/bin/health.sh"
chmod 0755 "$WORK/art/pkg/bin/"*.sh
tar -C "$WORK/art/pkg" -czf "$WORK/srv/app-1.0.0.tar.gz" bin
SHA="$(sha256sum "$WORK/srv/app-1.0.0.tar.gz" | cut -d' ' -f1)"
ART_PORT="$(free_port)"
python3 -m http.server "$ART_PORT" --bind "$SERVER_IP" --directory "$WORK/srv" >>"$WORK/log/artifacts.log" 2>&1 &
PIDS[artifacts]=$!
sl_wait_until 20 "artifact server" sl_http_ok "http://$SERVER_IP:$ART_PORT/app-1.0.0.tar.gz" || fail "artifact server did not start"
EXEC="Authorization: Bearer $(cat "$WORK/executor-token")"
# Deployed the whole way: a delivery spec naming the enrolled host, a release, a deployment
# request; the rollout-planner plans it and the executor calls the installed agent.
APP="deb-app-$RUN_ID"
cat >"$WORK/spec.yaml" <<SPEC
app: $APP
environments:
  production:
    targets:
      web:
        hosts:
          - name: $HOST
            address: $HOST_IP
            agentEndpoint: "$AGENT"
            labels: {role: web, zone: zone-a}
    strategy:
      type: canary
      steps:
        - weight: 100%
      maxParallel: 1
      hostTimeout: 60s
    service:
      restartCommand: ["bin/restart.sh"]
      restartTimeout: 30s
      health: {command: ["bin/health.sh"], timeout: 20s}
    policy:
      concurrency: queue
SPEC
for svc in rollout-planner executor; do
  sl_wait_until 30 "$svc partitions assigned" grep -q "consumer group $svc-$RUN_ID assigned" "$WORK/log/$svc.log" ||
    fail "$svc got no partitions"
done
sleep 1
sluice apply -f "$WORK/spec.yaml" >/dev/null || fail "the spec was not applied"
release_id="$(sluice --raw release create --app "$APP" --tag "v1.0.0" --version 1.0.0 \
  --artifact-url "http://$SERVER_IP:$ART_PORT/app-1.0.0.tar.gz" --sha256 "$SHA" --created-by agent-deb-test | json 'd["id"]')" ||
  fail "no release"
deployment="$(sluice --raw deploy --release "$release_id" --env production | json 'd["deployment_id"]')" || fail "no deployment"
wait_final() {
  local id="$1" deadline=$((SECONDS + $2)) status=""
  while ((SECONDS < deadline)); do
    status="$(api "$API/v1/deployments/$id" 2>/dev/null | json 'd["status"]' 2>/dev/null || true)"
    case "$status" in succeeded | failed | aborted | rolled_back) echo "$status"; return 0 ;; esac
    sleep 0.5
  done
  echo "timeout(last: ${status:-none})"
}
status="$(wait_final "$deployment" 120)"
[[ "$status" == succeeded ]] || fail "deployment $deployment of 1.0.0 to the installed agent: $status"
[[ "$(readlink "$R/var/lib/sluice-agent/current")" == *1.0.0 ]] || fail "current is not 1.0.0 in $R/var/lib/sluice-agent"
[[ "$(stat -c %u "$R/var/lib/sluice-agent/releases/1.0.0")" == "$AGENT_UID" ]] || fail "the release is not the agent user's"
grep -q "restarted 1.0.0" "$R/var/lib/sluice-agent/releases/restarts.log" || fail "the restart command did not run"
sl_log "deployment $deployment ($status) put 1.0.0 on the installed agent: current -> $(readlink "$R/var/lib/sluice-agent/current"), owned by uid $AGENT_UID"

# ---- 5. revoke
sluice agent list | grep -q "^$HOST  *$HOST_IP " || fail "sluice agent list: $(sluice agent list)"
sluice agent revoke "$HOST" | grep -qx "host $HOST revoked" || fail "sluice agent revoke $HOST did not revoke"
code="$(curl -sS -o "$WORK/hb.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$CONF/credential")" "$API/v1/agents/heartbeat")"
[[ "$code" == 401 ]] && [[ "$(json 'd["error"]["code"]' <"$WORK/hb.json")" == agent_revoked ]] ||
  fail "the revoked credential was not refused: $code $(cat "$WORK/hb.json")"
# What the executor's AgentDriver sends, straight to the agent.
deploy_body() {
  printf '{"version": "%s", "artifact_url": "http://%s:%s/app-1.0.0.tar.gz", "sha256": "%s", "deployment_id": "direct-%s", "generation": 1, "service": {"restart_command": ["bin/restart.sh"], "health": {"command": ["bin/health.sh"], "timeout": "10s"}}}' \
    "$1" "$SERVER_IP" "$ART_PORT" "$SHA" "$RUN_ID"
}
refused() {
  local c
  c="$(curl -sS -o "$WORK/refused.json" -w '%{http_code}' --max-time 10 -H "$EXEC" -H 'Content-Type: application/json' \
    -d "$(deploy_body 1.0.0)" "$AGENT/v1/deploy")"
  [[ "$c" == 403 ]] && grep -q agent_revoked "$WORK/refused.json"
}
sl_wait_until 20 "the revoked agent refuses deploys" refused || fail "the revoked agent still deploys: $(cat "$WORK/refused.json")"
# The executor's path too: the next deployment to the revoked host fails there, and the host
# keeps 1.0.0.
echo 2.0.0 >"$WORK/art/pkg/VERSION"
tar -C "$WORK/art/pkg" -czf "$WORK/srv/app-2.0.0.tar.gz" bin VERSION
SHA2="$(sha256sum "$WORK/srv/app-2.0.0.tar.gz" | cut -d' ' -f1)"
release2="$(sluice --raw release create --app "$APP" --tag "v2.0.0" --version 2.0.0 \
  --artifact-url "http://$SERVER_IP:$ART_PORT/app-2.0.0.tar.gz" --sha256 "$SHA2" --created-by agent-deb-test |
  json 'd["id"]')" || fail "no release 2.0.0"
deployment2="$(sluice --raw deploy --release "$release2" --env production | json 'd["deployment_id"]')" || fail "no deployment of 2.0.0"
status2="$(wait_final "$deployment2" 120)"
[[ "$status2" == failed || "$status2" == rolled_back ]] || fail "deployment $deployment2 to the revoked host: $status2"
api "$API/v1/deployments/$deployment2/instances" | grep -q agent_revoked ||
  fail "the executor's record of $deployment2 does not name agent_revoked: $(api "$API/v1/deployments/$deployment2/instances")"
[[ "$(readlink "$R/var/lib/sluice-agent/current")" == *1.0.0 ]] || fail "the revoked host no longer runs 1.0.0"
sl_log "deployment $deployment2 of 2.0.0 to the revoked host: $status2 (agent_revoked), the host keeps 1.0.0"
api "$API/v1/agents" | python3 -c "
import json, sys
a = [h for h in json.load(sys.stdin)['items'] if h['name'] == '$HOST'][0]
sys.exit(0 if a['revoked'] and a['revoked_by'] == 'local-admin' else 1)" || fail "GET /v1/agents does not show $HOST revoked"
api "$API/v1/audit?limit=50" | python3 -c "
import json, sys
acts = {(e['action'], e['outcome']) for e in json.load(sys.stdin)['items']}
want = {('agent.enrollment_token.create', 'created'), ('agent.enroll', 'enrolled'),
        ('agent.enroll', 'refused_token_reused'), ('agent.revoke', 'revoked')}
sys.exit(0 if want <= acts else print(sorted(want - acts)) or 1)" || fail "the audit log lacks agent entries"
sl_log "revoked: release-intake refuses the credential (agent_revoked), the agent refuses deploys (403)"
sl_log "PASS"
