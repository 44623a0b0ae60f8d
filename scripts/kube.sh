#!/usr/bin/env bash
# The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler built from source (tools/kube/go.mod), with KWOK standing in for the nodes
# and their kubelets (the real scheduler binds pods; KWOK's fake kubelets mark them
# Running/Ready; no container runs). Loopback only.
#
#   bash scripts/kube.sh build            build the binaries once (cached, see below)
#   bash scripts/kube.sh up               build if needed, start (idempotent), wait for a Ready node
#   bash scripts/kube.sh down             stop what our pid files name, newest first
#   bash scripts/kube.sh status           one line per process; exit 1 if any is down
#   bash scripts/kube.sh env              print (and write var/local/kube.env) the addresses
#   bash scripts/kube.sh with -- CMD...   run CMD with the control plane up; stop afterwards
#                                         only the processes it started
#   bash scripts/kube.sh kubectl ARGS...  the built kubectl with the admin kubeconfig
#   bash scripts/kube.sh helm ARGS...     the built helm with the admin kubeconfig
#   bash scripts/kube.sh crds             install the Gateway API CRDs (standard channel) into
#                                         the running control plane; `up` does it too
#
# Binaries: ~/.cache/sluice/kube/<version-key>/bin (SLUICE_KUBE_CACHE_DIR), keyed by a hash of
# tools/kube/go.mod + go.sum, the KWOK and helm versions and the Go version, so a change
# rebuilds and every clone shares one build; Go's caches in ~/.cache/sluice/go
# (SLUICE_GO_CACHE_DIR). Certificates, tokens and etcd data under var/stack/kube/, logs
# var/log/kube-*.log, pids var/run/kube-*.pid, the admin kubeconfig var/local/kubeconfig.
#
# Ports (env): SLUICE_KUBE_PORT=26443 (kube-apiserver) SLUICE_KUBE_ETCD_PORT=26379
#   SLUICE_KUBE_ETCD_PEER_PORT=26380 SLUICE_KUBE_CONTROLLER_MANAGER_PORT=26257
#   SLUICE_KUBE_SCHEDULER_PORT=26259 SLUICE_KUBE_KWOK_PORT=26247.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=kube

ROOT="$SLUICE_ROOT"
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR/run"
LOG_DIR="$VAR/log"
KUBE_DIR="$VAR/stack/kube"
PKI="$KUBE_DIR/pki"
KUBECONFIG_DIR="$KUBE_DIR/kubeconfig"
ADMIN_KUBECONFIG="$VAR/local/kubeconfig"
MODULE_DIR="$ROOT/tools/kube"
HOST=127.0.0.1

API_PORT="${SLUICE_KUBE_PORT:-26443}"
ETCD_PORT="${SLUICE_KUBE_ETCD_PORT:-26379}"
ETCD_PEER_PORT="${SLUICE_KUBE_ETCD_PEER_PORT:-26380}"
CM_PORT="${SLUICE_KUBE_CONTROLLER_MANAGER_PORT:-26257}"
SCHEDULER_PORT="${SLUICE_KUBE_SCHEDULER_PORT:-26259}"
KWOK_PORT="${SLUICE_KUBE_KWOK_PORT:-26247}"
API_URL="https://$HOST:$API_PORT"
SERVICE_CIDR=10.0.0.0/24
SERVICE_IP=10.0.0.1

KWOK_VERSION="${SLUICE_KUBE_KWOK_VERSION:-v0.7.0}"
HELM_VERSION="${SLUICE_KUBE_HELM_VERSION:-v3.19.0}"
# The Gateway API CRDs (HTTPRoute for traffic-weighted canaries): the standard channel's files
# of the sigs.k8s.io/gateway-api Go module, fetched through the Go module proxy into Go's module
# cache (~/.cache/sluice/go/mod).
GATEWAY_API_VERSION="${SLUICE_KUBE_GATEWAY_API_VERSION:-v1.3.0}"
CACHE_ROOT="${SLUICE_KUBE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/kube}"
GO_CACHE_ROOT="${SLUICE_GO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/go}"
# Bumped when the way the binaries are built changes (flags, the list), to force a rebuild.
BUILD_RECIPE=1

# The processes, in start order; stopped in reverse.
COMPONENTS=(etcd apiserver controller-manager scheduler kwok)
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm)

