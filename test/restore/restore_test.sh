#!/usr/bin/env bash
# Backup and disaster recovery, tested end to end (docs/operations.md, "Backups"): WAL
# archiving plus a base backup give point-in-time recovery, and a restore loses no
# transaction committed before the last archived WAL segment.
#
#   bash test/restore/restore_test.sh        (make restore; as root, like scripts/stack.sh)
#
# Its own PostgreSQL 15 (Debian's binaries, as the postgres user) on its own port and data
# directory under /var/tmp; never the local stack's database. In order:
#   1. initdb; archive_mode=on, the archive_command of docs/operations.md (copy to a directory,
#      never overwrite), archive_timeout=10s (production: 60s, RPO < 5 min);
#   2. the six services' migrations, run by the services themselves (build/dev binaries, no
#      Kafka needed: they migrate before they reach it);
#   3. a writer commits state transitions, each one transaction updating a deployment's state
#      and appending its history row (the shape of the planner's state), and logs each id once
#      COMMIT returned;
#   4. base backups while it writes, by the script of the umbrella chart's CronJob
#      (charts/sluice/templates/backup.yaml: pg_basebackup, pg_verifybackup, keep the last
#      KEEP), run twice with KEEP=1: one backup is left, the newer;
#   5. the writer goes on, then pauses: archive_timeout alone (no pg_switch_wal) archives the
#      segment holding the last commits; C = the commits so far;
#   6. the writer goes on for a moment (commits after the last archived segment: the RPO
#      window), then the server is killed (immediate stop) and its data directory deleted;
#   7. restore: the base backup, restore_command from the archive, recovery to the end of the
#      archived WAL, promotion;
#   8. the restored database holds exactly the C transitions committed before the cut (same
#      ids, every deployment's version = its history rows), none of the later ones;
#   9. the six services start on it: their migrations find every version applied with matching
#      checksums (0 applied); the writer commits again on the promoted server.
# Prints one line per check and "N passed, M failed"; exits 1 if any failed.
# SLUICE_BUILD_DIR (default build/dev) holds the services; SLUICE_RESTORE_PG_PORT (default
# 25433) is the server's port.
set -uo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
SL_TAG=restore-test
cd "$SLUICE_ROOT"

PG_BIN=/usr/lib/postgresql/15/bin
PORT="${SLUICE_RESTORE_PG_PORT:-25433}"
BUILD="${SLUICE_BUILD_DIR:-build/dev}"
SERVICES=(release-intake rollout-planner executor metric-watcher rollback-agent notifier)
ARCHIVE_TIMEOUT=10
[[ "$(id -u)" == 0 ]] || sl_die "runs PostgreSQL as the postgres user: run as root (as scripts/stack.sh does)"
[[ -x "$PG_BIN/postgres" && -x "$PG_BIN/pg_basebackup" ]] || sl_die "$PG_BIN is missing PostgreSQL 15; run scripts/install-deps.sh"
for s in "${SERVICES[@]}"; do
  [[ -x "$BUILD/services/$s/$s" ]] || sl_die "$BUILD/services/$s/$s is not built: make build (or set SLUICE_BUILD_DIR)"
done
sl_port_open "$PORT" && sl_die "port $PORT is in use ($(sl_port_owner "$PORT")); set SLUICE_RESTORE_PG_PORT"

BASE="$(mktemp -d /var/tmp/sluice-restore.XXXXXX)"
DATA="$BASE/data"
ARCH="$BASE/wal-archive"
BACKUPS="$BASE/backups"
SOCK="$BASE/run"
LOG="$BASE/postgres.log"
chmod 755 "$BASE"
install -d -o postgres -g postgres -m 0700 "$DATA" "$ARCH" "$BACKUPS"
install -d -o postgres -g postgres -m 0755 "$SOCK"
passed=0
failed=0
start=$SECONDS
PG_PID=""
WRITER_PID=""
SVC_PIDS=()

