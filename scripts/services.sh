#!/usr/bin/env bash
# Starts / stops the real database servers the integration tests talk to, as
# plain background processes on 127.0.0.1 with their data under a temp dir
# (no systemd, no Docker; see docs/SERVICES.md for why it is done this way).
#
#   scripts/services.sh up     [postgres] [mariadb] [kafka] [rabbitmq] [clickhouse]   (default: all)
#   scripts/services.sh down   [postgres] [mariadb] [kafka] [rabbitmq] [clickhouse]
#   scripts/services.sh status [postgres] [mariadb] [kafka] [rabbitmq] [clickhouse]
#
# Idempotent: `up` on a running service only re-checks it; `down` on a stopped
# one does nothing. Nothing is exported into the caller's environment; tests
# read SLUICE_PG_URI / SLUICE_MYSQL_URI / SLUICE_KAFKA_URI / SLUICE_AMQP_URI /
# SLUICE_CLICKHOUSE_URI and default to the URIs printed here.
#
# Environment:
#   SLUICE_SERVICES_DIR   data, logs, sockets, pidfiles (default /tmp/sluice-services)
#   SLUICE_PG_PORT        PostgreSQL port (default 55432)
#   SLUICE_MYSQL_PORT     MariaDB port (default 33306)
#   SLUICE_KAFKA_PORT     Kafka client (PLAINTEXT) port (default 59092)
#   SLUICE_KAFKA_CONTROLLER_PORT  Kafka KRaft controller port (default 59093)
#   SLUICE_KAFKA_LIBS     broker jars put there by scripts/install-deps.sh
#                         (default /opt/sluice/kafka-libs)
#   SLUICE_KAFKA_HEAP     broker JVM -Xmx (default 512m)
#   SLUICE_RABBITMQ_PORT  RabbitMQ AMQP port (default 55672)
#   SLUICE_RABBITMQ_DIST_PORT  Erlang distribution port of the node (default 55673)
#   SLUICE_RABBITMQ_EPMD_PORT  port of the node's private epmd (default 54369)
#   SLUICE_RABBITMQ_NODENAME   Erlang node name (default sluice@localhost)
#   SLUICE_RABBITMQ_EXTRA_CONF a file appended to the generated rabbitmq.conf
#                         (e.g. a TLS listener; tests use it for private nodes)
#   SLUICE_CLICKHOUSE_PORT      ClickHouse HTTP port (default 58123)
#   SLUICE_CLICKHOUSE_TCP_PORT  ClickHouse native-protocol port, for clickhouse-client (default 59000)
#   SLUICE_SERVICES_TIMEOUT  seconds to wait for start/stop (default 60)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${SLUICE_SERVICES_DIR:-/tmp/sluice-services}
PG_PORT=${SLUICE_PG_PORT:-55432}
MY_PORT=${SLUICE_MYSQL_PORT:-33306}
KAFKA_PORT=${SLUICE_KAFKA_PORT:-59092}
KAFKA_CTRL_PORT=${SLUICE_KAFKA_CONTROLLER_PORT:-59093}
KAFKA_LIBS=${SLUICE_KAFKA_LIBS:-/opt/sluice/kafka-libs}
KAFKA_HEAP=${SLUICE_KAFKA_HEAP:-512m}
RMQ_PORT=${SLUICE_RABBITMQ_PORT:-55672}
RMQ_DIST_PORT=${SLUICE_RABBITMQ_DIST_PORT:-55673}
RMQ_EPMD_PORT=${SLUICE_RABBITMQ_EPMD_PORT:-54369}
RMQ_NODE=${SLUICE_RABBITMQ_NODENAME:-sluice@localhost}
RMQ_EXTRA_CONF=${SLUICE_RABBITMQ_EXTRA_CONF:-}
CH_HTTP_PORT=${SLUICE_CLICKHOUSE_PORT:-58123}
CH_TCP_PORT=${SLUICE_CLICKHOUSE_TCP_PORT:-59000}
TIMEOUT=${SLUICE_SERVICES_TIMEOUT:-60}
PG_BIN=/usr/lib/postgresql/15/bin
ALL_SERVICES=(postgres mariadb kafka rabbitmq clickhouse)

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

