#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite: formatting, lints,
# the layer check, the dashboard build, then every unit, integration,
# end-to-end and browser test.
#
#   scripts/test.sh           everything (what .ci/run runs)
#   scripts/test.sh --quick   fmt, clippy, the layer check and the in-process
#                             tests only: no installs, no Trunk, no outside peers
set -euo pipefail
quick=false
[ "${1:-}" = "--quick" ] && quick=true

if $quick; then
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$ROOT"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${PATCHBAY_TOOLS:-$HOME/.cache/patchbay}/target}"
  say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
else
  source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
fi

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy -q --all-targets -- -D warnings
say "module layers"
scripts/check-layers.sh
log=$(mktemp)
set +e
if $quick; then
  say "cargo test (in-process tests only)"
  { cargo test --no-fail-fast -p patchbay-shared &&
    cargo test --no-fail-fast -p patchbay --lib --test api --test notifications --test deltas --test engine_realtime --test lab_over_osc --test osc --test oscquery --test vpcs --test process; } 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
else
  cargo clippy -q -p patchbay-dashboard --target wasm32-unknown-unknown -- -D warnings || exit 1
  say "trunk build --release (the browser tests load dist/)"
  trunk build --release || exit 1
  say "cargo test"
  cargo test --no-fail-fast 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
fi
set -e
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{ s += $1 } END { print s + 0 }')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{ s += $1 } END { print s + 0 }')
rm -f "$log"
echo
echo "total: $passed passed, $failed failed"
exit "$status"