as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
psql_su() { psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d sluice -tA "$@"; }
ok() {
  passed=$((passed + 1))
  printf 'ok   %s\n' "$1"
}
not_ok() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
  [[ -z "${2:-}" ]] || sed 's/^/       /' <<<"$2"
}
expect() {
  if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "want: $2"$'\n'"got:  $3"; fi
}
stop_writer() {
  [[ -n "$WRITER_PID" ]] && kill "$WRITER_PID" 2>/dev/null && wait "$WRITER_PID" 2>/dev/null
  WRITER_PID=""
}
stop_services() {
  local p
  for p in "${SVC_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${SVC_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  SVC_PIDS=()
}
stop_pg() {
  local mode="${1:-fast}"
  [[ -n "$PG_PID" ]] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m "$mode" -w stop >>"$LOG" 2>&1 || kill -KILL "$PG_PID" 2>/dev/null
  wait "$PG_PID" 2>/dev/null
  PG_PID=""
}
cleanup() {
  stop_writer
  stop_services
  stop_pg immediate
  [[ -n "${SLUICE_RESTORE_KEEP:-}" ]] && { sl_log "kept $BASE"; return; }
  rm -rf "$BASE"
}
trap cleanup EXIT

start_pg() {
  as_pg "$PG_BIN/postgres" -D "$DATA" -c listen_addresses=127.0.0.1 -c port="$PORT" \
    -c unix_socket_directories="$SOCK" >>"$LOG" 2>&1 </dev/null &
  PG_PID=$!
  local deadline=$((SECONDS + 120))
  until "$PG_BIN/pg_isready" -q -h "$SOCK" -p "$PORT"; do
    if ! kill -0 "$PG_PID" 2>/dev/null || ((SECONDS > deadline)); then
      tail -n 30 "$LOG" >&2
      sl_die "PostgreSQL did not start (log $LOG)"
    fi
    sleep 0.2
  done
}

# The writer: one transaction per transition, the deployment's state and version updated and
# its history row appended together; the id logged only once COMMIT has returned.
writer() {
  local committed="$1" i=0 id
  while :; do
    if [[ -e "$BASE/pause" ]]; then
      touch "$BASE/paused"
      while [[ -e "$BASE/pause" ]]; do sleep 0.05; done
      rm -f "$BASE/paused"
    fi
    i=$((i + 1))
    if id="$(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice -tA 2>/dev/null <<SQL
BEGIN;
UPDATE restore_probe.deployments SET state = CASE state WHEN 'Progressing' THEN 'Paused' ELSE 'Progressing' END,
  version = version + 1 WHERE id = 'dep-$((i % 5))';
INSERT INTO restore_probe.transitions (deployment_id, to_state)
  SELECT id, state FROM restore_probe.deployments WHERE id = 'dep-$((i % 5))' RETURNING id;
COMMIT;
SQL
    )"; then
      [[ -n "$id" ]] && echo "$id" >>"$committed"
    fi
  done
}
pause_writer() {
  touch "$BASE/pause"
  local deadline=$((SECONDS + 20))
  until [[ -e "$BASE/paused" ]]; do
    ((SECONDS < deadline)) || sl_die "the writer did not pause"
    sleep 0.05
  done
}
resume_writer() { rm -f "$BASE/pause"; }

