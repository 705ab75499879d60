# Shared set-up for scripts/run.sh, scripts/test.sh and scripts/bench.sh (POSIX sh, sourced).
# Each step installs or starts something only when it is missing, from package registries only:
# nothing here downloads a prebuilt binary from the web.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$TOOLS/node_modules/.bin:$PATH"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

is_debian_root() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=""
apt_install() {
  # apt_install <package>... : installs the packages that are not installed yet.
  missing=""
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  is_debian_root || die "please install:$missing (Debian packages)"
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  say "installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# A Docker engine that answers; on Debian as root, Debian's docker.io started in the background.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    is_debian_root || die "no Docker engine answers. Install Docker (https://docs.docker.com/engine/install/) and start it, or run this as root on Debian to have docker.io installed"
    apt_install docker.io
  fi
  if ! docker info >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || die "the Docker engine is installed but not running, and starting it needs root: sudo dockerd &"
    say "starting dockerd (log: /var/log/sicuro-dockerd.log)"
    nohup dockerd >/var/log/sicuro-dockerd.log 2>&1 &
    # This dockerd is ours (this pid): the Docker-outage test may stop and restart it.
    export SICURO_MANAGED_DOCKERD=1 SICURO_MANAGED_DOCKERD_PID=$!
    i=0
    until docker info >/dev/null 2>&1; do
      i=$((i + 1))
      [ $i -gt 120 ] && die "dockerd did not come up within 60 s; see /var/log/sicuro-dockerd.log"
      sleep 0.5
    done
  fi
  # Image bootstrapping (no registry): mmdebstrap builds the root image from Debian's packages.
  if is_debian_root; then apt_install mmdebstrap git; fi
}

# git for the mirrors, and git-lfs for the Git LFS files of a checkout.
ensure_git() {
  if command -v git >/dev/null 2>&1 && git lfs version >/dev/null 2>&1; then return 0; fi
  if is_debian_root; then
    apt_install git git-lfs
  else
    command -v git >/dev/null 2>&1 || die "git is needed: sudo apt-get install git git-lfs"
    say "git-lfs is missing: repositories that keep files in Git LFS will not build (sudo apt-get install git-lfs)"
  fi
}

# The WASM tool chain cargo-leptos needs, each only when missing.
ensure_wasm_tools() {
  command -v cargo >/dev/null 2>&1 || die "Rust is needed: https://rustup.rs"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "0.3.10"; then
    say "installing cargo-leptos 0.3.10 (about 15 minutes, once)"
    cargo install cargo-leptos --version 0.3.10 --locked
  fi
  # wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
  wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock")
  [ -n "$wbg" ] || die "no wasm-bindgen version in Cargo.lock"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wbg\$"; then
    say "installing wasm-bindgen-cli $wbg (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$wbg"
  fi
  # wasm-opt for release builds, from the npm package binaryen (Debian's binaryen 108 produces
  # WASM that fails to hydrate).
  if ! [ -x "$TOOLS/node_modules/.bin/wasm-opt" ]; then
    ensure_node
    say "installing wasm-opt (npm package binaryen) into .tools"
    mkdir -p "$TOOLS"
    (cd "$TOOLS" && [ -f package.json ] || printf '{"private":true}\n' >"$TOOLS/package.json")
    npm install --prefix "$TOOLS" --no-audit --no-fund --silent binaryen@132.0.0
  fi
}

# The WASM tools take long to compile (cargo-leptos ≈ 15 min on 2 cores): start them early, in
# the background, so that they use the CPU while other steps wait on the network or Docker.
start_wasm_tools() {
  WASM_TOOLS_LOG=$(mktemp /tmp/sicuro-wasm-tools.XXXXXX)
  ( ensure_wasm_tools >"$WASM_TOOLS_LOG" 2>&1; echo "exit $?" >>"$WASM_TOOLS_LOG" ) &
  WASM_TOOLS_PID=$!
}

wait_wasm_tools() {
  wait "$WASM_TOOLS_PID" || true
  if ! tail -n 1 "$WASM_TOOLS_LOG" | grep -qx "exit 0"; then
    cat "$WASM_TOOLS_LOG"
    die "installing the WASM tools failed (log above)"
  fi
  grep '==>' "$WASM_TOOLS_LOG" || true
}

ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then return 0; fi
  apt_install nodejs npm
}

# Debian's Chromium, for the browser tests.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    CHROMIUM=$(command -v chromium)
  elif is_debian_root; then
    apt_install chromium
    CHROMIUM=$(command -v chromium)
  else
    die "the browser tests need Chromium: sudo apt-get install chromium (or set CHROMIUM=/path/to/chrome)"
  fi
  export CHROMIUM
}

# A throwaway PostgreSQL server for the tests, from Debian's packages; sets SICURO_TEST_DATABASE_URL.
start_test_postgres() {
  pg_bin=""
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done
  if [ -z "$pg_bin" ]; then
    apt_install postgresql
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done
  fi
  [ -n "$pg_bin" ] || die "PostgreSQL is needed for the tests: sudo apt-get install postgresql"
  PGDATA_DIR=$(mktemp -d /tmp/sicuro-pg.XXXXXX)
  PGPORT_TEST=${PGPORT_TEST:-55432}
  run_pg=""
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$PGDATA_DIR"
    run_pg="runuser -u postgres --"
  fi
  say "starting a test PostgreSQL on port $PGPORT_TEST"
  $run_pg "$pg_bin/initdb" -D "$PGDATA_DIR" -U sicuro --auth=trust -E UTF8 >/dev/null
  $run_pg "$pg_bin/pg_ctl" -D "$PGDATA_DIR" -o "-p $PGPORT_TEST -k $PGDATA_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" -l "$PGDATA_DIR/log" -w start >/dev/null
  export SICURO_TEST_DATABASE_URL="postgres://sicuro@127.0.0.1:$PGPORT_TEST/postgres"
  PG_STOP="$run_pg $pg_bin/pg_ctl -D $PGDATA_DIR -m immediate stop"
}

stop_test_postgres() {
  if [ -n "${PG_STOP:-}" ]; then $PG_STOP >/dev/null 2>&1 || true; rm -rf "$PGDATA_DIR"; fi
}

# npm packages for the browser tests and the recorded GitHub artefacts.
ensure_end2end_packages() {
  ensure_node
  if ! [ -d "$ROOT/end2end/node_modules/playwright-core" ] || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
    say "installing the end-to-end test packages (npm ci)"
    npm ci --prefix "$ROOT/end2end" --no-audit --no-fund --silent
  fi
}

# Sicuro installations (their `org.sicuro.instance` labels) with containers, networks or volumes
# on this engine now, one per line.
sicuro_instances() {
  {
    docker ps -a --filter label=org.sicuro.instance --format '{{.Label "org.sicuro.instance"}}'
    docker network ls --filter label=org.sicuro.instance --format '{{.Label "org.sicuro.instance"}}'
    docker volume ls --filter label=org.sicuro.instance --format '{{.Label "org.sicuro.instance"}}'
  } 2>/dev/null | sort -u
}

# Removes the containers, networks and volumes of the installations that appeared since
# `sicuro_instances` printed $1 (a file): the tests' own. A server someone runs on this machine
# (its installation was there before) keeps everything.
remove_new_instances() {
  for instance in $(sicuro_instances | comm -13 "$1" -); do
    docker ps -aq --filter "label=org.sicuro.instance=$instance" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter "label=org.sicuro.instance=$instance" | xargs -r docker network rm >/dev/null 2>&1 || true
    docker volume ls -q --filter "label=org.sicuro.instance=$instance" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
  done
}
