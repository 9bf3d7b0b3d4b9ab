#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite: formatting, lints,
# the dashboard build, then every unit, integration, end-to-end and browser test.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy -q --all-targets -- -D warnings
cargo clippy -q -p patchbay-dashboard --target wasm32-unknown-unknown -- -D warnings
say "trunk build --release (the browser tests load dist/)"
trunk build --release
say "cargo test"
log=$(mktemp)
set +e
cargo test --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{ s += $1 } END { print s + 0 }')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{ s += $1 } END { print s + 0 }')
rm -f "$log"
echo
echo "total: $passed passed, $failed failed"
exit "$status"
