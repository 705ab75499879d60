#!/bin/sh
# Builds Sicuro and starts it at http://127.0.0.1:3000 on the embedded default: SQLite under
# ./data and the local Docker engine. GitHub settings are optional (see README).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_docker
ensure_git
ensure_wasm_tools
say "building (release) and starting Sicuro on http://127.0.0.1:3000"
exec cargo leptos serve --release --split
