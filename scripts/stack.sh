#!/usr/bin/env bash
# The local Sluice stack: real Kafka (KRaft), PostgreSQL 15, Redis, Prometheus and
# Alertmanager on loopback ports, started without systemd.
#
#   bash scripts/stack.sh up     [component...]   start (idempotent), wait until ready
#   bash scripts/stack.sh down   [component...]   stop what our pid files name
#   bash scripts/stack.sh status [component...]   one line each; exit 1 if any is down
#   bash scripts/stack.sh env                     print the SLUICE_* addresses
#   bash scripts/stack.sh with -- CMD...          run CMD with the stack up; stop
#                                                 afterwards only what it started
#
# Components: kafka postgres redis prometheus alertmanager (default: all), and kube: the local
# Kubernetes control plane (scripts/kube.sh; built from source on first use, ~8 min). kube is
# opt-in for now: SLUICE_STACK_KUBE=1 adds it to the default set (up, down, status, with), or
# name it (stack.sh up kube). And s3: the S3-compatible artifact store (scripts/s3.sh, SeaweedFS
# built from source on first use): in the default set once it is built (SLUICE_STACK_S3=auto),
# always with SLUICE_STACK_S3=1 (building it first when needed), never with 0.
# Data var/stack/<name>/, logs var/log/<name>.log, pids var/run/<name>.pid, and the
# addresses for clients in var/local/stack.env.
#
# Ports (env): SLUICE_KAFKA_PORT=19092 SLUICE_KAFKA_CONTROLLER_PORT=19093
#   SLUICE_KAFKA_SASL_PORT=19095 (SASL_SSL, SCRAM-SHA-512: principals and ACLs of
#   scripts/kafka-acls.conf, passwords var/local/kafka-<principal>.password, CA
#   var/local/kafka-ca.pem; 19092 stays PLAINTEXT with every right: see docs/kafka-producers.md)
#   SLUICE_PG_PORT=15432 SLUICE_REDIS_PORT=16379 SLUICE_PROMETHEUS_PORT=19090
#   SLUICE_ALERTMANAGER_PORT=19094. Kafka version: SLUICE_KAFKA_VERSION=3.9.1.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SL_TAG=stack

ROOT="$SLUICE_ROOT"
VAR="${SLUICE_VAR_DIR:-$ROOT/var}"
RUN_DIR="$VAR/run"
LOG_DIR="$VAR/log"
STACK_DIR="$VAR/stack"
HOST=127.0.0.1

KAFKA_PORT="${SLUICE_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${SLUICE_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${SLUICE_KAFKA_SASL_PORT:-19095}"
PG_PORT="${SLUICE_PG_PORT:-15432}"
REDIS_PORT="${SLUICE_REDIS_PORT:-16379}"
PROMETHEUS_PORT="${SLUICE_PROMETHEUS_PORT:-19090}"
ALERTMANAGER_PORT="${SLUICE_ALERTMANAGER_PORT:-19094}"
KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-3.9.1}"
KAFKA_HEAP="${SLUICE_KAFKA_HEAP:--Xms256m -Xmx512m}"
# Receiver for Alertmanager's default route; metric-watcher serves it.
ALERT_WEBHOOK_URL="${SLUICE_ALERT_WEBHOOK_URL:-http://127.0.0.1:8081/v1/alerts/alertmanager}"
ALERT_TOKEN_FILE="$VAR/local/alert-token"

PG_BIN=/usr/lib/postgresql/15/bin
PG_USER=sluice
PG_PASSWORD=sluice
PG_DB=sluice

ALL_COMPONENTS=(kafka postgres redis prometheus alertmanager)
# Opt-in until a Sluice service uses it: the first start builds it from source.
KUBE_SH="$ROOT/scripts/kube.sh"
KUBE_PORT="${SLUICE_KUBE_PORT:-26443}"
if [[ "${SLUICE_STACK_KUBE:-0}" == 1 ]]; then ALL_COMPONENTS+=(kube); fi
S3_SH="$ROOT/scripts/s3.sh"
S3_PORT="${SLUICE_S3_PORT:-27333}"
case "${SLUICE_STACK_S3:-auto}" in
  1) ALL_COMPONENTS+=(s3) ;;
  auto) if bash "$S3_SH" built; then ALL_COMPONENTS+=(s3); fi ;;
  0) ;;
  *) sl_die "SLUICE_STACK_S3=${SLUICE_STACK_S3}: use auto, 1 or 0" ;;
