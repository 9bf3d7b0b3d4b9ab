#!/usr/bin/env bash
# Installs what is missing, builds the dashboard and starts Patchbay at
# http://127.0.0.1:3080/ (extra arguments go to the server; try --help).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
trunk build --release
cargo build --release -p patchbay
exec "$CARGO_TARGET_DIR/release/patchbay" --dashboard "$ROOT/dist" "$@"
