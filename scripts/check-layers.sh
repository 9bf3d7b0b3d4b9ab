#!/usr/bin/env bash
# Fails when a module of the backend reaches up the layers that lib.rs's
# Layout lists: engine, lab, notify -> model -> namespace -> app -> osc
# transports, http -> server. Each line: a module (file or folder under
# backend/src) and the crate modules it must never name.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../backend/src"

TRANSPORTS='osc::(udp|tcp|discovery|dns_sd|batch|start|bind|Osc)'
rules=(
  "access|limit_log|fanout|engine|engine_host|lab|notify|model|namespace|app|osc|http|server|cli"
  "limit_log.rs|fanout|engine|engine_host|lab|notify|model|namespace|app|osc|http|server|cli"
  "fanout.rs|engine|engine_host|lab|notify|model|namespace|app|osc|http|server|cli"
  "engine|engine_host|lab|model|namespace|app|osc|http|server|cli"
  "notify.rs|engine|engine_host|lab|model|namespace|app|osc|http|server|cli"
  "lab|engine_host|model|namespace|app|osc|http|server|cli"
  "engine_host|lab|model|namespace|app|osc|http|server|cli"
  "model.rs|namespace|app|osc|http|server|cli"
  "namespace|app|http|server|cli|$TRANSPORTS"
  "app.rs|http|server|cli|$TRANSPORTS"
  "osc/codec.rs|app|model|namespace|http|server|lab|engine"
  "osc/pattern.rs|app|model|namespace|http|server|lab|engine"
  "osc/slip.rs|app|model|namespace|http|server|lab|engine"
  "osc/size_prefix.rs|app|model|namespace|http|server|lab|engine"
  "osc/split.rs|app|model|namespace|http|server|lab|engine"
  "osc/time.rs|app|model|namespace|http|server|lab|engine"
  "osc|http|server|cli"
  "http|server|cli|$TRANSPORTS"
)
bad=0
for rule in "${rules[@]}"; do
  module=${rule%%|*}
  forbidden=${rule#*|}
  [ -e "$module" ] || { echo "check-layers: $module does not exist; update scripts/check-layers.sh"; exit 1; }
  # Doc comments may point anywhere; code may not.
  if hits=$(grep -rnHE "crate::($forbidden)\b" "$module" | grep -vE '^[^:]*:[0-9]+:[[:space:]]*//'); then
    echo "check-layers: $module must not use crate::{$forbidden}:"
    echo "$hits"
    bad=1
  fi
done
if [ "$bad" = 0 ]; then echo "check-layers: the module graph runs one way"; fi
exit "$bad"
