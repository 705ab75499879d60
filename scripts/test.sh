#!/bin/sh
# Runs every test: unit and integration tests (real Docker engine, SQLite and PostgreSQL), the
# fake-GitHub flows, the Docker-outage test, the browser end-to-end tests in headless Chromium,
# and bounded fuzzing. Installs and starts what a fresh Debian machine lacks.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=$(date +%s)
step() { say "$* (at $(( $(date +%s) - started ))s)"; }

ensure_docker
ensure_chromium
ensure_node
step "installing the WASM tools in the background when missing"
start_wasm_tools
ensure_end2end_packages
start_test_postgres
trap stop_test_postgres EXIT INT TERM

step "building the server and the tests"
cargo build --workspace --exclude frontend --tests --bins

step "building the job and service images that are missing or outdated"
target/debug/sicuro images

step "unit and integration tests (SQLite, PostgreSQL, Docker, fake GitHub, property tests)"
export SICURO_OCTOKIT_DIR="$ROOT/end2end/node_modules/@octokit"
cargo test --workspace --exclude frontend -- --test-threads "${SICURO_TEST_THREADS:-4}"

if [ "${SICURO_MANAGED_DOCKERD:-}" = 1 ]; then
  step "the Docker-outage test (stops and restarts the dockerd this script started)"
  SICURO_TEST_RESTART_DOCKERD=1 cargo test -p server --test it docker_outage -- --ignored
else
  say "skipping the Docker-outage test: this dockerd was not started by make test"
fi

step "waiting for the WASM tools"
wait_wasm_tools

step "browser end-to-end tests (headless Chromium)"
cargo leptos build
npm test --prefix end2end

step "the release build (what the Dockerfile ships and make bench measures)"
cargo leptos build --release
wasm=target/site/pkg/sicuro.wasm
say "release WASM: $(wc -c <"$wasm") bytes, $(gzip -9c "$wasm" | wc -c) gzip"

step "fuzzing, ${SICURO_FUZZ_SECONDS:-30}s per target"
sh scripts/fuzz.sh

# Leave no test containers behind on this machine.
docker ps -aq --filter label=org.sicuro.instance | xargs -r docker rm -f >/dev/null 2>&1 || true
step "all tests passed in $(( $(date +%s) - started ))s"