esac

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 2
}

# ---------------------------------------------------------------------------
# Per-component facts
# ---------------------------------------------------------------------------
port_of() {
  case "$1" in
    kafka) echo "$KAFKA_PORT" ;;
    postgres) echo "$PG_PORT" ;;
    redis) echo "$REDIS_PORT" ;;
    prometheus) echo "$PROMETHEUS_PORT" ;;
    alertmanager) echo "$ALERTMANAGER_PORT" ;;
    kube) echo "$KUBE_PORT" ;;
    s3) echo "$S3_PORT" ;;
  esac
}

address_of() {
  case "$1" in
    kafka) echo "$HOST:$KAFKA_PORT" ;;
    postgres) echo "postgresql://$PG_USER:$PG_PASSWORD@$HOST:$PG_PORT/$PG_DB" ;;
    redis) echo "redis://$HOST:$REDIS_PORT/0" ;;
    prometheus) echo "http://$HOST:$PROMETHEUS_PORT" ;;
    alertmanager) echo "http://$HOST:$ALERTMANAGER_PORT" ;;
    kube) echo "https://$HOST:$KUBE_PORT" ;;
    s3) echo "http://${SLUICE_S3_HOST:-127.0.0.1}:$S3_PORT" ;;
  esac
}

# A word that must appear in the command line of the process our pid file names,
# so a recycled pid is never taken for ours.
cmd_marker_of() {
  case "$1" in
    kafka) echo "kafka.Kafka" ;;
    postgres) echo "postgres" ;;
    redis) echo "redis-server" ;;
    prometheus) echo "prometheus" ;;
    alertmanager) echo "alertmanager" ;;
    kube) echo "kube-apiserver" ;;
    s3) echo "weed" ;;
  esac
}

# kube is five processes (scripts/kube.sh); the apiserver's pid file stands for them here.
pidfile_of() {
  if [[ "$1" == kube ]]; then echo "$RUN_DIR/kube-apiserver.pid"; else echo "$RUN_DIR/$1.pid"; fi
}
logfile_of() { echo "$LOG_DIR/$1.log"; }

# Prints the pid of our running instance of $1, or nothing.
running_pid() {
  local name="$1" pidfile pid
  pidfile="$(pidfile_of "$name")"
  pid="$(sl_read_pidfile "$pidfile")"
  [[ -n "$pid" ]] || return 0
  if sl_pid_alive "$pid" && sl_pid_cmdline "$pid" | grep -q -- "$(cmd_marker_of "$name")"; then
    echo "$pid"
  fi
}

is_ready() {
  case "$1" in
    kafka) kafka_ready ;;
    postgres) "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -t 2 ;;
    redis) [[ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]] ;;
    prometheus) sl_http_ok "http://$HOST:$PROMETHEUS_PORT/-/ready" ;;
    alertmanager) sl_http_ok "http://$HOST:$ALERTMANAGER_PORT/-/ready" ;;
    kube) bash "$KUBE_SH" ready ;;
    s3) bash "$S3_SH" status >/dev/null ;;
  esac
}

# Refuses to start when someone else holds the port.
check_port_free() {
  local name="$1" port="$2" env="$3" owner
  if sl_port_open "$port"; then
    owner="$(sl_port_owner "$port")"
    sl_die "port $port ($name) is in use by ${owner:-an unknown process}; stop it or set $env"
  fi
}

