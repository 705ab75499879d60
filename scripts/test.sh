#!/bin/sh
# Runs every test: unit and integration tests (real Docker engine, SQLite and PostgreSQL), the
# fake-GitHub flows, the swarm suite on a three-node test swarm (beside the main tests), the
# Docker-outage test, the browser end-to-end tests in headless Chromium, and bounded fuzzing.
# Installs and starts what a fresh Debian machine lacks.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=$(date +%s)
step() { say "$* (at $(( $(date +%s) - started ))s)"; }

ensure_docker
ensure_git
# What belongs to installations already on this engine stays; what the tests create goes.
INSTANCES_BEFORE=$(mktemp /tmp/sicuro-instances.XXXXXX)
sicuro_instances >"$INSTANCES_BEFORE"
step "the test swarm (scripts/swarm.sh: three node dockerds and a registry)"
sh scripts/swarm.sh up
SWARM_PID=""
stop_swarm() {
  # The suite runs in the background; if this script ends first, end it (by its pid) and its
  # test process, then take the swarm down.
  if [ -n "$SWARM_PID" ]; then
    if [ -s "${SWARM_LOG:-}.pid" ]; then kill "$(cat "$SWARM_LOG.pid")" 2>/dev/null || true; fi
    kill "$SWARM_PID" 2>/dev/null || true
  fi
  sh scripts/swarm.sh down || true
}
ensure_chromium
ensure_node
step "installing the WASM tools in the background when missing"
start_wasm_tools
ensure_end2end_packages
start_test_postgres
trap 'stop_test_postgres; stop_swarm' EXIT INT TERM

step "building the server and the tests"
cargo build --workspace --exclude frontend --tests --bins

step "building the job and service images that are missing or outdated"
target/debug/sicuro images

# The swarm suite spends its time pushing images and waiting on the nodes more than on the
# CPU, so it runs beside the main tests; its output is shown when it ends.
SWARM_LOG=$(mktemp /tmp/sicuro-swarm-suite.XXXXXX)
step "the swarm suite, in the background (log: $SWARM_LOG)"
( SICURO_SWARM_KEEP=1 sh scripts/test-swarm.sh & echo $! >"$SWARM_LOG.pid"; wait $! ) >"$SWARM_LOG" 2>&1 &
SWARM_PID=$!

step "unit and integration tests (SQLite, PostgreSQL, Docker, fake GitHub, property tests)"
export SICURO_OCTOKIT_DIR="$ROOT/end2end/node_modules/@octokit"
cargo test --workspace --exclude frontend -- --test-threads "${SICURO_TEST_THREADS:-4}"

step "the database-bound integration tests again, every one on PostgreSQL"
SICURO_TEST_DATABASE=postgres cargo test -p server --test it -- --test-threads "${SICURO_TEST_THREADS:-4}" \
  github_ trust secrets web_ crash_ load_faults properties engine_runtime engine_pipeline

step "waiting for the swarm suite"
swarm_rc=0
wait "$SWARM_PID" || swarm_rc=$?
SWARM_PID=""
cat "$SWARM_LOG"
rm -f "$SWARM_LOG" "$SWARM_LOG.pid"
[ "$swarm_rc" = 0 ] || die "the swarm suite failed (its output is above)"
sh scripts/swarm.sh down

if [ "${SICURO_MANAGED_DOCKERD:-}" = 1 ]; then
  step "the Docker-outage test (stops and restarts the dockerd this script started)"
  SICURO_TEST_RESTART_DOCKERD=1 SICURO_TEST_DOCKERD_PID="$SICURO_MANAGED_DOCKERD_PID" \
    cargo test -p server --test it docker_outage -- --ignored
else
  say "skipping the Docker-outage test: this dockerd was not started by make test"
fi

step "waiting for the WASM tools"
wait_wasm_tools

step "browser end-to-end tests (headless Chromium)"
cargo leptos build --split
# A test file whose process never ends (something left open) fails the run instead of hanging it.
timeout --kill-after=30 "${SICURO_E2E_TIMEOUT:-1800}" npm test --prefix end2end

step "the release build (what the Dockerfile ships and make bench measures)"
cargo leptos build --release --split
wasm=target/site/pkg/sicuro.wasm
say "release WASM of the first page: $(wc -c <"$wasm") bytes, $(gzip -9c "$wasm" | wc -c) gzip; lazily loaded chunks: $(find target/site/pkg -name '*.wasm' ! -name sicuro.wasm | wc -l)"

step "fuzzing, ${SICURO_FUZZ_SECONDS:-30}s per target"
sh scripts/fuzz.sh

# Leave nothing of the tests' own installations behind, and nothing else touched.
remove_new_instances "$INSTANCES_BEFORE"
left=$(sicuro_instances | comm -13 "$INSTANCES_BEFORE" - | wc -l)
rm -f "$INSTANCES_BEFORE"
[ "$left" = 0 ] || die "$left test installations left containers, networks or volumes that could not be removed"
step "all tests passed in $(( $(date +%s) - started ))s"
