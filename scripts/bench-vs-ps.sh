#!/usr/bin/env bash
# leaktop's CPU per tick next to the naive /proc floor and a `ps` loop, side by side in
# one run (see examples/bench_vs_ps.rs); with --scale, also with 2,000 unrelated
# sleepers on the machine (busy/quiet); with --pss-cost, record with PSS on, --no-pss and
# the held-descriptor floor, quiet and busy. Everything it starts is killed on exit.
#
#   scripts/bench-vs-ps.sh [--ticks N] [--interval-ms MS] [--repeat R] [--busy N] [--scale]
#                          [--pool-mb MB] [--pss-cost]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin leaktop --example bench-vs-ps
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/examples/bench-vs-ps" --leaktop "$target/release/leaktop" "$@"
