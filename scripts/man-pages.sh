#!/usr/bin/env bash
# Regenerates assets/leaktop*.1 from the CLI definitions (the same source as --help).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin leaktop
bin="${CARGO_TARGET_DIR:-target}/debug/leaktop"
"$bin" man > assets/leaktop.1
for c in demo report replay completions man record run orphans; do
  "$bin" man "$c" > "assets/leaktop-$c.1"
done
