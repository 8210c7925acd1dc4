#!/usr/bin/env bash
# Starts / stops the real database servers the integration tests talk to, as
# plain background processes on 127.0.0.1 with their data under a temp dir
# (no systemd, no Docker; see docs/SERVICES.md for why it is done this way).
#
#   scripts/services.sh up     [postgres] [mariadb]   (default: all)
#   scripts/services.sh down   [postgres] [mariadb]
#   scripts/services.sh status [postgres] [mariadb]
#
# Idempotent: `up` on a running service only re-checks it; `down` on a stopped
# one does nothing. Nothing is exported into the caller's environment; tests
# read SLUICE_PG_URI / SLUICE_MYSQL_URI and default to the URIs printed here.
#
# Environment:
#   SLUICE_SERVICES_DIR   data, logs, sockets, pidfiles (default /tmp/sluice-services)
#   SLUICE_PG_PORT        PostgreSQL port (default 55432)
#   SLUICE_MYSQL_PORT     MariaDB port (default 33306)
#   SLUICE_SERVICES_TIMEOUT  seconds to wait for start/stop (default 60)
set -euo pipefail

BASE=${SLUICE_SERVICES_DIR:-/tmp/sluice-services}
PG_PORT=${SLUICE_PG_PORT:-55432}
MY_PORT=${SLUICE_MYSQL_PORT:-33306}
TIMEOUT=${SLUICE_SERVICES_TIMEOUT:-60}
PG_BIN=/usr/lib/postgresql/15/bin
ALL_SERVICES=(postgres mariadb)

log() { echo "services: $*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# Runs a command as a service user (PostgreSQL refuses to run as root).
as_user() {
  local user=$1; shift
  if [ "$(id -un)" = "$user" ]; then "$@"; else as_root runuser -u "$user" -- "$@"; fi
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until `$@` succeeds, up to TIMEOUT seconds.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.2
  done
  log "$what"
}

# Waits until the port is closed (a stopped daemon may linger as a zombie, so
# `kill -0` is no evidence; the closed port and the vanished pidfile are).
wait_port_closed() {
  local port=$1 pidfile=$2
  local deadline=$((SECONDS + TIMEOUT))
  while port_open "$port" || [ -e "$pidfile" ]; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.2
  done
}

ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# ---------------------------------------------------------------- PostgreSQL
PG_DIR=$BASE/postgres
PG_URI="postgres://postgres@127.0.0.1:$PG_PORT/sluice_test"
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres "$@"; }

postgres_up() {
  ensure_packages postgresql-15 postgresql-client-15 libpq-dev
  if ! pg_ready; then
    if port_open "$PG_PORT"; then die "port $PG_PORT is taken by something that is not PostgreSQL"; fi
    as_root install -d -o postgres -g postgres "$PG_DIR"
    if [ ! -s "$PG_DIR/data/PG_VERSION" ]; then
      log "postgres: initdb in $PG_DIR/data"
      as_user postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    # A pidfile left by a killed server makes pg_ctl refuse to start.
    if [ -e "$PG_DIR/data/postmaster.pid" ] && ! port_open "$PG_PORT"; then
      as_root rm -f "$PG_DIR/data/postmaster.pid"
    fi
    as_user postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t "$TIMEOUT" \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
      start >/dev/null || { tail -20 "$PG_DIR/server.log" >&2; die "postgres did not start"; }
    wait_for "postgres: ready on 127.0.0.1:$PG_PORT" pg_ready || die "postgres not ready after ${TIMEOUT}s (log: $PG_DIR/server.log)"
  fi
  if [ "$(pg_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname='sluice_test'")" != 1 ]; then
    pg_psql -d postgres -c "CREATE DATABASE sluice_test" ||
      [ "$(pg_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname='sluice_test'")" = 1 ]
  fi
  echo "SLUICE_PG_URI=$PG_URI"
}

