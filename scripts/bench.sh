#!/bin/sh
# The benchmark table: the release server against the real Docker engine, each figure beside
# a reference measured in the same run. `sh scripts/bench.sh --quick` for a short run.
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_docker
ensure_chromium
ensure_wasm_tools
ensure_end2end_packages
say "building the release server and WASM"
cargo leptos build --release
cargo run -q -p server --bin sicuro -- images
say "server-side benchmarks"
cargo run -q --release -p server --example bench -- "$@"
say "browser-side benchmarks"
node end2end/bench/dom.mjs "$@" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    for (const r of JSON.parse(s)) console.log(`| ${r.what} | ${r.figure} | ${r.reference} | |`);
  });'
