#!/bin/sh
# The benchmark table: the release server against the real Docker engine (and the swarm
# executor on the test swarm), each figure beside a reference measured in the same run.
# `sh scripts/bench.sh --quick` for a short run.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_docker
ensure_chromium
ensure_wasm_tools
ensure_end2end_packages
say "building the release server and WASM"
cargo leptos build --release --split
cargo run -q -p server --bin sicuro -- images
# The swarm executor's rows run on the test swarm (SICURO_BENCH_SWARM=0 leaves them out).
swarm=""
if [ "${SICURO_BENCH_SWARM:-1}" = 1 ]; then
  say "the test swarm, for the swarm executor's rows"
  sh scripts/swarm.sh up
  trap 'sh scripts/swarm.sh down' EXIT INT TERM
  swarm=--swarm
fi
say "server-side benchmarks"
cargo run -q --release -p server --example bench -- $swarm "$@"
say "browser-side benchmarks"
node end2end/bench/dom.mjs "$@" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    for (const r of JSON.parse(s)) console.log(`| ${r.what} | ${r.figure} | ${r.reference} | |`);
  });'