# Tokens of the static token file: name, user, groups. The admin is in system:masters; the
# controller-manager and scheduler have the bootstrap roles of their well-known users; KWOK
# writes node and pod status for the fake kubelets. Sluice's own identities (executor,
# sluice-test) get no role here: what each may do is bound by its chart / its tests.
TOKENS=(
  "admin sluice-admin system:masters"
  "controller-manager system:kube-controller-manager -"
  "scheduler system:kube-scheduler -"
  "kwok sluice-kwok system:masters"
  "executor sluice-executor sluice:components"
  "sluice-test sluice-test sluice:tests"
)

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

# ---------------------------------------------------------------------------
# Build (cached)
# ---------------------------------------------------------------------------
module_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$MODULE_DIR/go.mod"; }

K8S_VERSION="$(module_version k8s.io/kubernetes)"
ETCD_VERSION="$(module_version go.etcd.io/etcd/server/v3)"

go_env() {
  env GOMODCACHE="$GO_CACHE_ROOT/mod" GOCACHE="$GO_CACHE_ROOT/build" GOFLAGS="-p=2 -buildvcs=false" "$@"
}

# The cache key: anything that changes what the binaries are.
version_key() {
  local goversion
  goversion="$(go env GOVERSION 2>/dev/null || echo go-missing)"
  printf '%s-%s' "$K8S_VERSION" "$({
    cat "$MODULE_DIR/go.mod" "$MODULE_DIR/go.sum"
    echo "kwok=$KWOK_VERSION helm=$HELM_VERSION $goversion recipe=$BUILD_RECIPE"
  } | sha256sum | cut -c1-12)"
}

KEY=""
BIN=""
set_bin() {
  [[ -n "$KEY" ]] && return 0
  KEY="$(version_key)"
  BIN="$CACHE_ROOT/$KEY/bin"
}

built() { [[ -f "$BIN/.complete" ]]; }

# Runs a build step with its output in the build log; dies with the log's tail on failure.
build_step() {
  local what="$1" log="$LOG_DIR/kube-build.log" start=$SECONDS
  shift
  sl_log "  $what ..."
  printf '\n==== %s %s ====\n' "$(date -u +%FT%TZ)" "$what" >>"$log"
  if ! (cd "$MODULE_DIR" && go_env nice -n 10 "$@") >>"$log" 2>&1; then
    tail -n 25 "$log" >&2
    sl_die "building $what failed (log $log)"
  fi
  sl_log "  $what: done in $((SECONDS - start))s"
}

