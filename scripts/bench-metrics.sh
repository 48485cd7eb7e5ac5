#!/usr/bin/env bash
# The cost of --metrics: leaktop record's CPU per tick with the server on and scraped
# every second, against without it, as the median of interleaved pairs with their
# spread (see scripts/bench-metrics.py). Everything it starts is killed on exit.
#
#   scripts/bench-metrics.sh [--pairs N] [--ticks N] [--interval-ms MS] [--family N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin leaktop
target="${CARGO_TARGET_DIR:-target}"
exec python3 scripts/bench-metrics.py --leaktop "$target/release/leaktop" "$@"
