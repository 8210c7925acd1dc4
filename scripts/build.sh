#!/usr/bin/env bash
# Configures and builds one flavour of sluice.
#   scripts/build.sh [release|asan|fuzz]   (default release)
# Build dirs: build/ (release), build-asan/, build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
jobs=${SLUICE_JOBS:-$(nproc)}
case "$flavour" in
  release)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    ninja -C build -j "$jobs" ;;
  asan)
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON \
      -DSLUICE_BENCH=OFF >/dev/null
    ninja -C build-asan -j "$jobs" ;;
  fuzz)
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSLUICE_FUZZ=ON -DSLUICE_TESTS=OFF -DSLUICE_BENCH=OFF >/dev/null
    ninja -C build-fuzz -j "$jobs" ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