kube_build() {
  set_bin
  built && return 0
  sl_have go || sl_die "go is missing (the control plane is built from source); run scripts/install-deps.sh"
  # Go 1.21+ fetches a newer toolchain itself when go.mod asks for one; older ones cannot.
  local need gov
  need="$(awk '$1 == "go" { print $2; exit }' "$MODULE_DIR/go.mod")"
  gov="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
  if [[ "$(printf '%s\n' "${gov:-0}" 1.21 | sort -V | head -n1)" != 1.21 ]]; then
    sl_die "go ${gov:-?} is too old to build Kubernetes $K8S_VERSION (needs go $need; Go 1.21 or newer fetches it itself): install Go from https://go.dev/dl"
  fi
  mkdir -p "$CACHE_ROOT" "$LOG_DIR"
  # One build per key at a time, also across clones.
  exec 8>"$CACHE_ROOT/$KEY.lock"
  if ! flock -n 8; then
    sl_log "another build of $KEY is running; waiting for it"
    flock 8
  fi
  if built; then
    exec 8>&-
    return 0
  fi

  local why have=() b last
  for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] && have+=("$b"); done
  last="$(cat "$CACHE_ROOT/last-key" 2>/dev/null || true)"
  if ((${#have[@]} > 0)); then
    why="resuming an interrupted build (done: ${have[*]})"
  elif [[ -n "$last" && "$last" != "$KEY" && -f "$CACHE_ROOT/$last/bin/.complete" ]]; then
    why="tools/kube/go.mod, go.sum or a tool version changed since the build in $CACHE_ROOT/$last"
  else
    why="no build yet for this version key"
  fi
  if [[ "$why" == "no build yet"* ]]; then
    sl_log "building the local Kubernetes control plane (first run only, ~8 min on 2 cores; cached in $CACHE_ROOT)"
  else
    sl_log "rebuilding the local Kubernetes control plane (1 to 8 min on 2 cores, less when Go's build cache has the sources; cached in $CACHE_ROOT)"
  fi
  sl_log "why: $why; key $KEY: Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION, helm $HELM_VERSION; log $LOG_DIR/kube-build.log"
  local start=$SECONDS tmp="$CACHE_ROOT/$KEY/tmp" vp ldf="-s -w" date
  mkdir -p "$BIN"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # Without the version strings the server reports v0.0.0-master+$Format:%H$ and kubectl
  # cannot parse it.
  date="$(date -u +%FT%TZ)"
  local minor="${K8S_VERSION#v1.}"
  minor="${minor%%.*}"
  for vp in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $vp.gitVersion=$K8S_VERSION -X $vp.gitMajor=1 -X $vp.gitMinor=$minor"
    ldf+=" -X $vp.gitTreeState=clean -X $vp.gitCommit=0000000000000000000000000000000000000000"
    ldf+=" -X $vp.buildDate=$date"
  done
  if [[ ! -x "$BIN/etcd" ]]; then
    build_step "etcd $ETCD_VERSION (1/4)" go build -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
    mv "$tmp/etcd" "$BIN/etcd"
  fi
  local k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl) k8s_missing=()
  for b in "${k8s_bins[@]}"; do [[ -x "$BIN/$b" ]] || k8s_missing+=("$b"); done
  if ((${#k8s_missing[@]} > 0)); then
    local pkgs=()
    for b in "${k8s_missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    build_step "${k8s_missing[*]} $K8S_VERSION (2/4, the long one)" go build -ldflags="$ldf" -o "$tmp/" "${pkgs[@]}"
    for b in "${k8s_missing[@]}"; do mv "$tmp/$b" "$BIN/$b"; done
  fi
  if [[ ! -x "$BIN/kwok" ]]; then
    build_step "kwok $KWOK_VERSION (3/4)" env GOBIN="$tmp" go install -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    mv "$tmp/kwok" "$BIN/kwok"
  fi
  if [[ ! -x "$BIN/helm" ]]; then
    build_step "helm $HELM_VERSION (4/4)" env GOBIN="$tmp" go install -ldflags="-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    mv "$tmp/helm" "$BIN/helm"
  fi
  rm -rf "$tmp"
  date -u +%FT%TZ >"$BIN/.complete"
  echo "$KEY" >"$CACHE_ROOT/last-key"
  exec 8>&-
  sl_log "control plane built in $((SECONDS - start))s into $BIN"
}

# ---------------------------------------------------------------------------
# Certificates, tokens, kubeconfigs (made once, kept across restarts)
# ---------------------------------------------------------------------------
ensure_pki() {
  sl_have openssl || sl_die "openssl is missing; run scripts/install-deps.sh"
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  local log="$LOG_DIR/kube-pki.log"
  (
    cd "$PKI"
    umask 077
    if [[ ! -s ca.crt || ! -s ca.key ]]; then
      sl_log "making a CA in $PKI"
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
        -subj "/CN=sluice-local-kubernetes-ca" \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature >>"$log" 2>&1
      rm -f apiserver.crt
    fi
    # Renewed a day before it expires.
    if [[ ! -s apiserver.crt ]] || ! openssl x509 -in apiserver.crt -noout -checkend 86400 >/dev/null 2>&1; then
      cat >apiserver.ext <<EOF
subjectAltName=IP:$HOST,IP:$SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
EOF
      openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
        -subj "/CN=kube-apiserver" >>"$log" 2>&1
      openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
        -extfile apiserver.ext -out apiserver.crt >>"$log" 2>&1
      rm -f apiserver.csr
    fi
    if [[ ! -s sa.key || ! -s sa.pub ]]; then
      openssl genrsa -out sa.key 2048 >>"$log" 2>&1
      openssl rsa -in sa.key -pubout -out sa.pub >>"$log" 2>&1
    fi
    # TOKEN,user,uid,"groups": one line per identity, tokens random, made once.
    local t name user groups
    touch tokens.csv
    for t in "${TOKENS[@]}"; do
      read -r name user groups <<<"$t"
      grep -q ",$user,uid-$name" tokens.csv && continue
      if [[ "$groups" == - ]]; then
        printf '%s,%s,uid-%s\n' "$(openssl rand -hex 24)" "$user" "$name" >>tokens.csv
      else
        printf '%s,%s,uid-%s,"%s"\n' "$(openssl rand -hex 24)" "$user" "$name" "$groups" >>tokens.csv
      fi
    done
  ) || sl_die "making the certificates failed (log $log)"
}

token_of() { awk -F, -v uid="uid-$1" '$3 == uid { print $1; exit }' "$PKI/tokens.csv"; }

# write_kubeconfig FILE NAME: a kubeconfig for token NAME, CA embedded, mode 0600.
write_kubeconfig() {
  local file="$1" name="$2" ca token
  ca="$(base64 -w0 <"$PKI/ca.crt")"
  token="$(token_of "$name")"
  [[ -n "$token" ]] || sl_die "no token for $name in $PKI/tokens.csv"
  mkdir -p "$(dirname "$file")"
  (
    umask 077
    cat >"$file.tmp" <<EOF
# Generated by scripts/kube.sh: the local control plane as $name. Remade on every start.
apiVersion: v1
kind: Config
clusters:
- name: sluice-local
  cluster:
    server: $API_URL
    certificate-authority-data: $ca
users:
- name: $name
  user:
    token: $token
contexts:
- name: sluice-local
  context:
    cluster: sluice-local
    user: $name
    namespace: default
current-context: sluice-local
EOF
    mv "$file.tmp" "$file"
  )
}

write_kubeconfigs() {
  write_kubeconfig "$ADMIN_KUBECONFIG" admin
  write_kubeconfig "$VAR/local/kubeconfig-executor" executor
  write_kubeconfig "$VAR/local/kubeconfig-sluice-test" sluice-test
  local c
  for c in controller-manager scheduler kwok; do write_kubeconfig "$KUBECONFIG_DIR/$c" "$c"; done
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------
pidfile_of() { echo "$RUN_DIR/kube-$1.pid"; }
logfile_of() { echo "$LOG_DIR/kube-$1.log"; }

binary_of() {
  case "$1" in
    etcd) echo etcd ;;
    apiserver) echo kube-apiserver ;;
    controller-manager) echo kube-controller-manager ;;
    scheduler) echo kube-scheduler ;;
    kwok) echo kwok ;;
  esac
}

