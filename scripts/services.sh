#!/usr/bin/env bash
# Sluice's own services on top of the local stack, in the background.
#
#   bash scripts/services.sh up       start every built service (idempotent), wait until ready
#   bash scripts/services.sh down     stop them (SIGTERM, then SIGKILL after 15 s)
#   bash scripts/services.sh status   one line each; exit 1 if any is down
#
# Binaries from build/dev (SLUICE_BUILD_DIR), logs var/log/<service>.log, pids
# var/run/<service>.pid. The local admin API token is var/local/admin-token (mode 0600),
# created on first start. Each service connects to Kafka's SASL_SSL listener as its own
# principal when the stack has one (kafka_env_for), to the PLAINTEXT one otherwise.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=services

ROOT="$SLUICE_ROOT"
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
BUILD="${SLUICE_BUILD_DIR:-$ROOT/build/dev}"
TOKEN_FILE="$VAR/local/admin-token"
AGENT_TOKEN_FILE="$VAR/local/agent-token"
# The token every internal API requires and release-intake sends them (SLUICE_SERVICE_TOKEN).
SERVICE_TOKEN_FILE="$VAR/local/service-token"
SVC="SLUICE_SERVICE_TOKEN_FILE=$SERVICE_TOKEN_FILE"
LINK_KEYS_FILE="$VAR/local/link-keys"
API_ADDR="${SLUICE_HTTP_ADDR:-127.0.0.1:8080}"
PLANNER_ADDR=127.0.0.1:8082
EXECUTOR_ADDR=127.0.0.1:8084
WATCHER_ADDR=127.0.0.1:8081
ROLLBACK_ADDR=127.0.0.1:8085
# The local broker also carries the test suite's traffic: a consumer group this stack has not
# used yet starts at the end of the topics, not at their beginning (production keeps earliest).
KAFKA_START="SLUICE_KAFKA_START_OFFSET=latest"

# name  binary (relative to the build dir)  health URL; started in this order, stopped in reverse.
CAPTURE_ADDR=127.0.0.1:18093
NOTIFIER_ADDR=127.0.0.1:8083
SERVICES=(
  "capture-server tools/capture-server/sluice-capture-server http://$CAPTURE_ADDR/captures"
  "notifier services/notifier/notifier http://$NOTIFIER_ADDR/readyz"
  "rollout-planner services/rollout-planner/rollout-planner http://$PLANNER_ADDR/readyz"
  "executor services/executor/executor http://$EXECUTOR_ADDR/readyz"
  "metric-watcher services/metric-watcher/metric-watcher http://$WATCHER_ADDR/readyz"
  "rollback-agent services/rollback-agent/rollback-agent http://$ROLLBACK_ADDR/readyz"
  "release-intake services/release-intake/release-intake http://$API_ADDR/readyz"
)

# A random token in a 0600 file, made once: $1 file, $2 prefix, $3 what it is.
ensure_secret_file() {
  mkdir -p "$VAR/local"
  if [[ ! -s "$1" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-40 | sed "s/^/$2/" >"$1")
    sl_log "wrote a new $3 to $1"
  fi
  chmod 600 "$1"
}

ensure_token() {
  ensure_secret_file "$TOKEN_FILE" slc_ "local admin token"
  ensure_secret_file "$SERVICE_TOKEN_FILE" svc_ "service token of the internal APIs"
  # The token every demo host's sluice-agent accepts; scripts/hosts.sh uses the same file.
  ensure_secret_file "$AGENT_TOKEN_FILE" sla_ "agent token"
  # The key release-intake and the notifier sign and check the notices' links with
  # (SLUICE_LINK_KEYS: "id:secret"; rotate by putting a new key first).
  ensure_secret_file "$LINK_KEYS_FILE" local: "link signing key"
  # The local capture server checks the DingTalk signature and the webhook HMAC with these.
  ensure_secret_file "$VAR/local/demo-dingtalk-secret" SEC "demo DingTalk robot secret"
  ensure_secret_file "$VAR/local/demo-webhook-secret" whs_ "demo webhook secret"
  ensure_secret_file "$VAR/local/demo-smtp-password" smtp_ "demo SMTP password"
}

# How service $1 connects to Kafka: when the stack has its SASL_SSL listener (stack.env's
# SLUICE_KAFKA_SASL_BROKERS, scripts/stack.sh) and $1 is a principal of scripts/kafka-acls.conf
# (its password file exists), there as itself, with exactly the rights the table gives it;
# otherwise nothing (the PLAINTEXT address of stack.env). Reads the sourced stack.env.
kafka_env_for() {
  local password="$VAR/local/kafka-$1.password"
  [[ -n "${SLUICE_KAFKA_SASL_BROKERS:-}" && -f "$password" ]] || return 0
  echo "SLUICE_KAFKA_BROKERS=$SLUICE_KAFKA_SASL_BROKERS SLUICE_KAFKA_SECURITY_PROTOCOL=sasl_ssl" \
    "SLUICE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 SLUICE_KAFKA_SASL_USERNAME=$1" \
    "SLUICE_KAFKA_SASL_PASSWORD_FILE=$password SLUICE_KAFKA_SSL_CA_LOCATION=$SLUICE_KAFKA_SASL_CA"
}

# Command-line arguments of a service (most take none).
args_for() {
  case "$1" in
    capture-server)
      # Also the demo's mail relay (plain SMTP on 127.0.0.1:18025, as in demo-routes.yaml; AUTH
      # with the demo SMTP user and the password in var/local/demo-smtp-password).
      echo "--addr $CAPTURE_ADDR --dir $VAR/demo/captures" \
        "--dingtalk-secret-file $VAR/local/demo-dingtalk-secret" \
        "--webhook-secret-file $VAR/local/demo-webhook-secret" \
        "--smtp-addr 127.0.0.1:18025 --smtp-user sluice-demo" \
        "--smtp-password-file $VAR/local/demo-smtp-password"
      ;;
  esac
}

