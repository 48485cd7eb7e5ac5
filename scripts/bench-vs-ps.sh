#!/usr/bin/env bash
# leaktop's CPU per tick against the naive /proc floor and a `ps` loop, side by side
# in one run; with --scale, also with 2,000 unrelated sleepers on the machine.
#
#   scripts/bench-vs-ps.sh [--ticks N] [--interval-ms MS] [--repeat R] [--scale] [--busy N]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin leaktop --example bench-vs-ps
exec target/release/examples/bench-vs-ps --leaktop target/release/leaktop "$@"