address_of() {
  case "$1" in
    etcd) echo "http://$HOST:$ETCD_PORT" ;;
    apiserver) echo "$API_URL" ;;
    controller-manager) echo "https://$HOST:$CM_PORT" ;;
    scheduler) echo "https://$HOST:$SCHEDULER_PORT" ;;
    kwok) echo "http://$HOST:$KWOK_PORT" ;;
  esac
}

ports_of() {
  case "$1" in
    etcd) echo "$ETCD_PORT:SLUICE_KUBE_ETCD_PORT $ETCD_PEER_PORT:SLUICE_KUBE_ETCD_PEER_PORT" ;;
    apiserver) echo "$API_PORT:SLUICE_KUBE_PORT" ;;
    controller-manager) echo "$CM_PORT:SLUICE_KUBE_CONTROLLER_MANAGER_PORT" ;;
    scheduler) echo "$SCHEDULER_PORT:SLUICE_KUBE_SCHEDULER_PORT" ;;
    kwok) echo "$KWOK_PORT:SLUICE_KUBE_KWOK_PORT" ;;
  esac
}

# The pid of our running instance of $1 (its command line names our binary), or nothing.
running_pid() {
  local pid
  pid="$(sl_read_pidfile "$(pidfile_of "$1")")"
  [[ -n "$pid" ]] || return 0
  # No `| grep -q` here or below: its early exit fails the writer with SIGPIPE under pipefail.
  if sl_pid_alive "$pid" && [[ "$(sl_pid_cmdline "$pid")" == *"/bin/$(binary_of "$1") "* ]]; then
    echo "$pid"
  fi
}

is_ready() {
  case "$1" in
    etcd) [[ "$(curl -fsS --max-time 2 "http://$HOST:$ETCD_PORT/health" 2>/dev/null)" == *'"health":"true"'* ]] ;;
    apiserver) curl -fsS -o /dev/null --max-time 2 --cacert "$PKI/ca.crt" "$API_URL/readyz" ;;
    controller-manager) curl -fsSk -o /dev/null --max-time 2 "https://$HOST:$CM_PORT/healthz" ;;
    scheduler) curl -fsSk -o /dev/null --max-time 2 "https://$HOST:$SCHEDULER_PORT/healthz" ;;
    kwok) curl -fsS -o /dev/null --max-time 2 "http://$HOST:$KWOK_PORT/healthz" ;;
  esac
}

