#!/usr/bin/env bash
# Builds and runs every test: the release build's unit, python and CLI tests,
# the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, and
# a short run of every libFuzzer target under ASan.
#   scripts/test.sh            everything
#   FUZZ_SECONDS=60 scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
jobs=${SLUICE_JOBS:-$(nproc)}

echo "== release build"
scripts/build.sh release
SERVICES=(postgres mariadb kafka rabbitmq clickhouse)
echo "== services (${SERVICES[*]} for the integration tests)"
# Each is stopped again however this script ends, unless it was already running.
started=()
for svc in "${SERVICES[@]}"; do
  if ! scripts/services.sh status "$svc" >/dev/null 2>&1; then started+=("$svc"); fi
done
if [ ${#started[@]} -gt 0 ]; then
  trap 'scripts/services.sh down "${started[@]}" || true' EXIT
fi
scripts/services.sh up "${SERVICES[@]}"
echo "== release tests"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== ASan+UBSan build"
scripts/build.sh asan
echo "== ASan+UBSan unit tests"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -j "$jobs" -L unit)

echo "== fuzz build"
scripts/build.sh fuzz
echo "== fuzz runs (${FUZZ_SECONDS}s each)"
shopt -s nullglob
fuzzers=(build-fuzz/*_fuzz)
if [ ${#fuzzers[@]} -eq 0 ]; then echo "no fuzz targets built" >&2; exit 1; fi
for f in "${fuzzers[@]}"; do
  name=$(basename "$f" _fuzz)
  corpus=$(mktemp -d)
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
  log=$(mktemp)
  status=0
  "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=1 "$corpus" \
    >"$log" 2>&1 || status=$?
  echo "-- $name: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions"
  rm -rf "$corpus"
  if [ "$status" -ne 0 ]; then
    tail -60 "$log" >&2
    echo "fuzzer $name failed (exit $status)" >&2
    exit 1
  fi
  rm -f "$log"
done
echo "== all tests passed"