# True when $1 is a live process (a zombie is not: see wait_port_closed).
pid_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# Prints the pid in pidfile $1 if that process is alive and its command line
# contains $2: a recycled pid must never be signalled.
pidfile_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
  echo "$pid"
}

# SIGTERM, wait up to TIMEOUT seconds for the exit, then SIGKILL.
stop_pid() {
  local pid=$1 what=$2 deadline=$((SECONDS + TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || return 0
  while pid_alive "$pid"; do
    if [ $SECONDS -ge $deadline ]; then
      log "$what: still running ${TIMEOUT}s after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while pid_alive "$pid"; do
        if [ $SECONDS -ge $deadline ]; then return 1; fi
        sleep 0.1
      done
      return 0
    fi
    sleep 0.1
  done
}

# Like wait_for, but gives up as soon as process $2 (the server being started)
# has died instead of waiting out the timeout.
wait_started() {
  local what=$1 pid=$2; shift 2
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pid" || [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.2
  done
  log "$what"
}

# Keeps the log of the previous run next to the new one.
rotate_log() { if [ -s "$1" ]; then mv -f "$1" "$1.1"; fi; }

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

# ---------------------------------------------------------------- Kafka
# A real Apache Kafka broker in KRaft mode (one JVM is both broker and
# controller), run from the Maven Central jars that scripts/install-deps.sh
# copied to $KAFKA_LIBS (scripts/kafka/pom.xml). Nothing is downloaded here.
KAFKA_DIR=$BASE/kafka
KAFKA_URI="kafka://127.0.0.1:$KAFKA_PORT"
KAFKA_PIDFILE=$KAFKA_DIR/kafka.pid
KAFKA_JAVA=(java "-Xmx$KAFKA_HEAP" -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_DIR/log4j.properties" -cp "$KAFKA_LIBS/*")

kafka_pid() { pidfile_pid "$KAFKA_PIDFILE" "$KAFKA_DIR/server.properties"; }
# Ready = the broker answers a metadata request and lists itself, which it
# does only once it has registered with the controller and been unfenced.
kafka_ready() {
  port_open "$KAFKA_PORT" &&
    kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 3 2>/dev/null | grep -qF "broker 1 at 127.0.0.1:$KAFKA_PORT"
}

# The jars are complete when install-deps.sh stamped them with the hash of the
# pom they came from (so a version bump in the pom is noticed here too).
kafka_check_libs() {
  local stamp
  stamp=$(sha256sum "$REPO/scripts/kafka/pom.xml" | cut -d' ' -f1)
  if [ "$(cat "$KAFKA_LIBS/.complete" 2>/dev/null)" != "$stamp" ] ||
    ! compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    die "kafka: no complete broker jars of scripts/kafka/pom.xml in $KAFKA_LIBS; run scripts/install-deps.sh"
  fi
}

# Rewritten on every start so that a port change takes effect; the data in
# log.dirs keeps the cluster id it was formatted with.
kafka_write_config() {
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Generated by scripts/services.sh on every \`up\`: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CTRL_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CTRL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
# One node: every replication factor and in-sync minimum is 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# 1 partition instead of 50 for the internal topics: creating 50 on the first
# group join / first transaction costs seconds and buys nothing on one node.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
# A new consumer group gets its assignment at once instead of after 3 s.
group.initial.rebalance.delay.ms=0
# Producing to an unknown topic creates it with 1 partition (handy for kcat and
# simple tests); tests that need more partitions create their topics.
auto.create.topics.enable=true
num.partitions=1
# Largest record batch the broker accepts: 8 MiB (Kafka's default is ~1 MiB).
message.max.bytes=8388608
replica.fetch.max.bytes=8388608
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  cat >"$KAFKA_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
}

# A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
# Like Kafka's own generator, avoid a leading '-' (it would read as an option).
kafka_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    if [ "${id:0:1}" != - ]; then echo "$id"; return; fi
  done
}

kafka_up() {
  ensure_packages openjdk-17-jre-headless kcat
  kafka_check_libs
  if ! kafka_ready; then
    local pid
    if ! pid=$(kafka_pid); then
      local p
      for p in "$KAFKA_PORT" "$KAFKA_CTRL_PORT"; do
        if port_open "$p"; then die "port $p is taken by something that is not our Kafka"; fi
      done
      mkdir -p "$KAFKA_DIR"
      kafka_write_config
      if [ ! -s "$KAFKA_DIR/data/meta.properties" ]; then
        local id
        id=$(kafka_cluster_id)
        log "kafka: formatting $KAFKA_DIR/data (KRaft cluster id $id)"
        "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format --ignore-formatted -t "$id" \
          -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
          { cat "$KAFKA_DIR/format.log" >&2; die "kafka: storage format failed"; }
      fi
      rotate_log "$KAFKA_DIR/server.log"
      rm -f "$KAFKA_PIDFILE"
      # Every process in the chain execs the next one, so no shell lingers
      # holding the caller's stdout (a `... | grep` would never end); bash
      # writes its own pid, then becomes the JVM, whether or not setsid forks.
      (cd "$KAFKA_DIR" &&
        exec setsid bash -c 'echo $$ >"$0" && exec "$@"' "$KAFKA_PIDFILE" \
          "${KAFKA_JAVA[@]}" kafka.Kafka "$KAFKA_DIR/server.properties") \
        </dev/null >"$KAFKA_DIR/server.log" 2>&1 &
      wait_for "kafka: started" test -s "$KAFKA_PIDFILE" || die "kafka: no pidfile $KAFKA_PIDFILE"
      pid=$(cat "$KAFKA_PIDFILE")
    fi
    wait_started "kafka: ready on 127.0.0.1:$KAFKA_PORT" "$pid" kafka_ready ||
      { tail -20 "$KAFKA_DIR/server.log" >&2 || true
        die "kafka not ready after ${TIMEOUT}s or exited (log: $KAFKA_DIR/server.log)"; }
  fi
  echo "SLUICE_KAFKA_URI=$KAFKA_URI"
}

kafka_down() {
  local pid
  if pid=$(kafka_pid); then
    # SIGTERM = controlled shutdown: logs are flushed, the next start skips recovery.
    stop_pid "$pid" kafka || die "kafka: pid $pid survived SIGKILL"
  fi
  rm -f "$KAFKA_PIDFILE"
  wait_port_closed "$KAFKA_PORT" "$KAFKA_PIDFILE" || die "kafka: port $KAFKA_PORT still open (not our broker?)"
  log "kafka: stopped"
}

kafka_status() {
  if kafka_ready; then echo "kafka: up   $KAFKA_URI"; else echo "kafka: down"; return 1; fi
}

# ---------------------------------------------------------------- RabbitMQ
# Debian's rabbitmq-server, started from /usr/lib/rabbitmq/bin: the /usr/sbin
# wrappers switch to the rabbitmq user, whose HOME (/var/lib/rabbitmq) holds a
# different Erlang cookie, and use /var/lib. RMQ_ENV keeps everything the node
# and rabbitmqctl need under $RMQ_DIR (data, logs, config, the cookie in
# $HOME/.erlang.cookie) and every listener, epmd included, on loopback.
RMQ_DIR=$BASE/rabbitmq
RMQ_URI="amqp://guest:guest@127.0.0.1:$RMQ_PORT/%2f"
RMQ_PIDFILE=$RMQ_DIR/rabbitmq.pid
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_ENV=(
  "HOME=$RMQ_DIR/home"
  "RABBITMQ_NODENAME=$RMQ_NODE"
  "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
  "RABBITMQ_NODE_PORT=$RMQ_PORT"
  "RABBITMQ_DIST_PORT=$RMQ_DIST_PORT"
  "ERL_EPMD_ADDRESS=127.0.0.1"
  "ERL_EPMD_PORT=$RMQ_EPMD_PORT"
  "RABBITMQ_MNESIA_BASE=$RMQ_DIR/mnesia"
  "RABBITMQ_LOG_BASE=$RMQ_DIR/log"
  "RABBITMQ_PID_FILE=$RMQ_PIDFILE"
  "RABBITMQ_CONFIG_FILE=$RMQ_DIR/rabbitmq.conf"
  "RABBITMQ_ADVANCED_CONFIG_FILE=$RMQ_DIR/advanced.config"
  "RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins"
  "RABBITMQ_CONF_ENV_FILE=$RMQ_DIR/rabbitmq-env.conf"
  "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
  "ERL_CRASH_DUMP=$RMQ_DIR/erl_crash.dump"
)
rmq_env() { env "${RMQ_ENV[@]}" "$@"; }
rmqctl() { rmq_env "$RMQ_BIN/rabbitmqctl" -n "$RMQ_NODE" "$@"; }
rmq_pid() { pidfile_pid "$RMQ_PIDFILE" "-home $RMQ_DIR/home "; }
# Ready = the AMQP port accepts connections and the rabbit app has booted.
rmq_ready() { port_open "$RMQ_PORT" && rmqctl -q -t 10 await_startup; }

rmq_write_config() {
  install -d -m 700 "$RMQ_DIR/home"
  install -d "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
  # Node and CLI authenticate each other with this cookie; Erlang refuses a
  # cookie file that others can read.
  if [ ! -s "$RMQ_DIR/home/.erlang.cookie" ]; then
    (umask 077 && head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$RMQ_DIR/home/.erlang.cookie")
    chmod 400 "$RMQ_DIR/home/.erlang.cookie"
  fi
  cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
# Generated by scripts/services.sh on every \`up\`: edit the script, not this file.
listeners.tcp.default = 127.0.0.1:$RMQ_PORT
# guest/guest stays loopback-only (the default): every client here is on 127.0.0.1.
# Publishers block when the disk has less free space than this (default, stated).
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = info
EOF
  if [ -n "$RMQ_EXTRA_CONF" ]; then
    [ -r "$RMQ_EXTRA_CONF" ] || die "rabbitmq: SLUICE_RABBITMQ_EXTRA_CONF=$RMQ_EXTRA_CONF is not readable"
    { echo "# From SLUICE_RABBITMQ_EXTRA_CONF=$RMQ_EXTRA_CONF:"; cat "$RMQ_EXTRA_CONF"; } >>"$RMQ_DIR/rabbitmq.conf"
  fi
  # No plugins: the management plugin would add seconds to every start.
  echo '[].' >"$RMQ_DIR/enabled_plugins"
  # Stands in for /etc/rabbitmq/rabbitmq-env.conf, which the scripts would source.
  echo '# empty: scripts/services.sh passes everything in the environment' >"$RMQ_DIR/rabbitmq-env.conf"
}

rabbitmq_up() {
  ensure_packages rabbitmq-server
  if ! rmq_ready >/dev/null 2>&1; then
    local pid
    if ! pid=$(rmq_pid); then
      local p
      for p in "$RMQ_PORT" "$RMQ_DIST_PORT"; do
        if port_open "$p"; then die "port $p is taken by something that is not our RabbitMQ"; fi
      done
      mkdir -p "$RMQ_DIR"
      rmq_write_config
      rm -f "$RMQ_PIDFILE"
      rotate_log "$RMQ_DIR/server.log"
      # The launcher script (exec'd into, as for Kafka) stays the parent of the
      # Erlang VM (beam.smp), which writes RMQ_PIDFILE itself.
      (cd "$RMQ_DIR" && exec env "${RMQ_ENV[@]}" setsid "$RMQ_BIN/rabbitmq-server") \
        </dev/null >"$RMQ_DIR/server.log" 2>&1 &
      local launcher=$!
      wait_started "rabbitmq: node started" "$launcher" test -s "$RMQ_PIDFILE" ||
        { tail -20 "$RMQ_DIR/server.log" >&2 || true
          die "rabbitmq: node did not start (log: $RMQ_DIR/server.log)"; }
      pid=$(cat "$RMQ_PIDFILE")
    fi
    # `wait` follows the OS process, Erlang distribution and the rabbit app's boot.
    if ! rmqctl -q wait --timeout "$TIMEOUT" "$RMQ_PIDFILE" >/dev/null 2>&1 ||
      ! wait_started "rabbitmq: ready on 127.0.0.1:$RMQ_PORT" "$pid" rmq_ready; then
      tail -20 "$RMQ_DIR/log/$RMQ_NODE.log" >&2 || true
      die "rabbitmq not ready after ${TIMEOUT}s or exited (logs: $RMQ_DIR/server.log, $RMQ_DIR/log)"
    fi
  fi
  echo "SLUICE_AMQP_URI=$RMQ_URI"
}

rabbitmq_down() {
  local pid
  if pid=$(rmq_pid); then
    # `stop <pidfile>` halts the node and returns once the OS process is gone;
    # signals are the fallback for a node the CLI cannot reach.
    rmqctl -q stop "$RMQ_PIDFILE" >/dev/null 2>&1 || true
    if pid_alive "$pid"; then stop_pid "$pid" rabbitmq || die "rabbitmq: pid $pid survived SIGKILL"; fi
  fi
  rm -f "$RMQ_PIDFILE"
  # The node started a private epmd (own port, loopback) that outlives it.
  if port_open "$RMQ_EPMD_PORT"; then epmd -port "$RMQ_EPMD_PORT" -kill >/dev/null 2>&1 || true; fi
  wait_port_closed "$RMQ_PORT" "$RMQ_PIDFILE" || die "rabbitmq: port $RMQ_PORT still open (not our node?)"
  log "rabbitmq: stopped"
}

rabbitmq_status() {
  if rmq_ready >/dev/null 2>&1; then echo "rabbitmq: up   $RMQ_URI"; else echo "rabbitmq: down"; return 1; fi
}

# ---------------------------------------------------------------- ClickHouse
# Debian's clickhouse-server (18.16), started directly with a config written
# here: ports, loopback only, every path under $CH_DIR, server time zone UTC,
# small caches. Nothing under /etc or /var/lib is used or touched.
CH_DIR=$BASE/clickhouse
CH_URI="clickhouse://default@127.0.0.1:$CH_HTTP_PORT/sluice_test"
CH_PIDFILE=$CH_DIR/clickhouse.pid
ch_pid() { pidfile_pid "$CH_PIDFILE" "--config-file=$CH_DIR/config.xml"; }
ch_ready() { curl -sf --max-time 5 "http://127.0.0.1:$CH_HTTP_PORT/ping" >/dev/null; }
ch_query() { curl -sS --fail-with-body --max-time 30 "http://127.0.0.1:$CH_HTTP_PORT/" --data-binary "$1"; }

# Rewritten on every start so that a port change takes effect; data/ keeps
# the databases and tables.
ch_write_config() {
  cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh on every \`up\`: edit the script, not this file. -->
<yandex>
  <logger>
    <level>information</level>
    <log>$CH_DIR/log/server.log</log>
    <errorlog>$CH_DIR/log/server.err.log</errorlog>
    <size>50M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$CH_HTTP_PORT</http_port>
  <tcp_port>$CH_TCP_PORT</tcp_port>
  <path>$CH_DIR/data/</path>
  <tmp_path>$CH_DIR/tmp/</tmp_path>
  <user_files_path>$CH_DIR/user_files/</user_files_path>
  <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
  <users_config>$CH_DIR/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <!-- DateTime values print in UTC whatever the machine's zone. -->
  <timezone>UTC</timezone>
  <!-- The defaults (5 GB / 8 GB) are sized for a dedicated server. -->
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>10</keep_alive_timeout>
  <mlock_executable>false</mlock_executable>
</yandex>
EOF
  # Users: `default` without a password and `sluice` with one (tests of the
  # credential paths), both from loopback only.
  cat >"$CH_DIR/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh on every `up`: edit the script, not this file. -->
<yandex>
  <profiles>
    <default>
      <max_memory_usage>2000000000</max_memory_usage>
      <use_uncompressed_cache>0</use_uncompressed_cache>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <sluice>
      <password>sluice_pw</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </sluice>
  </users>
  <quotas>
    <default>
      <interval>
        <duration>3600</duration>
        <queries>0</queries>
        <errors>0</errors>
        <result_rows>0</result_rows>
        <read_rows>0</read_rows>
        <execution_time>0</execution_time>
      </interval>
    </default>
  </quotas>
</yandex>
EOF
}

clickhouse_up() {
  ensure_packages clickhouse-server clickhouse-client curl
  if ! ch_ready; then
    local pid
    if ! pid=$(ch_pid); then
      local p
      for p in "$CH_HTTP_PORT" "$CH_TCP_PORT"; do
        if port_open "$p"; then die "port $p is taken by something that is not our ClickHouse"; fi
      done
      mkdir -p "$CH_DIR/log" "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas"
      ch_write_config
      rotate_log "$CH_DIR/log/server.err.log"
      rm -f "$CH_PIDFILE"
      # --daemon forks twice and writes the daemon's pid to the pidfile; what
      # it prints (early startup failures only) goes to startup.log.
      (cd "$CH_DIR" && exec clickhouse-server --config-file="$CH_DIR/config.xml" \
        --pid-file="$CH_PIDFILE" --daemon) </dev/null >"$CH_DIR/startup.log" 2>&1 ||
        { cat "$CH_DIR/startup.log" >&2; die "clickhouse: clickhouse-server --daemon failed"; }
      wait_for "clickhouse: started" test -s "$CH_PIDFILE" ||
        { tail -20 "$CH_DIR/log/server.err.log" >&2 2>/dev/null || true; die "clickhouse: no pidfile $CH_PIDFILE"; }
      pid=$(cat "$CH_PIDFILE")
    fi
    wait_started "clickhouse: ready on 127.0.0.1:$CH_HTTP_PORT" "$pid" ch_ready ||
      { tail -20 "$CH_DIR/log/server.err.log" >&2 2>/dev/null || true
        die "clickhouse not ready after ${TIMEOUT}s or exited (logs: $CH_DIR/log)"; }
  fi
  ch_query "CREATE DATABASE IF NOT EXISTS sluice_test" >/dev/null ||
    die "clickhouse: creating sluice_test failed"
  echo "SLUICE_CLICKHOUSE_URI=$CH_URI"
}

clickhouse_down() {
  local pid
  if pid=$(ch_pid); then
    # SIGTERM: the server lets running queries finish (a few seconds at most)
    # and removes its pidfile.
    stop_pid "$pid" clickhouse || die "clickhouse: pid $pid survived SIGKILL"
  fi
  rm -f "$CH_PIDFILE"
  wait_port_closed "$CH_HTTP_PORT" "$CH_PIDFILE" || die "clickhouse: port $CH_HTTP_PORT still open (not our server?)"
  log "clickhouse: stopped"
}

clickhouse_status() {
  if ch_ready; then echo "clickhouse: up   $CH_URI"; else echo "clickhouse: down"; return 1; fi
}

# ---------------------------------------------------------------- main
usage() { echo "usage: $0 up|down|status [${ALL_SERVICES[*]}]" >&2; exit 2; }
[ $# -ge 1 ] || usage
action=$1; shift
case $action in up|down|status) ;; *) usage ;; esac
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")
canonical() {
  case $1 in postgres|postgresql|pg) echo postgres ;; mariadb|mysql) echo mariadb ;;
    kafka) echo kafka ;; rabbitmq|rabbit|amqp) echo rabbitmq ;;
    clickhouse|ch) echo clickhouse ;; *) return 1 ;; esac
}
for s in "${services[@]}"; do
  canonical "$s" >/dev/null || die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
done
rc=0
for s in "${services[@]}"; do
  s=$(canonical "$s")
  if [ "$action" = up ]; then mkdir -p "$BASE"; chmod 755 "$BASE"; fi
  "${s}_${action}" || rc=1
done
exit $rc
