#!/usr/bin/env bash
# Installs everything sluice needs to build and test on a fresh Debian 12 machine.
# Non-interactive and idempotent: re-running it only installs what is missing.
set -euo pipefail

APT_PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev clang-format
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
  # tools used by tests and benchmarks
  time procps
  # baseline of bench/e2e/databases.sh (MySQL -> PostgreSQL)
  pgloader
)
PIP_PACKAGES=(pyarrow pytest numpy)

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
  if ! "$PY" -c "import $p" 2>/dev/null; then need_pip+=("$p"); fi
done
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "install-deps: pip packages: ${need_pip[*]}"
  # Debian's system Python refuses pip installs without this flag (PEP 668).
  "$PY" -m pip install -q "${need_pip[@]}" 2>/dev/null ||
    "$PY" -m pip install -q --break-system-packages "${need_pip[@]}"
else
  echo "install-deps: pip packages present"
fi