env_for() {
  case "$1" in
    release-intake)
      echo "SLUICE_HTTP_ADDR=$API_ADDR SLUICE_ADMIN_TOKEN_FILE=$TOKEN_FILE $SVC" \
        "SLUICE_LINK_KEYS_FILE=$LINK_KEYS_FILE" \
        "SLUICE_PLANNER_URL=http://$PLANNER_ADDR SLUICE_EXECUTOR_URL=http://$EXECUTOR_ADDR" \
        "SLUICE_WATCHER_URL=http://$WATCHER_ADDR SLUICE_ROLLBACK_AGENT_URL=http://$ROLLBACK_ADDR"
      # The external producers of scripts/kafka-acls.conf as Sluice roles (each writes only its
      # own topic sluice.intake.p.<principal>.v1; docs/kafka-producers.md): only where the
      # broker authenticates them (its SASL_SSL listener), never on the anonymous PLAINTEXT one.
      if [[ -n "$(kafka_env_for release-intake)" ]]; then
        echo "SLUICE_INTAKE_KAFKA_PRINCIPALS=ci=deployer@production:viewer,approver=approver"
      fi
      ;;
    metric-watcher)
      # Alertmanager (scripts/stack.sh) presents the token of var/local/alert-token.
      echo "SLUICE_HTTP_ADDR=$WATCHER_ADDR SLUICE_WATCHER_ALERT_TOKEN_FILE=$VAR/local/alert-token $SVC $KAFKA_START"
      ;;
    rollback-agent)
      echo "SLUICE_HTTP_ADDR=$ROLLBACK_ADDR SLUICE_PUBLIC_URL=http://$API_ADDR $SVC $KAFKA_START"
      ;;
    rollout-planner)
      echo "SLUICE_HTTP_ADDR=$PLANNER_ADDR $SVC $KAFKA_START"
      ;;
    executor)
      # Kubernetes targets of cluster "local": the control plane of scripts/kube.sh, when it
      # has been set up (its admin kubeconfig; make demo's Deployment).
      local kube=""
      [[ -f "$VAR/local/kubeconfig" ]] &&
        kube="SLUICE_EXECUTOR_KUBE_CLUSTERS={\"local\":{\"kubeconfig\":\"$VAR/local/kubeconfig\"}}"
      # s3:// artifacts: presigned against the local store of scripts/s3.sh, when it runs (hosts
      # in network namespaces reach it only with SLUICE_S3_HOST set to the bridge address).
      local s3=""
      [[ -s "$VAR/local/s3.env" && -s "$VAR/local/s3-access-key-id" ]] &&
        s3="SLUICE_EXECUTOR_S3_ENDPOINT=$(. "$VAR/local/s3.env" && echo "$SLUICE_S3_ENDPOINT")"\