rss_of() { awk '/^VmRSS:/ { printf "%d MB", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || true; }

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" "$@"; }

# A node KWOK manages reports Ready, and the controller-manager made the default namespace's
# service account (pods cannot be created before it exists).
cluster_ready() {
  [[ "$(kubectl_admin get nodes -l type=kwok \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status},{end}' 2>/dev/null)" == *True,* ]] &&
    kubectl_admin get serviceaccount default -n default >/dev/null 2>&1
}

spawn() {
  local name="$1" log pidfile
  shift
  log="$(logfile_of "$name")"
  pidfile="$(pidfile_of "$name")"
  printf '\n==== %s starting %s ====\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  local pid=$! i
  echo "$pid" >"$pidfile"
  # Until the forked shell has exec'd, /proc shows this script's command line, and running_pid
  # (which matches the binary's path) would take a starting process for a dead one: on a loaded
  # machine wait_ready then stopped a healthy etcd. Wait for the exec (at most 5 s).
  for ((i = 0; i < 100; i++)); do
    [[ "$(sl_pid_cmdline "$pid")" == *"$1 "* ]] && break
    sl_pid_alive "$pid" || break
    sleep 0.05
  done
}

start_failed() {
  local name="$1" why="$2" log
  log="$(logfile_of "$name")"
  sl_warn "$name: $why; last lines of $log:"
  tail -n 20 "$log" >&2 || true
  return 1
}

wait_ready() {
  local name="$1" timeout="$2" pid deadline=$((SECONDS + $2))
  while :; do
    # The pid spawn recorded, alive or not: not running_pid, whose command-line match fails
    # while a loaded machine has not yet exec'd the binary (a healthy apiserver was declared
    # dead and stopped that way right after the compose tier).
    pid="$(sl_read_pidfile "$(pidfile_of "$name")")"
    sl_pid_alive "$pid" || {
      start_failed "$name" "process exited during start-up"
      return 1
    }
    is_ready "$name" >/dev/null 2>&1 && return 0
    ((SECONDS < deadline)) || {
      start_failed "$name" "not ready after ${timeout}s"
      return 1
    }
    sleep 0.2
  done
}

check_ports_free() {
  local p port env owner
  for p in $(ports_of "$1"); do
    port="${p%%:*}"
    env="${p#*:}"
    if sl_port_open "$port"; then
      owner="$(sl_port_owner "$port")"
      sl_die "port $port ($1) is in use by ${owner:-an unknown process}; stop it or set $env"
    fi
  done
}

# Starts $1 in the background; wait_ready tells when it serves.
launch_component() {
  local c="$1" b
  b="$BIN/$(binary_of "$c")"
  case "$c" in
    etcd)
      mkdir -p "$KUBE_DIR/etcd"
      chmod 700 "$KUBE_DIR/etcd"
      # No fsync: a throwaway local cluster (PostgreSQL runs with fsync=off here too).
      spawn etcd "$b" --name sluice-kube --data-dir "$KUBE_DIR/etcd" \
        --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
        --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
        --initial-cluster "sluice-kube=http://$HOST:$ETCD_PEER_PORT" \
        --quota-backend-bytes=2147483648 --unsafe-no-fsync --log-level=warn
      ;;
    apiserver)
      # The requestheader flags: the controller-manager and scheduler read that CA bundle for
      # delegated authentication and log its absence forever otherwise.
      spawn apiserver "$b" --etcd-servers="http://$HOST:$ETCD_PORT" \
        --bind-address="$HOST" --secure-port="$API_PORT" --advertise-address="$HOST" \
        --endpoint-reconciler-type=none --service-cluster-ip-range="$SERVICE_CIDR" \
        --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
        --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
        --service-account-issuer=https://kubernetes.default.svc.cluster.local \
        --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
        --authorization-mode=RBAC --allow-privileged=true --profiling=false \
        --requestheader-client-ca-file="$PKI/ca.crt" --requestheader-allowed-names=front-proxy-client \
        --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
        --requestheader-extra-headers-prefix=X-Remote-Extra-
      ;;
    controller-manager)
      local kc="$KUBECONFIG_DIR/controller-manager"
      # Each controller acts as its own service account (the bootstrap roles), as in kubeadm.
      spawn controller-manager "$b" --kubeconfig="$kc" \
        --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --bind-address="$HOST" --secure-port="$CM_PORT" --leader-elect=false --profiling=false \
        --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
        --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
        --use-service-account-credentials=true
      ;;
    scheduler)
      local kc="$KUBECONFIG_DIR/scheduler"
      spawn scheduler "$b" --kubeconfig="$kc" \
        --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
        --bind-address="$HOST" --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false
      ;;
    kwok)
      # Manages only the nodes annotated kwok.x-k8s.io/node=fake (tools/kube/nodes.yaml).
      spawn kwok "$b" --kubeconfig="$KUBECONFIG_DIR/kwok" --config="$MODULE_DIR/kwok-stages.yaml" \
        --manage-all-nodes=false \
        --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
        --manage-nodes-with-label-selector= \
        --disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom \
        --disregard-status-with-label-selector= \
        --cidr=10.0.1.1/24 --node-ip=10.0.1.1 --node-lease-duration-seconds=40 \
        --server-address="$HOST:$KWOK_PORT"
      ;;
  esac
}

