#!/bin/sh
# The swarm suite: the swarm executor's tests on the test swarm (scripts/swarm.sh: three node
# dockerds and a registry on this machine), then the engine's sicuro.json tests through the
# swarm executor. make test runs it beside the main tests; on its own (as root, after
# `cargo build -p server --tests` and `target/debug/sicuro images`):
#   sh scripts/test-swarm.sh
# SICURO_SWARM_KEEP=1 leaves the swarm up afterwards (reruns skip pushing the images);
# SICURO_TEST_SWARM_LANGUAGES=1 also runs every language's sample projects through the swarm
# (it pushes the five language images: minutes, and a few GB on the nodes).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
started=$(date +%s)
tests=""
# On any end: the test process (by its pid), then the swarm unless it is to stay.
finish() {
  if [ -n "$tests" ]; then kill "$tests" 2>/dev/null || true; fi
  [ "${SICURO_SWARM_KEEP:-}" = 1 ] || sh "$ROOT/scripts/swarm.sh" down
}
trap finish EXIT
trap 'exit 130' INT TERM
run_tests() { "$@" & tests=$!; wait "$tests"; tests=""; }

sh scripts/swarm.sh up
eval "$(sh scripts/swarm.sh env)"
# The test binary itself, not `cargo test`: cargo would hold the build directory's lock for as
# long as the tests run, and make test runs this beside the main `cargo test`.
it=$(cargo test -q -p server --test it --no-run --message-format=json 2>/dev/null |
  sed -n '/"kind":\["test"\]/ s/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$it" ] || die "the integration tests are not built: cargo build -p server --tests"
# cargo runs tests in the package's directory.
cd server

say "swarm executor tests (the fault tests have the swarm to themselves)"
run_tests "$it" swarm --ignored --test-threads "${SICURO_SWARM_TEST_THREADS:-3}"

say "the engine's sicuro.json tests and sicuro run through the swarm executor"
run_tests env SICURO_TEST_EXECUTOR=swarm "$it" engine_pipeline cli_run --test-threads 3

if [ "${SICURO_TEST_SWARM_LANGUAGES:-}" = 1 ]; then
  say "every language's sample projects through the swarm executor"
  run_tests env SICURO_TEST_EXECUTOR=swarm "$it" engine_languages --test-threads 2
fi
say "swarm suite passed in $(($(date +%s) - started))s"
