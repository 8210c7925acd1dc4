#!/usr/bin/env bash
# Installs everything sluice needs to build and test on a fresh Debian 12 machine.
# Non-interactive and idempotent: re-running it only installs what is missing.
set -euo pipefail

APT_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev clang-format ccache
  python3 python3-pip
  # libraries (Debian packages only; see ../shared/SERVICES.md)
  libzstd-dev liblz4-dev libxxhash-dev
  libflatbuffers-dev flatbuffers-compiler
  libpugixml-dev libsimdjson-dev
  libsqlite3-dev sqlite3
  libpq-dev libmariadb-dev
  # real servers for the integration tests (scripts/services.sh)
  postgresql-15 postgresql-client-15 mariadb-server mariadb-client
  libgtest-dev libgmock-dev libbenchmark-dev
  # Kafka: the broker runs from Maven Central jars (below) on Java 17; kcat is an
  # independent client; RabbitMQ from Debian, amqp-tools for smoke tests
  openjdk-17-jre-headless maven kcat librdkafka-dev
  rabbitmq-server librabbitmq-dev amqp-tools
  # amqps://: OpenSSL linked directly for TLS error details; the openssl CLI makes the
  # certificates of tests/integration/test_rabbitmq_tls.py
  libssl-dev openssl
  # ClickHouse: Debian's server 18.16 for the integration tests, its client (an independent
  # reader), and libcurl (OpenSSL flavour) + zlib for the connector's HTTP client
  clickhouse-server clickhouse-client libcurl4-openssl-dev zlib1g-dev curl
  # tools used by tests and benchmarks
  time procps
  # baseline of bench/e2e/databases.sh (MySQL -> PostgreSQL)
  pgloader
)
# "pip name:import name". kafka-python and psycopg2 are the reference 004 stack (the
# Kafka baseline of bench/e2e/brokers.sh) and the independent Python client of the
# row-message tests.
PIP_PACKAGES=(pyarrow:pyarrow pytest:pytest numpy:numpy kafka-python:kafka
  psycopg2-binary:psycopg2)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: apt packages present"
fi

PY=${PYTHON:-python3}
need_pip=()
for p in "${PIP_PACKAGES[@]}"; do
  if ! "$PY" -c "import ${p#*:}" 2>/dev/null; then need_pip+=("${p%%:*}"); fi
done
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "install-deps: pip packages: ${need_pip[*]}"
  # Debian's system Python refuses pip installs without this flag (PEP 668).
  "$PY" -m pip install -q "${need_pip[@]}" 2>/dev/null ||
    "$PY" -m pip install -q --break-system-packages "${need_pip[@]}"
else
  echo "install-deps: pip packages present"
fi

# Apache Kafka broker (no Debian package): the jars of scripts/kafka/pom.xml,
# copied once from Maven Central into KAFKA_LIBS, where scripts/services.sh runs
# them from. The copy is stamped with the pom's hash when complete, so an
# interrupted copy or a version bump in the pom fetches again; nothing is
# downloaded at test time.
KAFKA_POM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kafka/pom.xml
KAFKA_LIBS=${SLUICE_KAFKA_LIBS:-/opt/sluice/kafka-libs}
kafka_stamp=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
if [ "$(cat "$KAFKA_LIBS/.complete" 2>/dev/null)" = "$kafka_stamp" ] &&
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
  echo "install-deps: kafka broker jars present ($KAFKA_LIBS)"
else
  echo "install-deps: kafka broker jars: mvn dependency:copy-dependencies -> $KAFKA_LIBS"
  staging=$(mktemp -d)
  trap 'rm -rf "$staging"' EXIT
  # -q still prints colour resets; keep the output only for a failure.
  if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
    -DoutputDirectory="$staging/libs" >"$staging/mvn.log" 2>&1; then
    cat "$staging/mvn.log" >&2
    echo "install-deps: mvn failed" >&2
    exit 1
  fi
  $SUDO rm -rf "$KAFKA_LIBS"
  $SUDO mkdir -p "$KAFKA_LIBS"
  $SUDO cp "$staging"/libs/*.jar "$KAFKA_LIBS"/
  $SUDO chmod -R a+rX "$KAFKA_LIBS"
  echo "$kafka_stamp" | $SUDO tee "$KAFKA_LIBS/.complete" >/dev/null
  echo "install-deps: $(ls "$KAFKA_LIBS" | grep -c '\.jar$') jars in $KAFKA_LIBS"
fi
