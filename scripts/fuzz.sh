#!/bin/sh
# Runs each cargo-fuzz target for a bounded time (SICURO_FUZZ_SECONDS, default 30 s each).
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the one stable toolchain accept them.
# A crash fails the run and leaves its input in fuzz/artifacts/<target>/; turn it into a
# regression test next to the code (see app/src/ansi.rs for one the property tests found).
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
seconds=${SICURO_FUZZ_SECONDS:-30}
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz 0.13.2 (once)"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
export RUSTC_BOOTSTRAP=1

# Seeds: GitHub's recorded payloads and sample sicuro.json files.
corpus="$ROOT/fuzz/corpus"
mkdir -p "$corpus/webhook_payload" "$corpus/sicuro_json" "$corpus/ansi" "$corpus/webhook_signature" "$corpus/log_lines" "$corpus/mask"
examples="$ROOT/end2end/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
if [ -f "$examples" ]; then
  node -e '
    const ex = require(process.argv[1]); const fs = require("fs"); let i = 0;
    for (const e of ex) if (["ping", "push", "pull_request"].includes(e.name))
      for (const p of e.examples) fs.writeFileSync(`${process.argv[2]}/${e.name}-${i++}.json`, JSON.stringify(p));
  ' "$examples" "$corpus/webhook_payload"
fi
printf '%s' '{"dependencies":{"override":false,"custom":["apt-get install -y x"]},"test":{"override":true,"custom":["grunt test"]},"env":{"A":1},"services":["redis"],"timeout":"5m"}' >"$corpus/sicuro_json/original.json"
printf '\033[1;31mred\033[0m \033[38;5;208mx\033[48;2;1;2;3my\r\033[Kdone' >"$corpus/ansi/colours.txt"

say "building the fuzz targets"
cargo fuzz build -O --fuzz-dir fuzz
for target in webhook_signature webhook_payload sicuro_json ansi log_lines mask; do
  say "fuzzing $target for ${seconds}s"
  log="$ROOT/fuzz/$target.log"
  if ! cargo fuzz run -O --fuzz-dir fuzz "$target" "$corpus/$target" -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    die "fuzz target $target found a crash; its input is in fuzz/artifacts/$target/"
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$log" | tail -n 2
done
