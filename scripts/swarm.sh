#!/bin/sh
# A real three-node Docker Swarm on this one machine, for the swarm executor's tests:
#
#   sh scripts/swarm.sh up       build it (idempotent: repairs whatever is missing or dead)
#   sh scripts/swarm.sh down     remove everything `up` made, and nothing else
#   sh scripts/swarm.sh status   what is there
#   sh scripts/swarm.sh env      `export` lines for a test: eval "$(sh scripts/swarm.sh env)"
#   sh scripts/swarm.sh push IMAGE...   copy images of the host's dockerd into the registry
#
# Knobs: SICURO_SWARM_DIR (state, default /var/lib/sicuro-swarm), SICURO_SWARM_DEADLINE (seconds
# each daemon may take to answer, default 60), SICURO_SWARM_HEARTBEAT (default 5s).
#
# Layout (every address is in 10.99.0.0/16, which must be free on the host):
#   bridge sicuro-sw0 10.99.0.1/24 on the host; netns swn1..swn3 at 10.99.0.11-13 (veth pairs,
#   default route via the bridge, NAT to the outside through the host);
#   one dockerd per netns (swn1 manager, swn2 and swn3 workers), each with its own data root,
#   exec root, socket, containerd namespace, cgroup parent and node-local address pool;
#   swarm overlay networks from 10.99.128.0/17; Debian's docker-registry on 127.0.0.1:5000 (the
#   host's dockerd pushes there: loopback registries are insecure by default) and on
#   10.99.0.1:5000 (the nodes pull there, started with --insecure-registry), one storage.
# All state (data roots, sockets, pid files, logs) lives under $SICURO_SWARM_DIR; `down` stops
# only the processes whose pid files are there (or that run in the node cgroups it created),
# and never touches the host's dockerd, its containers, images or networks.
. "$(dirname "$0")/lib.sh"

STATE=${SICURO_SWARM_DIR:-/var/lib/sicuro-swarm}
BR=sicuro-sw0
HOST_IP=10.99.0.1
NET=10.99.0.0/16
NODES="1 2 3"
REG_PORT=5000
REGISTRY=$HOST_IP:$REG_PORT
REGISTRY_PUSH=127.0.0.1:$REG_PORT
CHAIN=SICURO-SWARM
LOCK=/run/lock/sicuro-swarm.lock
DEADLINE=${SICURO_SWARM_DEADLINE:-60}
# How often workers report to the manager; a silent node is Down after about three periods
# (5s: 14.5 s measured, 1s: 2.8 s). Applies when the swarm is created.
HEARTBEAT=${SICURO_SWARM_HEARTBEAT:-5s}

node_ip() { echo "10.99.0.1$1"; }
node_sock() { echo "$STATE/swn$1.sock"; }
node_dir() { echo "$STATE/swn$1"; }
dk() { n=$1; shift; docker -H "unix://$(node_sock "$n")" "$@"; }
now_ms() { date +%s%3N; }
since() { echo "$(( $(now_ms) - $1 )) ms"; }

# (Every daemon is started with 9>&-: fd 9 is the lock of `up`/`down`, which a daemon must not
# inherit and hold for its whole life.)