stop_component() {
  local c="$1" pid pidfile
  pidfile="$(pidfile_of "$c")"
  pid="$(running_pid "$c")"
  if [[ -z "$pid" ]]; then
    rm -f "$pidfile"
    return 1
  fi
  kill -s TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 15))
  while sl_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if sl_pid_alive "$pid"; then
    sl_warn "$c: pid $pid still alive after 15s; SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    sleep 0.3
  fi
  rm -f "$pidfile"
  sl_log "$c: stopped (pid $pid)"
}

# The Gateway API CRDs, standard channel. Idempotent: the module is downloaded once (cached),
# applying the same CRDs again changes nothing.
gateway_crds() {
  local dir
  dir="$(cd /tmp && go_env go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" ||
    sl_die "fetching sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION through the Go module proxy failed"
  [[ -d "$dir/config/crd/standard" ]] || sl_die "no config/crd/standard in sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION ($dir)"
  kubectl_admin apply --server-side --force-conflicts --field-manager=sluice-kube-sh \
    -f "$dir/config/crd/standard" >/dev/null
  # Established (kubectl wait fails on a CRD whose status is not written yet).
  local deadline=$((SECONDS + 60))
  until [[ "$(kubectl_admin get crd httproutes.gateway.networking.k8s.io \
    -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null)" == True ]]; do
    ((SECONDS < deadline)) || sl_die "the HTTPRoute CRD is not Established after 60s"
    sleep 0.2
  done
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# up [COMPONENT...]: starts what is not running, in order; prints the time to ready.
kube_up() {
  local -a want=("$@")
  ((${#want[@]} > 0)) || want=("${COMPONENTS[@]}")
  kube_build
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$KUBE_DIR" "$VAR/local"
  ensure_pki
  write_kubeconfigs
  write_env
  local c pid to_start=() pending=()
  for c in "${COMPONENTS[@]}"; do
    [[ " ${want[*]} " == *" $c "* ]] || continue
    pid="$(running_pid "$c")"
    if [[ -z "$pid" ]]; then
      to_start+=("$c")
    elif ! wait_ready "$c" 30 >/dev/null 2>&1; then
      sl_warn "$c: pid $pid is running but not ready; see $(logfile_of "$c")"
      return 1
    fi
  done
  # Every port checked before anything starts, so a clash leaves nothing half-started.
  for c in "${to_start[@]}"; do check_ports_free "$c"; done
  local t0="$EPOCHREALTIME" t_api=""
  for c in "${to_start[@]}"; do
    rm -f "$(pidfile_of "$c")"
    launch_component "$c"
    case "$c" in
      # The others need these two; they start side by side once the apiserver serves.
      etcd) wait_ready etcd 30 || return 1 ;;
      apiserver)
        wait_ready apiserver 60 || return 1
        t_api="$EPOCHREALTIME"
        ;;
      *) pending+=("$c") ;;
    esac
  done
  for c in "${pending[@]}"; do wait_ready "$c" 60 || return 1; done
  if [[ -n "$(running_pid apiserver)" ]]; then
    # Three fake nodes, one per zone; applying them again is a no-op.
    kubectl_admin apply -f "$MODULE_DIR/nodes.yaml" >/dev/null
    local deadline=$((SECONDS + 60))
    until cluster_ready; do
      if ((SECONDS >= deadline)); then
        sl_warn "no node Ready or no default service account after 60s; see $LOG_DIR/kube-kwok.log and kube-controller-manager.log"
        return 1
      fi
      sleep 0.2
    done
    gateway_crds
  fi
  local t1="$EPOCHREALTIME"
  if ((${#to_start[@]} == 0)); then
    sl_log "already running at $API_URL (kubeconfig $ADMIN_KUBECONFIG)"
  else
    sl_log "started ${to_start[*]}: ${t_api:+apiserver /readyz after $(elapsed "$t0" "$t_api")s, }a node Ready and the default service account after $(elapsed "$t0" "$t1")s"
    sl_log "up at $API_URL; kubeconfig $ADMIN_KUBECONFIG (admin); try: bash scripts/kube.sh kubectl get nodes -L topology.kubernetes.io/zone"
  fi
}

kube_down() {
  local i c stopped=0
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    c="${COMPONENTS[i]}"
    [[ $# -eq 0 || " $* " == *" $c "* ]] || continue
    stop_component "$c" && stopped=$((stopped + 1))
  done
  ((stopped > 0)) || sl_log "not running"
}

kube_status() {
  local c pid state rc=0
  for c in "${COMPONENTS[@]}"; do
    pid="$(running_pid "$c")"
    state=down
    if [[ -n "$pid" ]] && is_ready "$c"; then
      state=up
    elif [[ -n "$pid" ]]; then
      state=starting
    fi
    printf '%-24s %-26s %-8s %-7s %s\n' "kube-$c" "$(address_of "$c")" "$state" "${pid:--}" \
      "$([[ -n "$pid" ]] && rss_of "$pid")"
    [[ "$state" == up ]] || rc=1
  done
  if ((rc == 0)) && [[ -x "$BIN/kubectl" ]]; then
    printf '%-24s %s\n' "kube nodes" "$(kubectl_admin get nodes -l type=kwok --no-headers 2>/dev/null |
      awk '{ n++; if ($2 == "Ready") r++ } END { printf "%d of %d Ready (KWOK fake kubelets)", r, n }')"
  fi
  return "$rc"
}

write_env() {
  mkdir -p "$VAR/local"
  cat >"$VAR/local/kube.env" <<EOF
# Generated by scripts/kube.sh: the local Kubernetes control plane. source it.
export SLUICE_KUBE_API=$API_URL
export SLUICE_KUBECONFIG=$ADMIN_KUBECONFIG
export SLUICE_KUBE_BIN=$BIN
EOF
}

# with -- CMD...: CMD with the control plane up, KUBECONFIG and PATH (kubectl, helm) set (no
# SLUICE_* variable: services refuse settings they do not know); afterwards stops only the
# processes this run started.
kube_with() {
  [[ "${1:-}" == "--" ]] && shift
  (($# > 0)) || sl_die "with: no command (usage: kube.sh with -- CMD...)"
  local c started=() rc=0
  for c in "${COMPONENTS[@]}"; do
    [[ -n "$(running_pid "$c")" ]] || started+=("$c")
  done
  if ((${#started[@]} > 0)); then
    sl_log "starting ${started[*]} for this run"
    kube_up "${started[@]}" || rc=1
  else
    kube_up >/dev/null || rc=1
  fi
  if ((rc == 0)); then
    KUBECONFIG="$ADMIN_KUBECONFIG" PATH="$BIN:$PATH" "$@" || rc=$?
  fi
  if ((${#started[@]} > 0)); then kube_down "${started[@]}"; fi
  return "$rc"
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  [[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" ]] || sl_die "$MODULE_DIR/go.mod names no k8s.io/kubernetes or etcd version"
  set_bin
  case "$cmd" in
    build) kube_build && sl_log "binaries in $BIN" ;;
    up | start) kube_up "$@" ;;
    down | stop) kube_down "$@" ;;
    status) kube_status ;;
    ready) [[ -n "$(running_pid apiserver)" ]] && is_ready apiserver && built && cluster_ready ;;
    env)
      write_env
      cat "$VAR/local/kube.env"
      ;;
    with) kube_with "$@" ;;
    crds)
      built && kubectl_admin get --raw /readyz >/dev/null 2>&1 || sl_die "the control plane is not up: run bash scripts/kube.sh up"
      gateway_crds && sl_log "Gateway API $GATEWAY_API_VERSION CRDs (standard channel) installed"
      ;;
    kubectl | helm)
      built || sl_die "not built yet: run bash scripts/kube.sh up"
      KUBECONFIG="$ADMIN_KUBECONFIG" exec "$BIN/$cmd" "$@"
      ;;
    bin) echo "$BIN" ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