# run_services LABEL: starts the six against the test database, waits for each one's
# "schema ... ready (N migration(s) applied)" line, stops them; prints "service N" lines.
run_services() {
  local label="$1" s port logf deadline line
  SVC_PIDS=()
  for s in "${SERVICES[@]}"; do
    logf="$BASE/$s.$label.log"
    # A free port (a bind clash would stop a service before it migrates).
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    # Only the keys each service knows (an unknown SLUICE_* key stops start-up).
    local own=()
    case "$s" in
      release-intake) own=(SLUICE_ADMIN_TOKEN=restore-test-admin-token-0123456789) ;;
      executor) own=(SLUICE_EXECUTOR_AGENT_TOKEN=restore-test-agent-token-0123456789 SLUICE_REDIS_URL=redis://127.0.0.1:1/0) ;;
      metric-watcher) own=(SLUICE_WATCHER_ALERT_TOKEN=restore-test-alert-token-0123456789) ;;
      rollout-planner | rollback-agent | notifier) own=(SLUICE_REDIS_URL=redis://127.0.0.1:1/0) ;;
    esac
    # No Kafka (port 1 refuses at once): a service migrates before it reaches Kafka.
    env -i PATH="$PATH" HOME="$HOME" \
      SLUICE_PG_DSN="postgresql://sluice:sluice@127.0.0.1:$PORT/sluice" \
      SLUICE_KAFKA_BROKERS=127.0.0.1:1 SLUICE_HTTP_ADDR="127.0.0.1:$port" \
      SLUICE_SERVICE_TOKEN=restore-test-service-token-0123456789 SLUICE_STARTUP_TIMEOUT=60s \
      "${own[@]}" "$BUILD/services/$s/$s" >"$logf" 2>&1 </dev/null &
    SVC_PIDS+=($!)
  done
  for s in "${SERVICES[@]}"; do
    logf="$BASE/$s.$label.log"
    deadline=$((SECONDS + 90))
    line=""
    until line="$(grep -o 'schema [a-z_]* ready ([0-9]* migration(s) applied)' "$logf" 2>/dev/null)"; do
      if ((SECONDS > deadline)); then
        echo "$s no-ready-line"
        tail -n 5 "$logf" | sed "s/^/#   $s: /" >&2
        break
      fi
      sleep 0.2
    done
    [[ -n "$line" ]] && echo "$s $(sed -E 's/.*ready \(([0-9]+) .*/\1/' <<<"$line")"
  done
  stop_services
}

# ---------------------------------------------------------------------------
sl_log "PostgreSQL 15 on 127.0.0.1:$PORT, data $DATA, archive $ARCH"
as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 \
  --locale=C.UTF-8 >>"$LOG" 2>&1 || sl_die "initdb failed (log $LOG)"
# The archiving settings the umbrella chart documents (backup.archiving in
# charts/sluice/values.yaml), the archive directory moved here; archive_timeout shortened.
archive_command="$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["backup"]["archiving"]["archiveCommand"])' charts/sluice/values.yaml)"
restore_command="$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["backup"]["archiving"]["restoreCommand"])' charts/sluice/values.yaml)"
[[ "$archive_command" == *" /wal-archive/"* && "$restore_command" == *" /wal-archive/"* ]] ||
  sl_die "charts/sluice/values.yaml: backup.archiving commands do not name /wal-archive/"
cat >>"$DATA/postgresql.conf" <<EOF
wal_level = replica
archive_mode = on
archive_command = '${archive_command//\/wal-archive/$ARCH}'
archive_timeout = ${ARCHIVE_TIMEOUT}s
max_wal_senders = 4
log_min_messages = warning
EOF
start_pg
psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres -d postgres \
  -c "CREATE ROLE sluice LOGIN PASSWORD 'sluice'" -c "CREATE DATABASE sluice OWNER sluice" ||
  sl_die "cannot create the role and database"
export PGPASSWORD=sluice

# ---- the services' own schemas, by the services
migrated="$(run_services first)"
bad="$(awk '$2 !~ /^[0-9]+$/ || $2 == 0' <<<"$migrated")"
expect "the six services migrate their schemas on a fresh database" "6 " "$(grep -c . <<<"$migrated") $bad"
declare -A MIGRATIONS
while read -r s n; do MIGRATIONS[$s]="$n"; done <<<"$migrated"
rows_before="$(psql_su -c "SELECT string_agg(n::text, ',' ORDER BY s) FROM (SELECT table_schema s, count(*) n FROM information_schema.tables WHERE table_schema IN ('release_intake','rollout_planner','executor','metric_watcher','rollback_agent','notifier') GROUP BY 1) t")"