" SLUICE_EXECUTOR_S3_ACCESS_KEY_ID=$(cat "$VAR/local/s3-access-key-id")"\
" SLUICE_EXECUTOR_S3_SECRET_ACCESS_KEY_FILE=$VAR/local/s3-secret-access-key"
      echo "SLUICE_HTTP_ADDR=$EXECUTOR_ADDR SLUICE_EXECUTOR_AGENT_TOKEN_FILE=$AGENT_TOKEN_FILE $SVC $KAFKA_START $kube $s3"
      ;;
    notifier)
      # Every notice of demo-app goes to the local capture server (var/demo/captures), e-mail
      # included (its SMTP listener, see the capture-server arguments).
      local c="http://$CAPTURE_ADDR"
      echo "SLUICE_HTTP_ADDR=$NOTIFIER_ADDR $SVC $KAFKA_START SLUICE_LINK_KEYS_FILE=$LINK_KEYS_FILE" \
        "SLUICE_NOTIFIER_CONFIG=$ROOT/services/notifier/examples/demo-routes.yaml" \
        "SLUICE_DEMO_SLACK_URL=$c/slack/services/T000/B000/demo" \
        "SLUICE_DEMO_DINGTALK_URL=$c/dingtalk/robot/send?access_token=demo" \
        "SLUICE_DEMO_DINGTALK_SECRET_FILE=$VAR/local/demo-dingtalk-secret" \
        "SLUICE_DEMO_WECOM_URL=$c/wecom/cgi-bin/webhook/send?key=demo" \
        "SLUICE_DEMO_WEBHOOK_URL=$c/webhook/demo" \
        "SLUICE_DEMO_WEBHOOK_SECRET_FILE=$VAR/local/demo-webhook-secret" \
        "SLUICE_DEMO_SMTP_USER=sluice-demo" \
        "SLUICE_DEMO_SMTP_PASSWORD_FILE=$VAR/local/demo-smtp-password"
      ;;
  esac
}

start_one() {
  local name="$1" bin="$BUILD/$2" url="$3" pidfile="$VAR/run/$1.pid" pid port
  pid="$(sl_read_pidfile "$pidfile")"
  if [[ -n "$pid" ]] && sl_pid_alive "$pid"; then
    sl_log "$name already running (pid $pid)"
    return 0
  fi
  [[ -x "$bin" ]] || sl_die "$name is not built ($bin missing); run 'make build' first"
  port="${url#http://*:}"
  port="${port%%/*}"
  if sl_port_open "$port"; then
    sl_die "port $port ($name) is in use by $(sl_port_owner "$port"); stop it or set SLUICE_HTTP_ADDR"
  fi
  mkdir -p "$VAR/run" "$VAR/log"
  # shellcheck disable=SC2046
  (
    # A service gets the stack's addresses and its own settings, not every SLUICE_* variable of
    # this shell (ports for the stack script, build dirs): services refuse unknown settings.
    for v in $(compgen -e | grep '^SLUICE_' | grep -v '^SLUICE_LOG_LEVEL$' || true); do unset "$v"; done
    set -a
    # shellcheck disable=SC1091
    source "$VAR/local/stack.env"
    set +a
    exec env $(kafka_env_for "$name") $(env_for "$name") "$bin" $(args_for "$name") >>"$VAR/log/$name.log" 2>&1
  ) &
  echo $! >"$pidfile"
  if ! sl_wait_until 60 "$name at $url" sl_http_ok "$url"; then
    sl_warn "$name did not become ready; last log lines:"
    tail -n 15 "$VAR/log/$name.log" >&2
    return 1
  fi
  sl_log "$name ready at ${url%/readyz} (pid $(sl_read_pidfile "$pidfile"), log var/log/$name.log)"
}

stop_one() {
  local name="$1" pidfile="$VAR/run/$1.pid" pid
  pid="$(sl_read_pidfile "$pidfile")"
  if [[ -z "$pid" ]] || ! sl_pid_alive "$pid"; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    sl_pid_alive "$pid" || break
    sleep 0.1
  done
  if sl_pid_alive "$pid"; then
    sl_warn "$name (pid $pid) did not stop within 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  sl_log "$name stopped"
}

status_all() {
  local rc=0 entry name url pid state
  for entry in "${SERVICES[@]}"; do
    read -r name _ url <<<"$entry"
    pid="$(sl_read_pidfile "$VAR/run/$name.pid")"
    if [[ -n "$pid" ]] && sl_pid_alive "$pid" && sl_http_ok "$url"; then state=up; else state=down; rc=1; fi
    printf '%-16s %-40s %-6s %s\n' "$name" "${url%/readyz}" "$state" "${pid:--}"
  done
  return $rc
}

case "${1:-}" in
  up)
    [[ -f "$VAR/local/stack.env" ]] || sl_die "the local stack is not up; run 'make stack-up' first"
    ensure_token
    for entry in "${SERVICES[@]}"; do
      read -r name bin url <<<"$entry"
      start_one "$name" "$bin" "$url"
    done
    ;;
  down)
    for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
      read -r name _ _ <<<"${SERVICES[$i]}"
      stop_one "$name"
    done
    ;;
  status) status_all ;;
  *) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