# wait_for DESCRIPTION LOGFILE COMMAND...: polls COMMAND every 0.1 s until it succeeds or
# $DEADLINE seconds pass; then dies with the end of LOGFILE.
wait_for() {
  wf_what=$1 wf_log=$2
  shift 2
  wf_end=$(( $(date +%s) + DEADLINE ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$wf_end" ]; then
      [ -f "$wf_log" ] && tail -n 20 "$wf_log" >&2
      die "$wf_what: not ready within ${DEADLINE}s${wf_log:+ (log: $wf_log)}"
    fi
    sleep 0.1
  done
}

# Whether PID is alive and its command line mentions our state directory (pid files can be stale
# and pids reused: never signal a process that is not ours).
ours() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$STATE"
}
pid_of() { [ -s "$1" ] && cat "$1" || true; }

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL (only if `ours`).
stop_pid() {
  ours "$1" || return 0
  kill -TERM "$1" 2>/dev/null || return 0
  sp_end=$(( $(now_ms) + $2 * 1000 ))
  while ours "$1"; do
    if [ "$(now_ms)" -ge "$sp_end" ]; then kill -KILL "$1" 2>/dev/null || true; sleep 0.1; fi
    sleep 0.05
  done
}

# The cgroup directories of node N's containers (dockerd runs with --cgroup-parent sicuro-swnN).
node_cgroups() {
  for d in /sys/fs/cgroup/sicuro-swn$1 /sys/fs/cgroup/*/sicuro-swn$1; do [ -d "$d" ] && echo "$d"; done
  return 0
}

# Unmounts every mount point under DIR, deepest first (the nodes' dockerds share the host's
# mount namespace: their overlay, shm and netns mounts are visible here).
unmount_under() {
  awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# stop_node N [kill]: stops node N's dockerd, its containerd, shims and container processes,
# and unmounts what they left; the data root stays (so a restarted node rejoins the swarm).
# With `kill` (down: everything is about to be deleted) nothing is asked to shut down cleanly:
# a clean worker shutdown takes 2-6 s, and its containerd another 2-3 s.
stop_node() {
  sn_dir=$(node_dir "$1")
  sn_pid=$(pid_of "$sn_dir/dockerd.pid")
  sn_ctd=$(pid_of "$sn_dir/exec/containerd/containerd.pid")
  # Container processes first: with none left, dockerd shuts down at once.
  kill_cgroups "$1"
  if [ "${2:-}" = kill ]; then
    for p in "$sn_pid" "$sn_ctd"; do ours "$p" && kill -KILL "$p" 2>/dev/null; done
  elif ours "$sn_pid"; then
    # dockerd stops its containerd last and then waits for it to go: stop that containerd as
    # soon as dockerd says it is done with it.
    kill -TERM "$sn_pid" 2>/dev/null || true
    sn_end=$(( $(now_ms) + 10000 ))
    while ours "$sn_pid" && ! grep -q 'Daemon shutdown complete' "$sn_dir/dockerd.log" 2>/dev/null && [ "$(now_ms)" -lt "$sn_end" ]; do
      sleep 0.05
    done
  fi
  stop_pid "$sn_ctd" 5
  stop_pid "$sn_pid" 5
  # Shims whose containerd was killed with the dockerd (their -address is under our exec root).
  for p in $(grep -lF "$sn_dir/exec/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    case $(cat "/proc/$p/comm" 2>/dev/null) in containerd-shim*) stop_pid "$p" 2 ;; esac
  done
  # The cgroups go once their processes have exited.
  sn_end=$(( $(now_ms) + 5000 ))
  while [ -n "$(cgroup_procs "$1")" ] && [ "$(now_ms)" -lt "$sn_end" ]; do kill_cgroups "$1"; sleep 0.05; done
  for cg in $(node_cgroups "$1"); do
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  unmount_under "$sn_dir"
  rm -f "$sn_dir/dockerd.pid" "$(node_sock "$1")"
}

cgroup_procs() {
  for cg in $(node_cgroups "$1"); do find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null; done
  return 0
}
kill_cgroups() {
  for p in $(cgroup_procs "$1"); do kill -KILL "$p" 2>/dev/null || true; done
}

node_answers() { dk "$1" version --format '{{.Server.APIVersion}}'; }

start_node() {
  n=$1 dir=$(node_dir "$1")
  if ours "$(pid_of "$dir/dockerd.pid")" && node_answers "$n" >/dev/null 2>&1; then return 0; fi
  stop_node "$n"
  # The exec root holds runtime state only (containerd socket, netns mounts): start it clean.
  rm -rf "$dir/exec"
  mkdir -p "$dir/data" "$dir/exec"
  # Its own key (the engine ID; the default /etc/docker/key.json would be shared by all nodes).
  printf '{ "deprecated-key-path": "%s/key.json" }\n' "$dir" >"$dir/daemon.json"
  # The name swarm-dockerd keeps the nodes out of a `pkill -x dockerd` meant for the host's.
  ln -sf "$(command -v dockerd)" "$STATE/bin/swarm-dockerd"
  nohup nsenter --net="/var/run/netns/swn$n" unshare --uts sh -c 'hostname "$0" && exec "$@"' \
    "swn$n" "$STATE/bin/swarm-dockerd" \
    --config-file "$dir/daemon.json" \
    --data-root "$dir/data" --exec-root "$dir/exec" \
    -H "unix://$(node_sock "$n")" --pidfile "$dir/dockerd.pid" \
    --containerd-namespace "swn$n" --containerd-plugins-namespace "swn$n-p" \
    --cgroup-parent "sicuro-swn$n" \
    --bip "10.99.$((16 * n)).1/24" --default-address-pool "base=10.99.$((16 * n)).0/20,size=24" \
    --insecure-registry "$REGISTRY" --userland-proxy=false \
    --label "sicuro.node=swn$n" \
    >"$dir/dockerd.log" 2>&1 9>&- &
}

setup_network() {
  [ -d /sys/class/net/$BR ] || ip link add "$BR" type bridge
  ip addr show dev "$BR" | grep -q "inet $HOST_IP/24" || ip addr add "$HOST_IP/24" dev "$BR"
  ip link set "$BR" up
  for n in $NODES; do
    [ -e "/var/run/netns/swn$n" ] || ip netns add "swn$n"
    if ! ip -n "swn$n" link show eth0 >/dev/null 2>&1; then
      ip link del "swv$n" 2>/dev/null || true
      ip link add "swv$n" type veth peer name eth0 netns "swn$n"
    fi
    ip link set "swv$n" master "$BR" up
    ip -n "swn$n" link set lo up
    ip -n "swn$n" addr show dev eth0 | grep -q "inet $(node_ip "$n")/24" || ip -n "swn$n" addr add "$(node_ip "$n")/24" dev eth0
    ip -n "swn$n" link set eth0 up
    ip -n "swn$n" route replace default via "$HOST_IP"
  done
  # Forwarding and NAT for the nodes, in chains of our own (one jump each, removed by `down`).
  # Once the host's dockerd runs, FORWARD's policy is DROP, and bridged traffic goes through it.
  if ! iptables -n -L "$CHAIN" >/dev/null 2>&1; then
    iptables -N "$CHAIN"
    iptables -A "$CHAIN" -i "$BR" -o "$BR" -j ACCEPT
    iptables -A "$CHAIN" -i "$BR" ! -o "$BR" -j ACCEPT
    iptables -A "$CHAIN" -o "$BR" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  fi
  iptables -C FORWARD -j "$CHAIN" 2>/dev/null || iptables -I FORWARD -j "$CHAIN"
  if ! iptables -t nat -n -L "$CHAIN" >/dev/null 2>&1; then
    iptables -t nat -N "$CHAIN"
    iptables -t nat -A "$CHAIN" -s "$NET" ! -o "$BR" -j MASQUERADE
  fi
  iptables -t nat -C POSTROUTING -j "$CHAIN" 2>/dev/null || iptables -t nat -I POSTROUTING -j "$CHAIN"
  if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
    echo 1 >"$STATE/ip_forward_was_0"
    echo 1 >/proc/sys/net/ipv4/ip_forward
  fi
}

start_registry() {
  # $1: lo or br; $2: listen address.
  pidf="$STATE/registry-$1.pid"
  if ours "$(pid_of "$pidf")"; then return 0; fi
  if ss -Hltn "sport = :$REG_PORT" | awk '{ print $4 }' | grep -qxE "($2|0\.0\.0\.0|\*|\[::\]):$REG_PORT"; then
    die "$2:$REG_PORT is taken by another program (ss -ltnp 'sport = :$REG_PORT'); the swarm's registry needs it"
  fi
  cat >"$STATE/registry-$1.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $2:$REG_PORT
EOF
  nohup docker-registry serve "$STATE/registry-$1.yml" >"$STATE/registry-$1.log" 2>&1 9>&- &
  echo $! >"$pidf"
}

registry_answers() { curl -fsS -o /dev/null --max-time 2 "http://$1:$REG_PORT/v2/"; }

manager_state() { dk 1 info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }

# Node N is an active member of the manager's swarm.
member() {
  id=$(dk "$1" info --format '{{.Swarm.NodeID}}' 2>/dev/null) && [ -n "$id" ] &&
    [ "$(dk "$1" info --format '{{.Swarm.LocalNodeState}}')" = active ] &&
    dk 1 node inspect "$id" >/dev/null 2>&1
}

all_ready() {
  [ "$(dk 1 node ls --format '{{.Status}}' | grep -c '^Ready$')" -ge 3 ]
}

form_swarm() {
  if [ "$(manager_state)" != active ]; then
    dk 1 swarm leave --force >/dev/null 2>&1 || true
    dk 1 swarm init --advertise-addr "$(node_ip 1)" --listen-addr "$(node_ip 1):2377" \
      --default-addr-pool 10.99.128.0/17 --default-addr-pool-mask-length 24 \
      --dispatcher-heartbeat "$HEARTBEAT" >/dev/null
  fi
  token=$(dk 1 swarm join-token -q worker)
  for n in $NODES; do
    [ "$n" = 1 ] && continue
    member "$n" && continue
    dk "$n" swarm leave --force >/dev/null 2>&1 || true
    dk "$n" swarm join --token "$token" --advertise-addr "$(node_ip "$n")" --listen-addr "$(node_ip "$n"):2377" \
      "$(node_ip 1):2377" >/dev/null
  done
  wait_for "three Ready swarm nodes" "" all_ready
  # Labels for placement constraints: node.labels.sicuro.node==swnN.
  for n in $NODES; do
    id=$(dk "$n" info --format '{{.Swarm.NodeID}}')
    dk 1 node inspect "$id" --format '{{index .Spec.Labels "sicuro.node"}}' | grep -qx "swn$n" ||
      dk 1 node update --label-add "sicuro.node=swn$n" "$id" >/dev/null
  done
}

up() {
  t0=$(now_ms)
  [ "$(id -u)" = 0 ] || die "swarm.sh needs root (network namespaces, iptables, dockerd)"
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  command -v docker-registry >/dev/null 2>&1 || apt_install docker-registry
  command -v nsenter >/dev/null 2>&1 || apt_install util-linux
  mkdir -p "$STATE/bin" "$STATE/registry"
  tn=$(now_ms)
  setup_network
  t1=$(now_ms)
  for n in $NODES; do start_node "$n"; done
  start_registry lo 127.0.0.1
  start_registry br "$HOST_IP"
  for n in $NODES; do wait_for "dockerd of swn$n" "$(node_dir "$n")/dockerd.log" node_answers "$n"; done
  wait_for "registry on 127.0.0.1:$REG_PORT" "$STATE/registry-lo.log" registry_answers 127.0.0.1
  wait_for "registry on $REGISTRY" "$STATE/registry-br.log" registry_answers "$HOST_IP"
  t2=$(now_ms)
  form_swarm
  write_env
  say "swarm up in $(since "$t0") (packages $((tn - t0)) ms, network $((t1 - tn)) ms, daemons $((t2 - t1)) ms, swarm $(since "$t2")): manager $(node_sock 1), registry $REGISTRY"
}

down() {
  t0=$(now_ms)
  # Every node at once: container processes, then daemons.
  for n in $NODES; do stop_node "$n" kill & done
  wait
  t1=$(now_ms)
  for r in lo br; do stop_pid "$(pid_of "$STATE/registry-$r.pid")" 5; done
  for n in $NODES; do
    ip netns del "swn$n" 2>/dev/null || true
    ip link del "swv$n" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
  while iptables -D FORWARD -j "$CHAIN" 2>/dev/null; do :; done
  iptables -F "$CHAIN" 2>/dev/null && iptables -X "$CHAIN" 2>/dev/null || true
  while iptables -t nat -D POSTROUTING -j "$CHAIN" 2>/dev/null; do :; done
  iptables -t nat -F "$CHAIN" 2>/dev/null && iptables -t nat -X "$CHAIN" 2>/dev/null || true
  # ip_forward back to 0 only if we turned it on and no host dockerd relies on it now.
  if [ -f "$STATE/ip_forward_was_0" ] && ! [ -d /sys/class/net/docker0 ]; then echo 0 >/proc/sys/net/ipv4/ip_forward; fi
  t2=$(now_ms)
  if [ -d "$STATE" ]; then
    unmount_under "$STATE"
    if awk -v p="$STATE/" 'index($5, p) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      die "mounts remain under $STATE (see /proc/self/mountinfo); not removing it"
    fi
    # The data roots hold the layers of every image the nodes pulled: remove them in parallel.
    for d in "$STATE"/swn? "$STATE/registry"; do [ -d "$d" ] && rm -rf "$d" & done
    wait
    rm -rf "$STATE"
  fi
  # The lock file stays (empty, in /run/lock): removing it while another swarm.sh waits on it
  # would let a third one take a second lock.
  say "swarm down in $(since "$t0") (daemons $((t1 - t0)) ms, registry and network $((t2 - t1)) ms, files $(since "$t2"))"
}

write_env() {
  {
    echo "export SICURO_SWARM_DIR='$STATE'"
    echo "export SICURO_SWARM_DOCKER_HOST='unix://$(node_sock 1)'"
    echo "export SICURO_SWARM_REGISTRY='$REGISTRY'"
    echo "export SICURO_SWARM_REGISTRY_PUSH='$REGISTRY_PUSH'"
    echo "export SICURO_SWARM_HOST_ADDR='$HOST_IP'"
    echo "export SICURO_SWARM_NODES='swn1 swn2 swn3'"
    for n in $NODES; do
      echo "export SICURO_SWARM_SWN${n}_ADDR='$(node_ip "$n")'"
      echo "export SICURO_SWARM_SWN${n}_DOCKER_HOST='unix://$(node_sock "$n")'"
      echo "export SICURO_SWARM_SWN${n}_PIDFILE='$(node_dir "$n")/dockerd.pid'"
      echo "export SICURO_SWARM_SWN${n}_ID='$(dk "$n" info --format '{{.Swarm.NodeID}}')'"
    done
  } >"$STATE/env"
}

status() {
  rc=0
  if [ -d /sys/class/net/$BR ]; then echo "bridge   $BR up"; else echo "bridge   $BR missing"; rc=1; fi
  for n in $NODES; do
    p=$(pid_of "$(node_dir "$n")/dockerd.pid")
    if ours "$p" && v=$(node_answers "$n" 2>/dev/null); then
      echo "swn$n     $(node_ip "$n") dockerd pid $p API $v swarm $(dk "$n" info --format '{{.Swarm.LocalNodeState}}')"
    else
      echo "swn$n     $(node_ip "$n") dockerd not running"; rc=1
    fi
  done
  for r in lo br; do
    p=$(pid_of "$STATE/registry-$r.pid")
    if ours "$p"; then echo "registry $r pid $p"; else echo "registry $r not running"; rc=1; fi
  done
  dk 1 node ls 2>/dev/null || rc=1
  return $rc
}

push() {
  [ -f "$STATE/env" ] || die "the swarm is not up (sh scripts/swarm.sh up)"
  for image in "$@"; do
    t0=$(now_ms)
    docker tag "$image" "$REGISTRY_PUSH/$image"
    if ! docker push -q "$REGISTRY_PUSH/$image" >/dev/null; then
      docker rmi "$REGISTRY_PUSH/$image" >/dev/null 2>&1 || true
      die "pushing $image to $REGISTRY_PUSH failed"
    fi
    docker rmi "$REGISTRY_PUSH/$image" >/dev/null
    say "pushed $image as $REGISTRY/$image in $(since "$t0")"
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up | down)
    mkdir -p "$(dirname "$LOCK")"
    exec 9>"$LOCK"
    flock -w 120 9 || die "another swarm.sh holds $LOCK"
    "$cmd"
    ;;
  status) status ;;
  env)
    [ -f "$STATE/env" ] || die "the swarm is not up (sh scripts/swarm.sh up)"
    cat "$STATE/env"
    ;;
  push) push "$@" ;;
  *) die "usage: sh scripts/swarm.sh up | down | status | env | push IMAGE..." ;;
esac