# ---- the probe: the shape of the services' state (state + version, and its history)
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U sluice -d sluice <<'SQL' || sl_die "cannot create the probe tables"
CREATE SCHEMA restore_probe;
CREATE TABLE restore_probe.deployments (id text PRIMARY KEY, state text NOT NULL, version bigint NOT NULL DEFAULT 0);
CREATE TABLE restore_probe.transitions (
  id bigserial PRIMARY KEY,
  deployment_id text NOT NULL REFERENCES restore_probe.deployments (id),
  to_state text NOT NULL,
  at timestamptz NOT NULL DEFAULT now());
INSERT INTO restore_probe.deployments (id, state) SELECT 'dep-' || i, 'Pending' FROM generate_series(0, 4) i;
SQL
COMMITTED="$BASE/committed"
: >"$COMMITTED"
writer "$COMMITTED" &
WRITER_PID=$!
sleep 2

# ---- base backups while the writer commits: the CronJob's own script, its volume here
cronjob_script="$(python3 - charts/sluice/templates/backup.yaml <<'PY'
import re, sys, textwrap
lines = open(sys.argv[1]).read().split("\n")
i = next(n for n, l in enumerate(lines) if re.match(r"^\s*args:\s*$", l))
indent = len(lines[i + 1]) - len(lines[i + 1].lstrip())
assert lines[i + 1].strip() == "- |", lines[i + 1]
body = []
for l in lines[i + 2:]:
    if l.strip() and len(l) - len(l.lstrip()) <= indent:
        break
    body.append(l)
print(textwrap.dedent("\n".join(body)).strip())
PY
)"
[[ "$cronjob_script" == *pg_basebackup* ]] || sl_die "no base-backup script in charts/sluice/templates/backup.yaml"
base_backup() {
  as_pg env PATH="$PG_BIN:$PATH" PGHOST="$SOCK" PGPORT="$PORT" PGUSER=postgres KEEP=1 \
    bash -euo pipefail -c "${cronjob_script//\/backups/$BACKUPS}" >>"$BASE/backup.log" 2>&1
}
t0=$SECONDS
if base_backup && sleep 1 && base_backup; then
  BACKUP="$(ls -1d "$BACKUPS"/base-* 2>/dev/null)"
  if [[ "$(wc -l <<<"$BACKUP")" == 1 && -f "$BACKUP/backup_manifest" ]]; then
    ok "the CronJob's script, twice while transitions commit: verified (pg_verifybackup), one kept of KEEP=1 ($(du -sh "$BACKUP" | cut -f1), $((SECONDS - t0))s)"
  else
    not_ok "the CronJob's script keeps one verified backup" "$(ls -l "$BACKUPS")"
  fi
else
  not_ok "the CronJob's script (pg_basebackup, pg_verifybackup)" "$(tail -n 8 "$BASE/backup.log")"
  BACKUP="$(ls -1d "$BACKUPS"/base-* 2>/dev/null | tail -n 1)"
fi
at_backup="$(wc -l <"$COMMITTED")"
sleep 4

# ---- the cut: the writer pauses, archive_timeout archives the last segment by itself
pause_writer
C="$(wc -l <"$COMMITTED")"
lsn="$(psql_su -c "SELECT pg_walfile_name(pg_current_wal_lsn())")"
t0=$SECONDS
archived() { [[ -f "$ARCH/$lsn" ]]; }
until archived || ((SECONDS - t0 > ARCHIVE_TIMEOUT + 20)); do sleep 0.2; done
if archived; then
  ok "archive_timeout (${ARCHIVE_TIMEOUT}s) archived segment $lsn holding the last commits, no pg_switch_wal ($((SECONDS - t0))s)"
else
  not_ok "archive_timeout archived segment $lsn within $((ARCHIVE_TIMEOUT + 20))s" "$(ls "$ARCH" | tail -n 3)"
