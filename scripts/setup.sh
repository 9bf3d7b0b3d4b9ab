#!/usr/bin/env bash
# Installs whatever this machine lacks to build, run and test Patchbay, and
# exports the environment the other scripts use. Idempotent: a second run
# checks versions and takes about a second. Sourced by run.sh and test.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${PATCHBAY_TOOLS:-$HOME/.cache/patchbay}"
export PATH="$TOOLS/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Builds are kept outside the clone so a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TOOLS/target}"
# Tool installs without fat LTO: half the build time, same tools.
quick_install() { CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo install "$@"; }
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Debian packages: ALSA headers (cpal), Chromium and its driver (dashboard
# tests), curl and telnet (the seed session), real vpcs (the interoperability
# peer), tshark (reads our captures), wrk (benchmarks), liblo-tools (oscsend and
# oscdump, OSC peers; -dev for the liblo echo benchmark peer), python3-venv (for python-osc),
# puredata-core (Pd's oscformat and oscparse, an OSC peer; also the engine benchmark's peer).
PACKAGES=(pkg-config libasound2-dev chromium chromium-driver curl telnet vpcs tshark wrk liblo-tools liblo-dev python3-venv puredata-core)
missing=()
for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  apt_install() { $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"; }
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q || true
  apt_install || { sleep 10; apt_install; }
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

# Trunk 0.22 needs a newer rustc than this machine's.
if ! trunk --version 2>/dev/null | grep -q '^trunk 0.21.14$'; then
  say "installing Trunk 0.21.14 (about 8 minutes)"
  quick_install trunk --version 0.21.14 --locked
fi

# The wasm-bindgen CLI must equal the library version in Cargo.lock.
WASM_BINDGEN=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN\$"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN (about 5 minutes)"
  # --locked can fail to resolve on this registry; without it the install works.
  quick_install wasm-bindgen-cli --version "$WASM_BINDGEN" --locked || quick_install wasm-bindgen-cli --version "$WASM_BINDGEN"
fi

# binaryen from npm: Debian's wasm-opt (108) builds a page that stays blank.
if ! wasm-opt --version 2>/dev/null | grep -q 'version 132'; then
  say "installing binaryen 132 (wasm-opt) from npm"
  npm install --prefix "$TOOLS/npm" --no-audit --no-fund binaryen@132
fi
# osc.js (npm `osc`), an OSC peer for tests/osc_peers.rs (UDP, TCP and WebSocket); its
# optional serial port support is left out (it builds native code).
if [ ! -f "$TOOLS/npm/node_modules/osc/package.json" ]; then
  say "installing osc.js 2.4.5 from npm"
  npm install --prefix "$TOOLS/npm" --no-audit --no-fund --omit=optional osc@2.4.5
fi
export PATCHBAY_NODE_PATH="$TOOLS/npm/node_modules"

# python-osc, zeroconf and python-oscquery (PyPI, which needs Python 3.10 or later), peers for
# the OSC, DNS-SD and OSCQuery tests, in a venv of their own.
if ! "$TOOLS/venv/bin/python" -c 'import pythonosc, zeroconf, pythonoscquery' 2>/dev/null; then
  say "installing python-osc, zeroconf and python-oscquery"
  [ -x "$TOOLS/venv/bin/pip" ] || python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q python-osc zeroconf python-oscquery==0.4.0
fi
export PATCHBAY_PYTHON="$TOOLS/venv/bin/python"

# The real GNS3 server and GUI 1.3.13 (PyPI), for tests/gns3_server.rs (the API side by side)
# and tests/gns3_gui.rs (the GUI's own client code against Patchbay). They need Python 3.6
# (pyenv's, when there is one) and pins of their time; without 3.6 those tests say they are
# skipped. py36_venv DIR IMPORT PACKAGES...: a venv at DIR with PACKAGES, checked by IMPORT.
PY36="${PATCHBAY_PY36:-$HOME/.pyenv/versions/3.6.15/bin/python}"
py36_venv() {
  local dir=$1 check=$2
  shift 2
  if [ -x "$PY36" ] && [ ! -f "$dir/.complete" ]; then
    say "installing $* (Python 3.6)"
    rm -rf "$dir"
    "$PY36" -m venv "$dir"
    "$dir/bin/pip" install -q "pip==21.3.1" # the venv's pip 18 cannot see manylinux2014 wheels
    "$dir/bin/pip" install -q "$@"
    "$dir/bin/python" -c "import $check"
    touch "$dir/.complete"
  fi
}
py36_venv "$TOOLS/gns3-server-1.3.13" gns3server.version \
  "gns3-server==1.3.13" "aiohttp==0.17.4" "jsonschema==2.4.0" "Jinja2==2.7.3" "raven==5.2.0"
export PATCHBAY_GNS3_SERVER="$TOOLS/gns3-server-1.3.13/bin/gns3server"
py36_venv "$TOOLS/gns3-server-1.5.4" gns3server.version \
  "gns3-server==1.5.4" "async-timeout==1.4.0" "multidict==2.1.6"
export PATCHBAY_GNS3_SERVER_15="$TOOLS/gns3-server-1.5.4/bin/gns3server"
# gns3-gui 1.3 is written for PyQt4, which cannot be installed here: backend/tests/peers/pyqt4shim
# maps the PyQt4 API it uses onto PyQt5. apache-libcloud 0.20.1: from 2.0 an Enum breaks its import.
py36_venv "$TOOLS/gns3-gui-1.3.13" "PyQt5.QtNetwork, PyQt5.QtWidgets, gns3.version" \
  "PyQt5==5.15.6" "gns3-gui==1.3.13" "apache-libcloud==0.20.1"
export PATCHBAY_GNS3_GUI_PYTHON="$TOOLS/gns3-gui-1.3.13/bin/python"

# Trunk builds offline, so every crate must be fetched beforehand.
cargo fetch --locked -q