# Starts CMD... in its own session, output appended to the component log, and
# records its pid.
spawn() {
  local name="$1"
  shift
  local log pidfile
  log="$(logfile_of "$name")"
  pidfile="$(pidfile_of "$name")"
  printf '\n==== %s starting %s ====\n' "$(date -u +%FT%TZ)" "$name" >>"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# Fails the start with the tail of the log.
start_failed() {
  local name="$1" why="$2" log
  log="$(logfile_of "$name")"
  sl_warn "$name: $why; last lines of $log:"
  tail -n 20 "$log" >&2 || true
  return 1
}

# Waits until $name is ready while its process lives.
wait_ready() {
  local name="$1" timeout="$2" pid deadline=$((SECONDS + $2))
  while :; do
    pid="$(sl_read_pidfile "$(pidfile_of "$name")")"
    if ! sl_pid_alive "$pid"; then
      start_failed "$name" "process exited during start-up"
      return 1
    fi
    if is_ready "$name" >/dev/null 2>&1; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      start_failed "$name" "not ready after ${timeout}s"
      return 1
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------
# Kafka (KRaft, combined broker + controller)
# ---------------------------------------------------------------------------
KAFKA_HOME="$VAR/cache/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_MARKER="$KAFKA_HOME/.complete"
KAFKA_DIR="$STACK_DIR/kafka"
# Authentication and authorization on the SASL_SSL listener: the table of principals and
# ACLs, the CA clients trust (public), the broker's key and certificate (private).
KAFKA_ACLS="$ROOT/scripts/kafka-acls.conf"
KAFKA_CA="$VAR/local/kafka-ca.pem"
KAFKA_TLS_DIR="$KAFKA_DIR/tls"

kafka_fetch() {
  if [[ -f "$KAFKA_MARKER" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  sl_have mvn || sl_die "kafka: mvn is missing; run scripts/install-deps.sh"
  sl_log "kafka: fetching broker $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  local tmp="$KAFKA_HOME/libs.partial" start=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! mvn -q -B -f "$ROOT/tools/kafka/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" -DincludeScope=runtime \
    >"$LOG_DIR/kafka-fetch.log" 2>&1; then
    tail -n 20 "$LOG_DIR/kafka-fetch.log" >&2
    sl_die "kafka: fetching $KAFKA_VERSION failed (log $LOG_DIR/kafka-fetch.log); try SLUICE_KAFKA_VERSION=3.9.0"
  fi
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  date -u +%FT%TZ >"$KAFKA_MARKER"
  sl_log "kafka: fetched $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - start))s"
}

kafka_write_config() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Generated by scripts/stack.sh; edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT,SASL_SSL://$HOST:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$KAFKA_SASL_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
log.dirs=$KAFKA_DIR/data
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=24
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=4
# SASL_SSL: SCRAM-SHA-512 over TLS (a PEM key and certificate from the local CA), the users
# and ACLs of scripts/kafka-acls.conf (kafka_auth). Nothing is allowed without an ACL, but the
# PLAINTEXT and CONTROLLER listeners' principal, ANONYMOUS, is a super user: the test tiers and
# tools use 19092 unauthenticated (the gap docs/kafka-producers.md names).
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_TLS_DIR/broker.pem
listener.name.sasl_ssl.ssl.key.password=$(cat "$KAFKA_TLS_DIR/broker.key-password")
listener.name.sasl_ssl.ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS
EOF
  chmod 600 "$KAFKA_DIR/server.properties"
  cat >"$KAFKA_DIR/log4j.properties" <<'EOF'
# Generated by scripts/stack.sh: everything to stdout (var/log/kafka.log).
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
EOF
}

# Whether this checkout's broker config has the SASL_SSL listener (a broker started by an
# older stack.sh has not, until it is restarted).
kafka_has_sasl() { grep -q '^listeners=.*SASL_SSL://' "$KAFKA_DIR/server.properties" 2>/dev/null; }

# The principals of the ACL table, one a line.
kafka_principals() { awk '!/^[[:space:]]*(#|$)/ { print $1 }' "$KAFKA_ACLS" | sort -u; }

# The local CA (var/local/kafka-ca.pem; its key stays in the broker's directory) and the
# broker's certificate for 127.0.0.1 and localhost, made once; a password per principal
# (var/local/kafka-<principal>.password, 0600), made once.
kafka_credentials() {
  sl_have openssl || sl_die "kafka: openssl is missing; run scripts/install-deps.sh"
  local tls="$KAFKA_TLS_DIR" p f
  mkdir -p "$tls" "$VAR/local"
  chmod 700 "$tls"
  if [[ ! -s "$tls/ca.key" || ! -s "$KAFKA_CA" ]]; then
    sl_log "kafka: making the local CA $KAFKA_CA"
    (umask 077 && openssl req -x509 -newkey rsa:2048 -noenc -keyout "$tls/ca.key" -out "$KAFKA_CA" \
      -days 3650 -subj "/CN=Sluice local Kafka CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null) || sl_die "kafka: making the CA failed"
    chmod 644 "$KAFKA_CA"
    rm -f "$tls/broker.pem"
  fi
  if [[ ! -s "$tls/broker.pem" || ! -s "$tls/broker.key-password" ]]; then
    (
      set -e
      umask 077
      head -c 24 /dev/urandom | base64 | tr -d '=+/\n' >"$tls/broker.key-password"
      openssl req -newkey rsa:2048 -noenc -keyout "$tls/broker.key" -out "$tls/broker.csr" \
        -subj "/CN=localhost" 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/broker.ext"
      openssl x509 -req -in "$tls/broker.csr" -CA "$KAFKA_CA" -CAkey "$tls/ca.key" \
        -CAserial "$tls/ca.srl" -CAcreateserial -days 825 -sha256 -extfile "$tls/broker.ext" -out "$tls/broker.crt" 2>/dev/null
      # Kafka's PEM key store: an encrypted PKCS#8 key, then the certificate chain.
      # (PBE-SHA1-3DES: the JDK has no SecretKeyFactory for PBES2, so Kafka cannot read AES ones)
      openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in "$tls/broker.key" \
        -passout "file:$tls/broker.key-password" -out "$tls/broker.pem"
      cat "$tls/broker.crt" >>"$tls/broker.pem"
      rm -f "$tls/broker.key" "$tls/broker.csr" "$tls/broker.ext"
    ) || sl_die "kafka: making the broker certificate failed"
  fi
  for p in $(kafka_principals); do
    f="$VAR/local/kafka-$p.password"
    [[ -s "$f" ]] || (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-32 >"$f")
    chmod 600 "$f"
  done
}

# Applies the ACL table (tools/kafka/SluiceKafkaAuth.java: SCRAM credentials, exactly the
# table's ACLs per principal) over the PLAINTEXT listener, when the table, the program or a
# password changed since it was last applied to this broker's data.
kafka_auth() {
  local sum marker="$KAFKA_DIR/data/.sluice-auth" p
  sum="$({
    cat "$KAFKA_ACLS" "$ROOT/tools/kafka/SluiceKafkaAuth.java"
    for p in $(kafka_principals); do cat "$VAR/local/kafka-$p.password"; done
  } | sha256sum | cut -d' ' -f1)"
  [[ "$(cat "$marker" 2>/dev/null)" == "$sum" ]] && return 0
  java --list-modules 2>/dev/null | grep -q '^jdk.compiler@' ||
    sl_die "kafka: applying $KAFKA_ACLS needs a JDK (java with jdk.compiler), not a JRE; run scripts/install-deps.sh"
  sl_log "kafka: applying $KAFKA_ACLS (SCRAM users and ACLs)"
  kafka_java_cmd
  "${KAFKA_JAVA[@]}" "$ROOT/tools/kafka/SluiceKafkaAuth.java" "$HOST:$KAFKA_PORT" "$KAFKA_ACLS" \
    "$VAR/local" >>"$(logfile_of kafka)" 2>&1 || {
    start_failed kafka "applying $KAFKA_ACLS failed"
    return 1
  }
  echo "$sum" >"$marker"
}

# The JVM command line shared by the broker and StorageTool, heap capped.
kafka_java_cmd() {
  local -a heap
  read -r -a heap <<<"$KAFKA_HEAP"
  KAFKA_JAVA=(java "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties"
    "-Dkafka.logs.dir=$KAFKA_DIR/logs"
    -cp "$KAFKA_LIBS/*")
}

kafka_format() {
  [[ -f "$KAFKA_DIR/data/meta.properties" ]] && return 0
  local cluster_id
  # As Kafka's own Uuid.randomUuid: never an id that starts with "-", which
  # StorageTool's argument parser reads as an option (1 run in 64 failed).
  cluster_id="$(python3 -c '
import base64, uuid
while True:
    cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not cid.startswith("-"):
        print(cid)
        break
')"
  sl_log "kafka: formatting storage in $KAFKA_DIR/data (cluster id $cluster_id)"
  # Static quorum (controller.quorum.voters), so no --standalone.
  kafka_java_cmd
  "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
    >>"$(logfile_of kafka)" 2>&1 || start_failed kafka "storage format failed" || exit 1
}

# Sends an ApiVersions request (v0) and expects error code 0: the broker answers.
kafka_api_probe() {
  python3 - "$HOST" "$KAFKA_PORT" <<'PY'
import socket, struct, sys
client = b"sluice-stack"
body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as s:
    s.sendall(struct.pack(">i", len(body)) + body)
    data = b""
    while len(data) < 10:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
size, corr, err = struct.unpack(">iih", data[:10])
sys.exit(0 if corr == 7 and err == 0 else 1)
PY
}

kafka_ready() {
  sl_port_open "$KAFKA_PORT" || return 1
  if [[ -n "$(running_pid kafka)" ]]; then
    # Our broker: also wait for the end of start-up in its log (read from the
    # start of this run on, so an old "started" line never counts). grep -c
    # reads to the end: grep -q would close the pipe early and tail's SIGPIPE
    # would fail the pipeline under pipefail.
    local log offset
    log="$(logfile_of kafka)"
    offset="$(cat "$RUN_DIR/kafka.logoffset" 2>/dev/null || echo 0)"
    tail -c +"$((offset + 1))" "$log" 2>/dev/null | grep -c "Kafka Server started" >/dev/null || return 1
    if kafka_has_sasl; then sl_port_open "$KAFKA_SASL_PORT" || return 1; fi
  fi
  kafka_api_probe
}

start_kafka() {
  sl_have java || sl_die "kafka: java is missing; run scripts/install-deps.sh"
  check_port_free kafka "$KAFKA_PORT" SLUICE_KAFKA_PORT
  check_port_free "kafka controller" "$KAFKA_CONTROLLER_PORT" SLUICE_KAFKA_CONTROLLER_PORT
  check_port_free "kafka SASL_SSL" "$KAFKA_SASL_PORT" SLUICE_KAFKA_SASL_PORT
  kafka_fetch
  kafka_credentials
  kafka_write_config
  kafka_format
  # Readiness reads the log from here on, so an old "started" line never counts.
  touch "$(logfile_of kafka)"
  stat -c %s "$(logfile_of kafka)" >"$RUN_DIR/kafka.logoffset"
  kafka_java_cmd
  spawn kafka "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties"
  wait_ready kafka 90 && kafka_auth
}

# ---------------------------------------------------------------------------
# PostgreSQL 15
# ---------------------------------------------------------------------------
# The server runs as the postgres user, so its data dir must be reachable by it.
pg_base_dir() {
  if [[ -n "${SLUICE_PG_DIR:-}" ]]; then
    echo "$SLUICE_PG_DIR"
  elif runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null ||
    { mkdir -p "$STACK_DIR" && runuser -u postgres -- test -x "$STACK_DIR" 2>/dev/null; }; then
    echo "$STACK_DIR/postgres"
  else
    echo "/var/tmp/sluice-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)/pg"
  fi
}

pg_as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

start_postgres() {
  [[ -x "$PG_BIN/postgres" ]] || sl_die "postgres: $PG_BIN/postgres is missing; run scripts/install-deps.sh"
  [[ "$(id -u)" == 0 ]] || sl_die "postgres: the stack starts PostgreSQL as the postgres user and needs root"
  check_port_free postgres "$PG_PORT" SLUICE_PG_PORT
  local base data sock
  base="$(pg_base_dir)"
  data="$base/data"
  sock="$base/run"
  [[ "$base" == "$STACK_DIR/postgres" ]] ||
    sl_log "postgres: $STACK_DIR is not reachable by the postgres user; data in $base"
  mkdir -p "$base" "$sock"
  chown postgres:postgres "$base" "$sock"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    sl_log "postgres: initdb in $data"
    rm -rf "$data"
    install -d -o postgres -g postgres -m 0700 "$data"
    # Trust on the unix socket (inside the data tree) for setup; passwords over TCP.
    pg_as_postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >>"$(logfile_of postgres)" 2>&1 ||
      { start_failed postgres "initdb failed" || exit 1; }
  fi
  echo "$sock" >"$RUN_DIR/postgres.sockdir"
  spawn postgres setpriv --reuid=postgres --regid=postgres --init-groups -- \
    "$PG_BIN/postgres" -D "$data" \
    -c listen_addresses="$HOST" -c port="$PG_PORT" -c unix_socket_directories="$sock" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c max_connections=200 -c shared_buffers=128MB -c log_min_messages=warning \
    -c logging_collector=off -c log_destination=stderr
  wait_ready postgres 60 || return 1
  # The role and database, created once.
  local psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$PG_PORT" -U postgres -d postgres)
  if [[ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='$PG_USER'")" != 1 ]]; then
    sl_log "postgres: creating role $PG_USER and database $PG_DB"
    "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'"
  fi
  if [[ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='$PG_DB'")" != 1 ]]; then
    "${psql[@]}" -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
  fi
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
start_redis() {
  sl_have redis-server || sl_die "redis: redis-server is missing; run scripts/install-deps.sh"
  check_port_free redis "$REDIS_PORT" SLUICE_REDIS_PORT
  mkdir -p "$STACK_DIR/redis"
  spawn redis redis-server --port "$REDIS_PORT" --bind "$HOST" --save '' --appendonly no \
    --daemonize no --dir "$STACK_DIR/redis" --logfile '' --maxclients 1000
  wait_ready redis 20
}

# ---------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------
start_prometheus() {
  [[ -x /usr/bin/prometheus ]] || sl_die "prometheus: /usr/bin/prometheus is missing; run scripts/install-deps.sh"
  check_port_free prometheus "$PROMETHEUS_PORT" SLUICE_PROMETHEUS_PORT
  local dir="$STACK_DIR/prometheus"
  mkdir -p "$dir/data" "$dir/targets" "$dir/rules"
  cat >"$dir/prometheus.yml" <<EOF
# Generated by scripts/stack.sh; edits are overwritten on the next start.
# Add scrape targets without a restart: drop a file_sd JSON file into
# $dir/targets/ (re-read every 5s). Add rules in $dir/rules/*.yml and
# POST /-/reload.
global:
  scrape_interval: 5s
  evaluation_interval: 5s
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["$HOST:$ALERTMANAGER_PORT"]
rule_files:
  - $dir/rules/*.yml
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["$HOST:$PROMETHEUS_PORT"]
  - job_name: alertmanager
    static_configs:
      - targets: ["$HOST:$ALERTMANAGER_PORT"]
  - job_name: sluice
    file_sd_configs:
      - files: ["$dir/targets/*.json"]
        refresh_interval: 5s
EOF
  write_demo_rules "$dir/rules/sluice-demo.yml"
  spawn prometheus /usr/bin/prometheus --config.file="$dir/prometheus.yml" \
    --storage.tsdb.path="$dir/data" --storage.tsdb.retention.time=2d \
    --web.listen-address="$HOST:$PROMETHEUS_PORT" --web.enable-lifecycle \
    --web.external-url="http://$HOST:$PROMETHEUS_PORT/"
  wait_ready prometheus 60
}

# The alerting rule of the demo application (scripts/hosts.sh): one alert per instance whose
# 5xx share is above 5% for 10 s. Labels app / env / version / instance_name let the
# metric-watcher match it to the deployment that put that version there.
write_demo_rules() {
  cat >"$1" <<'EOF'
# Generated by scripts/stack.sh; edits are overwritten on the next start.
groups:
  - name: sluice-demo
    rules:
      - alert: DemoAppHighErrorRate
        expr: |
          sum by (app, env, version, instance_name) (rate(demo_http_requests_total{code=~"5.."}[30s]))
            / sum by (app, env, version, instance_name) (rate(demo_http_requests_total[30s])) > 0.05
        for: 30s  # after the demo analysis's first measurement (one 20s rate window after the switch)
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.app }} {{ $labels.version }} on {{ $labels.instance_name }}: 5xx share {{ $value | humanizePercentage }} (threshold 5%)"
          value: "{{ $value }}"
          threshold: "0.05"
          query: 'sum by (app, env, version, instance_name) (rate(demo_http_requests_total{code=~"5.."}[30s])) / sum by (app, env, version, instance_name) (rate(demo_http_requests_total[30s]))'
EOF
}

# The bearer token Alertmanager presents to the metric-watcher's receiver (0600, made once).
ensure_alert_token() {
  mkdir -p "$VAR/local"
  if [[ ! -s "$ALERT_TOKEN_FILE" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '=+/\n' | cut -c1-40 | sed 's/^/slam_/' >"$ALERT_TOKEN_FILE")
  fi
  chmod 600 "$ALERT_TOKEN_FILE"
}

# ---------------------------------------------------------------------------
# Alertmanager
# ---------------------------------------------------------------------------
start_alertmanager() {
  [[ -x /usr/bin/prometheus-alertmanager ]] ||
    sl_die "alertmanager: /usr/bin/prometheus-alertmanager is missing; run scripts/install-deps.sh"
  check_port_free alertmanager "$ALERTMANAGER_PORT" SLUICE_ALERTMANAGER_PORT
  local dir="$STACK_DIR/alertmanager"
  mkdir -p "$dir/data"
  ensure_alert_token
  cat >"$dir/alertmanager.yml" <<EOF
# Generated by scripts/stack.sh; edits are overwritten on the next start.
route:
  receiver: sluice
  group_by: [alertname, app, env]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: sluice
    webhook_configs:
      - url: "$ALERT_WEBHOOK_URL"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: "$ALERT_TOKEN_FILE"
EOF
  # An empty cluster address turns gossip off: a single local instance.
  spawn alertmanager /usr/bin/prometheus-alertmanager --config.file="$dir/alertmanager.yml" \
    --storage.path="$dir/data" --web.listen-address="$HOST:$ALERTMANAGER_PORT" \
    --cluster.listen-address= --web.external-url="http://$HOST:$ALERTMANAGER_PORT/"
  wait_ready alertmanager 30
}

# ---------------------------------------------------------------------------
# Kubernetes control plane (scripts/kube.sh does the work)
# ---------------------------------------------------------------------------
start_kube() { bash "$KUBE_SH" up; }

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
write_env() {
  mkdir -p "$VAR/local"
  cat >"$VAR/local/stack.env" <<EOF
# Generated by scripts/stack.sh: the local stack's addresses. source it.
export SLUICE_KAFKA_BROKERS=$(address_of kafka)
export SLUICE_PG_DSN=$(address_of postgres)
export SLUICE_REDIS_URL=$(address_of redis)
export SLUICE_PROMETHEUS_URL=$(address_of prometheus)
export SLUICE_ALERTMANAGER_URL=$(address_of alertmanager)
EOF
  # The SASL_SSL listener (services.sh connects each service there with its own principal),
  # once this checkout's broker runs with it.
  if kafka_has_sasl; then
    cat >>"$VAR/local/stack.env" <<EOF
export SLUICE_KAFKA_SASL_BROKERS=$HOST:$KAFKA_SASL_PORT
export SLUICE_KAFKA_SASL_CA=$KAFKA_CA
EOF
  fi
  # Not the control plane's addresses (var/local/kube.env, var/local/kubeconfig): services
  # source this file and refuse SLUICE_* settings they do not know.
}

up_one() {
  local name="$1" pid start=$SECONDS
  # kube.sh up is idempotent per process: it restarts only what is down.
  if [[ "$name" == kube ]]; then
    start_kube
    return
  fi
  # s3.sh up builds weed when needed, is idempotent and writes var/local/s3.env.
  if [[ "$name" == s3 ]]; then
    bash "$S3_SH" up
    return
  fi
  pid="$(running_pid "$name")"
  if [[ -n "$pid" ]]; then
    if wait_ready "$name" 30 >/dev/null 2>&1; then
      sl_log "$name: already running (pid $pid) at $(address_of "$name")"
      # A table changed since the broker started applies without a restart.
      if [[ "$name" == kafka ]] && kafka_has_sasl; then kafka_auth; fi
      return 0
    fi
    sl_warn "$name: pid $pid is running but not ready; see $(logfile_of "$name")"
    return 1
  fi
  rm -f "$(pidfile_of "$name")"
  sl_log "$name: starting on $(address_of "$name")"
  if "start_$name"; then
    sl_log "$name: up (pid $(running_pid "$name")) in $((SECONDS - start))s"
  else
    sl_warn "$name: failed to start; log $(logfile_of "$name")"
    return 1
  fi
}

stop_one() {
  local name="$1" pidfile pid sig=TERM
  # kube.sh down stops each of its processes that runs, newest first.
  if [[ "$name" == kube ]]; then
    bash "$KUBE_SH" down
    return
  fi
  if [[ "$name" == s3 ]]; then
    bash "$S3_SH" down
    return
  fi
  pidfile="$(pidfile_of "$name")"
  pid="$(running_pid "$name")"
  if [[ -z "$pid" ]]; then
    [[ -f "$pidfile" ]] && rm -f "$pidfile"
    sl_log "$name: not running"
    return 0
  fi
  # PostgreSQL: SIGTERM is a "smart" shutdown that waits for every client to
  # leave; SIGINT is the "fast" one that rolls back and disconnects them.
  [[ "$name" == postgres ]] && sig=INT
  sl_log "$name: stopping pid $pid (SIG$sig)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while sl_pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.3; done
  if sl_pid_alive "$pid"; then
    sl_warn "$name: pid $pid still alive after 30s; SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$pidfile"
  sl_log "$name: stopped"
}

status_one() {
  local name="$1" pid state=down
  pid="$(running_pid "$name")"
  if [[ -n "$pid" ]] && is_ready "$name" >/dev/null 2>&1; then
    state=up
  elif [[ -n "$pid" ]]; then
    state=starting
  fi
  printf '%-13s %-52s %-8s %s\n' "$name" "$(address_of "$name")" "$state" "${pid:--}"
  [[ "$state" == up ]]
}

select_components() {
  local c
  if (($# == 0)); then
    printf '%s\n' "${ALL_COMPONENTS[@]}"
    return
  fi
  for c in "$@"; do
    case "$c" in
      kafka | postgres | redis | prometheus | alertmanager) echo "$c" ;;
      pg | postgresql) echo postgres ;;
      am) echo alertmanager ;;
      prom) echo prometheus ;;
      kube | k8s | kubernetes) echo kube ;;
      s3 | seaweedfs) echo s3 ;;
      *) sl_die "unknown component '$c' (known: kafka postgres redis prometheus alertmanager kube s3)" ;;
    esac
  done
}

# with -- CMD...: runs CMD with the stack up and its addresses exported; starts
# the components that are down first and stops only those afterwards.
with_stack() {
  [[ "${1:-}" == "--" ]] && shift
  (($# > 0)) || sl_die "with: no command (usage: stack.sh with -- CMD...)"
  local c started=() rc=0
  for c in "${ALL_COMPONENTS[@]}"; do
    [[ -n "$(running_pid "$c")" ]] && continue
    # A ready server on the port that another checkout's stack (or a developer)
    # started is used as it is, and left running.
    if is_ready "$c" >/dev/null 2>&1; then
      sl_log "$c: using the server already at $(address_of "$c") ($(sl_port_owner "$(port_of "$c")"))"
      continue
    fi
    started+=("$c")
  done
  write_env
  if ((${#started[@]} > 0)); then
    sl_log "starting ${started[*]} for this run"
    for c in "${started[@]}"; do (up_one "$c") || { rc=1; break; }; done
    write_env
  fi
  if ((rc == 0)); then
    # shellcheck disable=SC1091
    source "$VAR/local/stack.env"
    "$@" || rc=$?
  fi
  local i
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do stop_one "${started[i]}" || true; done
  return "$rc"
}

main() {
  (($# >= 1)) || usage
  local cmd="$1"
  shift
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$STACK_DIR"
  if [[ "$cmd" == with ]]; then
    with_stack "$@"
    return
  fi
  local -a comps
  mapfile -t comps < <(select_components "$@")
  local c rc=0
  case "$cmd" in
    up | start)
      local start=$SECONDS
      write_env
      for c in "${comps[@]}"; do (up_one "$c") || rc=1; done
      write_env
      if ((rc == 0)); then
        sl_log "stack up in $((SECONDS - start))s; addresses in $VAR/local/stack.env"
      else
        sl_warn "stack is not fully up; see the logs in $LOG_DIR"
      fi
      ;;
    down | stop)
      local i
      # Stop in reverse order of start.
      for ((i = ${#comps[@]} - 1; i >= 0; i--)); do stop_one "${comps[i]}" || rc=1; done
      ;;
    status)
      for c in "${comps[@]}"; do status_one "$c" || rc=1; done
      ;;
    env)
      write_env
      cat "$VAR/local/stack.env"
      ;;
    fetch-kafka)
      kafka_fetch
      ;;

    -h | --help | help) usage ;;
    *) usage ;;
  esac
  return "$rc"
}

main "$@"