fi
expect "the database holds every transition the writer saw committed ($C, $at_backup of them by the base backup's end)" "$C" \
  "$(psql_su -c 'SELECT count(*) FROM restore_probe.transitions')"
last_archived="$(psql_su -c 'SELECT last_archived_wal FROM pg_stat_archiver')"

# ---- writes go on past the last archived segment, then the server and its data are gone
resume_writer
sleep 1.5
stop_writer
T="$(wc -l <"$COMMITTED")"
((T > C)) && ok "writes continued after the last archived segment ($((T - C)) more: the RPO window)" ||
  not_ok "writes continued after the last archived segment" "committed $T, at the cut $C"
expect "no segment archived since the cut (archive_timeout not yet due)" "$last_archived" \
  "$(psql_su -c 'SELECT last_archived_wal FROM pg_stat_archiver')"
stop_pg immediate
rm -rf "$DATA"
[[ ! -e "$DATA" ]] && ok "the server killed (immediate stop) and its data directory deleted" || not_ok "data directory deleted"

# ---- restore: the base backup, the archived WAL, promotion
t0=$SECONDS
install -d -o postgres -g postgres -m 0700 "$DATA"
cp -a "$BACKUP/." "$DATA/"
cat >>"$DATA/postgresql.conf" <<EOF
restore_command = '${restore_command//\/wal-archive/$ARCH}'
recovery_target_timeline = 'latest'
archive_mode = off
EOF
as_pg touch "$DATA/recovery.signal"
start_pg
promoted() { [[ "$(psql_su -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" == f ]]; }
deadline=$((SECONDS + 120))
until promoted || ((SECONDS > deadline)); do sleep 0.3; done
if promoted; then
  ok "restored: recovery replayed the archive and promoted the server ($((SECONDS - t0))s)"
else
  not_ok "recovery promoted the server within 120s" "$(tail -n 10 "$LOG")"
fi

# ---- what the restored database holds
expect "the restored database holds exactly the $C transitions committed before the last archived segment" \
  "$C" "$(psql_su -c 'SELECT count(*) FROM restore_probe.transitions')"
head -n "$C" "$COMMITTED" | sort -n >"$BASE/want.ids"
psql_su -c 'SELECT id FROM restore_probe.transitions ORDER BY id' | sort -n >"$BASE/got.ids"
if cmp -s "$BASE/want.ids" "$BASE/got.ids"; then
  ok "... the same ids, none committed after the cut"
else
  not_ok "... the same ids" "$(diff "$BASE/want.ids" "$BASE/got.ids" | head -n 5)"
fi
expect "every deployment's version equals its history rows (state and history restored together)" 0 \
  "$(psql_su -c 'SELECT count(*) FROM restore_probe.deployments d WHERE d.version <> (SELECT count(*) FROM restore_probe.transitions t WHERE t.deployment_id = d.id)')"
expect "the services' tables are all back" "$rows_before" \
  "$(psql_su -c "SELECT string_agg(n::text, ',' ORDER BY s) FROM (SELECT table_schema s, count(*) n FROM information_schema.tables WHERE table_schema IN ('release_intake','rollout_planner','executor','metric_watcher','rollback_agent','notifier') GROUP BY 1) t")"

# ---- the services start on it: their migrations are all there, checksums matching
again="$(run_services restored)"
expect "the six services start on the restored database: every migration found applied (0 applied each)" \
  "$(printf '%s 0\n' "${SERVICES[@]}")" "$again"
: >"$BASE/after"
writer "$BASE/after" &
WRITER_PID=$!
sleep 1
stop_writer
n_after="$(wc -l <"$BASE/after")"
((n_after > 0)) && ok "transitions commit on the promoted server ($n_after in 1s)" || not_ok "transitions commit on the promoted server"

sl_log "$passed passed, $failed failed in $((SECONDS - start))s"
((failed == 0))
