#!/usr/bin/env bash
# Runs the codec micro benchmarks and prints a Markdown table with each
# codec's throughput as a ratio of memcpy of the same buffer bytes.
#   bench/micro/run.sh [extra google-benchmark flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh release >/dev/null
out=$(mktemp --suffix=.json)
build/bench/micro/codec_bench --benchmark_out="$out" --benchmark_out_format=json \
  --benchmark_repetitions="${REPS:-3}" --benchmark_report_aggregates_only=true "$@" >&2
python3 bench/micro/report.py "$out"
