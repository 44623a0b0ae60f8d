#!/bin/bash
# PostgreSQL 15: initialises the cluster on first start with POSTGRES_USER / POSTGRES_PASSWORD /
# POSTGRES_DB (default sluice / sluice / sluice), password authentication from the network.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data/pgdata
user="${POSTGRES_USER:-sluice}" db="${POSTGRES_DB:-sluice}"
if [[ ! -s "$data/PG_VERSION" ]]; then
  pwfile="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD:-sluice}" >"$pwfile"
  "$bin/initdb" -D "$data" -U "$user" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
  "$bin/pg_ctl" -D "$data" -o "-c listen_addresses=127.0.0.1" -w start >/dev/null
  [[ "$db" == postgres ]] || PGPASSWORD="${POSTGRES_PASSWORD:-sluice}" psql -h 127.0.0.1 -U "$user" -d postgres -qc "CREATE DATABASE \"$db\""
  "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
exec "$bin/postgres" -D "$data" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
