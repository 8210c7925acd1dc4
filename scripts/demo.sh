#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to the main job running on the
# embedded default (SQLite, no server): installs the dependencies, builds the
# release binary and runs `sluice demo` — 1,000,000 generated rows of mixed
# types into SQLite, exported to a directory of parts, imported with 4
# workers into a second database, verified by row count and checksum.
#
#   scripts/demo.sh                      the default demo
#   scripts/demo.sh --rows 10000000      any `sluice demo` flag (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
exec build/sluice demo "$@"