postgres_down() {
  if [ -s "$PG_DIR/data/PG_VERSION" ] && [ -e "$PG_DIR/data/postmaster.pid" ]; then
    as_user postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t "$TIMEOUT" stop >/dev/null || true
  fi
  wait_port_closed "$PG_PORT" "$PG_DIR/data/postmaster.pid" || die "postgres still up on port $PG_PORT"
  log "postgres: stopped"
}

postgres_status() {
  if pg_ready; then echo "postgres: up   $PG_URI"; else echo "postgres: down"; return 1; fi
}

# ---------------------------------------------------------------- MariaDB
MY_DIR=$BASE/mariadb
MY_URI="mysql://root@127.0.0.1:$MY_PORT/sluice_test"
my_ready() { mariadb-admin --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u root ping >/dev/null 2>&1; }

mariadb_up() {
  ensure_packages mariadb-server mariadb-client libmariadb-dev
  if ! my_ready; then
    if port_open "$MY_PORT"; then die "port $MY_PORT is taken by something that is not MariaDB"; fi
    as_root install -d -o mysql -g mysql "$MY_DIR"
    if [ ! -d "$MY_DIR/data/mysql" ]; then
      log "mariadb: install-db in $MY_DIR/data"
      as_root mariadb-install-db --no-defaults --user=mysql --datadir="$MY_DIR/data" \
        --auth-root-authentication-method=normal --skip-test-db >"$MY_DIR/install.log" 2>&1 ||
        { cat "$MY_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    rm -f "$MY_DIR/mariadbd.pid"
    as_root setsid mariadbd --no-defaults --user=mysql --datadir="$MY_DIR/data" \
      --socket="$MY_DIR/mysqld.sock" --port="$MY_PORT" --bind-address=127.0.0.1 \
      --pid-file="$MY_DIR/mariadbd.pid" --skip-name-resolve --innodb-buffer-pool-size=64M \
      --log-bin="$MY_DIR/data/binlog" --binlog-format=ROW --server-id=1 \
      --log-error="$MY_DIR/server.log" </dev/null >/dev/null 2>&1 &
    wait_for "mariadb: ready on 127.0.0.1:$MY_PORT" my_ready ||
      { tail -20 "$MY_DIR/server.log" >&2 || true; die "mariadb not ready after ${TIMEOUT}s"; }
  fi
  # install-db creates root@localhost only; tests connect over TCP from 127.0.0.1.
  mariadb --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u root -e \
    "CREATE DATABASE IF NOT EXISTS sluice_test;
     CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
     GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" ||
    die "mariadb: creating sluice_test failed"
  echo "SLUICE_MYSQL_URI=$MY_URI"
}

mariadb_down() {
  if [ -e "$MY_DIR/mariadbd.pid" ]; then
    local pid
    pid=$(cat "$MY_DIR/mariadbd.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then as_root kill -TERM "$pid" 2>/dev/null || true; fi
  elif my_ready >/dev/null 2>&1; then
    mariadb-admin --no-defaults -h 127.0.0.1 -P "$MY_PORT" -u root shutdown || true
  fi
  wait_port_closed "$MY_PORT" "$MY_DIR/mariadbd.pid" || die "mariadb still up on port $MY_PORT"
  log "mariadb: stopped"
}

mariadb_status() {
  if my_ready >/dev/null 2>&1; then echo "mariadb: up   $MY_URI"; else echo "mariadb: down"; return 1; fi
}

# ---------------------------------------------------------------- main
usage() { echo "usage: $0 up|down|status [${ALL_SERVICES[*]}]" >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1; shift
case $action in up|down|status) ;; *) usage ;; esac
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")
for s in "${services[@]}"; do
  case $s in postgres|postgresql|pg) s=postgres ;; mariadb|mysql) s=mariadb ;;
    *) die "unknown service '$s' (known: ${ALL_SERVICES[*]})" ;; esac
done
rc=0
for s in "${services[@]}"; do
  case $s in postgres|postgresql|pg) s=postgres ;; mariadb|mysql) s=mariadb ;; esac
  if [ "$action" = up ]; then mkdir -p "$BASE"; chmod 755 "$BASE"; fi
  "${s}_${action}" || rc=1
done
exit $rc
